//===- ModelFromIR.h - What model.milm says about a model, read from IR -*- C++ -*-===//
//
// The IR is the single source of truth for what milmc writes: after the
// model pipeline, the artifact's configuration comes from the module's
// milm.model (its #milm.config) and its ops (RMSNorm epsilon, rotary
// embedding parameters, q/k/v biases), and the tokenizer from the file the
// config's tokenizer_source names (a GGUF file, or a Hugging Face
// tokenizer.json with the config.json and tokenizer_config.json beside it),
// with the special tokens the config holds. Nothing is taken from the
// frontend's model description, so a pass that changes the IR changes the
// artifact, and `milmc compile model.mlir` needs no model file but the ones
// the IR references.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_CODEGEN_ARTIFACT_MODELFROMIR_H
#define MILM_CODEGEN_ARTIFACT_MODELFROMIR_H

#include "frontends/common/ModelDescription.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <optional>

namespace milm {

/// The configuration of the one milm.model in `module`. Errors are one line
/// naming what is missing (no milm.model, two of them, no rms_norm or rope op
/// in a model that needs one).
llvm::Expected<ModelConfig> modelConfigFromIR(mlir::ModuleOp module);

/// The tokenizer the module's milm.model references (tokenizer_source), with
/// the config's bos/eos ids; nullopt when the model has none. Errors are one
/// line naming the file (unreadable, another vocabulary size than the IR's).
llvm::Expected<std::optional<TokenizerData>> tokenizerFromIR(mlir::ModuleOp module);

} // namespace milm

#endif
