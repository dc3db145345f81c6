#!/usr/bin/env bash
# Compares the machine code two milmc builds generate for the same models:
# the disassembly of each model.o (llvm-objdump, addresses, raw bytes and symbol
# names dropped; the descriptor's old name milm_model mapped to
# milm_model_descriptor). Identical code runs at identical speed, so a refactoring
# of the compiler that keeps it needs no timing run; a difference is printed.
#
#   bash bench/same-code.sh OLD_MILMC NEW_MILMC [TARGET...]   (default: x86-64-v4 aarch64-linux-gnu)
#
# Models: the dense, MoE and qwen2 fixtures in several formats. Not part of the tests.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
old=$1 new=$2
shift 2
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(x86-64-v4 aarch64-linux-gnu)
objdump=$(command -v llvm-objdump-22 || echo /usr/lib/llvm-22/bin/llvm-objdump)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for target in "${targets[@]}"; do
  for m in llama-dense-q4_k_m llama-dense-q8_0 llama-moe-q4_0 qwen2-dense-f16; do
    for side in old new; do
      milmc=$old; [ $side = new ] && milmc=$new
      "$milmc" compile "$root/test/fixtures/gguf/$m.gguf" --target "$target" -o "$work/$side" > /dev/null 2>&1
      "$objdump" -d --no-show-raw-insn --no-leading-addr "$work/$side/model.o" |
        sed 's/milm_model_descriptor/milm_model/g; s/<[^>]*>//g' | grep -v "file format" > "$work/$side.dis"
    done
    if cmp -s "$work/old.dis" "$work/new.dis"; then
      echo "$target $m: identical code ($(wc -l < "$work/new.dis") lines)"
    else
      echo "$target $m: DIFFERENT"; diff "$work/old.dis" "$work/new.dis" | head -20; status=1
    fi
  done
done
exit $status
