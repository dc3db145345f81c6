//===- CPUCodegen.h - lowered milm module -> object file ---------*- C++ -*-===//
//
// The in-process back end of `milmc compile` for CPUs: translate the LLVM
// dialect produced by --milm-lower-to-cpu to LLVM IR, add the model
// descriptor (runtime/include/milm/model_abi.h), link the op layer's and the
// microkernels' bitcode for the target, optimise the whole as one unit, and
// emit an object file with LLVM's TargetMachine. No C compiler runs.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_CODEGEN_CPU_CPUCODEGEN_H
#define MILM_CODEGEN_CPU_CPUCODEGEN_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace milm {

struct CPUTarget {
  std::string name;      ///< what the user asked for: host, x86-64, aarch64-linux-gnu
  std::string triple;    ///< x86_64-unknown-linux-gnu, aarch64-unknown-linux-gnu
  std::string arch;      ///< x86_64, aarch64 (runtime and link configuration)
  std::string cpu;       ///< LLVM CPU name
  std::string features;  ///< LLVM feature string
  std::string ukernels;  ///< microkernel bitcode flavour: x86_64-avx2, aarch64-dotprod, ...
  /// The features of runtime/include/milm/cpu_features.h that cpu + features
  /// enable, comma-separated: the runtime refuses a CPU that lacks one.
  std::string requiredFeatures;
};

/// Resolves --target/--cpu. `cpu` empty means the target's default. Targets:
/// host (this machine's CPU and features), x86-64 (x86-64-v3: AVX2, FMA, F16C),
/// x86-64-v4 (AVX-512 F/BW/CD/DQ/VL plus VNNI), aarch64-linux-gnu (Cortex-A76:
/// Armv8.2-A with dotprod). The microkernel set is the best the CPU supports.
llvm::Expected<CPUTarget> resolveCPUTarget(llvm::StringRef target, llvm::StringRef cpu);

/// One weight of the lowered module (the milm.weights attribute).
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

struct LoweredModelInfo {
  std::string modelName;
  int64_t maxTokens = 0, kvCapacity = 0;
  uint64_t arenaBytes = 0, weightsBytes = 0;
  int64_t vocab = 0, hidden = 0, layers = 0, heads = 0, kvHeads = 0, headDim = 0;
  std::vector<LoweredWeight> weights;
  uint64_t modelHash = 0;         ///< set by the driver (artifact::computeModelHash); the artifact carries it too
};

/// Reads what --milm-lower-to-cpu recorded on the module.
llvm::Expected<LoweredModelInfo> readLoweredModelInfo(mlir::ModuleOp module);

struct CodegenTimings {
  double translate = 0, link = 0, optimize = 0, emit = 0;
};

/// Emits the object file for `module` (already lowered) to `objectPath`.
/// `bitcodeDir` holds <ukernels>.bc and milm_ops-<arch>.bc.
llvm::Error emitCPUObject(mlir::ModuleOp module, const LoweredModelInfo &info,
                          const CPUTarget &target, llvm::StringRef bitcodeDir,
                          llvm::StringRef objectPath, CodegenTimings *timings = nullptr);

} // namespace milm

#endif
