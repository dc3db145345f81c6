//===- CpuFeatures.cpp - does the running CPU have a model's ISA features? -===//
#include "milm/cpu_features.h"

#include <cstdint>
#include <cstring>
#include <string>

#if defined(__x86_64__)
#include <cpuid.h>
#elif defined(__aarch64__)
#include <sys/auxv.h>
#endif

namespace {

#if defined(__x86_64__)
uint64_t xcr0() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) // OSXSAVE
    return 0;
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t(hi) << 32) | lo;
}

/// -1: not a name of the table; 0: missing; 1: present.
int hasFeature(const std::string &name) {
  struct Row {
    const char *name;
    unsigned leaf, subleaf, reg, bit, xcr0;
  };
#define MILM_ROW(n, leaf, sub, reg, bit, x) {n, leaf, sub, reg, bit, x},
  static const Row rows[] = {MILM_X86_CPU_FEATURES(MILM_ROW)};
#undef MILM_ROW
  for (const Row &r : rows) {
    if (name != r.name)
      continue;
    unsigned regs[4] = {0, 0, 0, 0};
    if (!__get_cpuid_count(r.leaf, r.subleaf, &regs[0], &regs[1], &regs[2], &regs[3]))
      return 0;
    if (!(regs[r.reg] & (1u << r.bit)))
      return 0;
    return (xcr0() & r.xcr0) == r.xcr0 ? 1 : 0;
  }
  return -1;
}
#elif defined(__aarch64__)
int hasFeature(const std::string &name) {
  struct Row {
    const char *name;
    unsigned word, bit;
  };
#define MILM_ROW(n, word, bit) {n, word, bit},
  static const Row rows[] = {MILM_AARCH64_CPU_FEATURES(MILM_ROW)};
#undef MILM_ROW
  for (const Row &r : rows) {
    if (name != r.name)
      continue;
    unsigned long caps = getauxval(r.word == 1 ? AT_HWCAP : AT_HWCAP2);
    return (caps >> r.bit) & 1 ? 1 : 0;
  }
  return -1;
}
#else
int hasFeature(const std::string &) { return -1; }
#endif

} // namespace

extern "C" int milm_cpu_has_features(const char *list, char *missing, unsigned long capacity) {
  std::string out;
  const char *p = list ? list : "";
  while (*p) {
    const char *end = std::strchr(p, ',');
    std::string name = end ? std::string(p, size_t(end - p)) : std::string(p);
    p = end ? end + 1 : p + name.size();
    if (name.empty())
      continue;
    int has = hasFeature(name);
    if (has == 1)
      continue;
    out += (out.empty() ? "" : ", ") + name + (has < 0 ? " (unknown to this runtime)" : "");
  }
  if (missing && capacity) {
    std::strncpy(missing, out.c_str(), capacity - 1);
    missing[capacity - 1] = '\0';
  }
  return out.empty() ? 1 : 0;
}
