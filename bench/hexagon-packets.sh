#!/usr/bin/env bash
# Static VLIW packet counts of the Hexagon HVX kernels' hot part
# (codegen/ukernels/hexagon/ukernels_hvx.c): the HVX work of one block of 32
# rows x 32 values of the packed layouts q8_0x32 and q4_0x32, for HVX v68 and
# v73, against its vrmpy count. LLVM 22's llvm-mca has no Hexagon scheduling
# model ("instruction itineraries are currently unsupported"), so this counts
# the packets the compiler formed: the file is compiled with -DMILM_UK_PACKETS,
# which keeps each block's HVX part (milm_uk_hvx_sums_<layout>: loads,
# unpacking, vrmpy) a function of its own, straight-line code in which every
# `{` starts a packet; the function's return packet is left out. A packet
# issues in one cycle when nothing stalls, so these are lower bounds on
# cycles, not timings. The per-row float part that follows (scale and sum,
# scalar: qemu 7.2 cannot run HVX float) is not counted. Not part of the
# tests; needs only clang-22.
#
#   bash bench/hexagon-packets.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
uk=$root/codegen/ukernels
cc=${CC:-clang-22}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '%-11s %-8s %8s %6s %28s\n' cpu layout packets vrmpy "packets / (row x 32 values)"
for cpu in hexagonv68 hexagonv73; do
  "$cc" --target=hexagon-unknown-linux-musl -mcpu=$cpu -mhvx -mhvx-length=128b -O2 \
    -ffp-contract=off -ffreestanding -DMILM_UK_PACKETS -I"$uk/include" -I"$uk/generic" \
    -S "$uk/hexagon/ukernels_hvx.c" -o "$work/$cpu.s"
  for layout in q8_0x32 q4_0x32; do
    awk -v cpu="$cpu" -v layout="$layout" '
      $0 ~ "^milm_uk_hvx_sums_" layout ":" { on = 1; next }
      on && /^\.Lfunc_end/ { on = 0 }
      on && /^[ \t]*\{/ { packets++; last = NR }
      on && /jumpr r31/ { ret++ }
      on && /vrmpy/ { vrmpy++ }
      END { n = packets - (ret ? 1 : 0)
            printf "%-11s %-8s %8d %6d %28.3f\n", cpu, layout, n, vrmpy, n / 32 }' "$work/$cpu.s"
  done
done
