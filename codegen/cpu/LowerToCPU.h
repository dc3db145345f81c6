//===- LowerToCPU.h - milm IR -> upstream dialects -> LLVM for the CPU -----===//
#ifndef MILM_CODEGEN_CPU_LOWERTOCPU_H
#define MILM_CODEGEN_CPU_LOWERTOCPU_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"

#include <memory>

namespace milm {

/// Module attribute names the lowering leaves for the driver (milmc compile).
/// `milm.lowered`: a dictionary with the model's shape and the arena, KV cache
/// and weight-section sizes. `milm.weights`: an array with one dictionary per
/// weight the code reads: name, format (ggml_type, or a packed layout's code
/// >= 0x100 such as 0x102 for q4_0x8), shape, offset and size in
/// the weight section, and where its bytes come from (file + offset, or
/// part_files + part_offsets for stacked weights).
inline constexpr const char *kLoweredAttr = "milm.lowered";
inline constexpr const char *kWeightsAttr = "milm.weights";

#define GEN_PASS_DECL
#include "codegen/cpu/Passes.h.inc"

/// milm-cpu-select-layouts (with `repack`), milm-cpu-plan-buffers (for
/// `maxTokens` tokens a call) and milm-convert-to-cpu: the module's milm.model
/// becomes `func.func @milm_forward` in upstream dialects (milm-lower-to-cpu).
/// Passes.td says what each decides; `repack` is for the kernel sets that read
/// packed layouts (Target::repacks), of `rowGroup` rows (8 or 32).
void buildLowerToCPUPipeline(mlir::OpPassManager &pm, int64_t maxTokens = 64,
                             bool repack = false, int64_t rowGroup = 8);

/// buildLowerToCPUPipeline, then upstream passes down to the LLVM dialect, where
/// milm_forward has the C signature of runtime/include/milm/model_abi.h
/// (milm-cpu-to-llvm).
void buildCPUToLLVMPipeline(mlir::OpPassManager &pm, int64_t maxTokens = 64,
                            bool repack = false, int64_t rowGroup = 8);
void registerMilmCodegenPasses();

} // namespace milm

#endif
