#!/usr/bin/env bash
# Trains one model of models/ (scripts/train_model.py --preset tiny|target|moe; tiny,
# the model scripts/run.sh compiles by default, when no preset is given) and writes it
# with its reference logits and perplexity: installs what the Python script needs from
# Debian 12 (PyTorch, NumPy, OpenBLAS, the King James Bible and the program that reads
# it), then runs it on one CPU thread. Arguments go to the Python script (--help lists
# them). CI never runs this.
#
#   bash scripts/train_model.sh [--preset tiny|target|moe] [-o OUT.gguf] [options]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
pkgs=(python3-torch python3-numpy libopenblas0-pthread bible-kjv bible-kjv-text)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi
# Debian's own Python, where python3-torch lives, whatever python3 is first on PATH.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
exec /usr/bin/python3 scripts/train_model.py "$@"
