//===- ModelBuilder.h - ModelDescription -> milm IR ------------*- C++ -*-===//
//
// The builder every frontend shares: it turns a validated ModelDescription into
// a module holding one `milm.model` whose `@forward` function computes the
// logits of a run of tokens, with every weight referenced (file, offset,
// format, shape), never copied.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_FRONTENDS_BUILDER_MODELBUILDER_H
#define MILM_FRONTENDS_BUILDER_MODELBUILDER_H

#include "frontends/common/ModelDescription.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/Error.h"

namespace milm {

struct BuildOptions {
  /// Symbol name of the milm.model; derived from the source file name when empty.
  std::string modelName;
  /// KV cache capacity in positions; the model's context length when 0.
  int64_t cacheCapacity = 0;
  /// KV cache element type: "f16", "bf16" or "f32".
  std::string cacheElement = "f16";
  /// Mixtures of experts in their unfused form (milm.moe_route, one SwiGLU FFN
  /// per expert on the expert's slice of the stacked tensors, milm.moe_combine)
  /// instead of one milm.moe; milm-fuse-moe makes them one op again.
  bool unfusedMoE = false;
};

/// Builds the IR of `model`. The context must have the milm and func dialects
/// loaded (the function loads them).
llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>>
buildModelIR(mlir::MLIRContext &ctx, const ModelDescription &model,
             const BuildOptions &options = {});

/// Reads any model the frontends understand: a .gguf file, or a Hugging Face
/// directory / config.json / .safetensors file.
llvm::Expected<ModelDescription> importModel(llvm::StringRef path);

} // namespace milm

#endif
