//===- HFModel.cpp - Hugging Face config.json and tensor names ------------===//

#include "frontends/safetensors/HFModel.h"
#include "frontends/common/OneLineError.h"
#include "frontends/safetensors/JsonDocument.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace milm {

namespace {

llvm::Error fail(const llvm::Twine &msg) { return oneLineError(msg); }

/// Shortest readable form of a double: 1e-05, 10000, -2.
std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

/// Typed access to the keys of config.json, with messages that name the key and
/// its byte offset.
class ConfigFields {
public:
  ConfigFields(llvm::StringRef file, const JsonDocument &doc, const llvm::json::Object &obj,
               llvm::StringRef outer = "")
      : file(file), doc(doc), obj(obj), outer(outer) {}

  uint64_t offset(llvm::StringRef key) const {
    return outer.empty() ? doc.offsetOf(key, 0) : doc.offsetOf(outer, key, 0);
  }
  std::string qualified(llvm::StringRef key) const {
    return outer.empty() ? key.str() : (outer + "." + key).str();
  }
  llvm::Error bad(llvm::StringRef key, const llvm::Twine &msg) const {
    // Offset 0 is the document's '{': it means "unknown" (an absent key).
    uint64_t at = offset(key);
    if (at == 0)
      return fail(file + ": key '" + qualified(key) + "': " + msg);
    return fail(file + ": key '" + qualified(key) + "' at byte " + llvm::Twine(at) + ": " + msg);
  }
  /// The value of `key`, or nullptr when absent or null.
  const llvm::json::Value *get(llvm::StringRef key) const {
    const llvm::json::Value *v = obj.get(key);
    return v && v->kind() != llvm::json::Value::Null ? v : nullptr;
  }

  llvm::Expected<std::optional<int64_t>> optInt(llvm::StringRef key) const {
    const llvm::json::Value *v = get(key);
    if (!v)
      return std::nullopt;
    std::optional<int64_t> i = v->getAsInteger();
    if (!i || v->kind() != llvm::json::Value::Number)
      return bad(key, "expected an integer, got " + previewJson(*v));
    return i;
  }
  /// `key` as one positive integer for every layer, or (a structurally
  /// pruned model, milmc prune's export) a list of one per layer: `scalar`
  /// gets the largest entry, `layers` the list (empty when all are equal).
  llvm::Error perLayerInt(llvm::StringRef key, int64_t numLayers, std::optional<int64_t> dflt,
                          llvm::StringRef arch, int64_t &scalar,
                          std::vector<int64_t> &layers) const {
    const llvm::json::Value *v = get(key);
    layers.clear();
    if (!v || v->kind() != llvm::json::Value::Array) {
      llvm::Expected<int64_t> s = positiveInt(key, dflt, arch);
      if (!s)
        return s.takeError();
      scalar = *s;
      return llvm::Error::success();
    }
    const llvm::json::Array &a = *v->getAsArray();
    if (static_cast<int64_t>(a.size()) != numLayers)
      return bad(key, "has " + llvm::Twine(a.size()) + " entries for " + llvm::Twine(numLayers) +
                          " layers (one per layer expected)");
    for (size_t l = 0; l < a.size(); ++l) {
      std::optional<int64_t> i = a[l].getAsInteger();
      if (!i || a[l].kind() != llvm::json::Value::Number || *i <= 0)
        return bad(key, "entry " + llvm::Twine(l) + " must be a positive integer, got " +
                            previewJson(a[l]));
      layers.push_back(*i);
    }
    collapseLayerSizes(layers, scalar);
    return llvm::Error::success();
  }
  llvm::Expected<int64_t> positiveInt(llvm::StringRef key, std::optional<int64_t> dflt,
                                      llvm::StringRef arch) const {
    llvm::Expected<std::optional<int64_t>> i = optInt(key);
    if (!i)
      return i.takeError();
    if (!*i) {
      if (dflt)
        return *dflt;
      return bad(key, "missing (required for " + arch + ")");
    }
    if (**i <= 0)
      return bad(key, "must be a positive integer, got " + llvm::Twine(**i));
    return **i;
  }
  llvm::Expected<std::optional<double>> optNumber(llvm::StringRef key) const {
    const llvm::json::Value *v = get(key);
    if (!v)
      return std::nullopt;
    std::optional<double> d = v->getAsNumber();
    if (!d)
      return bad(key, "expected a number, got " + previewJson(*v));
    return d;
  }
  llvm::Expected<double> positiveNumber(llvm::StringRef key, double dflt) const {
    llvm::Expected<std::optional<double>> d = optNumber(key);
    if (!d)
      return d.takeError();
    if (!*d)
      return dflt;
    if (!(**d > 0) || !std::isfinite(**d))
      return bad(key, "must be a positive number, got " + num(**d));
    return **d;
  }
  llvm::Expected<std::optional<bool>> optBool(llvm::StringRef key) const {
    const llvm::json::Value *v = get(key);
    if (!v)
      return std::nullopt;
    std::optional<bool> b = v->getAsBoolean();
    if (!b)
      return bad(key, "expected true or false, got " + previewJson(*v));
    return b;
  }
  llvm::Expected<std::optional<llvm::StringRef>> optString(llvm::StringRef key) const {
    const llvm::json::Value *v = get(key);
    if (!v)
      return std::nullopt;
    std::optional<llvm::StringRef> s = v->getAsString();
    if (!s)
      return bad(key, "expected a string, got " + previewJson(*v));
    return s;
  }
  /// An integer or a list of integers (the first is taken): bos/eos_token_id.
  llvm::Expected<std::optional<int64_t>> optTokenId(llvm::StringRef key) const {
    const llvm::json::Value *v = get(key);
    if (!v)
      return std::nullopt;
    const llvm::json::Value *first = v;
    if (const llvm::json::Array *a = v->getAsArray()) {
      if (a->empty())
        return std::nullopt;
      first = &(*a)[0];
    }
    std::optional<int64_t> i = first->getAsInteger();
    if (!i || *i < 0 || first->kind() != llvm::json::Value::Number)
      return bad(key, "expected a token id or a list of them, got " + previewJson(*v));
    return i;
  }

  llvm::StringRef file;
  const JsonDocument &doc;
  const llvm::json::Object &obj;
  llvm::StringRef outer;
};

struct ArchInfo {
  const char *hfName;
  const char *arch;
  bool qkvBias;
  bool moe;
  double defaultRmsEps;
  double defaultRopeTheta;
};

// Defaults are those of the transformers config classes.
const ArchInfo kArchs[] = {
    {"LlamaForCausalLM", "llama", false, false, 1e-6, 10000.0},
    {"Qwen2ForCausalLM", "qwen2", true, false, 1e-6, 10000.0},
    {"MixtralForCausalLM", "llama", false, true, 1e-5, 1e6},
};

/// Reads rope_scaling (or the rope fields of transformers' newer rope_parameters).
llvm::Error readRopeScaling(const ConfigFields &top, llvm::StringRef key, ModelConfig &c) {
  const llvm::json::Value *v = top.get(key);
  if (!v)
    return llvm::Error::success();
  const llvm::json::Object *o = v->getAsObject();
  if (!o)
    return top.bad(key, "expected an object, got " + previewJson(*v));
  ConfigFields f(top.file, top.doc, *o, key);

  llvm::Expected<std::optional<llvm::StringRef>> type = f.optString("rope_type");
  if (!type)
    return type.takeError();
  llvm::StringRef typeKey = "rope_type";
  if (!*type) {
    type = f.optString("type");
    if (!type)
      return type.takeError();
    typeKey = "type";
  }
  llvm::StringRef t = type->value_or("default");
  if (t == "default" || t == "none")
    return llvm::Error::success();
  if (t == "linear")
    c.ropeScaling = RopeScaling::Linear;
  else if (t == "dynamic")
    c.ropeScaling = RopeScaling::NTK;
  else if (t == "yarn")
    c.ropeScaling = RopeScaling::YaRN;
  else
    return f.bad(typeKey,
                 "rope scaling '" + t + "' is not supported (milm reads linear, dynamic and yarn)");

  llvm::Expected<std::optional<double>> factor = f.optNumber("factor");
  if (!factor)
    return factor.takeError();
  if (!*factor)
    return f.bad("factor", "missing (required for rope scaling '" + t + "')");
  if (!(**factor > 0) || !std::isfinite(**factor))
    return f.bad("factor", "must be a positive number, got " + num(**factor));
  c.ropeScalingFactor = **factor;

  llvm::Expected<std::optional<int64_t>> orig = f.optInt("original_max_position_embeddings");
  if (!orig)
    return orig.takeError();
  if (*orig && **orig <= 0)
    return f.bad("original_max_position_embeddings",
                 "must be a positive integer, got " + llvm::Twine(**orig));
  // transformers falls back to max_position_embeddings for dynamic and yarn.
  if (*orig)
    c.ropeOrigContext = **orig;
  else if (c.ropeScaling != RopeScaling::Linear)
    c.ropeOrigContext = c.contextLength;

  // YaRN knobs milm's rope does not model: accept only their defaults.
  if (c.ropeScaling == RopeScaling::YaRN) {
    struct Knob {
      const char *key;
      double dflt;
    } knobs[] = {{"beta_fast", 32}, {"beta_slow", 1}, {"mscale", 1}, {"mscale_all_dim", 0}};
    for (const Knob &k : knobs) {
      llvm::Expected<std::optional<double>> d = f.optNumber(k.key);
      if (!d)
        return d.takeError();
      if (*d && **d != k.dflt)
        return f.bad(k.key, "yarn with " + llvm::Twine(k.key) + " " + num(**d) +
                                " is not supported (only the default " + num(k.dflt) + ")");
    }
    if (f.get("attention_factor"))
      return f.bad("attention_factor", "yarn with an explicit attention_factor is not supported");
  }
  return llvm::Error::success();
}

/// Parses a non-negative decimal index without leading zeros ("0", "17").
std::optional<int64_t> parseIndex(llvm::StringRef s) {
  if (s.empty() || s.size() > 9 || (s.size() > 1 && s[0] == '0'))
    return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

struct LayerNamePair {
  const char *hf;        ///< after "model.layers.N."
  const char *canonical; ///< after "blk.N."
};

const LayerNamePair kLayerNames[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.o_proj.bias", "attn_output.bias"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
    {"block_sparse_moe.gate.weight", "ffn_gate_inp.weight"},
};

struct ExpertNamePair {
  const char *hf;        ///< Mixtral's name of the matrix: "w1"
  const char *canonical; ///< the stacked tensor: "ffn_gate_exps.weight"
};

const ExpertNamePair kExpertNames[] = {
    {"w1", "ffn_gate_exps.weight"},
    {"w3", "ffn_up_exps.weight"},
    {"w2", "ffn_down_exps.weight"},
};

const std::pair<const char *, const char *> kGlobalNames[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};

} // namespace

llvm::Expected<HFConfig> parseHFConfig(llvm::StringRef file, llvm::StringRef text) {
  llvm::Expected<JsonDocument> doc = parseJsonDocument(file, text, 0);
  if (!doc)
    return doc.takeError();
  const llvm::json::Object *obj = doc->root.getAsObject();
  if (!obj)
    return fail(file + ": expected a JSON object, got " + previewJson(doc->root));
  ConfigFields f(file, *doc, *obj);

  HFConfig out;
  ModelConfig &c = out.config;

  // Architecture.
  const llvm::json::Value *archV = f.get("architectures");
  if (!archV)
    return f.bad("architectures", "missing; expected e.g. [\"LlamaForCausalLM\"]");
  const llvm::json::Array *archA = archV->getAsArray();
  std::optional<llvm::StringRef> archName;
  if (archA && !archA->empty())
    archName = (*archA)[0].getAsString();
  if (!archName)
    return f.bad("architectures",
                 "expected a list of architecture names, got " + previewJson(*archV));
  const ArchInfo *arch = nullptr;
  for (const ArchInfo &a : kArchs)
    if (*archName == a.hfName)
      arch = &a;
  if (!arch)
    return f.bad("architectures", "unknown architecture '" + *archName +
                                      "' (milm reads LlamaForCausalLM, Qwen2ForCausalLM "
                                      "and MixtralForCausalLM)");
  out.architecture = arch->hfName;
  c.arch = arch->arch;
  c.qkvBias = arch->qkvBias;
  c.ropePairing = RopePairing::Neox;
  llvm::StringRef archStr = arch->hfName;

#define READ(lhs, expr)                                                                            \
  do {                                                                                             \
    auto v_ = (expr);                                                                              \
    if (!v_)                                                                                       \
      return v_.takeError();                                                                       \
    lhs = *v_;                                                                                     \
  } while (0)

  // Features milm's llama graph does not have: refuse rather than miscompile.
  if (f.get("quantization_config"))
    return f.bad("quantization_config",
                 "quantized checkpoints are not supported (milm reads F32, F16 and BF16 weights)");
  std::optional<llvm::StringRef> act;
  READ(act, f.optString("hidden_act"));
  if (act && *act != "silu")
    return f.bad("hidden_act", "activation '" + *act + "' is not supported (only silu)");
  for (const char *key : {"attention_bias", "mlp_bias"}) {
    std::optional<bool> b;
    READ(b, f.optBool(key));
    if (b && *b && !(arch->qkvBias && llvm::StringRef(key) == "attention_bias"))
      return f.bad(key, "biases on every projection are not supported");
  }
  std::optional<bool> sliding;
  READ(sliding, f.optBool("use_sliding_window"));
  if (sliding && *sliding)
    return f.bad("use_sliding_window", "sliding-window attention is not supported");

  // Sizes.
  READ(c.vocabSize, f.positiveInt("vocab_size", std::nullopt, archStr));
  READ(c.hiddenSize, f.positiveInt("hidden_size", std::nullopt, archStr));
  READ(c.numLayers, f.positiveInt("num_hidden_layers", std::nullopt, archStr));
  if (llvm::Error e = f.perLayerInt("intermediate_size", c.numLayers, std::nullopt, archStr,
                                    c.ffnSize, c.layerFfn))
    return std::move(e);
  if (llvm::Error e = f.perLayerInt("num_attention_heads", c.numLayers, std::nullopt, archStr,
                                    c.numHeads, c.layerHeads))
    return std::move(e);
  if (f.get("num_key_value_heads")) {
    if (llvm::Error e = f.perLayerInt("num_key_value_heads", c.numLayers, std::nullopt, archStr,
                                      c.numKVHeads, c.layerKVHeads))
      return std::move(e);
  } else {
    c.numKVHeads = c.numHeads;
    c.layerKVHeads = c.layerHeads;
  }
  READ(c.contextLength, f.positiveInt("max_position_embeddings", std::nullopt, archStr));
  for (int64_t l = 0; l < c.numLayers; ++l)
    if (c.headsAt(l) % c.kvHeadsAt(l) != 0)
      return f.bad("num_key_value_heads", "num_attention_heads " + llvm::Twine(c.headsAt(l)) +
                                              " is not a multiple of num_key_value_heads " +
                                              llvm::Twine(c.kvHeadsAt(l)) +
                                              (c.layerHeads.empty() && c.layerKVHeads.empty()
                                                   ? ""
                                                   : " in layer " + std::to_string(l)));
  if (!f.get("head_dim") && !c.layerHeads.empty())
    return f.bad("num_attention_heads", "differs between layers, so head_dim is needed");
  if (f.get("head_dim")) {
    READ(c.headDim, f.positiveInt("head_dim", std::nullopt, archStr));
  } else {
    if (c.hiddenSize % c.numHeads != 0)
      return f.bad("hidden_size", "hidden_size " + llvm::Twine(c.hiddenSize) +
                                      " is not a multiple of num_attention_heads " +
                                      llvm::Twine(c.numHeads) + " and head_dim is not given");
    c.headDim = c.hiddenSize / c.numHeads;
  }
  c.rotaryDim = c.headDim;
  std::optional<double> partial;
  READ(partial, f.optNumber("partial_rotary_factor"));
  if (partial) {
    double dims = *partial * static_cast<double>(c.headDim);
    if (!(*partial > 0 && *partial <= 1) || dims != std::floor(dims) ||
        static_cast<int64_t>(dims) % 2 != 0)
      return f.bad("partial_rotary_factor", "must be in (0, 1] and give an even number of the " +
                                                llvm::Twine(c.headDim) + " head dims, got " +
                                                num(*partial));
    c.rotaryDim = static_cast<int64_t>(dims);
  }
  if (arch->moe) {
    READ(c.numExperts, f.positiveInt("num_local_experts", std::nullopt, archStr));
    READ(c.numExpertsUsed, f.positiveInt("num_experts_per_tok", std::nullopt, archStr));
    if (c.numExpertsUsed > c.numExperts)
      return f.bad("num_experts_per_tok", "num_experts_per_tok " + llvm::Twine(c.numExpertsUsed) +
                                              " exceeds num_local_experts " +
                                              llvm::Twine(c.numExperts));
    // Mixtral's sliding window, when set below the context, changes attention.
    std::optional<int64_t> window;
    READ(window, f.optInt("sliding_window"));
    if (window && *window < c.contextLength)
      return f.bad("sliding_window", "sliding-window attention is not supported");
  }

  // Norm and rope.
  READ(c.rmsEps, f.positiveNumber("rms_norm_eps", arch->defaultRmsEps));
  READ(c.ropeBase, f.positiveNumber("rope_theta", arch->defaultRopeTheta));
  if (const llvm::json::Value *params = f.get("rope_parameters")) {
    // transformers >= 5: {"rope_theta": ..., "rope_type": ..., "factor": ...}
    const llvm::json::Object *po = params->getAsObject();
    if (!po)
      return f.bad("rope_parameters", "expected an object, got " + previewJson(*params));
    ConfigFields pf(file, *doc, *po, "rope_parameters");
    if (pf.get("rope_theta"))
      READ(c.ropeBase, pf.positiveNumber("rope_theta", c.ropeBase));
    if (llvm::Error e = readRopeScaling(f, "rope_parameters", c))
      return std::move(e);
  }
  if (llvm::Error e = readRopeScaling(f, "rope_scaling", c))
    return std::move(e);

  std::optional<bool> tied;
  READ(tied, f.optBool("tie_word_embeddings"));
  c.tiedEmbeddings = tied.value_or(false);

  std::optional<llvm::StringRef> name;
  READ(name, f.optString("_name_or_path"));
  if (name)
    c.name = name->str();

  READ(out.bos, f.optTokenId("bos_token_id"));
  READ(out.eos, f.optTokenId("eos_token_id"));
  out.bosOffset = f.offset("bos_token_id");
  out.eosOffset = f.offset("eos_token_id");
#undef READ
  return std::move(out);
}

std::string hfRowsFromNormPairing(llvm::StringRef bytes, int64_t hd, size_t rowBytes) {
  std::string out(bytes.size(), '\0');
  const int64_t rows = static_cast<int64_t>(bytes.size() / rowBytes);
  for (int64_t h = 0; h < rows / hd; ++h)
    for (int64_t i = 0; i < hd / 2; ++i)
      for (int64_t j = 0; j < 2; ++j)
        std::memcpy(&out[size_t(h * hd + j * (hd / 2) + i) * rowBytes],
                    bytes.data() + size_t(h * hd + 2 * i + j) * rowBytes, rowBytes);
  return out;
}

std::string hfConfigJson(const ModelConfig &c, std::optional<int64_t> bos,
                         std::optional<int64_t> eos) {
  const char *arch = c.numExperts > 0    ? "MixtralForCausalLM"
                     : c.arch == "qwen2" ? "Qwen2ForCausalLM"
                                         : "LlamaForCausalLM";
  const char *modelType = c.numExperts > 0 ? "mixtral" : c.arch == "qwen2" ? "qwen2" : "llama";
  std::string s;
  llvm::raw_string_ostream os(s);
  llvm::json::OStream j(os, 2);
  j.object([&] {
    j.attributeArray("architectures", [&] { j.value(arch); });
    j.attribute("model_type", modelType);
    if (!c.name.empty())
      j.attribute("_name_or_path", c.name);
    j.attribute("vocab_size", c.vocabSize);
    j.attribute("hidden_size", c.hiddenSize);
    // A structurally pruned model's per-layer sizes as lists (milm reads
    // them; stock transformers' LlamaConfig takes one size for all layers).
    auto sizes = [&](llvm::StringRef key, const std::vector<int64_t> &layers, int64_t scalar) {
      if (layers.empty())
        return j.attribute(key, scalar);
      j.attributeArray(key, [&] {
        for (int64_t v : layers)
          j.value(v);
      });
    };
    sizes("intermediate_size", c.layerFfn, c.ffnSize);
    j.attribute("num_hidden_layers", c.numLayers);
    sizes("num_attention_heads", c.layerHeads, c.numHeads);
    sizes("num_key_value_heads", c.layerKVHeads, c.numKVHeads);
    j.attribute("head_dim", c.headDim);
    if (c.rotaryDim != c.headDim && c.headDim > 0)
      j.attribute("partial_rotary_factor",
                  static_cast<double>(c.rotaryDim) / static_cast<double>(c.headDim));
    j.attribute("max_position_embeddings", c.contextLength);
    j.attribute("hidden_act", "silu");
    j.attribute("rms_norm_eps", c.rmsEps);
    j.attribute("rope_theta", c.ropeBase);
    if (c.ropeScaling != RopeScaling::None)
      j.attributeObject("rope_scaling", [&] {
        j.attribute("rope_type", c.ropeScaling == RopeScaling::Linear ? "linear"
                                 : c.ropeScaling == RopeScaling::NTK  ? "dynamic"
                                                                      : "yarn");
        j.attribute("factor", c.ropeScalingFactor);
        if (c.ropeOrigContext > 0)
          j.attribute("original_max_position_embeddings", c.ropeOrigContext);
      });
    j.attribute("tie_word_embeddings", c.tiedEmbeddings);
    if (c.numExperts > 0) {
      j.attribute("num_local_experts", c.numExperts);
      j.attribute("num_experts_per_tok", c.numExpertsUsed);
    }
    if (bos)
      j.attribute("bos_token_id", *bos);
    if (eos)
      j.attribute("eos_token_id", *eos);
  });
  os << '\n';
  return s;
}

HFTensorName mapHFTensorName(llvm::StringRef hf) {
  HFTensorName out;
  out.canonical = hf.str();
  for (const auto &[h, c] : kGlobalNames)
    if (hf == h) {
      out.canonical = c;
      out.known = true;
      return out;
    }
  llvm::StringRef rest = hf;
  if (!rest.consume_front("model.layers."))
    return out;
  auto [layerStr, tail] = rest.split('.');
  std::optional<int64_t> layer = parseIndex(layerStr);
  if (!layer || tail.empty())
    return out;
  std::string blk = "blk." + std::to_string(*layer) + ".";
  if (tail == "self_attn.rotary_emb.inv_freq") {
    out.ignored = true;
    return out;
  }
  for (const LayerNamePair &p : kLayerNames)
    if (tail == p.hf) {
      out.canonical = blk + p.canonical;
      out.known = true;
      return out;
    }
  if (tail.consume_front("block_sparse_moe.experts.")) {
    auto [expertStr, matrix] = tail.split('.');
    std::optional<int64_t> expert = parseIndex(expertStr);
    if (!expert)
      return out;
    for (const ExpertNamePair &p : kExpertNames)
      if (matrix == (llvm::Twine(p.hf) + ".weight").str()) {
        out.canonical = blk + p.canonical;
        out.known = true;
        out.expert = *expert;
        return out;
      }
  }
  return out;
}

std::string hfTensorName(llvm::StringRef canonical) {
  for (const auto &[h, c] : kGlobalNames)
    if (canonical == c)
      return h;
  llvm::StringRef rest = canonical;
  if (!rest.consume_front("blk."))
    return "";
  auto [layerStr, tail] = rest.split('.');
  if (!parseIndex(layerStr))
    return "";
  for (const LayerNamePair &p : kLayerNames)
    if (tail == p.canonical)
      return ("model.layers." + layerStr + "." + p.hf).str();
  return "";
}

std::string hfExpertTensorName(llvm::StringRef canonical, int64_t expert) {
  llvm::StringRef rest = canonical;
  if (!rest.consume_front("blk."))
    return "";
  auto [layerStr, tail] = rest.split('.');
  if (!parseIndex(layerStr))
    return "";
  for (const ExpertNamePair &p : kExpertNames)
    if (tail == p.canonical)
      return ("model.layers." + layerStr + ".block_sparse_moe.experts." + llvm::Twine(expert) +
              "." + p.hf + ".weight")
          .str();
  return "";
}

} // namespace milm
