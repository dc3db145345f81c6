//===- ModelValidation.h - Checks a ModelDescription before the IR is built -===//
//
// Every frontend (GGUF, safetensors + config.json) calls validateModel() on what
// it read, so that the builder and the passes can trust the description:
//
//   - the config is sane: positive sizes, heads a multiple of the KV heads,
//     rotary dims within the head, top-k within the experts, no size overflows;
//   - every tensor the config implies exists with the implied shape, and there are
//     no surplus tensors;
//   - every tensor's byte count matches its shape and storage format, and block
//     formats have an innermost dimension that is a multiple of the block size;
//   - stacked tensors with `parts` (see TensorRef) are consistent with their parts.
//
// Errors are one line:
//   <file>: config: <problem>
//   <file>: tensor '<name>': <problem, expected vs actual shape> at byte <offset>
// where <file> and <offset> come from the TensorRef (or the model's sourcePath for
// config problems and missing tensors). When the source name differs from the
// canonical one it follows in parentheses: tensor 'blk.0.attn_q.weight'
// (source 'model.layers.0.self_attn.q_proj.weight').
//
//===----------------------------------------------------------------------===//
#ifndef MILM_FRONTENDS_COMMON_MODELVALIDATION_H
#define MILM_FRONTENDS_COMMON_MODELVALIDATION_H

#include "frontends/common/ModelDescription.h"

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/Support/Error.h"

#include <string>
#include <vector>

namespace milm {

/// A tensor the config implies.
struct ImpliedTensor {
  std::string name;           ///< canonical name
  std::vector<int64_t> shape; ///< row-major
  std::string dims;           ///< what the dims are made of: "heads*head_dim, hidden"
};

/// Checks the config alone; `file` names the source in messages.
llvm::Error validateConfig(const ModelConfig &config, llvm::StringRef file);

/// Calls `fn` for every tensor a *valid* config implies, in canonical order
/// (token_embd, per layer attn_norm, attn_q/k/v(+bias), attn_output, ffn_norm,
/// ffn..., then output_norm and output), until `fn` returns false. Bounded by the
/// caller: it enumerates numLayers layers.
void forEachImpliedTensor(const ModelConfig &config,
                          llvm::function_ref<bool(const ImpliedTensor &)> fn);

/// Checks config and tensors as described above; the first problem found is
/// returned. Runs in time and memory proportional to the tensors present, however
/// large the config's numbers.
llvm::Error validateModel(const ModelDescription &model);

/// "[64, 128]"
std::string formatShape(const std::vector<int64_t> &shape);

} // namespace milm

#endif
