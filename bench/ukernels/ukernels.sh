#!/usr/bin/env bash
# Microkernel benchmark: single-thread mat-vec GB/s of the AVX2 kernels (and the
# AVX-512 ones on a CPU that has AVX-512 F/BW/VL/DQ/VNNI) on a
# 4096 x 4096 matrix (q4_0, q8_0, q4_k, q6_k, f16) next to a plain memory-read
# kernel over the same bytes, measured in the same run (see ukernel_bench.c).
# Not part of the test suite.
#
#   bash bench/ukernels/ukernels.sh [--generic]   (--generic adds the portable C kernels)
#   bash bench/ukernels/ukernels.sh --prefill     (T = 64 tokens, GFLOP/s, AVX2 only)
#   bash bench/ukernels/ukernels.sh --threads 2   (T = 1 with 2 threads sharing the
#                                                  bandwidth, as decode does)
#   ... --only q4_kx8,q6_k                        (only these formats)
#   bash bench/ukernels/ukernels.sh --ab REV [--threads 2] [--only F,...]
#                                                 (this tree's AVX2 kernels against git
#                                                  revision REV's, alternating, cold T = 1 and
#                                                  hot T = 64; REV from 888f728 on: the same
#                                                  entry points)
#   env MILM_UK_CFLAGS: extra flags for the kernels (e.g. -DUK_PREFETCH_AHEAD=2048)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
uk=$root/codegen/ukernels
work=${MILM_BENCH_DIR:-/tmp/milm-bench}/ukernels
cc=${CC:-clang-22}
mkdir -p "$work"
flags=(-O2 -std=c11 -I"$uk/include" -I"$uk/generic")
"$cc" "${flags[@]}" -DMILM_UK_PREFIX=milm_uk_generic_ -c "$uk/generic/ukernels_generic.c" -o "$work/generic.o"
"$cc" "${flags[@]}" -mavx2 -mfma -mf16c ${MILM_UK_CFLAGS:-} -DMILM_UK_PREFIX=milm_uk_avx2_ \
  -c "$uk/x86_64/ukernels_avx2.c" -o "$work/avx2.o"
"$cc" "${flags[@]}" -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mfma -mf16c \
  -DMILM_UK_PREFIX=milm_uk_avx512_ -c "$uk/x86_64/ukernels_avx512.c" -o "$work/avx512.o"
args=() base_obj=() bench_flags=()
while [ $# -gt 0 ]; do
  if [ "$1" = --ab ]; then
    [ $# -ge 2 ] || { echo "ukernels.sh: --ab needs a git revision" >&2; exit 2; }
    rev=$2; shift 2
    base=$work/base
    rm -rf "$base" && mkdir -p "$base"
    git -C "$root" archive "$rev" codegen/ukernels | tar -x -C "$base" ||
      { echo "ukernels.sh: cannot read codegen/ukernels at '$rev'" >&2; exit 2; }
    bu=$base/codegen/ukernels
    "$cc" -O2 -std=c11 -I"$bu/include" -I"$bu/generic" -mavx2 -mfma -mf16c ${MILM_UK_CFLAGS:-} \
      -DMILM_UK_PREFIX=milm_uk_base_ -c "$bu/x86_64/ukernels_avx2.c" -o "$work/base.o"
    base_obj=("$work/base.o") bench_flags=(-DUK_BENCH_AB)
    args+=(--ab)
  else
    args+=("$1"); shift
  fi
done
"$cc" "${flags[@]}" "${bench_flags[@]}" -c "$root/bench/ukernels/ukernel_bench.c" -o "$work/bench.o"
"$cc" "$work/bench.o" "$work/avx2.o" "$work/avx512.o" "$work/generic.o" "${base_obj[@]}" -lm \
  -pthread -o "$work/ukernel-bench"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
"$work/ukernel-bench" "${args[@]}"
