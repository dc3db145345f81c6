#!/usr/bin/env bash
# Decode speed of a TransAct-pruned model against the unpruned one, in one
# run: does speed scale with the bytes a decoded token reads? The 1.3B
# synthetic preset (random weights: the speed, not the quality, is measured
# here; docs/PRUNING.md has the quality on the trained model) in q4_0,
#   unpruned   milmc compile MODEL
#   pruned     milmc compile MODEL --prune-heads H --prune-ffn F
# ranked on statistics of one calibration window (milmc calibrate -c 128
# --windows 1: the interpreter is slow on 1.3B). Each milm-run decodes
# MILM_GEN_TOKENS tokens greedily, the two in turn, ROUNDS times; prints the
# bytes a token reads (model.milm minus the token embedding table, of which a
# token reads one row), the median (min-max) generation tokens/s, and the
# ratios: speed ratio / bytes ratio >= 1 means speed scales with the bytes.
# Not part of the tests.
#
#   bash bench/pruning.sh [MODEL.gguf] [ROUNDS (5)]
#   env: MILM_THREADS (2), MILM_GEN_TOKENS (64), MILM_PRUNE_HEADS (0.25),
#        MILM_PRUNE_FFN (0.3125), MILM_BENCH_DIR (a temporary folder; kept when set)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
milmc=$root/build/bin/milmc
[ -x "$milmc" ] || { echo "pruning.sh: build first (bash scripts/build.sh)" >&2; exit 2; }
model=${1:-}
rounds=${2:-5}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "pruning.sh: ROUNDS must be a positive integer" >&2; exit 2; }
threads=${MILM_THREADS:-2}
ngen=${MILM_GEN_TOKENS:-64}
heads=${MILM_PRUNE_HEADS:-0.25}
ffn=${MILM_PRUNE_FFN:-0.3125}
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
[ -r "$model" ] || { echo "pruning.sh: cannot read '$model'" >&2; exit 2; }
printf 'In the beginning God created the heaven and the earth. And the earth was without form' >"$work/prompt.txt"
if [ ! -s "$work/cal.stats" ]; then
  head -c 4000 "$root/models/kjv-calibration.txt" >"$work/cal.txt"
  "$milmc" calibrate "$model" --text "$work/cal.txt" -c 128 --windows 1 -o "$work/cal.stats" >&2
fi
names=(unpruned pruned)
opts=("" "--prune-heads $heads --prune-ffn $ffn --prune-calibration $work/cal.stats")
compile_builds
for n in "${names[@]}"; do rm -f "$work/$n.tps"; done
interleaved "$rounds" record_gen_tps "${names[@]}"
median() { median_min_max <"$1"; }
embd=$("$milmc" inspect "$model" | awk '$1 == "token_embd.weight" {print $NF}')
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
echo "# $(basename "$model"), $threads threads, $ngen generated tokens, $rounds rounds; $cpu"
echo "# pruned: $(grep -m1 'milm-prune-transact:' "$work/pruned.log" | sed 's/.*milm-prune-transact: //')"
printf '%-10s %16s %22s %12s %12s\n' build "MiB read/token" "gen tok/s med (min-max)" "bytes ratio" "speed ratio"
read -r base _ _ < <(median "$work/unpruned.tps")
b0=$(( $(stat -c %s "$work/unpruned/model.milm") - embd ))
for n in "${names[@]}"; do
  read -r m lo hi < <(median "$work/$n.tps")
  b=$(( $(stat -c %s "$work/$n/model.milm") - embd ))
  printf '%-10s %16.1f %10s (%s-%s) %12.3f %12.3f\n' "$n" "$(awk -v b="$b" 'BEGIN {print b / 1048576}')" \
    "$m" "$lo" "$hi" "$(awk -v a="$b0" -v b="$b" 'BEGIN {print a / b}')" \
    "$(awk -v a="$m" -v b="$base" 'BEGIN {print a / b}')"
done
