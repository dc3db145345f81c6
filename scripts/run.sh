#!/usr/bin/env bash
# The main job: install what is missing, build milm, compile a model for this
# machine and generate text with it, ending with the timing line.
#
#   bash scripts/run.sh [MODEL] [PROMPT]
#
# MODEL is a GGUF file or a Hugging Face checkpoint. Without one, the LLaMA-style
# fixture model next to this repository (../shared/fixtures) is used when it is
# there, else a random-weight `tiny` preset written by `milmc synth`. Both have
# random weights, so the text is noise: the point is the pipeline.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
export PATH=/usr/lib/llvm-22/bin:$PATH
bash scripts/build.sh

model=${1:-}
prompt=${2:-Once upon a time}
if [ -z "$model" ]; then
  model="$root/../shared/fixtures/gguf/llama-dense-q4_0.gguf"
  if [ ! -f "$model" ]; then
    model="$root/build/models/tiny-q4_0.gguf"
    mkdir -p "$(dirname "$model")"
    [ -f "$model" ] || ./build/bin/milmc synth --preset tiny --format q4_0 -o "$model"
  fi
fi
out="$root/build/out"
./build/bin/milmc compile "$model" --target host -o "$out" -v
"$out/milm-run" -p "$prompt" -n 64 --seed 1
