#!/usr/bin/env bash
# The main job: install what is missing, build milm, compile a model for this
# machine and generate text with it, ending with the timing line.
#
#   bash scripts/run.sh [MODEL] [PROMPT]
#
# MODEL is a GGUF file or a Hugging Face checkpoint. Without one it is
# models/milm-tiny-kjv.gguf, a 2-million-parameter LLaMA-style model this project
# trained on the King James Bible (scripts/train_model.sh; models/README.md),
# so the text reads like that book; PROMPT defaults to "In the beginning" then,
# "Once upon a time" otherwise.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
export PATH=/usr/lib/llvm-22/bin:$PATH
bash scripts/build.sh

model=${1:-}
if [ -z "$model" ]; then
  model="$root/models/milm-tiny-kjv.gguf"
  prompt=${2:-In the beginning}
else
  prompt=${2:-Once upon a time}
fi
out="$root/build/out"
./build/bin/milmc compile "$model" --target host -o "$out" -v
"$out/milm-run" -p "$prompt" -n 64 --seed 1
