#!/usr/bin/env bash
# Decode speed of the MoE presets against dense presets, in one run: each
# MoE preset against its dense twin (the same active parameters: the FFN of
# its two routed experts as one dense FFN) and moe-2bx8 against the dense 6B
# preset (the quality class the seed gives 2Bx8: "2Bx8 ~ 6B quality at +50%
# decode speed"). All synthetic (milmc synth, random weights: speed only) in
# one format; each milm-run decodes MILM_GEN_TOKENS tokens greedily after a
# short prompt, the builds in turn, ROUNDS times; prints per model the bytes
# of model.milm, the median (min-max) generation tokens/s and the ratios.
# Needs ~25 GB of disk in the bench folder. Not part of the tests.
#
#   bash bench/moe.sh [ROUNDS (3)]
#   env: MILM_FORMAT (q4_0), MILM_THREADS (2), MILM_GEN_TOKENS (32),
#        MILM_BENCH_DIR (default /tmp/milm-moe-bench; kept, so a rerun reuses it)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
milmc=$root/build/bin/milmc
[ -x "$milmc" ] || { echo "moe.sh: build first (bash scripts/build.sh)" >&2; exit 2; }
rounds=${1:-3}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "moe.sh: ROUNDS must be a positive integer" >&2; exit 2; }
fmt=${MILM_FORMAT:-q4_0}
threads=${MILM_THREADS:-2}
ngen=${MILM_GEN_TOKENS:-32}
work=${MILM_BENCH_DIR:-/tmp/milm-moe-bench}
mkdir -p "$work"
names=(moe-0.7bx8 0.7bx8-dense moe-2bx8 2bx8-dense 6b)
for n in "${names[@]}"; do
  g=$work/$n-$fmt.gguf
  if [ ! -s "$g" ]; then
    echo "moe.sh: synth $n $fmt" >&2
    "$milmc" synth --preset "$n" --format "$fmt" -o "$g" >&2
  fi
  if [ ! -x "$work/$n/milm-run" ]; then
    echo "moe.sh: compiling $n" >&2
    "$milmc" compile "$g" -o "$work/$n" >"$work/$n.log" 2>&1 || { cat "$work/$n.log" >&2; exit 1; }
  fi
done
printf 'In the beginning God created the heaven and the earth.' >"$work/prompt.txt"
for n in "${names[@]}"; do rm -f "$work/$n.tps"; done
interleaved "$rounds" record_gen_tps "${names[@]}"
median() { median_min_max <"$1"; }
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
echo "# $fmt, $threads threads, $ngen generated tokens, $rounds rounds; $cpu"
printf '%-14s %12s %24s\n' model "model.milm GB" "gen tok/s med (min-max)"
declare -A med
for n in "${names[@]}"; do
  read -r m lo hi < <(median "$work/$n.tps")
  med[$n]=$m
  printf '%-14s %12s %10s (%s-%s)\n' "$n" \
    "$(awk -v b="$(stat -c %s "$work/$n/model.milm")" 'BEGIN {printf "%.2f", b / 1e9}')" "$m" "$lo" "$hi"
done
speedup() { awk -v a="${med[$1]}" -v b="${med[$2]}" 'BEGIN {printf "%.3f", a / b}'; }
echo "moe-0.7bx8 / 0.7bx8-dense (same active parameters): $(speedup moe-0.7bx8 0.7bx8-dense)"
echo "moe-2bx8 / 2bx8-dense (same active parameters):     $(speedup moe-2bx8 2bx8-dense)"
echo "moe-2bx8 / 6b (the seed's quality class; bar 1.5):  $(speedup moe-2bx8 6b)"
