#!/usr/bin/env bash
# The main job. Until end-to-end compilation lands, it installs what is missing,
# builds every tool and shows what the compiler offers.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
export PATH=/usr/lib/llvm-22/bin:$PATH
bash scripts/build.sh
./build/bin/milmc --help
