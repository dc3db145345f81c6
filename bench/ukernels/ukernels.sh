#!/usr/bin/env bash
# Microkernel benchmark: single-thread mat-vec GB/s of the AVX2 kernels (and the
# AVX-512 ones on a CPU that has AVX-512 F/BW/VL/DQ/VNNI) on a
# 4096 x 4096 matrix (q4_0, q8_0, q4_k, q6_k, f16) next to a plain memory-read
# kernel over the same bytes, measured in the same run (see ukernel_bench.c).
# Not part of the test suite.
#
#   bash bench/ukernels/ukernels.sh [--generic]   (--generic adds the portable C kernels)
#   bash bench/ukernels/ukernels.sh --prefill     (T = 64 tokens, GFLOP/s, AVX2 only)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
uk=$root/codegen/ukernels
work=${MILM_BENCH_DIR:-/tmp/milm-bench}/ukernels
cc=${CC:-clang-22}
mkdir -p "$work"
flags=(-O2 -std=c11 -I"$uk/include" -I"$uk/generic")
"$cc" "${flags[@]}" -DMILM_UK_PREFIX=milm_uk_generic_ -c "$uk/generic/ukernels_generic.c" -o "$work/generic.o"
"$cc" "${flags[@]}" -mavx2 -mfma -mf16c -DMILM_UK_PREFIX=milm_uk_avx2_ -c "$uk/x86_64/ukernels_avx2.c" -o "$work/avx2.o"
"$cc" "${flags[@]}" -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mfma -mf16c \
  -DMILM_UK_PREFIX=milm_uk_avx512_ -c "$uk/x86_64/ukernels_avx512.c" -o "$work/avx512.o"
"$cc" "${flags[@]}" -c "$root/bench/ukernels/ukernel_bench.c" -o "$work/bench.o"
"$cc" "$work/bench.o" "$work/avx2.o" "$work/avx512.o" "$work/generic.o" -lm -o "$work/ukernel-bench"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
"$work/ukernel-bench" "$@"
