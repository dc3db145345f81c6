#!/usr/bin/env bash
# Compile benchmark: `milmc compile` of a synthetic MiLM2 preset (default 1.3B
# Q4_0) for the host, then generation with the produced binary. Reports the
# compile wall time and peak resident memory, and the binary's timing line.
# Not part of the test suite.
#
#   bash bench/compile.sh [preset] [format] [threads]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
milmc=${MILMC:-$root/build/bin/milmc}
preset=${1:-1.3b}
format=${2:-q4_0}
threads=${3:-2}
work=${MILM_BENCH_DIR:-/tmp/milm-bench}
mkdir -p "$work"
model="$work/synth-$preset-$format.gguf"
[ -f "$model" ] || "$milmc" synth --preset "$preset" --format "$format" -o "$model"
out="$work/out-$preset-$format"
rm -rf "$out"
/usr/bin/time -f "compile: %e s wall, %M KB peak RSS" "$milmc" compile "$model" -o "$out" -v 2>&1 | grep -E "^compile:|milmc: import [0-9]"
"$out/milm-run" -p "Once upon a time there was a little robot who lived in a big house" -n 64 -t "$threads" --seed 1 2>&1 >/dev/null | tail -1
