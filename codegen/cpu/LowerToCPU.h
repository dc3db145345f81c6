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

/// Replaces the module's milm.model by `func.func @milm_forward` in upstream
/// dialects: elementwise ops as linalg on memref views of the arena, rms_norm
/// as scf.for loops over vector<8xf32>,
/// the T/position checks in scf/arith, and one func.call into the op layer of
/// codegen/cpu/ops per heavy op, with shapes, formats, weight offsets and
/// scratch offsets as constants (milm-lower-to-cpu).
/// With `repack`, weights read only by products whose format has a packed
/// layout (StorageFormat.h's kPackedLayouts: q4_0 -> q4_0x8 = 0x102, q8_0 ->
/// q8_0x8 = 0x108, q4_k -> q4_kx8 = 0x10C, q6_k -> q6_kx8 = 0x10E), N a
/// multiple of its row group, get the layout's code in milm.weights and the
/// calls: the driver must write them repacked (milm_uk_repack_<layout>).
std::unique_ptr<mlir::Pass> createLowerToCPUPass(int64_t maxTokens = 64, bool repack = false);

/// createLowerToCPUPass, then upstream passes down to the LLVM dialect, where
/// milm_forward has the C signature of runtime/include/milm/model_abi.h
/// (milm-cpu-to-llvm).
void buildCPUToLLVMPipeline(mlir::OpPassManager &pm, int64_t maxTokens = 64,
                            bool repack = false);
void registerMilmCodegenPasses();

} // namespace milm

#endif
