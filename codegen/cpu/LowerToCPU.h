//===- LowerToCPU.h - milm IR -> LLVM dialect calling the CPU op layer -----===//
#ifndef MILM_CODEGEN_CPU_LOWERTOCPU_H
#define MILM_CODEGEN_CPU_LOWERTOCPU_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

#include <memory>

namespace milm {

/// Module attribute names the lowering leaves for the driver (milmc compile).
/// `milm.lowered`: a dictionary with the model's shape and the arena, KV cache
/// and weight-section sizes. `milm.weights`: an array with one dictionary per
/// weight the code reads: name, format (ggml_type), shape, offset and size in
/// the weight section, and where its bytes come from (file + offset, or
/// part_files + part_offsets for stacked weights).
inline constexpr const char *kLoweredAttr = "milm.lowered";
inline constexpr const char *kWeightsAttr = "milm.weights";

/// Replaces the module's milm.model by `milm_forward` (see
/// runtime/include/milm/model_abi.h) in the LLVM dialect: one call per milm op
/// to the op layer in codegen/cpu/ops, with shapes, formats, weight offsets and
/// scratch offsets as constants.
std::unique_ptr<mlir::Pass> createLowerToCPUPass(int64_t maxTokens = 64);
void registerMilmCodegenPasses();

} // namespace milm

#endif
