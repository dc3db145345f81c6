//===- GGUFImport.cpp - GGUF file -> ModelDescription -----------------------===//

#include "frontends/gguf/GGUFImport.h"

#include "frontends/common/ModelValidation.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

#include <cmath>
#include <cstdio>
#include <string>

using llvm::Error;
using llvm::Expected;
using llvm::StringRef;
using llvm::Twine;

namespace milm {
namespace gguf {

namespace {

/// Config integers are capped so that every product the importer forms
/// (heads * head_dim and the like) stays far from overflow.
constexpr int64_t kMaxConfigInt = INT32_MAX;

std::string formatDouble(double d) {
  char buf[64];
  snprintf(buf, sizeof buf, "%g", d);
  return buf;
}

std::string shapeString(const std::vector<int64_t> &s) {
  std::string r = "[";
  for (size_t k = 0; k < s.size(); ++k) {
    if (k)
      r += ", ";
    r += std::to_string(s[k]);
  }
  return r + "]";
}

class Importer {
public:
  Importer(const GGUFFile &f, StringRef path) : f_(f), path_(path.str()) {}
  Expected<ModelDescription> run();

private:
  const GGUFFile &f_;
  std::string path_;
  std::string arch_;

  std::string key(StringRef suffix) const { return arch_ + "." + suffix.str(); }
  bool has(StringRef suffix) const { return f_.contains(key(suffix)); }

  /// A positive config integer `<arch>.<suffix>`; `dflt` when absent (if given).
  Expected<int64_t> positive(StringRef suffix, std::optional<int64_t> dflt = {},
                             int64_t min = 1) const {
    std::string k = key(suffix);
    if (!f_.contains(k) && dflt)
      return *dflt;
    Expected<int64_t> v = f_.getInt(k);
    if (!v)
      return v.takeError();
    if (*v < min || *v > kMaxConfigInt)
      return f_.keyError(k, "value " + Twine(*v) + " is out of range (" +
                                Twine(min) + " to " + Twine(kMaxConfigInt) + ")");
    return *v;
  }
  /// `<arch>.<suffix>` as llama.cpp reads it: one positive integer for every
  /// layer, or (a structurally pruned model) an array of one per layer, each
  /// positive; `scalar` gets the largest entry, `layers` the array (left
  /// empty for a scalar or an array whose entries are all equal).
  Error perLayer(StringRef suffix, int64_t numLayers, int64_t &scalar,
                 std::vector<int64_t> &layers, std::optional<int64_t> dflt = {}) const {
    std::string k = key(suffix);
    const Value *v = f_.find(k);
    if (!v || !v->isArray()) {
      Expected<int64_t> s = positive(suffix, dflt);
      if (!s)
        return s.takeError();
      scalar = *s;
      layers.clear();
      return Error::success();
    }
    Expected<std::vector<int64_t>> a = f_.getIntArray(k);
    if (!a)
      return a.takeError();
    if (static_cast<int64_t>(a->size()) != numLayers)
      return f_.keyError(k, "has " + Twine(uint64_t(a->size())) + " entries for " +
                                Twine(numLayers) + " blocks (one per block expected)");
    for (size_t l = 0; l < a->size(); ++l)
      if ((*a)[l] < 1 || (*a)[l] > kMaxConfigInt)
        return f_.keyError(k, "entry " + Twine(uint64_t(l)) + " is " + Twine((*a)[l]) +
                                  ", out of range (1 to " + Twine(kMaxConfigInt) +
                                  "; layers without attention or FFN are not supported)");
    layers = *a;
    collapseLayerSizes(layers, scalar);
    return Error::success();
  }

  /// A finite positive float `<arch>.<suffix>`.
  Expected<double> positiveFloat(StringRef suffix,
                                 std::optional<double> dflt = {}) const {
    std::string k = key(suffix);
    if (!f_.contains(k) && dflt)
      return *dflt;
    Expected<double> v = f_.getFloat(k);
    if (!v)
      return v.takeError();
    if (!(std::isfinite(*v) && *v > 0))
      return f_.keyError(k, "value " + formatDouble(*v) + " must be finite and positive");
    return *v;
  }

  Error readConfig(ModelConfig &c);
  Error checkTensors(const ModelConfig &c);
};

Error Importer::readConfig(ModelConfig &c) {
  Expected<StringRef> arch = f_.getString("general.architecture");
  if (!arch)
    return arch.takeError();
  if (*arch != "llama" && *arch != "qwen2" && *arch != "deci")
    return f_.keyError("general.architecture",
                       "unknown architecture '" + printable(*arch) +
                           "' (supported: llama, qwen2, deci)");
  arch_ = arch->str();
  // deci (DeciLM, Nemotron-NAS): llama with per-layer head counts and FFN
  // widths, the form llama.cpp reads a structurally pruned llama model in
  // (milmc prune writes it); its keys are deci.*.
  c.arch = arch_ == "deci" ? "llama" : arch_;
  if (f_.contains("general.name")) {
    Expected<StringRef> name = f_.getString("general.name");
    if (!name)
      return name.takeError();
    c.name = name->str();
  }

  if (f_.tensors().empty())
    return makeError(f_.displayName(), "header", "", 8,
                     "the file has no tensors (a vocab-only GGUF?); a model "
                     "needs its weights");

#define READ(dst, expr)                                                        \
  do {                                                                         \
    auto v_ = (expr);                                                          \
    if (!v_)                                                                   \
      return v_.takeError();                                                   \
    dst = *v_;                                                                 \
  } while (0)

  READ(c.contextLength, positive("context_length"));
  READ(c.hiddenSize, positive("embedding_length"));
  READ(c.numLayers, positive("block_count"));
  if (Error e = perLayer("attention.head_count", c.numLayers, c.numHeads, c.layerHeads))
    return e;
  if (has("attention.head_count_kv")) {
    if (Error e = perLayer("attention.head_count_kv", c.numLayers, c.numKVHeads, c.layerKVHeads))
      return e;
  } else {
    c.numKVHeads = c.numHeads;
    c.layerKVHeads = c.layerHeads;
  }
  READ(c.rmsEps, positiveFloat("attention.layer_norm_rms_epsilon"));
  READ(c.ropeBase, positiveFloat("rope.freq_base", 10000.0));

  // A model of N blocks has at least 9 tensors per block; a block count the
  // tensor table cannot back is rejected before anything is built from it.
  uint64_t minPerBlock = 9;
  if (uint64_t(c.numLayers) > f_.tensors().size() / minPerBlock)
    return f_.keyError(key("block_count"),
                       "block count " + Twine(c.numLayers) + " needs at least " +
                           Twine(uint64_t(c.numLayers) * minPerBlock) +
                           " tensors, the file has " +
                           Twine(uint64_t(f_.tensors().size())));

  for (int64_t l = 0; l < c.numLayers; ++l)
    if (c.headsAt(l) % c.kvHeadsAt(l) != 0)
      return f_.keyError(key("attention.head_count_kv"),
                         "head count " + Twine(c.headsAt(l)) +
                             " is not a multiple of the KV head count " +
                             Twine(c.kvHeadsAt(l)) +
                             (c.layerHeads.empty() && c.layerKVHeads.empty()
                                  ? std::string()
                                  : " in block " + std::to_string(l)));

  // head_dim: explicit key_length, else n_embd / n_head. This derivation
  // happens here only; the IR always carries head_dim explicitly.
  if (has("attention.key_length")) {
    READ(c.headDim, positive("attention.key_length"));
    if (has("attention.value_length")) {
      int64_t vl;
      READ(vl, positive("attention.value_length"));
      if (vl != c.headDim)
        return f_.keyError(key("attention.value_length"),
                           "value length " + Twine(vl) +
                               " differs from the key length " +
                               Twine(c.headDim) + " (not supported)");
    }
  } else {
    if (!c.layerHeads.empty())
      return f_.keyError(key("attention.head_count"),
                         "differs between blocks, so the head dimension cannot be derived "
                         "from the embedding length: attention.key_length is needed");
    if (c.hiddenSize % c.numHeads != 0)
      return f_.keyError(key("attention.head_count"),
                         "embedding length " + Twine(c.hiddenSize) +
                             " is not a multiple of the head count " +
                             Twine(c.numHeads) +
                             " (and there is no attention.key_length)");
    c.headDim = c.hiddenSize / c.numHeads;
  }

  READ(c.rotaryDim, positive("rope.dimension_count", c.headDim));
  if (c.rotaryDim > c.headDim || c.rotaryDim % 2 != 0)
    return f_.keyError(key("rope.dimension_count"),
                       "rotary dimension " + Twine(c.rotaryDim) +
                           " must be even and at most the head dimension " +
                           Twine(c.headDim));

  c.ropePairing = arch_ == "qwen2" ? RopePairing::Neox : RopePairing::Norm;
  c.qkvBias = arch_ == "qwen2";

  // Rope scaling.
  if (has("rope.scaling.type")) {
    Expected<StringRef> t = f_.getString(key("rope.scaling.type"));
    if (!t)
      return t.takeError();
    if (*t == "none")
      c.ropeScaling = RopeScaling::None;
    else if (*t == "linear")
      c.ropeScaling = RopeScaling::Linear;
    else if (*t == "yarn")
      c.ropeScaling = RopeScaling::YaRN;
    else
      return f_.keyError(key("rope.scaling.type"),
                         "unsupported rope scaling type '" + printable(*t) +
                             "' (supported: none, linear, yarn)");
    if (c.ropeScaling != RopeScaling::None)
      READ(c.ropeScalingFactor, positiveFloat("rope.scaling.factor", 1.0));
  } else if (has("rope.scale_linear")) {
    // Older files: a linear factor without a type.
    READ(c.ropeScalingFactor, positiveFloat("rope.scale_linear"));
    if (c.ropeScalingFactor != 1.0)
      c.ropeScaling = RopeScaling::Linear;
  }
  if (has("rope.scaling.original_context_length"))
    READ(c.ropeOrigContext, positive("rope.scaling.original_context_length"));

  // Experts.
  READ(c.numExperts, positive("expert_count", 0, 0));
  if (c.numExperts > 0) {
    if (c.arch != "llama")
      return f_.keyError(key("expert_count"),
                         "experts are only supported for arch llama (got " +
                             Twine(c.numExperts) + " experts for " + arch_ + ")");
    READ(c.numExpertsUsed, positive("expert_used_count"));
    if (c.numExpertsUsed > c.numExperts)
      return f_.keyError(key("expert_used_count"),
                         "uses " + Twine(c.numExpertsUsed) +
                             " experts per token but the model has only " +
                             Twine(c.numExperts));
    if (has("expert_feed_forward_length"))
      READ(c.ffnSize, positive("expert_feed_forward_length"));
    else
      READ(c.ffnSize, positive("feed_forward_length"));
  } else {
    if (has("expert_used_count")) {
      int64_t used;
      READ(used, positive("expert_used_count", 0, 0));
      if (used != 0)
        return f_.keyError(key("expert_used_count"),
                           "is " + Twine(used) +
                               " but the model has no experts (expert_count "
                               "is 0 or absent)");
    }
    if (Error e = perLayer("feed_forward_length", c.numLayers, c.ffnSize, c.layerFfn))
      return e;
  }

  // Vocabulary: the token list, else <arch>.vocab_size, else the embedding.
  const TensorInfo *embd = f_.findTensor("token_embd.weight");
  if (f_.contains("tokenizer.ggml.tokens")) {
    auto toks = f_.getStringArray("tokenizer.ggml.tokens");
    if (!toks)
      return toks.takeError();
    c.vocabSize = int64_t(toks->size());
    if (c.vocabSize == 0)
      return f_.keyError("tokenizer.ggml.tokens", "the token list is empty");
    if (has("vocab_size")) {
      int64_t vs;
      READ(vs, positive("vocab_size"));
      if (vs != c.vocabSize)
        return f_.keyError(key("vocab_size"),
                           "vocab size " + Twine(vs) +
                               " differs from the " + Twine(c.vocabSize) +
                               " entries of tokenizer.ggml.tokens");
    }
  } else if (has("vocab_size")) {
    READ(c.vocabSize, positive("vocab_size"));
  } else if (embd && embd->ne.size() == 2) {
    c.vocabSize = int64_t(embd->ne[1]);
  } else {
    return makeError(f_.displayName(), "tensor", "token_embd.weight",
                     embd ? embd->infoOffset : f_.tensorInfoOffset(),
                     "cannot determine the vocabulary size: no "
                     "tokenizer.ggml.tokens, no " + key("vocab_size") +
                         " and no 2-D token embedding");
  }
#undef READ

  c.tiedEmbeddings = f_.findTensor("output.weight") == nullptr;
  return Error::success();
}

struct Expect {
  std::string name;
  std::vector<int64_t> shape;
  const char *why; ///< the shape in config terms, for messages
  bool optional = false;
};

Error Importer::checkTensors(const ModelConfig &c) {
  const int64_t V = c.vocabSize, H = c.hiddenSize, D = c.headDim;
  const int64_t E = c.numExperts;
  std::vector<Expect> want;
  want.push_back({"token_embd.weight", {V, H}, "[vocab, n_embd]"});
  want.push_back({"output_norm.weight", {H}, "[n_embd]"});
  want.push_back({"output.weight", {V, H}, "[vocab, n_embd]", true});
  for (int64_t l = 0; l < c.numLayers; ++l) {
    std::string b = "blk." + std::to_string(l) + ".";
    const int64_t Q = c.headsAt(l) * D, KV = c.kvHeadsAt(l) * D, F = c.ffnAt(l);
    want.push_back({b + "attn_norm.weight", {H}, "[n_embd]"});
    want.push_back({b + "attn_q.weight", {Q, H}, "[n_head*head_dim, n_embd]"});
    want.push_back({b + "attn_k.weight", {KV, H}, "[n_head_kv*head_dim, n_embd]"});
    want.push_back({b + "attn_v.weight", {KV, H}, "[n_head_kv*head_dim, n_embd]"});
    want.push_back({b + "attn_output.weight", {H, Q}, "[n_embd, n_head*head_dim]"});
    if (c.qkvBias) {
      want.push_back({b + "attn_q.bias", {Q}, "[n_head*head_dim]"});
      want.push_back({b + "attn_k.bias", {KV}, "[n_head_kv*head_dim]"});
      want.push_back({b + "attn_v.bias", {KV}, "[n_head_kv*head_dim]"});
    }
    want.push_back({b + "ffn_norm.weight", {H}, "[n_embd]"});
    if (E > 0) {
      want.push_back({b + "ffn_gate_inp.weight", {E, H}, "[n_expert, n_embd]"});
      want.push_back({b + "ffn_gate_exps.weight", {E, F, H}, "[n_expert, n_ff, n_embd]"});
      want.push_back({b + "ffn_up_exps.weight", {E, F, H}, "[n_expert, n_ff, n_embd]"});
      want.push_back({b + "ffn_down_exps.weight", {E, H, F}, "[n_expert, n_embd, n_ff]"});
    } else {
      want.push_back({b + "ffn_gate.weight", {F, H}, "[n_ff, n_embd]"});
      want.push_back({b + "ffn_up.weight", {F, H}, "[n_ff, n_embd]"});
      want.push_back({b + "ffn_down.weight", {H, F}, "[n_embd, n_ff]"});
    }
  }
  llvm::StringMap<size_t> index;
  for (size_t k = 0; k < want.size(); ++k)
    index[want[k].name] = k;

  std::string model = arch_ + " model (" +
                      (E > 0 ? "expert_count " + std::to_string(E) : "dense") +
                      ", block_count " + std::to_string(c.numLayers) + ")";

  // Surplus and misshapen tensors, in file order.
  for (const TensorInfo &t : f_.tensors()) {
    auto it = index.find(t.name);
    if (it == index.end()) {
      if (t.name == "rope_freqs.weight")
        return f_.tensorError(t, "rope frequency factors (llama 3.1 rope "
                                 "scaling) are not supported");
      return f_.tensorError(t, "unexpected tensor: not part of a " + model);
    }
    const Expect &w = want[it->second];
    std::vector<int64_t> shape = t.shape();
    if (shape != w.shape)
      return f_.tensorError(t, "shape " + shapeString(shape) +
                                   " contradicts the config: expected " +
                                   shapeString(w.shape) + " = " + w.why);
  }
  // Missing tensors, in canonical order.
  for (const Expect &w : want)
    if (!w.optional && !f_.findTensor(w.name))
      return makeError(f_.displayName(), "tensor", w.name,
                       f_.tensorInfoOffset(), "missing (required by a " + model + ")");
  return Error::success();
}

Expected<ModelDescription> Importer::run() {
  ModelDescription d;
  d.sourcePath = path_;
  d.sourceKind = "gguf";
  if (Error e = readConfig(d.config))
    return std::move(e);
  Expected<std::optional<TokenizerData>> tok = importTokenizer(f_);
  if (!tok)
    return tok.takeError();
  d.tokenizer = std::move(*tok);
  if (d.tokenizer)
    d.tokenizer->source = path_;
  if (d.tokenizer && int64_t(d.tokenizer->tokens.size()) != d.config.vocabSize)
    return f_.keyError("tokenizer.ggml.tokens",
                       "has " + Twine(uint64_t(d.tokenizer->tokens.size())) +
                           " tokens but the vocabulary size is " +
                           Twine(d.config.vocabSize));
  if (Error e = checkTensors(d.config))
    return std::move(e);
  d.tensors.reserve(f_.tensors().size());
  for (const TensorInfo &t : f_.tensors()) {
    TensorRef r;
    r.name = t.name;
    r.file = path_;
    r.offset = t.fileOffset;
    r.nbytes = t.nbytes;
    r.format = t.format;
    r.shape = t.shape();
    d.tensors.push_back(std::move(r));
  }
  // The checks above already cover what validateModel() checks, with GGUF byte
  // offsets in the messages; this is the common safety net every frontend runs.
  if (Error e = validateModel(d))
    return std::move(e);
  return std::move(d);
}

} // namespace

Expected<std::optional<TokenizerData>> importTokenizer(const GGUFFile &f) {
  if (!f.contains("tokenizer.ggml.model"))
    return std::optional<TokenizerData>();
  TokenizerData t;
  t.source = f.displayName().str();
  Expected<StringRef> model = f.getString("tokenizer.ggml.model");
  if (!model)
    return model.takeError();
  t.model = model->str();
  if (f.contains("tokenizer.ggml.pre")) {
    Expected<StringRef> pre = f.getString("tokenizer.ggml.pre");
    if (!pre)
      return pre.takeError();
    t.pre = pre->str();
  }
  auto tokens = f.getStringArray("tokenizer.ggml.tokens");
  if (!tokens)
    return tokens.takeError();
  t.tokens.assign(tokens->begin(), tokens->end());
  const uint64_t n = t.tokens.size();

  if (f.contains("tokenizer.ggml.scores")) {
    auto scores = f.getFloatArray("tokenizer.ggml.scores");
    if (!scores)
      return scores.takeError();
    if (scores->size() != n)
      return f.keyError("tokenizer.ggml.scores",
                        "has " + Twine(uint64_t(scores->size())) +
                            " entries, expected one per token (" + Twine(n) + ")");
    t.scores.assign(scores->begin(), scores->end());
  }
  if (f.contains("tokenizer.ggml.token_type")) {
    auto types = f.getIntArray("tokenizer.ggml.token_type");
    if (!types)
      return types.takeError();
    if (types->size() != n)
      return f.keyError("tokenizer.ggml.token_type",
                        "has " + Twine(uint64_t(types->size())) +
                            " entries, expected one per token (" + Twine(n) + ")");
    t.types.reserve(n);
    for (size_t k = 0; k < types->size(); ++k) {
      int64_t v = (*types)[k];
      if (v < INT32_MIN || v > INT32_MAX)
        return f.keyError("tokenizer.ggml.token_type",
                          "element " + Twine(k) + " (" + Twine(v) +
                              ") does not fit int32");
      t.types.push_back(int32_t(v));
    }
  }
  if (f.contains("tokenizer.ggml.merges")) {
    auto merges = f.getStringArray("tokenizer.ggml.merges");
    if (!merges)
      return merges.takeError();
    t.merges.assign(merges->begin(), merges->end());
  }

  struct IdKey {
    const char *key;
    std::optional<int64_t> *dst;
  } ids[] = {{"tokenizer.ggml.bos_token_id", &t.bos},
             {"tokenizer.ggml.eos_token_id", &t.eos},
             {"tokenizer.ggml.unknown_token_id", &t.unk},
             {"tokenizer.ggml.padding_token_id", &t.pad}};
  for (const IdKey &id : ids) {
    if (!f.contains(id.key))
      continue;
    Expected<int64_t> v = f.getInt(id.key);
    if (!v)
      return v.takeError();
    // llama.cpp writes -1 for "no such token" (as int32, or as the uint32
    // 0xFFFFFFFF its converters store): the id is unset, not out of range.
    if (*v == -1 || *v == int64_t(UINT32_MAX))
      continue;
    if (*v < 0 || uint64_t(*v) >= n)
      return f.keyError(id.key, "token id " + Twine(*v) +
                                    " is out of range (vocabulary of " +
                                    Twine(n) + " tokens)");
    *id.dst = *v;
  }
  struct BoolKey {
    const char *key;
    std::optional<bool> *dst;
  } flags[] = {{"tokenizer.ggml.add_bos_token", &t.addBos},
               {"tokenizer.ggml.add_eos_token", &t.addEos}};
  for (const BoolKey &b : flags) {
    if (!f.contains(b.key))
      continue;
    Expected<bool> v = f.getBool(b.key);
    if (!v)
      return v.takeError();
    *b.dst = *v;
  }
  return std::optional<TokenizerData>(std::move(t));
}

} // namespace gguf

Expected<ModelDescription> importGGUF(const gguf::GGUFFile &file,
                                      StringRef path) {
  return gguf::Importer(file, path).run();
}

Expected<ModelDescription> importGGUF(StringRef path) {
  auto f = gguf::GGUFFile::open(path);
  if (!f)
    return f.takeError();
  return importGGUF(**f, path);
}

} // namespace milm
