#!/usr/bin/env bash
# Decode speed of milm's own 4-bit storage formats against q4_0, in one run:
# the same model compiled five ways, every matrix but the output (q6_k in all
# five, as llama-quantize gives it) in
#   q4_0        --quantize q4_0                      (4.5 bits a weight)
#   q4_g256     --quantize w4-channel                (per-channel W4, 4.0625)
#   q4_g128     --quantize w4-g128                   (4.125)
#   q4_g64      --quantize w4-g64                    (4.25)
#   outliers    --quantize w4-channel --outliers F   (q4_g256 body + f16 columns,
#               milm.outlier_columns; the columns chosen on a short calibration)
# then each milm-run decodes MILM_GEN_TOKENS tokens greedily, the five in turn
# (the order rotating each round), ROUNDS times; prints per format the weight
# bytes, the median (min-max) generation tokens/s and its ratio to q4_0's
# median. Interleaved rounds, because these shared cores are noisy: only
# ratios from one run compare. Not part of the tests.
#
#   bash bench/formats.sh [MODEL.gguf] [ROUNDS (5)]
#   env: MILM_THREADS (2), MILM_GEN_TOKENS (64), MILM_OUTLIERS (0.015),
#        MILM_BENCH_DIR (a temporary folder; kept when set)
# MODEL defaults to the 1.3B synthetic preset (milmc synth --preset 1.3b
# --format q8_0, written once into the bench folder).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
milmc=$root/build/bin/milmc
[ -x "$milmc" ] || { echo "formats.sh: build first (bash scripts/build.sh)" >&2; exit 2; }
model=${1:-}
rounds=${2:-5}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "formats.sh: ROUNDS must be a positive integer" >&2; exit 2; }
threads=${MILM_THREADS:-2}
ngen=${MILM_GEN_TOKENS:-64}
frac=${MILM_OUTLIERS:-0.015}
work=${MILM_BENCH_DIR:-}
if [ -z "$work" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
if [ -z "$model" ]; then
  model=$work/milm-1.3b-q8_0.gguf
  [ -s "$model" ] || "$milmc" synth --preset 1.3b --format q8_0 -o "$model" >&2
fi
[ -r "$model" ] || { echo "formats.sh: cannot read '$model'" >&2; exit 2; }
head -c 1500 "$root/models/kjv-calibration.txt" >"$work/cal.txt"
printf 'In the beginning God created the heaven and the earth. And the earth was without form' >"$work/prompt.txt"

names=(q4_0 q4_g256 q4_g128 q4_g64 outliers)
opts=("--quantize q4_0" "--quantize w4-channel" "--quantize w4-g128" "--quantize w4-g64"
      "--quantize w4-channel --outliers $frac --calibrate $work/cal.txt --calibrate-windows 1")
compile_builds

for n in "${names[@]}"; do rm -f "$work/$n.tps"; done
interleaved "$rounds" record_gen_tps "${names[@]}"
median() { median_min_max <"$1"; }
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
echo "# $(basename "$model"), $threads threads, $ngen generated tokens, $rounds rounds; $cpu"
printf '%-10s %12s %22s %8s\n' format "weights MiB" "gen tok/s med (min-max)" "vs q4_0"
read -r base _ _ < <(median "$work/q4_0.tps")
for n in "${names[@]}"; do
  read -r m lo hi < <(median "$work/$n.tps")
  mib=$(awk -v b="$(stat -c %s "$work/$n/model.milm")" 'BEGIN {printf "%.1f", b / 1048576}')
  printf '%-10s %12s %10s (%s-%s) %8.3f\n' "$n" "$mib" "$m" "$lo" "$hi" \
    "$(awk -v a="$m" -v b="$base" 'BEGIN {print a / b}')"
done
