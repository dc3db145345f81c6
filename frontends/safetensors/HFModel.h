//===- HFModel.h - Hugging Face config.json and tensor names ---------------===//
//
// What a Hugging Face checkpoint directory says about a LLaMA-style model:
// config.json (architecture, sizes, rope) and the names of its tensors, mapped to
// the canonical GGUF names of ModelDescription.h.
//
// Architectures: LlamaForCausalLM, Qwen2ForCausalLM (q/k/v biases) and
// MixtralForCausalLM (arch "llama" with experts). HF checkpoints keep q/k in the
// rotate_half layout, so rope pairing is Neox (llama.cpp permutes q/k when it
// converts to GGUF; milm records the pairing instead).
//
//===----------------------------------------------------------------------===//
#ifndef MILM_FRONTENDS_SAFETENSORS_HFMODEL_H
#define MILM_FRONTENDS_SAFETENSORS_HFMODEL_H

#include "frontends/common/ModelDescription.h"

#include "llvm/Support/Error.h"

#include <optional>
#include <string>

namespace milm {

struct HFConfig {
  ModelConfig config;
  std::string architecture;        ///< "LlamaForCausalLM", ...
  std::optional<int64_t> bos, eos; ///< bos_token_id / eos_token_id (first of a list)
  /// File offsets of bos_token_id / eos_token_id, for messages.
  uint64_t bosOffset = 0, eosOffset = 0;
};

/// Parses config.json; `file` names it in messages. Errors are one line:
/// "<file>: key '<key>' at byte <N>: <problem>".
llvm::Expected<HFConfig> parseHFConfig(llvm::StringRef file, llvm::StringRef text);

/// config.json for `config` (the inverse of parseHFConfig, for writing checkpoints).
/// HF checkpoints use Neox rope pairing: a caller writing a model whose pairing is
/// Norm (llama GGUF) must permute the rows of attn_q/attn_k back to the HF layout
/// (hfRowsFromNormPairing).
std::string hfConfigJson(const ModelConfig &config, std::optional<int64_t> bos = std::nullopt,
                         std::optional<int64_t> eos = std::nullopt);

/// The rows of a llama GGUF's q or k matrix (`bytes`: rows of `rowBytes` each,
/// heads of `headDim` rows; rope pairing Norm, each head's rotary pairs
/// interleaved) in Hugging Face's order (Neox, each head's pairs in halves):
/// GGUF row h*hd + 2i + j is HF row h*hd + j*hd/2 + i.
std::string hfRowsFromNormPairing(llvm::StringRef bytes, int64_t headDim, size_t rowBytes);

/// Which of a MoE layer's expert matrices an HF tensor is.
enum class ExpertMatrix { Gate, Up, Down }; ///< Mixtral w1, w3, w2

struct HFTensorName {
  std::string canonical; ///< canonical name; for an expert the stacked tensor's name
  bool ignored = false;  ///< a buffer that is not a weight (rotary_emb.inv_freq)
  bool known = false;    ///< false: no mapping, `canonical` is the HF name itself
  int64_t expert = -1;   ///< expert index for per-expert tensors
};

/// Maps an HF tensor name to its canonical name.
HFTensorName mapHFTensorName(llvm::StringRef hfName);

/// The HF name of a canonical tensor (not an expert slice); empty when none.
std::string hfTensorName(llvm::StringRef canonical);
/// The HF name of expert `expert` of stacked tensor `canonical`
/// ("blk.3.ffn_up_exps.weight", 5 -> "model.layers.3.block_sparse_moe.experts.5.w3.weight").
std::string hfExpertTensorName(llvm::StringRef canonical, int64_t expert);

} // namespace milm

#endif
