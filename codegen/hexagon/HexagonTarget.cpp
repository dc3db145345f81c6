//===- HexagonTarget.cpp - The Hexagon HVX targets of the registry --------===//
//
// `milmc compile --target hexagon` (or hexagon-v68, -v69, -v73, -v75, -v79):
// the model lowered exactly as for the CPUs (--milm-cpu-to-llvm: linalg and
// the op layer, with q8_0/q4_0 product weights in the 32-row packed layouts),
// the op layer and the hexagon-hvx kernel set
// (codegen/ukernels/hexagon/ukernels_hvx.c: HVX vrmpy products of the 8-, 5-
// and 4-bit formats, the generic C for the rest) linked in as bitcode, and
// the object emitted by LLVM's Hexagon back end with 128-byte HVX vectors.
// The runtime is runtime/hexagon (freestanding C: there is no Hexagon libc);
// the driver links the object into the DSP shared object and the qemu test
// executable (tools/milmc/Compile.cpp, docs/HEXAGON.md).
//
// Floating point stays scalar in `hexagon`: its features enable integer HVX
// only (no hvx-ieee-fp, no hvx-qfloat), because qemu 7.2, where milm tests
// it, executes no HVX floating point. `hexagon-qfloat` (v73 and later) adds
// hvx-qfloat and the kernel set that puts the packed products' float part on
// it: for devices, compiled but not run here. The code is position
// independent, which also keeps LLVM's small-data sections out of it (ld.lld
// links neither the static executable nor the .so with them).
//
//===----------------------------------------------------------------------===//
#include "codegen/cpu/CPUCodegen.h"
#include "codegen/cpu/LowerToCPU.h"
#include "codegen/hexagon/HexagonTarget.h"

#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"

namespace milm {
namespace {

llvm::Error err(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

/// The Hexagon versions milm builds for (LLVM 22 knows these with HVX); HVX
/// qfloat from v73 on.
constexpr const char *kVersions[] = {"v68", "v69", "v73", "v75", "v79"};
constexpr const char *kQfloatVersions[] = {"v73", "v75", "v79"};

/// `hexagon` (integer HVX, scalar float: what qemu runs) or, with qfloat,
/// `hexagon-qfloat` (the packed products' float part on HVX qfloat too:
/// devices only).
class HexagonTargetImpl final : public CPULoweredTarget {
public:
  explicit HexagonTargetImpl(bool qfloat) : qfloat_(qfloat) {}

  llvm::StringRef name() const override { return qfloat_ ? "hexagon-qfloat" : "hexagon"; }
  std::vector<std::string> aliases() const override {
    std::vector<std::string> a;
    for (const char *v : versions())
      a.push_back(std::string("hexagon-") + v + (qfloat_ ? "-qfloat" : ""));
    return a;
  }
  std::string summary() const override {
    if (qfloat_)
      return "Hexagon v73+ with HVX qfloat (default v73): as hexagon, with the float part of "
             "the packed q8_0/q4_0 products on HVX qfloat; for devices: qemu 7.2 cannot run it";
    return "Hexagon DSP with 128-byte HVX (default v68; hexagon-v69 ... -v79): the DSP shared "
           "object libmilm_model_dsp.so and milm-run-hexagon for qemu-hexagon; HVX integer "
           "kernels, scalar float";
  }

  std::string cpuOfName(llvm::StringRef selected) const override {
    if (qfloat_ && !selected.consume_back("-qfloat"))
      return "";
    if (selected.consume_front("hexagon-"))
      for (const char *v : versions())
        if (selected == v)
          return std::string("hexagon") + v;
    return "";
  }

  llvm::Expected<ResolvedTarget> resolve(llvm::StringRef cpu) const override {
    // Which version: --cpu hexagonvNN (or an alias's, cpuOfName), else v68.
    std::string version = versions().front();
    if (!cpu.empty()) {
      if (!cpu.consume_front("hexagon"))
        return err("--cpu '" + cpu + "' is not a Hexagon CPU: " + cpuList());
      version = cpu.str();
    }
    bool known = false;
    for (const char *v : versions())
      known |= version == v;
    if (!known)
      return err("--cpu hexagon" + version + ": --target " + name() + " builds " + cpuList() +
                 (qfloat_ ? " (HVX qfloat)" : " (HVX with 128-byte vectors)"));
    ResolvedTarget t;
    t.name = name().str();
    t.triple = kHexagonTriple;
    t.arch = "hexagon";
    t.cpu = "hexagon" + version;
    t.features = "+hvx" + version + ",+hvx-length128b" + (qfloat_ ? ",+hvx-qfloat" : "");
    t.ukernels = qfloat_ ? "hexagon-hvx-qfloat" : "hexagon-hvx";
    std::string lookupError;
    const llvm::Target *tgt =
        llvm::TargetRegistry::lookupTarget(llvm::Triple(t.triple), lookupError);
    if (!tgt)
      return err("target " + t.triple + ": " + lookupError +
                 " (this LLVM was built without the Hexagon back end)");
    std::unique_ptr<llvm::MCSubtargetInfo> sti(
        tgt->createMCSubtargetInfo(llvm::Triple(t.triple), t.cpu, t.features));
    if (!sti || !sti->isCPUStringValid(t.cpu))
      return err("--cpu '" + t.cpu + "' is not a CPU LLVM knows for " + t.triple);
    return t;
  }

  // q8_0 and q4_0 product weights in the 32-row layouts q8_0x32 / q4_0x32,
  // which vrmpy reads as stored (ukernels_hvx.c); the other formats' HVX
  // kernels read GGUF's layouts.
  bool repacks(const ResolvedTarget &) const override { return true; }
  int64_t packedRowGroup() const override { return 32; }

private:
  llvm::ArrayRef<const char *> versions() const {
    return qfloat_ ? llvm::ArrayRef<const char *>(kQfloatVersions)
                   : llvm::ArrayRef<const char *>(kVersions);
  }
  std::string cpuList() const {
    std::string s;
    for (const char *v : versions())
      s += (s.empty() ? "hexagon" : ", hexagon") + std::string(v);
    return s;
  }
  bool qfloat_;
};

} // namespace

void registerHexagonTarget() {
  registerTarget(std::make_unique<HexagonTargetImpl>(false));
  registerTarget(std::make_unique<HexagonTargetImpl>(true));
}

} // namespace milm
