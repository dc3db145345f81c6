//===- Passes.td - the CPU target's lowering passes --------*- tablegen -*-===//
//
// The CPU lowering of a milm.model, as three passes that milm-lower-to-cpu
// (and milm-cpu-to-llvm, what milmc compile runs) chain:
//   milm-cpu-select-layouts  which weights the kernels read in a packed layout
//   milm-cpu-plan-buffers    the weight section, the arena, the scratch regions
//   milm-convert-to-cpu      one conversion pattern per op (MilmToCPU/<Op>.cpp)
// The first two only annotate the milm IR (attributes below), so their
// decisions are printable and testable on their own; the third reads them.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_CODEGEN_CPU_PASSES_TD
#define MILM_CODEGEN_CPU_PASSES_TD

include "mlir/Pass/PassBase.td"

def CPUSelectLayouts : Pass<"milm-cpu-select-layouts", "::mlir::ModuleOp"> {
  let summary = "Choose the packed layout the CPU kernels read each weight in";
  let description = [{
    With `repack`, every `milm.weight` read only by products (not by a
    `milm.embedding`, which reads rows) whose storage format has a packed
    layout of `row-group` rows (common/milm/StorageFormat.h's kPackedLayouts;
    8: q4_0 -> q4_0x8, q8_0 -> q8_0x8, q4_k -> q4_kx8, q6_k -> q6_kx8, the
    x86-64 kernels'; 32: q4_0 -> q4_0x32, q8_0 -> q8_0x32, the Hexagon HVX
    kernels') and whose row count is a multiple of it gets
    `milm.layout = "<layout>"`. The
    artifact writer then repacks its bytes (milm_uk_repack_<layout>) and the
    kernels get the layout's code. Without `repack` (kernel sets without packed
    layouts) nothing is annotated; an annotation already there is removed.
  }];
  let options = [
    Option<"repack", "repack", "bool", /*default=*/"false",
           "Read product weights in their format's packed layout (the x86-64 "
           "AVX2/AVX-512 kernel sets have them)">,
    Option<"rowGroup", "row-group", "int64_t", /*default=*/"8",
           "The packed layouts' rows a group: 8 (x86-64) or 32 (Hexagon HVX)">,
  ];
}

def CPUPlanBuffers : Pass<"milm-cpu-plan-buffers", "::mlir::ModuleOp"> {
  let summary = "Place the weights in the weight section and the activations in the arena";
  let description = [{
    Plans the memory of the model's @forward for `max-tokens` tokens a call:
    - every distinct weight (by name) gets a 64-byte aligned place in the
      artifact's weight section: `milm.section_offset` on each `milm.weight`
      of that name (the same weight referenced twice, a tied embedding, is one
      place; two types under one name is an error);
    - every f32 activation gets a region of max_tokens rows in the arena,
      `milm.arena_offset` on the op defining it, first fit with reuse of the
      regions of values past their last use; a `milm.rope` whose input has no
      other user works in place (`milm.in_place`, the input's region);
    - a `milm.linear` whose input was just quantized the same way by the
      previous product (q/k/v, gate/up) gets `milm.xq_ready`: it reuses the
      8-bit activations in the scratch region;
    - the model gets `milm.cpu_plan`: max_tokens, the arena's and the weight
      section's sizes, the offsets of the quantized-activation scratch (xq)
      and of the MoE scratch after the activations.
  }];
  let options = [
    Option<"maxTokens", "max-tokens", "int64_t", /*default=*/"64",
           "Most tokens one milm_forward call evaluates">,
  ];
}

def ConvertToCPU : Pass<"milm-convert-to-cpu", "::mlir::ModuleOp"> {
  let summary = "Convert the planned milm.model into @milm_forward in upstream dialects";
  let description = [{
    Builds `func.func @milm_forward` with the C signature of
    runtime/include/milm/model_abi.h (after func-to-llvm's bare-pointer
    convention), its T and position checks, and converts @forward's ops into
    its body with one conversion pattern per op (codegen/cpu/MilmToCPU/):
    activations become memref.views of the arena at their planned offsets,
    elementwise ops linalg.generic, rms_norm vector loops, the heavy ops
    func.calls into the op layer (codegen/cpu/ops/milm_ops.h). Each op is
    checked before anything is rewritten: what the CPU cannot compile is an
    error at the op. Leaves `milm.lowered` and `milm.weights` on the module
    for the driver. Needs milm-cpu-plan-buffers' annotations.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::func::FuncDialect",
    "::mlir::linalg::LinalgDialect", "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect", "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect", "::mlir::LLVM::LLVMDialect",
  ];
}

#endif
