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

#include "codegen/Target.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace milm {

/// A CPU target as resolved (codegen/Target.h): the name CPU code uses.
using CPUTarget = ResolvedTarget;

/// Completes a CPU target whose triple, arch, cpu and features are set: checks
/// the CPU with LLVM and sets the microkernel set (the best the CPU supports)
/// and the ISA features the runtime checks.
llvm::Error finishCPUTarget(CPUTarget &t);

/// Registers the CPU targets: host (this machine's CPU and features), x86-64
/// (x86-64-v3: AVX2, FMA, F16C), x86-64-v4 (AVX-512 F/BW/CD/DQ/VL plus VNNI),
/// aarch64-linux-gnu (Cortex-A76: Armv8.2-A with dotprod). codegen/cpu/CPUTargets.cpp.
void registerCPUTargets();

/// Reads what --milm-lower-to-cpu recorded on the module.
llvm::Expected<LoweredModelInfo> readLoweredModelInfo(mlir::ModuleOp module);

/// What every target lowered by --milm-cpu-to-llvm shares (the CPU targets,
/// Hexagon): the lowering with the target's packed layouts, the lowered
/// module's record, the in-process object emission.
class CPULoweredTarget : public Target {
public:
  void buildLoweringPipeline(mlir::OpPassManager &pm, int64_t maxTokens,
                             bool repack) const override;
  llvm::Expected<LoweredModelInfo> loweredInfo(mlir::ModuleOp module) const override;
  llvm::Error emitObject(mlir::ModuleOp module, const LoweredModelInfo &info,
                         const ResolvedTarget &t, llvm::StringRef bitcodeDir,
                         llvm::StringRef objectPath, CodegenTimings *timings) const override;
};

/// Emits the object file for `module` (already lowered) to `objectPath`.
/// `bitcodeDir` holds <ukernels>.bc and milm_ops-<arch>.bc.
llvm::Error emitCPUObject(mlir::ModuleOp module, const LoweredModelInfo &info,
                          const CPUTarget &target, llvm::StringRef bitcodeDir,
                          llvm::StringRef objectPath, CodegenTimings *timings = nullptr);

} // namespace milm

#endif
