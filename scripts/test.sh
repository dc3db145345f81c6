#!/usr/bin/env bash
# The whole test suite from nothing: installs what is missing, builds everything,
# runs the lit/FileCheck suite and the ctest suite (GoogleTest unit tests and the
# fuzzers under ASan/UBSan), and ends with one line `total: N passed, M failed`.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MILM_BUILD_DIR:-$root/build}
cd "$root"

start=$(date +%s)
bash scripts/setup.sh || { echo "total: 0 passed, 1 failed"; exit 1; }
export PATH=/usr/lib/llvm-22/bin:$PATH

build_start=$(date +%s)
if ! bash scripts/build.sh; then
  echo "test: the build failed"
  echo "total: 0 passed, 1 failed"
  exit 1
fi
echo "test: build took $(( $(date +%s) - build_start )) s"

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# lit: every .mlir/.test file under test/.
lit -sv "$build/test" 2>&1 | tee "$log"
lit_pass=$(awk '/^ *Passed:/ {print $2}' "$log" | tail -1); lit_pass=${lit_pass:-0}
lit_fail=0
for k in Failed Unresolved "Timed Out" "Unexpectedly Passed"; do
  n=$(awk -v k="$k" '{ line=$0; sub(/^ +/, "", line) } index(line, k":") == 1 { sub(k":", "", line); split(line, a, " "); print a[1] }' "$log" | tail -1)
  lit_fail=$(( lit_fail + ${n:-0} ))
done
if ! grep -q "Total Discovered Tests" "$log"; then lit_fail=$(( lit_fail + 1 )); fi
# REQUIRES: a CPU feature this machine lacks: skipped, not passed.
lit_skip=$(awk '/^ *Unsupported:/ {print $2}' "$log" | tail -1); lit_skip=${lit_skip:-0}

# ctest: unit tests and fuzzers.
ctest --test-dir "$build" --output-on-failure -j 2 2>&1 | tee "$log"
ctest_total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -1)
ctest_fail=$(sed -n 's/.* \([0-9]*\) tests\{0,1\} failed out of.*/\1/p' "$log" | tail -1)
if [ -z "$ctest_total" ]; then
  if grep -q "No tests were found" "$log"; then ctest_total=0; ctest_fail=0; else ctest_total=0; ctest_fail=1; fi
fi
# Tests that did not run (GTEST_SKIP, a missing CPU feature) are skipped, not passed.
ctest_skip=$(awk '/The following tests did not run:/ {on=1; next} on && /^[ \t]+[0-9]+ - / {n++} on && !/^[ \t]+[0-9]+ - / {on=0} END {print n+0}' "$log")
ctest_pass=$(( ctest_total - ctest_fail - ctest_skip ))

echo "test: lit ${lit_pass} passed, ${lit_fail} failed, ${lit_skip} skipped; ctest ${ctest_pass} passed, ${ctest_fail} failed, ${ctest_skip} skipped; $(( $(date +%s) - start )) s in all"
echo "total: $(( lit_pass + ctest_pass )) passed, $(( lit_fail + ctest_fail )) failed, $(( lit_skip + ctest_skip )) skipped"
[ $(( lit_fail + ctest_fail )) -eq 0 ]
