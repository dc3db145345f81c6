//===- AArch64Driver.cpp - The NEON microkernels under qemu-aarch64 --------===//
//
// A plain test driver (no GoogleTest: it is cross-compiled for AArch64 and run
// under `qemu-aarch64 -cpu max`). It links three builds of the kernels with
// different symbol prefixes: generic C (milm_uk_generic_), NEON with dotprod
// (milm_uk_dotprod_) and NEON with dotprod + i8mm (milm_uk_i8mm_), runs every
// check of UKernelChecks.h on each, and compares the NEON builds with generic.
// Prints one line per failure and a summary; exits non-zero on any failure.
//
//===----------------------------------------------------------------------===//
#define MILM_UK_PREFIX milm_uk_generic_
#include "codegen/ukernels/include/milm_ukernels.h"
#undef MILM_UK_PREFIX
#define MILM_UK_PREFIX milm_uk_dotprod_
#include "codegen/ukernels/include/milm_ukernels.h"
#undef MILM_UK_PREFIX
#define MILM_UK_PREFIX milm_uk_i8mm_
#include "codegen/ukernels/include/milm_ukernels.h"
#undef MILM_UK_PREFIX

#include "UKernelChecks.h"

#include <cstdio>

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

using namespace milm::ukcheck;

namespace {
int passed = 0, failed = 0;

void expectOk(const std::string &what, const std::string &err) {
  if (err.empty()) {
    ++passed;
  } else {
    ++failed;
    std::printf("FAIL %s: %s\n", what.c_str(), err.c_str());
  }
}

/// The CPU (or qemu's -cpu) offers SDOT and SMMLA.
bool cpuHas(const char *feature) {
#if defined(__aarch64__) && defined(__linux__)
  const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
  if (std::string(feature) == "dotprod")
    return hw & (1ul << 20); // HWCAP_ASIMDDP
  if (std::string(feature) == "i8mm")
    return hw2 & (1ul << 13); // HWCAP2_I8MM
#endif
  (void)feature;
  return false;
}
} // namespace

int main() {
  const UKImpl generic = MILM_UKCHECK_IMPL(milm_uk_generic_, "generic");
  const UKImpl dotprod = MILM_UKCHECK_IMPL(milm_uk_dotprod_, "neon-dotprod");
  const UKImpl i8mm = MILM_UKCHECK_IMPL(milm_uk_i8mm_, "neon-i8mm");
  if (!cpuHas("dotprod") || !cpuHas("i8mm")) {
    std::printf("FAIL: this CPU lacks dotprod or i8mm (run under qemu-aarch64 -cpu max)\n");
    return 1;
  }
  std::vector<const UKImpl *> impls = {&generic, &dotprod, &i8mm};
  for (const UKImpl *impl : impls) {
    const std::string n = impl->name;
    for (uint32_t f : allFormats()) {
      for (const MatmulCase &c : matmulCases(f)) {
        expectOk(n + " matmul " + caseName(c), checkMatmul(*impl, c));
        expectOk(n + " matmul_dequant " + caseName(c), checkMatmulDequant(*impl, c));
        if (impl != &generic)
          expectOk(n + " vs generic " + caseName(c), checkSameAs(generic, *impl, c));
      }
      expectOk(n + " dequantize_row " + formatName(f), checkDequantRow(*impl, f));
    }
    expectOk(n + " elementwise", checkElementwise(*impl));
    for (size_t l = 0; l < std::size(kPackedLayouts); ++l)
      expectOk(n + " " + kPackedLayouts[l].name, checkPackedCases(*impl, generic, l));
    for (int32_t pairing : {MILM_UK_ROPE_NORM, MILM_UK_ROPE_NEOX})
      for (int32_t scaling : {MILM_UK_ROPE_SCALING_NONE, MILM_UK_ROPE_SCALING_LINEAR,
                              MILM_UK_ROPE_SCALING_NTK, MILM_UK_ROPE_SCALING_YARN})
        for (int64_t rd : {64, 32})
          expectOk(n + " rope", checkRope(*impl, pairing, scaling, rd));
    expectOk(n + " attention", checkAttention(*impl, {8, 2, 32, 16}, 8, 5));
    expectOk(n + " attention", checkAttention(*impl, {6, 2, 64, 160}, 150, 130));
    expectOk(n + " attention", checkAttention(*impl, {4, 4, 128, 8}, 5, 1));
    expectOk(n + " attention", checkAttention(*impl, {2, 1, 20, 8}, 6, 2));
    expectOk(n + " moe_route", checkMoeRoute(*impl));
    expectOk(n + " outlier_columns_f16", checkOutlierColumns(*impl));
  }
  std::printf("aarch64 ukernel checks: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
