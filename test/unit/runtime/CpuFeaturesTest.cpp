//===- CpuFeaturesTest.cpp - milm_cpu_has_features against /proc/cpuinfo ---===//
#include "milm/cpu_features.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace {

/// The host's feature flags as the kernel reports them.
std::set<std::string> cpuinfoFlags() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0 || line.rfind("Features", 0) == 0) {
      std::istringstream words(line.substr(line.find(':') + 1));
      std::set<std::string> out;
      for (std::string w; words >> w;)
        out.insert(w);
      return out;
    }
  }
  return {};
}

std::string missingOf(const char *list) {
  char buf[256];
  int ok = milm_cpu_has_features(list, buf, sizeof buf);
  EXPECT_EQ(ok != 0, std::string(buf).empty()) << list;
  return buf;
}

TEST(CpuFeatures, EmptyListAndUnknownNames) {
  EXPECT_EQ(missingOf(""), "");
  EXPECT_EQ(missingOf(nullptr), "");
  EXPECT_EQ(missingOf("no-such-isa"), "no-such-isa (unknown to this runtime)");
  char tiny[4];
  EXPECT_EQ(milm_cpu_has_features("no-such-isa", tiny, sizeof tiny), 0);
  EXPECT_STREQ(tiny, "no-");
}

#if defined(__x86_64__)
// Every feature of the table agrees with what Linux reports (names differ).
TEST(CpuFeatures, AgreesWithProcCpuinfo) {
  std::set<std::string> flags = cpuinfoFlags();
  ASSERT_FALSE(flags.empty());
  struct Pair {
    const char *llvm, *kernel;
  } pairs[] = {{"ssse3", "ssse3"},        {"sse4.2", "sse4_2"},     {"popcnt", "popcnt"},
               {"avx", "avx"},            {"avx2", "avx2"},         {"fma", "fma"},
               {"f16c", "f16c"},          {"bmi2", "bmi2"},         {"avx512f", "avx512f"},
               {"avx512bw", "avx512bw"},  {"avx512vl", "avx512vl"}, {"avx512vnni", "avx512_vnni"},
               {"avx512fp16", "avx512_fp16"}, {"avx512bf16", "avx512_bf16"},
               {"avxvnni", "avx_vnni"},   {"avx512vp2intersect", "avx512_vp2intersect"},
               {"lzcnt", "abm"}};
  std::string have, lack;
  for (const Pair &p : pairs) {
    const bool host = flags.count(p.kernel) != 0;
    EXPECT_EQ(missingOf(p.llvm).empty(), host) << p.llvm << " vs /proc/cpuinfo " << p.kernel;
    std::string &list = host ? have : lack;
    list += (list.empty() ? "" : ",") + std::string(p.llvm);
  }
  EXPECT_EQ(missingOf(have.c_str()), "");
  if (!lack.empty()) // the missing ones, in order, after a present one
    EXPECT_NE(missingOf(("sse3," + lack).c_str()).find(lack.substr(0, lack.find(','))),
              std::string::npos);
}
#endif

} // namespace
