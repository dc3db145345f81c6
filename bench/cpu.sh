#!/usr/bin/env bash
# CPU benchmark against llama.cpp. For each model (a synthetic MiLM2 preset from
# `milmc synth`): compile it with `milmc compile` (wall time, peak RSS), run
# OUT/milm-run on a prompt of exactly 128 tokens generating 128 tokens greedily,
# and run llama.cpp on the same GGUF and prompt through node-llama-cpp's prebuilt
# CPU binaries (bench/llamacpp.mjs; installed by this script into the cache folder).
# Also measures the memory read bandwidth (bench/cpu/bandwidth.c, best of 10
# streams over 1 GiB with all threads) for decode's roofline. Several runs each;
# medians and min-max. Prints a markdown table; with --write-doc also puts it
# into docs/PERFORMANCE.md between the bench:cpu markers. Not part of the tests.
#
#   bash bench/cpu.sh [--write-doc] [--no-llamacpp] [MODEL...]
#     MODEL: PRESET:FORMAT (0.3b:q4_0, 1.3b:q4_k_m, moe-0.7bx8:q4_0, ...),
#            "quick" (default: 0.3b:q4_0 0.3b:q8_0 1.3b:q4_0) or "all" (the issue's set:
#            0.3b and 1.3b in q4_0, q8_0, q4_k_m, moe-0.7bx8:q4_0 and its dense twin
#            0.7bx8-dense:q4_0; q4_k_m synth is slow)
#   env: MILMC (default: the newer of build/bin/milmc and build-dev/bin/milmc), MILM_BENCH_DIR
#        (cache, default /tmp/milm-bench), MILM_RUNS (3), MILM_THREADS (2),
#        MILM_PROMPT_TOKENS (128), MILM_GEN_TOKENS (128)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# MILMC, else the newer of build/bin/milmc and build-dev/bin/milmc
milmc=${MILMC:-$(ls -t "$root"/build/bin/milmc "$root"/build-dev/bin/milmc 2>/dev/null | head -1)}
[ -n "$milmc" ] && [ -x "$milmc" ] || { echo "cpu.sh: no milmc (build it, or set MILMC)" >&2; exit 1; }
work=${MILM_BENCH_DIR:-/tmp/milm-bench}
runs=${MILM_RUNS:-3}
threads=${MILM_THREADS:-2}
npr=${MILM_PROMPT_TOKENS:-128}
ngen=${MILM_GEN_TOKENS:-128}
cc=${CC:-clang-22}
write_doc=0; use_ref=1; models=()
for a in "$@"; do
  case $a in
    --write-doc) write_doc=1 ;;
    --no-llamacpp) use_ref=0 ;;
    quick) models+=(0.3b:q4_0 0.3b:q8_0 1.3b:q4_0) ;;
    all) models+=(0.3b:q4_0 0.3b:q8_0 0.3b:q4_k_m 1.3b:q4_0 1.3b:q8_0 1.3b:q4_k_m moe-0.7bx8:q4_0
                  0.7bx8-dense:q4_0) ;;
    *:*) models+=("$a") ;;
    -h|--help) sed -n 2,19p "$0"; exit 0 ;;
    *) echo "cpu.sh: unknown argument '$a' (PRESET:FORMAT, quick, all, --write-doc, --no-llamacpp)" >&2; exit 2 ;;
  esac
done
[ ${#models[@]} -gt 0 ] || models=(0.3b:q4_0 0.3b:q8_0 1.3b:q4_0)
mkdir -p "$work"
log() { echo "cpu.sh: $*" >&2; }
cmdline="${MILM_RUNS:+MILM_RUNS=$MILM_RUNS }bash bench/cpu.sh $*"

# --- machine and read bandwidth ------------------------------------------------
load0=$(cut -d" " -f1-3 /proc/loadavg)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
ncpu=$(nproc)
"$cc" -O3 -mavx2 -pthread "$root/bench/cpu/bandwidth.c" -o "$work/bandwidth"
bwline=$("$work/bandwidth" "$ncpu" 1024 10)
log "$bwline"
bw=$(awk '{print $2}' <<<"$bwline")   # GB/s

# --- llama.cpp through node-llama-cpp -----------------------------------------
ref_why=""; ref_info=""
nlc=$work/nlc
if [ $use_ref = 0 ]; then
  ref_why="llama.cpp not run (--no-llamacpp)"
elif ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  ref_why="llama.cpp not run: node/npm not found on PATH"
elif [ ! -f "$nlc/node_modules/node-llama-cpp/package.json" ]; then
  log "installing node-llama-cpp@3 into $nlc ..."
  mkdir -p "$nlc"
  if ! (cd "$nlc" && npm install --no-audit --no-fund node-llama-cpp@3) >"$work/npm.log" 2>&1; then
    ref_why="llama.cpp not run: 'npm install node-llama-cpp@3' failed: $(grep -m1 -i 'err' "$work/npm.log" || tail -1 "$work/npm.log")"
  fi
fi
[ -z "$ref_why" ] || log "$ref_why"
nlc_version=""
[ -z "$ref_why" ] && nlc_version=$(sed -n 's/^ *"version": "\(.*\)",*$/\1/p' "$nlc/node_modules/node-llama-cpp/package.json" | head -1)

# --- helpers ------------------------------------------------------------------
. "$root/bench/lib.sh"

# --- per model ----------------------------------------------------------------
rows=(); notes=(); profs=()
for m in "${models[@]}"; do
  preset=${m%%:*}; format=${m#*:}; name="$preset $format"
  gguf="$work/synth-$preset-$format.gguf"
  if [ ! -f "$gguf" ]; then
    log "synth $name ..."
    "$milmc" synth --preset "$preset" --format "$format" -o "$gguf"
  fi
  mib=$(( $(stat -c %s "$gguf") / 1048576 ))
  # Weights read per generated token: every tensor but token_embd (one row per
  # token); for the experts' tensors only top-k of the n experts.
  wbytes=$("$milmc" inspect "$gguf" | awk '
    /^experts/ { n = $2 + 0; k = $4 + 0 }
    NF == 5 && $5 ~ /^[0-9]+$/ && $1 ~ /\.weight$|\.bias$/ {
      if ($1 == "token_embd.weight") next
      if ($1 ~ /_exps\./ && n > 0) e += $5; else s += $5 }
    END { printf "%.0f\n", s + (n > 0 ? e * k / n : 0) }')
  roof=$(awk -v b="$bw" -v w="$wbytes" 'BEGIN { printf "%.4g\n", b * 1e9 / w }')

  out="$work/out-$preset-$format"
  rm -rf "$out"
  log "compile $name ..."
  ct=$( { /usr/bin/time -f "TIME %e %M" "$milmc" compile "$gguf" -o "$out" >/dev/null 2>"$work/compile.err"; } 2>&1 ) || true
  ct=$(grep -h '^TIME' <<<"$ct"$'\n'"$(cat "$work/compile.err")" | tail -1)
  if [ ! -x "$out/milm-run" ]; then
    log "compile of $name failed: $(grep -m1 error "$work/compile.err")"
    rows+=("| $name | $mib | compile failed | | | | | | | | | | | | | |"); continue
  fi
  csec=$(awk '{print $2}' <<<"$ct"); crss=$(awk '{printf "%.0f", $3/1024}' <<<"$ct")

  pfile="$work/prompt-$npr-$preset-$format.txt"
  [ -s "$pfile" ] || make_prompt "$out/milm-run" "$pfile"

  # The runs alternate between the engines, so that both see the same load on a
  # shared machine: milm-run, then llama.cpp (one node process per run; loading
  # the model is not timed).
  mpp=(); mtg=(); mrss=0; mN=""; mM=""; lpp=(); ltg=(); lN=""; ref_fail=""; rbw=()
  for r in $(seq "$runs"); do
    # The read bandwidth right before each round (best of 5 passes): the roofline
    # of this row is the median of these, the memory these runs shared.
    rbw+=("$("$work/bandwidth" "$ncpu" 1024 5 | awk '{print $2}')")
    line=$( { /usr/bin/time -f "RSS %M" "$out/milm-run" -f "$pfile" -n "$ngen" -t "$threads" --temp 0 \
              --no-display-prompt >/dev/null; } 2>&1 )
    t=$(grep '^milm: prompt' <<<"$line")
    rss=$(sed -n 's/^RSS //p' <<<"$line"); [ "$rss" -gt "$mrss" ] && mrss=$rss
    read -r N X M Y < <(sed -E 's/^milm: prompt ([0-9]+) tokens in ([0-9.]+) s.*generated ([0-9]+) tokens in ([0-9.]+) s.*/\1 \2 \3 \4/' <<<"$t")
    mN=$N; mM=$M
    mpp+=("$(awk -v n="$N" -v s="$X" 'BEGIN{print n/s}')"); mtg+=("$(awk -v n="$M" -v s="$Y" 'BEGIN{print n/s}')")
    log "milm $name run $r: $t"
    [ -z "$ref_why" ] && [ -z "$ref_fail" ] || continue
    if NLC_DIR="$nlc" node "$root/bench/llamacpp.mjs" "$gguf" "$pfile" "$ngen" "$threads" 1 \
         >"$work/llamacpp.json" 2>"$work/llamacpp.err"; then
      ref_info=$(grep -m1 '^llama.cpp:' "$work/llamacpp.err" | sed 's/; prompt [0-9]* tokens$//' || true)
      j=$(head -1 "$work/llamacpp.json")
      read -r lN lp lt < <(python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(j["prompt_tokens"], j["prompt_tokens"]/j["prompt_s"], j["gen_tokens"]/j["gen_s"])' "$j")
      lpp+=("$lp"); ltg+=("$lt")
      log "llama.cpp $name run $r: $j"
    else
      ref_fail="llama.cpp failed on $name: $(grep -v '^\s*$' "$work/llamacpp.err" | grep -m1 -i 'error' || tail -1 "$work/llamacpp.err")"
      log "$ref_fail"; notes+=("$ref_fail")
    fi
  done
  mpp_s=$(printf '%s\n' "${mpp[@]}" | stats); mtg_s=$(printf '%s\n' "${mtg[@]}" | stats)
  lpp_s="- - -"; ltg_s="- - -"
  if [ ${#lpp[@]} -gt 0 ]; then
    lpp_s=$(printf '%s\n' "${lpp[@]}" | stats); ltg_s=$(printf '%s\n' "${ltg[@]}" | stats)
    [ "$lN" = "$mN" ] || notes+=("$name: llama.cpp tokenized the prompt into $lN tokens, milm into $mN")
  fi
  [ "$mN" = "$npr" ] || notes+=("$name: milm-run evaluated a prompt of $mN tokens, not $npr")
  [ "$mM" = "$ngen" ] || notes+=("$name: milm-run generated $mM tokens, not $ngen (end of text)")
  rbw_s=$(printf '%s\n' "${rbw[@]}" | stats)
  rroof=$(awk -v b="${rbw_s%% *}" -v w="$wbytes" 'BEGIN { printf "%.4g\n", b * 1e9 / w }')
  frac=$(awk -v t="${mtg_s%% *}" -v r="$rroof" 'BEGIN { printf "%.0f%%\n", 100 * t / r }')
  lfrac=$(awk -v t="${ltg_s%% *}" -v r="$rroof" 'BEGIN { if (t=="-") print "–"; else printf "%.0f%%\n", 100 * t / r }')
  gfrac=$(awk -v t="${mtg_s%% *}" -v r="$roof" 'BEGIN { printf "%.0f%%\n", 100 * t / r }')
  rows+=("| $name | $mib | $csec | $crss | $(( mrss / 1024 )) | $(fmt "$mpp_s") | $(fmt "$lpp_s") | $(ratio "${mpp_s%% *}" "${lpp_s%% *}") | $(fmt "$mtg_s") | $(fmt "$ltg_s") | $(ratio "${mtg_s%% *}" "${ltg_s%% *}") | $(awk -v w="$wbytes" 'BEGIN{printf "%.1f", w/1048576}') | $(fmt "$rbw_s") | $(printf '%.1f' "$rroof") | $frac / $lfrac | $gfrac |")
  # Where decode's time goes: one more run with --profile (not in the medians),
  # right after a bandwidth measurement; the products' rate is their weight
  # bytes over their time.
  pbw=$("$work/bandwidth" "$ncpu" 1024 5 | awk '{print $2}')
  prof=$("$out/milm-run" -f "$pfile" -n "$ngen" -t "$threads" --temp 0 --no-display-prompt --profile 2>&1 >/dev/null |
         awk '/^profile: decode/ { d = 1; next } /^profile:/ { d = 0 } d && $1 != "op"' || true)
  if [ -n "$prof" ]; then
    profs+=("| $name | $pbw | $(awk -v bw="$pbw" '
      $NF ~ /%$/ { n = $1; for (i = 2; i <= NF - 3; ++i) n = n " " $i; parts[++k] = n " " $NF; next }
      { n = $1; for (i = 2; i <= NF - 6; ++i) n = n " " $i
        f = $(NF - 5) == "-" ? "" : " " $(NF - 5)
        r = $NF == "-" ? "" : " at " $NF " GB/s"
        parts[++k] = n f " " $(NF - 2) r
        if ($NF != "-") { mb += $(NF - 1); s += $(NF - 3) } }
      END { for (i = 1; i <= k; ++i) printf "%s%s", (i > 1 ? "; " : ""), parts[i]
            if (s > 0) printf " | %.2f GB/s (%.0f%%)", mb / 1000 / s, 100 * mb / 1000 / s / bw
            else printf " | -" }' <<<"$prof") |")
  fi
done

# --- report -------------------------------------------------------------------
{
  echo "Command: \`$cmdline\` (milmc $("$milmc" version 2>/dev/null | head -1 | sed 's/^milmc *//'))"
  echo
  echo "Machine: $cpu, nproc $ncpu, $(date -u +'%Y-%m-%d %H:%M UTC'); $threads threads for both engines; $runs runs each, alternating between the engines, median (min–max); load average at start $load0 (the 2 cores are shared with other jobs)."
  echo "Read bandwidth: $bw GB/s at the start (best of 10 runs of bench/cpu/bandwidth.c over 1 GiB, $ncpu threads, AVX2 loads, 8 accumulators). Each row's roofline uses the bandwidth measured right before each of its rounds (best of 5 passes; median (min–max) of the rounds in the \"read GB/s\" column), the memory its runs shared with whatever else ran; the last column is milm's fraction of the roofline at the start's bandwidth."
  if [ -z "$ref_why" ]; then
    echo "Reference: node-llama-cpp $nlc_version, ${ref_info:-llama.cpp}."
  else
    echo "Reference: **missing** — $ref_why."
  fi
  echo
  echo "| model | GGUF MiB | compile s | compile peak RSS MiB | run peak RSS MiB | prompt tok/s milm | prompt tok/s llama.cpp | prompt ratio | gen tok/s milm | gen tok/s llama.cpp | gen ratio | weights read/token MiB | read GB/s | roofline tok/s | gen % of roofline milm / llama.cpp | milm % of start roofline |"
  echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
  printf '%s\n' "${rows[@]}"
  if [ ${#notes[@]} -gt 0 ]; then echo; for n in "${notes[@]}"; do echo "- $n"; done; fi
  if [ ${#profs[@]} -gt 0 ]; then
    echo
    echo "Where decode's time goes: one more milm-run per model with \`--profile\` (share of the decode calls' time per op kind and weight format, and the products' weight bytes over their time), after a bandwidth measurement (best of 5 passes)."
    echo
    echo "| model | read GB/s | decode time by op | products' rate (of the read bandwidth) |"
    echo "|---|--:|---|--:|"
    printf '%s\n' "${profs[@]}"
  fi
} >"$work/cpu-results.md"
cat "$work/cpu-results.md"

if [ $write_doc = 1 ]; then
  doc=$root/docs/PERFORMANCE.md
  python3 "$root/bench/write_doc_section.py" "$doc" "$work/cpu-results.md" cpu
  log "wrote $doc"
fi
