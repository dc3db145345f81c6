# Helpers shared by bench/cpu.sh and bench/native.sh (sourced; they read the
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

