#!/usr/bin/env bash
# milm's two x86-64 kernel sets against native builds of ik_llama.cpp and
# llama.cpp on the same synthetic MiLM2 GGUFs, in one run: prompt processing
# (a prompt of exactly 128 tokens) and generation (128 tokens, greedy), 2
# threads. milm is compiled twice from each GGUF: --target x86-64 (AVX2 set)
# and --target x86-64-v4 (AVX-512 + VNNI set; needs such a CPU). The reference
# engines run llama-bench (-p 128 -n 128, one repetition per round; ik_llama.cpp
# with -rtr 1, its run-time repacking). Rounds alternate between the four so
# that all see the same load; medians (min–max). Not part of the tests.
#
#   bash bench/native.sh [--write-doc] [PRESET:FORMAT ...]   (default: the list below)
#   env: IK_LLAMA_BENCH, LLAMA_BENCH (llama-bench binaries of native builds, e.g.
#        cmake -DGGML_NATIVE=ON -DCMAKE_BUILD_TYPE=Release, target llama-bench, in a
#        folder outside this repository), MILMC, MILM_BENCH_DIR (/tmp/milm-bench),
#        MILM_RUNS (3), MILM_THREADS (2)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
milmc=${MILMC:-$root/build/bin/milmc}
ik=${IK_LLAMA_BENCH:-/work/ref/ik_llama.cpp/build/bin/llama-bench}
lc=${LLAMA_BENCH:-/work/ref/llama.cpp/build/bin/llama-bench}
work=${MILM_BENCH_DIR:-/tmp/milm-bench}
runs=${MILM_RUNS:-3}
threads=${MILM_THREADS:-2}
npr=128; ngen=128
write_doc=0; models=()
for a in "$@"; do
  case $a in
    --write-doc) write_doc=1 ;;
    *:*) models+=("$a") ;;
    -h|--help) sed -n 2,17p "$0"; exit 0 ;;
    *) echo "native.sh: unknown argument '$a'" >&2; exit 2 ;;
  esac
done
[ ${#models[@]} -gt 0 ] || models=(0.3b:q4_0 0.3b:q8_0 0.3b:q4_k_m 1.3b:q4_0 1.3b:q8_0 moe-0.7bx8:q4_0)
[ -x "$milmc" ] || { echo "native.sh: no milmc at $milmc (build it, or set MILMC)" >&2; exit 1; }
grep -qw avx512_vnni /proc/cpuinfo || { echo "native.sh: this CPU has no AVX-512 VNNI" >&2; exit 1; }
mkdir -p "$work"
log() { echo "native.sh: $*" >&2; }
. "$root/bench/lib.sh"
cmdline="${MILM_RUNS:+MILM_RUNS=$MILM_RUNS }bash bench/native.sh $*"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|avx512f|avx512bw|avx512_vnni|avx_vnni|avx512_bf16|avx512_fp16|amx_int8)$' | tr '\n' ' ')
load0=$(cut -d" " -f1-3 /proc/loadavg)
refinfo() { # llama-bench -> "commit (build)"
  git -C "$(dirname "$1")/../.." log -1 --format='%h %cs' 2>/dev/null || echo "?"
}
refs=()
for r in "$ik" "$lc"; do [ -x "$r" ] && refs+=("$r") || log "missing reference: $r (left out)"; done

llama_bench() { # BIN GGUF EXTRA... -> "pp tg" tok/s
  local bin=$1 gguf=$2; shift 2
  "$bin" -m "$gguf" -p "$npr" -n "$ngen" -t "$threads" -r 1 -o json "$@" 2>/dev/null |
    python3 -c 'import json,sys
r = json.load(sys.stdin); pp = [x["avg_ts"] for x in r if x["n_prompt"] > 0]; tg = [x["avg_ts"] for x in r if x["n_gen"] > 0]
print(pp[0], tg[0])'
}

rows=()
for m in "${models[@]}"; do
  preset=${m%%:*}; format=${m#*:}; name="$preset $format"
  gguf="$work/synth-$preset-$format.gguf"
  [ -f "$gguf" ] || { log "synth $name ..."; "$milmc" synth --preset "$preset" --format "$format" -o "$gguf"; }
  for t in x86-64 x86-64-v4; do
    out="$work/native-$preset-$format-$t"
    rm -rf "$out"
    log "compile $name for $t ..."
    "$milmc" compile "$gguf" --target "$t" -o "$out" 2>"$work/compile.err" || { log "$(tail -1 "$work/compile.err")"; continue 2; }
  done
  pfile="$work/prompt-$npr-$preset-$format.txt"
  [ -s "$pfile" ] || make_prompt "$work/native-$preset-$format-x86-64/milm-run" "$pfile"
  declare -A pp=() tg=()
  for r in $(seq "$runs"); do
    for t in x86-64 x86-64-v4; do
      line=$("$work/native-$preset-$format-$t/milm-run" -f "$pfile" -n "$ngen" -t "$threads" --temp 0 --no-display-prompt 2>&1 >/dev/null | grep '^milm: prompt')
      read -r N X M Y < <(sed -E 's/^milm: prompt ([0-9]+) tokens in ([0-9.]+) s.*generated ([0-9]+) tokens in ([0-9.]+) s.*/\1 \2 \3 \4/' <<<"$line")
      [ "$N" = "$npr" ] || log "$name: milm evaluated $N prompt tokens, not $npr"
      pp[$t]+="$(awk -v n="$N" -v s="$X" 'BEGIN{print n/s}') "; tg[$t]+="$(awk -v n="$M" -v s="$Y" 'BEGIN{print n/s}') "
      log "milm $t $name run $r: $line"
    done
    for ref in "${refs[@]}"; do
      extra=(); [ "$ref" = "$ik" ] && extra=(-rtr 1)
      if res=$(llama_bench "$ref" "$gguf" "${extra[@]}"); then
        pp[$ref]+="${res% *} "; tg[$ref]+="${res#* } "
        log "$(basename "$(dirname "$(dirname "$(dirname "$ref")")")") $name run $r: pp $res"
      else
        log "$ref failed on $name"
      fi
    done
  done
  med() { tr ' ' '\n' <<<"${1:-}" | grep . | stats; }
  a2p=$(med "${pp[x86-64]}"); a5p=$(med "${pp[x86-64-v4]}"); a2t=$(med "${tg[x86-64]}"); a5t=$(med "${tg[x86-64-v4]}")
  ikp=$(med "${pp[$ik]:-}"); ikt=$(med "${tg[$ik]:-}"); lcp=$(med "${pp[$lc]:-}"); lct=$(med "${tg[$lc]:-}")
  rows+=("| $name | $(fmt "$a5p") | $(fmt "$a2p") | $(fmt "$ikp") | $(fmt "$lcp") | $(ratio "${a5p%% *}" "${ikp%% *}") | $(ratio "${a5p%% *}" "${a2p%% *}") | $(fmt "$a5t") | $(fmt "$a2t") | $(fmt "$ikt") | $(fmt "$lct") | $(ratio "${a5t%% *}" "${ikt%% *}") |")
  unset pp tg
done

{
  echo "Command: \`$cmdline\`"
  echo
  echo "Machine: $cpu ($flags), nproc $(nproc), $(date -u +'%Y-%m-%d %H:%M UTC'); $threads threads for every engine; $runs rounds alternating between the four, median (min–max); load average at start $load0."
  echo "References: ik_llama.cpp $(refinfo "$ik") and llama.cpp $(refinfo "$lc"), native builds (GGML_NATIVE=ON, Release, gcc 12), \`llama-bench -p $npr -n $ngen -t $threads -r 1\` per round (ik_llama.cpp with \`-rtr 1\`). milm: \`milm-run -f PROMPT -n $ngen --temp 0\` with a prompt of exactly $npr tokens, compiled with \`--target x86-64-v4\` (AVX-512) and \`--target x86-64\` (AVX2)."
  echo
  echo "| model | prompt tok/s milm AVX-512 | milm AVX2 | ik_llama.cpp | llama.cpp | prompt AVX-512 / ik | AVX-512 / AVX2 | gen tok/s milm AVX-512 | milm AVX2 | ik_llama.cpp | llama.cpp | gen AVX-512 / ik |"
  echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
  printf '%s\n' "${rows[@]}"
} >"$work/native-results.md"
cat "$work/native-results.md"
if [ $write_doc = 1 ]; then
  python3 "$root/bench/write_doc_section.py" "$root/docs/PERFORMANCE.md" "$work/native-results.md" native
  log "wrote docs/PERFORMANCE.md"
fi
