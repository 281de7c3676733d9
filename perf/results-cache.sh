#!/usr/bin/env bash
# Log-based results against a real server: the first request reads the logs, repeats are
# answered from the cache (compare their times, and the counters at the end).
# Usage: cargo build --release -p flagstone-cli && N=20000 perf/results-cache.sh [BINARY]
set -euo pipefail
BIN=${1:-target/release/flagstone}; DIR=$(mktemp -d); PORT=${PORT:-18931}
$BIN serve --data "$DIR" --listen 127.0.0.1:$PORT > "$DIR/out" 2> "$DIR/err" &
PID=$!
trap 'kill $PID; rm -rf "$DIR"' EXIT
FS=http://127.0.0.1:$PORT
for i in $(seq 50); do curl -sf $FS/healthz >/dev/null && break; sleep 0.1; done
NS=my-project/my-environment
curl -sf -X PUT $FS/v1/namespaces/$NS/config -H 'content-type: application/json' -d '{"flags":[{"name":"flags/checkout","variants":[{"name":"flags/checkout/variants/control","value":"control"},{"name":"flags/checkout/variants/new","value":"new"}]}]}' >/dev/null
BASE=$FS/api/v2/projects/my-project/environments/my-environment/experiments
curl -sf -X POST $BASE -H 'content-type: application/json' -d '{"name":"Checkout","key":"checkout-test","iteration":{"hypothesis":"h","metrics":[{"key":"purchase","primary":true}],"treatments":[{"name":"Old","baseline":true,"allocationPercent":"50","parameters":[{"flagKey":"checkout","variationId":"control"}]},{"name":"New","baseline":false,"allocationPercent":"50","parameters":[{"flagKey":"checkout","variationId":"new"}]}],"flags":{"checkout":{"ruleId":"fallthrough","flagConfigVersion":1}}}}' >/dev/null
curl -sf -X PATCH $BASE/checkout-test -H 'content-type: application/json; domain-model=launchdarkly.semanticpatch' -d '{"instructions":[{"kind":"startIteration"}]}' >/dev/null
# N units exposed (direct appends to the logs are not possible: evaluate over OFREP in bulk).
N=${N:-2000}
for i in $(seq $N); do echo "{\"context\":{\"targetingKey\":\"u$i\"}}"; done | xargs -d '\n' -P 8 -I{} curl -s -o /dev/null -X POST $FS/ofrep/v1/evaluate/flags/checkout -H "x-flagstone-namespace: $NS" -H 'content-type: application/json' -d '{}'
python3 - "$N" > "$DIR/events.json" <<'PY'
import json,sys
n=int(sys.argv[1])
print(json.dumps({"events":[{"unit":f"u{i}","metric":"purchase","value":1} for i in range(1,n+1,3)]}))
PY
curl -sf -X POST $FS/v1/events:batch -H "x-flagstone-namespace: $NS" -H 'content-type: application/json' -d @"$DIR/events.json" >/dev/null
R=$BASE/checkout-test/metrics/purchase/results
echo "exposure log bytes: $(wc -c < $DIR/exposures/my-project/my-environment.jsonl)"
curl -s -o /dev/null -w 'first (reads the logs): %{time_total}s\n' $R
for i in 1 2 3 4 5; do curl -s -o /dev/null -w 'repeat (cache): %{time_total}s\n' $R; done
curl -s -o /dev/null -w 'report page (cache): %{time_total}s\n' $BASE/checkout-test/report
curl -s $FS/metrics | grep results_
