#!/usr/bin/env bash
# A/B of two compiled models: runs DIR_A/milm-run and DIR_B/milm-run in turn on
# the same prompt file (greedy, same threads), ROUNDS times each, alternating
# which goes first, and prints the median (min-max) prompt and generation
# tokens/s of each and the B/A ratios of the medians. For comparing two builds
# of milmc (or two compile options) on these shared, noisy cores, where only
# interleaved runs are comparable. Not part of the tests.
#
#   bash bench/ab-run.sh DIR_A DIR_B PROMPT_FILE [ROUNDS (5)]
#   env: MILM_THREADS (2), MILM_GEN_TOKENS (128)
set -euo pipefail
[ $# -ge 3 ] || { sed -n 2,10p "$0"; exit 2; }
a=$1 b=$2 prompt=$3 rounds=${4:-5}
threads=${MILM_THREADS:-2}
ngen=${MILM_GEN_TOKENS:-128}
for d in "$a" "$b"; do
  [ -x "$d/milm-run" ] || { echo "ab-run.sh: no executable $d/milm-run" >&2; exit 2; }
done
[ -r "$prompt" ] || { echo "ab-run.sh: cannot read the prompt file '$prompt'" >&2; exit 2; }
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "ab-run.sh: ROUNDS must be a positive integer" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run() {  # dir tag -> appends "prompt_tok_s gen_tok_s" to $tmp/tag
  local line
  line=$("$1/milm-run" -f "$prompt" -n "$ngen" -t "$threads" --temp 0 --no-display-prompt 2>&1 \
         >/dev/null | grep '^milm: prompt') ||
    { echo "ab-run.sh: $1/milm-run failed" >&2; exit 1; }
  sed -E 's/^milm: prompt [0-9]+ tokens in [0-9.]+ s \(([0-9.]+) tok\/s\), generated [0-9]+ tokens in [0-9.]+ s \(([0-9.]+) tok\/s\).*/\1 \2/' \
    <<<"$line" >>"$tmp/$2"
}
for ((r = 0; r < rounds; ++r)); do
  if ((r % 2 == 0)); then run "$a" A; run "$b" B; else run "$b" B; run "$a" A; fi
done
stats() {  # column -> "median min max"
  awk -v c="$1" '{print $c}' | sort -g | awk '{v[NR]=$1} END {
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.1f %.1f %.1f\n", m, v[1], v[NR]}'
}
read -r pa pa0 pa1 < <(stats 1 <"$tmp/A")
read -r pb pb0 pb1 < <(stats 1 <"$tmp/B")
read -r ga ga0 ga1 < <(stats 2 <"$tmp/A")
read -r gb gb0 gb1 < <(stats 2 <"$tmp/B")
echo "rounds $rounds, $threads threads, $ngen generated tokens; median (min-max) tok/s"
printf "prompt      A %s (%s-%s)  B %s (%s-%s)  B/A %.3f\n" "$pa" "$pa0" "$pa1" "$pb" "$pb0" "$pb1" \
  "$(awk -v x="$pb" -v y="$pa" 'BEGIN {print x / y}')"
printf "generation  A %s (%s-%s)  B %s (%s-%s)  B/A %.3f\n" "$ga" "$ga0" "$ga1" "$gb" "$gb0" "$gb1" \
  "$(awk -v x="$gb" -v y="$ga" 'BEGIN {print x / y}')"
