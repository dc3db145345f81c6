#!/usr/bin/env bash
# llvm-mca estimates of the AArch64 microkernels' per-block loops (NEON dotprod
# and i8mm, codegen/ukernels/aarch64/ukernels_neon.c) next to the bound set by
# their dot-product instructions. Needs no build of the project and no AArch64
# machine: only clang, opt, llc, llvm-extract, llvm-dis, llvm-mc and llvm-mca from
# LLVM 22, and python3. Not part of the tests; about 15 s on 2 idle cores.
#
#   bash bench/mca.sh [--write-doc]
#     --write-doc: also put the tables into docs/PERFORMANCE.md between the
#                  bench:mca markers (nothing else in the file changes)
#   env: LLVM_BIN (default /usr/lib/llvm-22/bin), MILM_BENCH_DIR (the work folder
#        is its mca/, default /tmp/milm-bench/mca), MCA_CPUS (default
#        "cortex-a78 neoverse-n1 cortex-x2 neoverse-v1"), MCA_ITERATIONS (N, 100:
#        llvm-mca runs N and 2N iterations and takes the difference)
#
# How (docs/PERFORMANCE.md, "AArch64 microkernels: llvm-mca estimates"):
# 1. the kernels are compiled to bitcode with the build's own command, its flags
#    read from codegen/ukernels/{CMakeLists.txt,UKernelSources.cmake}
#    (aarch64-dotprod and aarch64-i8mm), and bench/mca/loops.c, which includes the
#    kernels and instantiates each per-block loop alone, with the same flags;
# 2. per CPU, the bitcode flavour milmc picks for it (i8mm if the CPU has it, else
#    dotprod) goes through what `milmc compile --target aarch64-linux-gnu --cpu CPU`
#    does to it: target-cpu=CPU and no target-features on every function, opt -O3,
#    llc -O3 -mcpu=CPU, here to assembly;
# 3. bench/mca/analyze.py finds each case's loop in the real entry point
#    milm_uk_matmul_<fmt>_q8 (llc's loop comments give the loop nests; the loops.c
#    instance's shape and instruction mix pick the one), runs llvm-mca on it and
#    prints the tables.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
uk=$root/codegen/ukernels
llvm=${LLVM_BIN:-/usr/lib/llvm-22/bin}
work=${MILM_BENCH_DIR:-/tmp/milm-bench}/mca
read -r -a cpus <<<"${MCA_CPUS:-cortex-a78 neoverse-n1 cortex-x2 neoverse-v1}"
iters=${MCA_ITERATIONS:-100}
write_doc=0
for a in "$@"; do
  case $a in
    --write-doc) write_doc=1 ;;
    -h|--help) sed -n 2,28p "$0"; exit 0 ;;
    *) echo "mca.sh: unknown argument '$a' (--write-doc)" >&2; exit 2 ;;
  esac
done
log() { echo "mca.sh: $*" >&2; }
for t in clang opt llc llvm-extract llvm-dis llvm-mc llvm-mca; do
  [ -x "$llvm/$t" ] || { log "no $llvm/$t (set LLVM_BIN)"; exit 1; }
done
rm -rf "$work"; mkdir -p "$work"

# --- the build's flags, from the cmake files ------------------------------------
cmake_files=("$uk/UKernelSources.cmake" "$uk/CMakeLists.txt")
cm_call() { # TEXT-THE-CALL-STARTS-WITH -> the call on one line, without "NAME(" and ")"
  awk -v p="$1" 'index($0, p) == 1 { on = 1; sub(/^[^(]*\(/, "") }
    on { line = line " " $0; if ($0 ~ /\)[ \t]*$/) { sub(/\)[ \t]*$/, "", line); print line; exit } }' \
    "${cmake_files[@]}"
}
cm_expand() { # WORDS -> WORDS with ${VAR} replaced by the set(VAR ...) values
  local s=$1 v val
  for _ in 1 2 3 4; do
    [[ $s =~ \$\{([A-Za-z0-9_]+)\} ]] || break
    v=${BASH_REMATCH[1]}
    if [ "$v" = MILM_UK_DIR ]; then val=$uk; else val=$(cm_call "set($v "); val=${val#*"$v"}; fi
    [ -n "$val" ] || { log "cannot find set($v ...) in ${cmake_files[*]}"; exit 1; }
    s=${s//"\${$v}"/$val}
  done
  # shellcheck disable=SC2086  # unquoted: collapses the cmake call's line breaks and indents
  echo $s
}
common=$(cm_expand "$(cm_call 'set(MILM_UK_BC_COMMON ' | sed 's/^ *MILM_UK_BC_COMMON//')")
declare -A triple flags
for v in dotprod i8mm; do
  call=$(cm_call "milm_ukernel_bitcode(aarch64-$v ")
  [ -n "$call" ] || { log "no milm_ukernel_bitcode(aarch64-$v ...) in $uk/CMakeLists.txt"; exit 1; }
  triple[$v]=$(awk '{print $2}' <<<"$call")
  flags[$v]=$(cm_expand "${call#* FLAGS }")
  [[ $common == *-O2*-emit-llvm* ]] || { log "unexpected MILM_UK_BC_COMMON: $common"; exit 1; }
  log "aarch64-$v: clang --target=${triple[$v]} $common ${flags[$v]} ukernels_neon.c"
done

# --- bitcode: the build's command; loops.c with the same flags -------------------
pids=()
for v in dotprod i8mm; do
  mkdir -p "$work/$v"
  # shellcheck disable=SC2086
  "$llvm/clang" --target="${triple[$v]}" $common ${flags[$v]} "$uk/aarch64/ukernels_neon.c" \
    -o "$work/$v/neon.bc" & pids+=($!)
  # shellcheck disable=SC2086
  "$llvm/clang" --target="${triple[$v]}" $common ${flags[$v]} -I"$uk/aarch64" \
    "$root/bench/mca/loops.c" -o "$work/$v/loops.bc" & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done

# --- per CPU: what milmc does with the bitcode, to assembly ---------------------
has() { # CPU INSTRUCTION -> whether llvm-mc assembles it for that CPU
  echo "$2" | "$llvm/llvm-mc" -triple=aarch64 -mcpu="$1" -o /dev/null 2>/dev/null
}
to_asm() { # CPU VARIANT NAME FUNCTION-REGEX
  local cpu=$1 v=$2 n=$3
  "$llvm/llvm-extract" --rfunc="$4" "$work/$v/$n.bc" -o - |
    "$llvm/llvm-dis" -o - |
    sed -E "s/\"target-cpu\"=\"[^\"]*\"/\"target-cpu\"=\"$cpu\"/g; s/ \"target-features\"=\"[^\"]*\"//g" |
    "$llvm/opt" -O3 -mtriple="${triple[$v]}" -mcpu="$cpu" |
    "$llvm/llc" -O3 -mtriple="${triple[$v]}" -mcpu="$cpu" -o "$work/$cpu/$n.s"
}
targets=(); pids=()
for cpu in "${cpus[@]}"; do
  if has "$cpu" 'smmla v0.4s, v1.16b, v2.16b' && has "$cpu" 'sdot v0.4s, v1.16b, v2.16b'; then v=i8mm
  elif has "$cpu" 'sdot v0.4s, v1.16b, v2.16b'; then v=dotprod
  else log "$cpu has no dotprod: milmc would use the generic C kernels; skipped"; continue; fi
  mkdir -p "$work/$cpu"
  targets+=("$cpu:$v")
  to_asm "$cpu" "$v" neon '^milm_uk_matmul_q' & pids+=($!)
  to_asm "$cpu" "$v" loops '^mca_' & pids+=($!)
  if [ ${#pids[@]} -ge 4 ]; then for p in "${pids[@]}"; do wait "$p"; done; pids=(); fi
done
for p in "${pids[@]}"; do wait "$p"; done
[ ${#targets[@]} -gt 0 ] || { log "no CPU with dotprod in MCA_CPUS"; exit 1; }

# --- loops, llvm-mca, report ------------------------------------------------------
cmdline="bash bench/mca.sh${*:+ $*}"
{
  echo "Command: \`$cmdline\` ($("$llvm/llvm-mca" --version | sed -n 's/.*LLVM version \([0-9.]*\).*/LLVM \1/p' | head -1); $(date -u +'%Y-%m-%d'))."
  echo
  python3 "$root/bench/mca/analyze.py" "$work" "$llvm/llvm-mca" "$iters" "${targets[@]}"
} >"$work/mca-results.md"
cat "$work/mca-results.md"

if [ $write_doc = 1 ]; then
  doc=$root/docs/PERFORMANCE.md
  python3 "$root/bench/write_doc_section.py" "$doc" "$work/mca-results.md" mca "AArch64 microkernels: llvm-mca estimates"
  log "wrote $doc"
fi
