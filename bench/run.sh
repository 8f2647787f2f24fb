#!/usr/bin/env bash
# Benchmark (docs/benchmarks.md): builds every binary in release (the function sizes are read from the same
# build), then runs the benchmark against LocalStack with an in-process simulator.
#   bench/run.sh                 the target sizes (10,000 agents, 1,000 webhooks, 50,000-agent RSS)
#   bench/run.sh --small         the CI size
#   bench/run.sh --small --check exits 1 when a target is missed (the targets table is printed)
#   bench/run.sh --agents 5000 --clients 20 --rss-agents 20000
#   bench/run.sh --arm64 ...     also builds the functions for arm64 as the stack deploys them
#                                (`cargo lambda build --release --arm64`, zig from .local) and
#                                prints their sizes next to x86_64 (bench/results/arm64-sizes.txt)
# Results: bench/results/latest.json (see docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
. infra/lib.sh
tb_aws_env
arm64=0
args=()
for a in "$@"; do
  if [[ "$a" == --arm64 ]]; then arm64=1; else args+=("$a"); fi
done
# The same build directory as infra/test.sh and infra/demo.sh (one cache of the AWS SDK builds).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tactical-bridge/target}"
cargo build --release --workspace --bins --locked
if (( arm64 )); then
  functions=(webhook connection sync-clients sync-devices sync-alerts sync-software scheduler remote-actions)
  bins=()
  for f in "${functions[@]}"; do bins+=(--bin "$f"); done
  PATH="$TB_BIN:$PATH" "$TB_CARGO_LAMBDA" lambda build --release --arm64 "${bins[@]}"
  mkdir -p bench/results
  {
    printf '%-16s %12s %12s\n' function x86_64_bytes arm64_bytes
    for f in "${functions[@]}"; do
      x86="$(stat -c %s "$CARGO_TARGET_DIR/release/$f" 2>/dev/null || echo -)"
      arm="$(stat -c %s "$CARGO_TARGET_DIR/lambda/$f/bootstrap" 2>/dev/null || echo -)"
      printf '%-16s %12s %12s\n' "$f" "$x86" "$arm"
    done
  } | tee bench/results/arm64-sizes.txt
fi
exec "$CARGO_TARGET_DIR/release/bench" --bin-dir "$CARGO_TARGET_DIR/release" ${args[@]+"${args[@]}"}
