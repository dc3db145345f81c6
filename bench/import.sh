#!/usr/bin/env bash
# Import benchmark: `milmc import` of a synthetic MiLM2-1.3B Q4_0 GGUF.
# Reports the median wall time of several runs and the peak resident memory,
# next to the peak resident memory of `milmc version` (the same binary with its
# shared libLLVM/libMLIR, importing nothing) measured in the same run, so the
# difference is what importing costs. Not part of the test suite.
#
#   bash bench/import.sh [preset] [format] [runs]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
milmc=${MILMC:-$root/build/bin/milmc}
preset=${1:-1.3b}
format=${2:-q4_0}
runs=${3:-5}
work=${MILM_BENCH_DIR:-/tmp/milm-bench}
mkdir -p "$work"
model="$work/synth-$preset-$format.gguf"
if [ ! -f "$model" ]; then
  echo "writing $model ..."
  /usr/bin/time -f "synth: %e s wall, %M KB peak RSS" "$milmc" synth --preset "$preset" --format "$format" -o "$model"
fi
size=$(stat -c %s "$model")

base_rss=$(/usr/bin/time -f "%M" "$milmc" version 2>&1 >/dev/null | tail -1)
times=(); rss=0
for i in $(seq "$runs"); do
  out=$(/usr/bin/time -f "%e %M" "$milmc" import "$model" -o "$work/import.mlir" 2>&1 | tail -1)
  times+=("${out% *}")
  r=${out#* }; [ "$r" -gt "$rss" ] && rss=$r
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
min=$(printf '%s\n' "${times[@]}" | sort -n | head -1)
max=$(printf '%s\n' "${times[@]}" | sort -n | tail -1)
ir=$(stat -c %s "$work/import.mlir")
echo "model:          $model ($(( size / 1048576 )) MiB)"
echo "import wall:    median ${median} s over $runs runs (min $min, max $max)"
echo "peak RSS:       ${rss} KB importing, ${base_rss} KB for 'milmc version': $(( (rss - base_rss) / 1024 )) MiB for the import"
echo "IR size:        $ir bytes"
