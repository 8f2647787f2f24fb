#!/usr/bin/env bash
# Long fuzz run (not part of the test command; the property tests in shared/core/tests/properties.rs
# run the same properties in `cargo test`).
#
#   fuzz/run.sh                      # every target, RUNS inputs each (default 3,500,000)
#   RUNS=100000 fuzz/run.sh instance_url
#   SECS=600 fuzz/run.sh             # or a time budget per target instead of an input count
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). cargo-fuzz wants nightly compiler flags; on the
# stable toolchain RUSTC_BOOTSTRAP=1 unlocks them. No sanitizer (`-s none`): the fuzzed code is
# safe Rust, so a panic is the failure we look for, and it runs several times faster. One job,
# niced, so a shared machine is not starved. New inputs go to fuzz/work/<target>/ (ignored by
# git); the seed corpus in fuzz/corpus/<target>/ (from shared/fixtures) is only read.
# Prints one summary line per target; a crash leaves its input in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/tactical-bridge/fuzz-target}"
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(webhook_payload tactical_decoders instance_url)
RUNS="${RUNS:-3500000}"
mkdir -p logs
nice -n 19 cargo fuzz build -s none -O
for t in "${TARGETS[@]}"; do
  mkdir -p "work/$t"
  case "$t" in
    tactical_decoders) max_len=16384 ;;
    *) max_len=4096 ;;
  esac
  limit=(-runs="$RUNS")
  [ -n "${SECS:-}" ] && limit=(-max_total_time="$SECS")
  log="logs/$t.log"
  start=$(date +%s)
  if nice -n 19 cargo fuzz run -s none -O "$t" "work/$t" "corpus/$t" -- \
      -max_len="$max_len" -print_final_stats=1 "${limit[@]}" >"$log" 2>&1; then
    result=ok
  else
    result="CRASH (see $log and artifacts/$t/)"
  fi
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  echo "$t: ${runs:-?} inputs in $(( $(date +%s) - start )) s, corpus $(ls "work/$t" | wc -l) new + $(ls "corpus/$t" | wc -l) seeds: $result"
done
