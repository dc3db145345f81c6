//===- Synth.h - Random-weight models shaped like the MiLM2 family --------===//
//
// Writes GGUF files (architecture `llama`) with random weights and a synthetic
// SentencePiece-style vocabulary, shaped like the MiLM2 models, so that the
// compiler, the runtime and the benchmarks can run at every size without the
// real weights. The presets and the format rules are documented in
// docs/SYNTH_PRESETS.md.
//
// Weights are streamed: each tensor is generated, quantized and written a chunk of
// rows at a time through GGUFWriter's callback interface, so memory stays bounded
// (a few MB per thread) whatever the model size. Every row has its own random
// stream derived from (seed, tensor, row), so the bytes do not depend on the
// number of threads.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_FRONTENDS_SYNTH_SYNTH_H
#define MILM_FRONTENDS_SYNTH_SYNTH_H

#include "common/milm/StorageFormat.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace milm {

/// The shape of a synthetic model. All sizes are element counts.
struct SynthPreset {
  std::string name;        ///< "tiny", "1.3b", "moe-0.7bx8", ...
  std::string displayName; ///< general.name: "MiLM2-1.3B (synthetic)"
  int64_t layers = 0;
  int64_t hidden = 0;      ///< n_embd
  int64_t heads = 0;
  int64_t kvHeads = 0;
  int64_t headDim = 0;
  int64_t ffn = 0;         ///< per expert for MoE
  int64_t vocab = 0;
  int64_t context = 0;
  int64_t experts = 0;     ///< 0 for dense
  int64_t expertsUsed = 0; ///< top-k
  double ropeBase = 10000.0;
  double rmsEps = 1e-5;
};

/// Every preset, in the order of docs/SYNTH_PRESETS.md.
llvm::ArrayRef<SynthPreset> synthPresets();
/// Preset by name (case-insensitive), or nullptr.
const SynthPreset *lookupSynthPreset(llvm::StringRef name);

struct SynthParamCount {
  uint64_t total = 0;     ///< every element of every tensor
  uint64_t active = 0;    ///< per token: only `expertsUsed` experts counted
  uint64_t embedding = 0; ///< token_embd + output
};
SynthParamCount countSynthParameters(const SynthPreset &p);

struct SynthOptions {
  std::string preset = "tiny";
  /// Storage format of the 2-D (and expert) weights: any StorageFormat name
  /// ("f32", "f16", "bf16", "q4_0", ..., "q6_k"), applied to every matrix, or
  /// "q4_k_m" for llama.cpp's Q4_K_M mix (see docs/SYNTH_PRESETS.md).
  std::string format = "q4_0";
  uint64_t seed = 0;
  std::optional<int64_t> layers, vocab, context; ///< override the preset's values
  /// Worker threads for generating and quantizing; 0 = hardware concurrency.
  /// The output does not depend on it.
  unsigned threads = 0;
};

/// The preset named by `opts` with its overrides applied and checked.
llvm::Expected<SynthPreset> resolveSynthPreset(const SynthOptions &opts);

/// What will be written for one tensor.
struct SynthTensorPlan {
  enum class Kind { Weight, Norm, Router };
  std::string name;
  std::vector<uint64_t> ne; ///< GGUF order, innermost first
  StorageFormat format = StorageFormat::F32;
  Kind kind = Kind::Weight;
  uint64_t numElements() const;
};

/// The tensors of a model in file order, with the storage format each gets.
llvm::Expected<std::vector<SynthTensorPlan>> planSynthTensors(const SynthOptions &opts);

/// The synthetic SentencePiece-style vocabulary: <unk>, <s>, </s>, the 256 byte
/// tokens <0x00>..<0xFF>, then generated pieces ("▁" + letters, letter n-grams)
/// until `vocab` entries; scores decrease with the piece's rank, token types are
/// GGUF's (2 unknown, 3 control, 6 byte, 1 normal). `vocab` must be >= 259.
struct SynthVocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
};
SynthVocab makeSynthVocab(int64_t vocab);

/// Writes the model to `path` (via a temporary file renamed into place).
llvm::Error writeSyntheticModel(const SynthOptions &opts, llvm::StringRef path);

/// The standard deviation of the random matrices (normal-like, mean 0).
constexpr float kSynthWeightStd = 0.02f;

} // namespace milm

#endif
