#!/usr/bin/env bash
# `flagstone aggregate` (DataFusion, and the line-by-line reader) against DuckDB on the same
# files in the same run: wall time and peak memory (max RSS). See perf/README.md.
#
# usage: perf/aggregate/run.sh [UNITS] [EVENTS] [DIR]     (default 1000000 2000000 target/perf-aggregate)
set -euo pipefail
cd "$(dirname "$0")/../.."
units=${1:-1000000}
events=${2:-2000000}
dir=${3:-target/perf-aggregate}

python3 -c "import duckdb" 2>/dev/null || python3 -m pip install -q duckdb
if [ ! -f "$dir/$units-$events/events.parquet" ]; then
    python3 perf/aggregate/generate.py "$dir/$units-$events" "$units" "$events"
fi
data="$dir/$units-$events"
cargo build -q --release -p flagstone-cli
bin=${CARGO_TARGET_DIR:-target}/release/flagstone

measure() { # label, command...
    local label=$1
    shift
    local out
    out=$( { /usr/bin/time -f "%e %M" "$@" >/dev/null; } 2>&1 | tail -1)
    read -r seconds kib <<<"$out"
    printf '%-44s %8.2f s %8d MiB\n' "$label" "$seconds" "$((kib / 1024))"
}

echo "$units units, $events events; $(nproc) cores"
for ext in jsonl parquet; do
    measure "duckdb ($ext)" python3 perf/aggregate/duckdb_aggregate.py "$data/exposures.$ext" "$data/events.$ext"
    measure "flagstone aggregate, datafusion ($ext)" \
        "$bin" aggregate --exposures "$data/exposures.$ext" --events "$data/events.$ext" --flag flags/checkout
done
measure "flagstone aggregate, datafusion, 256M (jsonl)" \
    "$bin" aggregate --exposures "$data/exposures.jsonl" --events "$data/events.jsonl" --flag flags/checkout --memory-limit 256M
measure "flagstone aggregate, lines (jsonl)" \
    "$bin" aggregate --engine lines --exposures "$data/exposures.jsonl" --events "$data/events.jsonl" --flag flags/checkout
