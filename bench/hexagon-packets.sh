#!/usr/bin/env bash
# Instruction-level estimates of the Hexagon kernel set (hexagon-hvx:
# codegen/ukernels/hexagon/ukernels_hvx.c with the generic C for the rest), no
# device needed. LLVM 22's llvm-mca has no Hexagon scheduling model
# ("instruction itineraries are currently unsupported"), so packets are counted:
#
# 1. dynamic: bench/hexagon/PacketDriver.c runs one token's product with 32 and
#    with 64 rows of K = 1024 values per format under qemu-hexagon with execution
#    tracing (-d in_asm,exec,nochain); bench/hexagon/count_packets.py adds up the
#    packets of every translated block executed. The difference / (32 rows x 32
#    blocks) is the packets a row spends on 32 values, setup excluded. A packet
#    issues in one cycle when nothing stalls: a lower bound on cycles.
# 2. static: the HVX part of one block of the packed layouts (32 rows x 32
#    values: loads, nibble unpacking, the vrmpy chain) compiled with
#    -DMILM_UK_PACKETS into a function of its own, straight-line code in which
#    every `{` starts a packet (the return packet left out), for v68 and v73.
#
# The vrmpy bound: one vrmpy (a packet) multiplies 128 byte pairs, so a row's
# 32 values need at least 1/4 packet. Not part of the tests; needs clang-22,
# qemu-hexagon and a build (for the Hexagon runtime's libm and memcpy).
#
#   bash bench/hexagon-packets.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
uk=$root/codegen/ukernels
cc=${CC:-clang-22}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
runtime=$build/runtime/hexagon/libmilm_hexagon_dsp.a
[[ -f $runtime ]] || { echo "no $runtime: build milm first (bash scripts/build.sh)" >&2; exit 1; }
command -v qemu-hexagon > /dev/null || { echo "qemu-hexagon is missing (apt-get install qemu-user)" >&2; exit 1; }

echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(qemu-hexagon --version | head -1)"
"$cc" --target=hexagon-unknown-linux-musl -mv68 -mhvx -mhvx-length=128b -O2 -ffp-contract=fast \
  -fno-math-errno -ffreestanding -nostdlib -fuse-ld=lld -static -I"$uk/include" -I"$uk/generic" \
  -I"$root/runtime/hexagon" "$uk/hexagon/ukernels_hvx.c" "$root/bench/hexagon/PacketDriver.c" \
  "$runtime" -o "$work/driver"
packets() {
  qemu-hexagon -cpu v67 -d in_asm,exec,nochain -D "$work/log" "$work/driver" "$1" "$2"
  python3 "$root/bench/hexagon/count_packets.py" "$work/log"
}
echo
echo "dynamic, v68 code: packets executed per row and 32 values (one token, K = 1024)"
printf '%-8s %-34s %10s %10s %12s %8s\n' format kernel "32 rows" "64 rows" "per row/32" "x bound"
for f in q8_0x32 q4_0x32 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q5_k q6_k f16 f32; do
  case $f in
    *x32) kernel="HVX vrmpy, packed layout";;
    f16|f32) kernel="generic C (scalar float)";;
    q4_k|q5_k|q6_k) kernel="HVX vrmpy, GGUF layout, HVX unpack";;
    *) kernel="HVX vrmpy, staged GGUF layout";;
  esac
  a=$(packets $f 32); b=$(packets $f 64)
  python3 -c "import sys; a, b = int(sys.argv[2]), int(sys.argv[3]); p = (b - a) / (32 * 32)
print(f'{sys.argv[1]:<8} {sys.argv[4]:<34} {a:>10} {b:>10} {p:>12.2f} {p / 0.25:>8.1f}')" \
    "$f" "$a" "$b" "$kernel"
done

echo
echo "static: the HVX part of one packed block (32 rows x 32 values)"
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
