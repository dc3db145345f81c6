//===- ModelDescription.h - What a frontend learned about a model ----------===//
//
// The neutral description every reader (GGUF, safetensors + config.json, later
// ONNX) produces and the IR builder consumes. Weights are *referenced*: file,
// absolute byte offset, storage format and shape; their bytes stay in the file.
//
// Tensor names are canonical and follow GGUF's naming, whatever the source:
//   token_embd.weight, output_norm.weight, output.weight,
//   blk.N.attn_norm.weight, blk.N.attn_{q,k,v,output}.weight, blk.N.attn_{q,k,v}.bias,
//   blk.N.ffn_norm.weight, blk.N.ffn_{gate,up,down}.weight,
//   blk.N.ffn_gate_inp.weight, blk.N.ffn_{gate,up,down}_exps.weight
//
// Shapes are row-major, outermost first, like PyTorch: a linear weight is
// [out_features, in_features]; expert weights are [experts, out, in]; the embedding
// is [vocab, hidden]. (GGUF lists dims innermost first; readers reverse them.)
//
//===----------------------------------------------------------------------===//
#ifndef MILM_FRONTENDS_COMMON_MODELDESCRIPTION_H
#define MILM_FRONTENDS_COMMON_MODELDESCRIPTION_H

#include "common/milm/StorageFormat.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace milm {

enum class RopePairing { Norm, Neox };            ///< adjacent pairs (llama GGUF) / halves (HF, qwen2)
enum class RopeScaling { None, Linear, NTK, YaRN };

struct TensorRef {
  std::string name;            ///< canonical name (see above)
  std::string file;            ///< path of the file holding the bytes
  uint64_t offset = 0;         ///< absolute byte offset of the first byte in `file`
  uint64_t nbytes = 0;         ///< bytes of the tensor in `file`
  StorageFormat format = StorageFormat::F32;
  std::vector<int64_t> shape;  ///< row-major, outermost first
  std::string sourceName;      ///< name in the source file when it differs (HF names)

  /// Slices of a stacked tensor whose slices are not contiguous in the source
  /// (Mixtral-style safetensors keep one tensor per expert). Empty for ordinary
  /// tensors, whose bytes are `nbytes` contiguous bytes at `file`:`offset`.
  ///
  /// When non-empty, the tensor's logical value is parts[0], parts[1], ... stacked
  /// along a new outermost dimension:
  ///   - parts.size() == shape[0] and every part has shape == shape[1:] and the
  ///     same `format` as the stacked tensor;
  ///   - each part has its own `file`, `offset` and `nbytes` (read the bytes from
  ///     the parts, never from the stacked tensor); parts have no parts of their own;
  ///   - the stacked tensor's `nbytes` is the sum of the parts' and its `file` and
  ///     `offset` are those of parts[0] (for diagnostics only);
  ///   - a part's `name` is the stacked name with its index: "blk.0.ffn_up_exps.weight[3]",
  ///     its `sourceName` the name in the source file.
  /// A reader whose stacked tensors are contiguous (GGUF) leaves `parts` empty.
  std::vector<TensorRef> parts;
};

struct TokenizerData {
  std::string source;               ///< the file the tokenizer was read from (GGUF, tokenizer.json)
  std::string model;                ///< "llama" (SentencePiece BPE), "gpt2" (byte-level BPE), ...
  std::string pre;                  ///< pre-tokenizer name when given (tokenizer.ggml.pre)
  std::vector<std::string> tokens;
  std::vector<float> scores;        ///< empty when the source has none
  std::vector<int32_t> types;       ///< GGUF token types; empty when the source has none
  std::vector<std::string> merges;  ///< "a b" pairs for BPE; empty for SentencePiece
  std::optional<int64_t> bos, eos, unk, pad;
  std::optional<bool> addBos, addEos;
};

struct ModelConfig {
  std::string arch;                 ///< "llama", "qwen2" (Mixtral-style MoE is arch llama with experts)
  std::string name;                 ///< general.name when present
  int64_t vocabSize = 0;
  int64_t contextLength = 0;
  int64_t hiddenSize = 0;           ///< n_embd
  int64_t numLayers = 0;
  int64_t numHeads = 0;
  int64_t numKVHeads = 0;
  int64_t headDim = 0;              ///< explicit; never derived in the IR
  int64_t ffnSize = 0;              ///< per expert for MoE
  int64_t numExperts = 0;           ///< 0 for dense models
  int64_t numExpertsUsed = 0;       ///< top-k
  double rmsEps = 1e-5;
  double ropeBase = 10000.0;
  RopePairing ropePairing = RopePairing::Norm;
  RopeScaling ropeScaling = RopeScaling::None;
  double ropeScalingFactor = 1.0;
  int64_t ropeOrigContext = 0;      ///< original context for yarn/ntk, 0 when unknown
  int64_t rotaryDim = 0;            ///< rotated dims per head; equals headDim unless partial rotary
  bool qkvBias = false;
  bool tiedEmbeddings = false;      ///< output.weight absent: logits use token_embd.weight
  /// Per-layer query heads, KV heads and FFN widths of a structurally pruned
  /// model (GGUF's per-layer array form of the llama.* keys); empty: every
  /// layer has the scalar, which is otherwise the largest entry.
  std::vector<int64_t> layerHeads, layerKVHeads, layerFfn;

  int64_t headsAt(int64_t l) const { return layerHeads.empty() ? numHeads : layerHeads[size_t(l)]; }
  int64_t kvHeadsAt(int64_t l) const {
    return layerKVHeads.empty() ? numKVHeads : layerKVHeads[size_t(l)];
  }
  int64_t ffnAt(int64_t l) const { return layerFfn.empty() ? ffnSize : layerFfn[size_t(l)]; }
};

/// A size read per layer (non-empty `layers`): `scalar` becomes the largest
/// entry, and `layers` is cleared when every layer has it (one size for all).
inline void collapseLayerSizes(std::vector<int64_t> &layers, int64_t &scalar) {
  scalar = *std::max_element(layers.begin(), layers.end());
  if (std::all_of(layers.begin(), layers.end(), [&](int64_t x) { return x == scalar; }))
    layers.clear();
}

struct ModelDescription {
  std::string sourcePath;           ///< the file the user named
  std::string sourceKind;           ///< "gguf", "safetensors"
  ModelConfig config;
  std::vector<TensorRef> tensors;   ///< in source order
  std::optional<TokenizerData> tokenizer;

  const TensorRef *findTensor(const std::string &name) const {
    for (const auto &t : tensors)
      if (t.name == name)
        return &t;
    return nullptr;
  }
};

} // namespace milm

#endif
