#!/usr/bin/env bash
# Benchmark (issue 9): builds every binary in release (the function sizes are read from the same
# build), then runs the benchmark against LocalStack with an in-process simulator.
#   bench/run.sh                 the issue's sizes (10,000 agents, 1,000 webhooks, 50,000-agent RSS)
#   bench/run.sh --small         the CI size
#   bench/run.sh --agents 5000 --clients 20 --rss-agents 20000
# Results: bench/results/latest.json (see docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
. infra/lib.sh
tb_aws_env
# The same build directory as infra/test.sh and infra/demo.sh (one cache of the AWS SDK builds).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tactical-bridge/target}"
cargo build --release --workspace --bins --locked
exec "$CARGO_TARGET_DIR/release/bench" --bin-dir "$CARGO_TARGET_DIR/release" "$@"
