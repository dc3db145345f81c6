#!/usr/bin/env bash
# What milm-fuse-qkv and milm-fuse-gate-up gain: the same model compiled
# without and with --fuse (one product for q/k/v, one for gate/up), in one
# run. Each milm-run decodes MILM_GEN_TOKENS tokens greedily (and prefills the
# prompt), the two in turn, ROUNDS times; prints the median (min-max)
# generation and prompt tokens/s, the ratio to the unfused build, and the
# matrix-product calls per decoded token from milm-run --profile. Not part of
# the tests.
#
#   bash bench/fusion.sh [MODEL.gguf] [ROUNDS (5)]
#   env: MILM_THREADS (2), MILM_GEN_TOKENS (64), MILM_QUANTIZE (q4_0),
#        MILM_BENCH_DIR (a temporary folder; kept when set)
# MODEL defaults to the 1.3B synthetic preset (milmc synth --preset 1.3b
# --format q4_0, written once into the bench folder).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
milmc=$root/build/bin/milmc
[ -x "$milmc" ] || { echo "fusion.sh: build first (bash scripts/build.sh)" >&2; exit 2; }
model=${1:-}
rounds=${2:-5}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "fusion.sh: ROUNDS must be a positive integer" >&2; exit 2; }
threads=${MILM_THREADS:-2}
ngen=${MILM_GEN_TOKENS:-64}
quant=${MILM_QUANTIZE:-q4_0}
work=${MILM_BENCH_DIR:-}
if [ -z "$work" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
if [ -z "$model" ]; then
  model=$work/milm-1.3b-q4_0.gguf
  [ -s "$model" ] || "$milmc" synth --preset 1.3b --format q4_0 -o "$model" >&2
fi
[ -r "$model" ] || { echo "fusion.sh: cannot read '$model'" >&2; exit 2; }
head -c 600 "$root/models/kjv-heldout.txt" >"$work/prompt.txt"
names=(unfused fused)
opts=("--quantize $quant" "--quantize $quant --fuse")
compile_builds
run() {  # name -> appends "prompt_tps gen_tps" to $work/name.tps
  decode_tps "$work/$1" "$work/prompt.txt" "$ngen" >>"$work/$1.tps" || exit 1
}
for n in "${names[@]}"; do rm -f "$work/$n.tps"; done
interleaved "$rounds" run "${names[@]}"
median() { median_min_max; }
calls() {  # linear calls per decoded token, from --profile
  "$work/$1/milm-run" -p "In the beginning" -n 4 -t "$threads" --temp 0 --profile 2>&1 >/dev/null |
    awk '/^profile: decode/ {d = 1; split($0, a, ": "); n = a[3] + 0} d && $1 == "linear" {s += $3}
         END {printf "%d", n ? s / n : 0}'
}
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
echo "# $(basename "$model") --quantize $quant, $threads threads, $ngen generated tokens, $rounds rounds; $cpu"
printf '%-8s %14s %26s %9s %26s %9s\n' build "linear/token" "gen tok/s med (min-max)" "vs" \
  "prompt tok/s med (min-max)" "vs"
read -r g0 _ _ < <(awk '{print $2}' "$work/unfused.tps" | median)
read -r p0 _ _ < <(awk '{print $1}' "$work/unfused.tps" | median)
for n in "${names[@]}"; do
  read -r g glo ghi < <(awk '{print $2}' "$work/$n.tps" | median)
  read -r p plo phi < <(awk '{print $1}' "$work/$n.tps" | median)
  printf '%-8s %14s %10s (%s-%s) %9.3f %10s (%s-%s) %9.3f\n' "$n" "$(calls "$n")" "$g" "$glo" "$ghi" \
    "$(awk -v a="$g" -v b="$g0" 'BEGIN {print a / b}')" "$p" "$plo" "$phi" \
    "$(awk -v a="$p" -v b="$p0" 'BEGIN {print a / b}')"
done
