# Helpers shared by the bench scripts (sourced; they read the
# caller's $threads and $npr).
stats() {  # values on stdin -> "median min max"
  sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "- - -"; exit}
    m = NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.4g %.4g %.4g\n", m, a[1], a[NR]}'
}
fmt() { # "median min max" -> "M (min–max)"
  awk '{ if ($1=="-") print "–"; else printf "%.1f (%.1f–%.1f)\n", $1, $2, $3 }' <<<"$1"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a=="-"||b=="-"||b==0) print "–"; else printf "%.2f×\n", a/b }'; }
prompt_tokens() { # milm-run FILE -> N (the prompt tokens milm-run evaluated, BOS included)
  "$1" -f "$2" -n 0 -t "$threads" --temp 0 --no-display-prompt 2>&1 >/dev/null |
    sed -n 's/^milm: prompt \([0-9]*\) tokens.*/\1/p'
}
make_prompt() { # milm-run OUT -> a text that milm-run tokenizes into $npr tokens
  local run=$1 out=$2 words k n best=0 i
  words="Once upon a time there was a little robot who lived in a big house near the sea. \
Every morning it walked along the shore, counted the waves and wrote their heights into a \
small notebook, because the old lighthouse keeper had asked it to watch the weather for him. "
  words=$(for i in $(seq 12); do printf '%s' "$words"; done)
  k=60
  for i in $(seq 14); do
    cut -d' ' -f1-"$k" <<<"$words" | tr -d '\n' >"$out"
    n=$(prompt_tokens "$run" "$out")
    [ "$n" = "$npr" ] && return 0
    if [ "$n" -lt "$npr" ]; then
      [ "$k" -gt "$best" ] && best=$k
      k=$(( k + ( (npr - n) * k / n > 0 ? (npr - n) * k / n : 1 ) ))
    else
      k=$(( k - ( (n - npr) * k / n > 0 ? (n - npr) * k / n : 1 ) ))
      [ "$k" -le "$best" ] && break   # one more word overshoots: pad with letters
    fi
  done
  cut -d' ' -f1-"$best" <<<"$words" | tr -d '\n' >"$out"
  for i in $(seq 64); do
    n=$(prompt_tokens "$run" "$out")
    [ "$n" -ge "$npr" ] && return 0
    printf ' a' >>"$out"
  done
}


# Helpers of the A/B scripts (formats.sh, pruning.sh, fusion.sh, moe.sh): they
# read the caller's $threads, $work, $ngen, $milmc, $model and names[]/opts[].
decode_tps() { # OUT PROMPT_FILE NGEN -> "prompt_tok/s gen_tok/s" of OUT/milm-run, greedy
  local line
  line=$("$1/milm-run" -f "$2" -n "$3" -t "$threads" --temp 0 --no-display-prompt 2>&1 >/dev/null |
         grep '^milm: prompt') || { echo "$(basename "$0"): $1/milm-run failed" >&2; return 1; }
  sed -E 's/.*prompt [0-9]+ tokens in [0-9.]+ s \(([0-9.]+) tok\/s\), generated [0-9]+ tokens in [0-9.]+ s \(([0-9.]+) tok\/s\).*/\1 \2/' <<<"$line"
}
interleaved() { # ROUNDS FN NAME... -> FN NAME for every name, in a rotating order, ROUNDS times
  local rounds=$1 fn=$2 r j
  shift 2
  local names=("$@")
  for ((r = 0; r < rounds; ++r)); do
    for ((j = 0; j < ${#names[@]}; ++j)); do
      "$fn" "${names[$(( (j + r) % ${#names[@]} ))]}"
    done
  done
}
median_min_max() { # values on stdin -> "median min max", two decimals
  sort -g | awk '{v[NR]=$1} END {m = NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2;
    printf "%.2f %.2f %.2f\n", m, v[1], v[NR]}'
}
record_gen_tps() { # NAME -> appends $work/NAME/milm-run's generation tok/s to $work/NAME.tps
  local t
  t=$(decode_tps "$work/$1" "$work/prompt.txt" "$ngen") || exit 1
  awk '{print $2}' <<<"$t" >>"$work/$1.tps"
}
compile_builds() { # milmc compile $model once into $work/NAME for each of names[] with opts[]
  local i d
  for i in "${!names[@]}"; do
    d=$work/${names[$i]}
    [ -x "$d/milm-run" ] && continue
    echo "$(basename "$0"): compiling ${names[$i]} (${opts[$i]})" >&2
    # shellcheck disable=SC2086
    "$milmc" compile "$model" ${opts[$i]} -o "$d" >"$work/${names[$i]}.log" 2>&1 ||
      { cat "$work/${names[$i]}.log" >&2; exit 1; }
  done
}
