//===- Target.h - What milmc compile --target NAME builds for ---*- C++ -*-===//
//
// Every target milm compiles for implements one interface, `Target`, and is
// found by name in one registry: milmc, milm-opt and the tests never compare
// target names themselves. A target says
//   - which machine it means: resolve() turns --cpu (or the target's default,
//     or this machine for `host`) into a ResolvedTarget (LLVM triple, CPU,
//     features, the microkernel set, the ISA features the runtime checks);
//   - which packed weight layouts its kernels read (repacks());
//   - its lowering from the milm dialect after the model pipeline
//     (buildLoweringPipeline(), which records a LoweredModelInfo on the module);
//   - its object emission (emitObject());
//   - its runtime pieces: ResolvedTarget::arch names the runtime archive and
//     link configuration (runtime/LinkConfig.h) milmc links with.
// The CPU targets (host, x86-64, x86-64-v4, aarch64-linux-gnu) are in
// codegen/cpu/CPUTargets.cpp, the Hexagon HVX one in
// codegen/hexagon/HexagonTarget.cpp; docs/DESIGN.md, "Adding a target", is the
// recipe.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_CODEGEN_TARGET_H
#define MILM_CODEGEN_TARGET_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace milm {

/// The machine a compile is for, as a target resolved it.
struct ResolvedTarget {
  std::string name;      ///< the target's name (what --target selected)
  std::string triple;    ///< x86_64-unknown-linux-gnu, aarch64-unknown-linux-gnu
  std::string arch;      ///< x86_64, aarch64: the runtime archive and link configuration
  std::string cpu;       ///< LLVM CPU name
  std::string features;  ///< LLVM feature string
  std::string ukernels;  ///< microkernel bitcode flavour: x86_64-avx2, aarch64-dotprod, ...
  /// The features of runtime/include/milm/cpu_features.h that cpu + features
  /// enable, comma-separated: the runtime refuses a CPU that lacks one.
  std::string requiredFeatures;
};

/// One weight of the lowered module, as the lowering placed it.
struct LoweredWeight {
  std::string name;
  uint32_t format = 0;
  std::vector<int64_t> shape;
  uint64_t offset = 0, size = 0;
  std::string file;               ///< source file, when in one place
  uint64_t sourceOffset = 0;
  std::vector<std::string> partFiles;
  std::vector<int64_t> partOffsets;
};

/// What a target's lowering recorded on the module for the driver.
struct LoweredModelInfo {
  std::string modelName;
  int64_t maxTokens = 0, kvCapacity = 0;
  uint64_t arenaBytes = 0, weightsBytes = 0;
  int64_t vocab = 0, hidden = 0, layers = 0, heads = 0, kvHeads = 0, headDim = 0;
  /// Per-layer KV heads when layers differ (else empty: kvHeads in every layer).
  std::vector<int64_t> layerKvHeads;
  std::vector<LoweredWeight> weights;
  uint64_t modelHash = 0;         ///< set by the driver (artifact::computeModelHash); the artifact carries it too
  /// The generated object's two ABI symbols are <prefix>forward and
  /// <prefix>model_descriptor: "milm_" for the model, "milm_draft_" for the
  /// draft model `milmc compile --draft` links into the same executable
  /// (model_abi.h).
  std::string symbolPrefix = "milm_";
  /// When not empty (and not symbolPrefix): the object also defines
  /// <aliasPrefix>forward and <aliasPrefix>model_descriptor as weak aliases,
  /// so that code under a package's own prefix ("milm_tiny_kjv_") still links
  /// where the default names are expected (milm-run, milm_model_open), and two
  /// packages' objects link into one program.
  std::string aliasPrefix;
};

struct CodegenTimings {
  double translate = 0, link = 0, optimize = 0, emit = 0;
};

class Target {
public:
  virtual ~Target() = default;

  /// The name --target takes ("x86-64-v4").
  virtual llvm::StringRef name() const = 0;
  /// Other names that select it and that --help and errors list ("x86-64-v3").
  virtual std::vector<std::string> aliases() const { return {}; }
  /// Spellings that select it without being listed ("x86_64-linux-gnu").
  virtual std::vector<std::string> hiddenAliases() const { return {}; }
  /// One line for `milmc targets`.
  virtual std::string summary() const = 0;

  /// The CPU a name of this target stands for when --cpu is not given (an
  /// alias naming a version: hexagon-v73 is hexagonv73); "" for the default.
  virtual std::string cpuOfName(llvm::StringRef selected) const { return ""; }
  /// The machine for `cpu` (empty: the target's default). Errors are one line.
  virtual llvm::Expected<ResolvedTarget> resolve(llvm::StringRef cpu) const = 0;
  /// Whether its kernels read packed layouts (formats.h's MILM_PACKED_LAYOUTS).
  virtual bool repacks(const ResolvedTarget &t) const = 0;
  /// The rows a group of its packed layouts: 8 (q4_0x8 ...) or 32 (q4_0x32 ...).
  virtual int64_t packedRowGroup() const { return 8; }
  /// The lowering of a milm module to what emitObject() takes.
  virtual void buildLoweringPipeline(mlir::OpPassManager &pm, int64_t maxTokens,
                                     bool repack) const = 0;
  /// What the lowering recorded on `module`.
  virtual llvm::Expected<LoweredModelInfo> loweredInfo(mlir::ModuleOp module) const = 0;
  /// Writes the object file of the lowered module.
  virtual llvm::Error emitObject(mlir::ModuleOp module, const LoweredModelInfo &info,
                                 const ResolvedTarget &t, llvm::StringRef bitcodeDir,
                                 llvm::StringRef objectPath, CodegenTimings *timings) const = 0;
};

/// Adds a target (its name and aliases must be new; a clash is a programming
/// error and aborts). Targets live until the process ends.
void registerTarget(std::unique_ptr<Target> target);
/// The target `name` or one of its aliases selects, or nullptr.
const Target *lookupTarget(llvm::StringRef name);
/// Every registered target, in registration order.
std::vector<const Target *> registeredTargets();
/// "host, x86-64, x86-64-v3, ..." (names and listed aliases), for messages.
std::string listTargetNames();

/// Registers every target milm has (the CPU ones and Hexagon); idempotent.
void registerAllTargets();

} // namespace milm

#endif
