//===- CPUTargets.cpp - The CPU targets of the registry --------------------===//
//
// host, x86-64 (x86-64-v3), x86-64-v4 and aarch64-linux-gnu: one class, four
// descriptions. They share the lowering (--milm-cpu-to-llvm), the object
// emission (CPUCodegen.cpp) and the runtime (by arch); they differ in the
// machine they mean and in whether their kernels read packed layouts.
//
//===----------------------------------------------------------------------===//
#include "codegen/cpu/CPUCodegen.h"
#include "codegen/cpu/LowerToCPU.h"

#include "llvm/TargetParser/Host.h"

namespace milm {
namespace {

llvm::Error err(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

struct CPUTargetDesc {
  const char *name;
  std::vector<std::string> aliases, hidden;
  const char *summary;
  const char *triple;     ///< "" for host: this machine's
  const char *arch;
  const char *defaultCpu; ///< "" for host: this machine's CPU and features
  const char *features;
};

class CPUTargetImpl final : public CPULoweredTarget {
public:
  explicit CPUTargetImpl(CPUTargetDesc d) : d_(std::move(d)) {}

  llvm::StringRef name() const override { return d_.name; }
  std::vector<std::string> aliases() const override { return d_.aliases; }
  std::vector<std::string> hiddenAliases() const override { return d_.hidden; }
  std::string summary() const override { return d_.summary; }

  llvm::Expected<ResolvedTarget> resolve(llvm::StringRef cpu) const override {
    ResolvedTarget t;
    t.name = d_.name;
    if (!*d_.triple) {
      std::string host = llvm::sys::getDefaultTargetTriple();
      if (llvm::StringRef(host).starts_with("x86_64")) {
        t.triple = "x86_64-unknown-linux-gnu";
        t.arch = "x86_64";
      } else if (llvm::StringRef(host).starts_with("aarch64")) {
        t.triple = "aarch64-unknown-linux-gnu";
        t.arch = "aarch64";
      } else {
        return err("--target " + t.name + ": unsupported host '" + host + "'");
      }
      t.cpu = cpu.empty() ? llvm::sys::getHostCPUName().str() : cpu.str();
      if (cpu.empty())
        for (const auto &f : llvm::sys::getHostCPUFeatures())
          t.features += (t.features.empty() ? "" : ",") +
                        std::string(f.getValue() ? "+" : "-") + f.getKey().str();
    } else {
      t.triple = d_.triple;
      t.arch = d_.arch;
      t.cpu = cpu.empty() ? d_.defaultCpu : cpu.str();
      t.features = d_.features;
    }
    if (llvm::Error e = finishCPUTarget(t))
      return std::move(e);
    return t;
  }

  bool repacks(const ResolvedTarget &t) const override {
    // The x86-64 SIMD kernels read q4_0, q8_0, q4_k and q6_k with 8 rows
    // interleaved (kPackedLayouts); the other kernel sets read GGUF's layouts.
    return t.ukernels == "x86_64-avx2" || t.ukernels == "x86_64-avx512";
  }

private:
  CPUTargetDesc d_;
};

} // namespace

void registerCPUTargets() {
  registerTarget(std::make_unique<CPUTargetImpl>(CPUTargetDesc{
      "host", {}, {}, "this machine: its CPU and features, the best kernel set they allow", "",
      "", "", ""}));
  registerTarget(std::make_unique<CPUTargetImpl>(CPUTargetDesc{
      "x86-64",
      {"x86-64-v3"},
      {"x86_64", "x86_64-linux-gnu"},
      "x86-64-v3 (AVX2, FMA, F16C) Linux, static; AVX2 kernels",
      "x86_64-unknown-linux-gnu", "x86_64", "x86-64-v3", ""}));
  // x86-64-v4 is AVX-512 F/BW/CD/DQ/VL; the AVX-512 kernels also need VNNI
  // (Cascade Lake, Ice Lake, Sapphire Rapids, Zen 4 and later have it).
  registerTarget(std::make_unique<CPUTargetImpl>(CPUTargetDesc{
      "x86-64-v4",
      {},
      {},
      "x86-64-v4 with AVX-512 VNNI Linux, static; AVX-512 kernels",
      "x86_64-unknown-linux-gnu", "x86_64", "x86-64-v4", "+avx512vnni"}));
  registerTarget(std::make_unique<CPUTargetImpl>(CPUTargetDesc{
      "aarch64-linux-gnu",
      {},
      {"aarch64"},
      "AArch64 Linux (default CPU Cortex-A76: Armv8.2-A with dotprod), static; NEON kernels",
      "aarch64-unknown-linux-gnu", "aarch64", "cortex-a76", ""}));
}

} // namespace milm
