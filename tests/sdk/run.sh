#!/usr/bin/env bash
# Clients that others wrote, against `flagstone serve`: the official OpenFeature SDKs for
# Python and JavaScript with their OFREP providers (pinned in requirements.txt and
# package-lock.json) and the Rust OFREP provider (pinned in rust/Cargo.lock) evaluate every
# flag of the example config and agree with `flagstone eval`. Installs them under the target
# directory (PyPI, npm, crates.io), builds the binaries, runs agree.py.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
sdk="$target/sdk"
mkdir -p "$sdk"

if [ ! -x "$sdk/venv/bin/python" ]; then
    python3 -m venv "$sdk/venv"
fi
"$sdk/venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"

mkdir -p "$sdk/node"
cp "$here/package.json" "$here/package-lock.json" "$sdk/node/"
(cd "$sdk/node" && npm ci --silent --no-audit --no-fund >/dev/null)

cargo build -q -p flagstone-cli --locked --manifest-path "$root/Cargo.toml"
# The Rust provider is its own Cargo project (its TLS stack stays out of the workspace).
CARGO_TARGET_DIR="$sdk/rust-target" cargo build -q --locked --manifest-path "$here/rust/Cargo.toml"
python3 "$here/agree.py" \
    --flagstone "$target/debug/flagstone" \
    --config "$root/examples/config.json" \
    --context "$root/examples/context.json" \
    --python "$sdk/venv/bin/python" \
    --node "$(command -v node)" --node-modules "$sdk/node/node_modules" \
    --rust "$sdk/rust-target/debug/flagstone-sdk-rust-client"
