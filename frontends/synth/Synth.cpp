//===- Synth.cpp - Random-weight models shaped like the MiLM2 family ------===//
#include "frontends/synth/Synth.h"

#include "common/milm/Quantize.h"
#include "frontends/gguf/GGUF.h"

#include "llvm/ADT/StringExtras.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>

namespace milm {

//===----------------------------------------------------------------------===//
// Presets
//===----------------------------------------------------------------------===//

// name, display name, layers, hidden, heads, kv heads, head dim, ffn (per expert),
// vocab, context, experts, experts used. Keep docs/SYNTH_PRESETS.md in step.
static const SynthPreset kPresets[] = {
    {"tiny", "MiLM2-tiny (synthetic)", 2, 64, 4, 2, 16, 256, 512, 256, 0, 0},
    {"tiny-moe", "MiLM2-tiny-MoE (synthetic)", 2, 64, 4, 2, 16, 256, 512, 256, 4, 2},
    {"0.3b", "MiLM2-0.3B (synthetic)", 16, 1024, 16, 4, 64, 2816, 65536, 4096, 0, 0},
    {"0.7b", "MiLM2-0.7B (synthetic)", 20, 1536, 12, 4, 128, 4096, 65536, 4096, 0, 0},
    {"1.3b", "MiLM2-1.3B (synthetic)", 24, 2048, 16, 4, 128, 5632, 65536, 4096, 0, 0},
    {"2.4b", "MiLM2-2.4B (synthetic)", 30, 2560, 20, 4, 128, 6912, 65536, 4096, 0, 0},
    {"4b", "MiLM2-4B (synthetic)", 40, 2560, 20, 4, 128, 8192, 65536, 4096, 0, 0},
    {"6b", "MiLM2-6B (synthetic)", 30, 4096, 32, 8, 128, 11264, 65536, 4096, 0, 0},
    {"moe-0.7bx8", "MiLM2-0.7Bx8 (synthetic)", 20, 1536, 12, 4, 128, 4096, 65536, 4096, 8, 2},
    {"moe-2bx8", "MiLM2-2Bx8 (synthetic)", 24, 2560, 20, 4, 128, 5632, 65536, 4096, 8, 2},
    // moe-0.7bx8's dense twin: its two active experts' FFN (2 x 4096) as one
    // dense FFN, so both read the same weights per token (less the router).
    {"0.7bx8-dense", "MiLM2-0.7Bx8 dense twin (synthetic)", 20, 1536, 12, 4, 128, 8192, 65536,
     4096, 0, 0},
    // moe-2bx8's dense twin: the same for its two active experts (2 x 5632).
    {"2bx8-dense", "MiLM2-2Bx8 dense twin (synthetic)", 24, 2560, 20, 4, 128, 11264, 65536,
     4096, 0, 0},
};

llvm::ArrayRef<SynthPreset> synthPresets() { return kPresets; }

const SynthPreset *lookupSynthPreset(llvm::StringRef name) {
  for (const SynthPreset &p : kPresets) {
    llvm::StringRef n(p.name);
    if (n.equals_insensitive(name))
      return &p;
    // "0.7bx8" for "moe-0.7bx8".
    if (n.starts_with("moe-") && n.drop_front(4).equals_insensitive(name))
      return &p;
  }
  return nullptr;
}

//===----------------------------------------------------------------------===//
// Tensor plan
//===----------------------------------------------------------------------===//

uint64_t SynthTensorPlan::numElements() const {
  uint64_t n = 1;
  for (uint64_t d : ne)
    n *= d;
  return n;
}

namespace {
enum class Role { TokenEmbd, Output, AttnQ, AttnK, AttnV, AttnOut, FfnGate, FfnUp, FfnDown, Other };

struct Entry {
  std::string name;
  std::vector<uint64_t> ne;
  SynthTensorPlan::Kind kind;
  Role role;
  int64_t layer; ///< -1 outside the blocks
};

/// The tensors of a model in file order (llama.cpp's convert order).
std::vector<Entry> modelTensors(const SynthPreset &p) {
  using K = SynthTensorPlan::Kind;
  const uint64_t H = p.hidden, Q = p.heads * p.headDim, KV = p.kvHeads * p.headDim,
                 F = p.ffn, V = p.vocab, E = p.experts;
  std::vector<Entry> t;
  t.push_back({"token_embd.weight", {H, V}, K::Weight, Role::TokenEmbd, -1});
  for (int64_t l = 0; l < p.layers; ++l) {
    std::string b = "blk." + std::to_string(l) + ".";
    t.push_back({b + "attn_norm.weight", {H}, K::Norm, Role::Other, l});
    t.push_back({b + "attn_q.weight", {H, Q}, K::Weight, Role::AttnQ, l});
    t.push_back({b + "attn_k.weight", {H, KV}, K::Weight, Role::AttnK, l});
    t.push_back({b + "attn_v.weight", {H, KV}, K::Weight, Role::AttnV, l});
    t.push_back({b + "attn_output.weight", {Q, H}, K::Weight, Role::AttnOut, l});
    t.push_back({b + "ffn_norm.weight", {H}, K::Norm, Role::Other, l});
    if (E > 0) {
      t.push_back({b + "ffn_gate_inp.weight", {H, E}, K::Router, Role::Other, l});
      t.push_back({b + "ffn_gate_exps.weight", {H, F, E}, K::Weight, Role::FfnGate, l});
      t.push_back({b + "ffn_down_exps.weight", {F, H, E}, K::Weight, Role::FfnDown, l});
      t.push_back({b + "ffn_up_exps.weight", {H, F, E}, K::Weight, Role::FfnUp, l});
    } else {
      t.push_back({b + "ffn_gate.weight", {H, F}, K::Weight, Role::FfnGate, l});
      t.push_back({b + "ffn_down.weight", {F, H}, K::Weight, Role::FfnDown, l});
      t.push_back({b + "ffn_up.weight", {H, F}, K::Weight, Role::FfnUp, l});
    }
  }
  t.push_back({"output_norm.weight", {H}, K::Norm, Role::Other, -1});
  t.push_back({"output.weight", {H, V}, K::Weight, Role::Output, -1});
  return t;
}

/// llama.cpp's rule for the layers that get more bits in the _M mixes.
bool useMoreBits(int64_t layer, int64_t layers) {
  return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
}

/// llama.cpp's substitutes for K formats whose 256-value blocks do not fit a row.
StorageFormat fitRow(StorageFormat f, uint64_t rowElems) {
  if (rowElems % info(f).blockElems == 0)
    return f;
  switch (f) {
  case StorageFormat::Q4_K: f = StorageFormat::Q5_0; break;
  case StorageFormat::Q5_K: f = StorageFormat::Q5_1; break;
  case StorageFormat::Q6_K: f = StorageFormat::Q8_0; break;
  default: break;
  }
  return rowElems % info(f).blockElems == 0 ? f : StorageFormat::F16;
}

/// Q4_K_M as llama.cpp assigns it (llama_tensor_get_type for LLAMA_FTYPE_MOSTLY_Q4_K_M).
StorageFormat q4kmFormat(const Entry &e, const SynthPreset &p) {
  const bool eightExperts = p.experts == 8;
  switch (e.role) {
  case Role::Output:
    return StorageFormat::Q6_K;
  case Role::AttnV:
    if (eightExperts)
      return StorageFormat::Q8_0;
    return useMoreBits(e.layer, p.layers) ? StorageFormat::Q6_K : StorageFormat::Q4_K;
  case Role::AttnK:
    return eightExperts ? StorageFormat::Q8_0 : StorageFormat::Q4_K;
  case Role::AttnOut:
    return eightExperts ? StorageFormat::Q5_K : StorageFormat::Q4_K;
  case Role::FfnDown:
    return useMoreBits(e.layer, p.layers) ? StorageFormat::Q6_K : StorageFormat::Q4_K;
  default:
    return StorageFormat::Q4_K;
  }
}

/// general.file_type (llama_ftype) for a format choice. Informational only.
uint32_t fileType(llvm::StringRef format, StorageFormat f) {
  if (format.equals_insensitive("q4_k_m"))
    return 15;
  switch (f) {
  case StorageFormat::F32: return 0;
  case StorageFormat::F16: return 1;
  case StorageFormat::Q4_0: return 2;
  case StorageFormat::Q4_1: return 3;
  case StorageFormat::Q8_0: return 7;
  case StorageFormat::Q5_0: return 8;
  case StorageFormat::Q5_1: return 9;
  case StorageFormat::Q4_K: return 14; // Q4_K_S, the nearest llama.cpp file type
  case StorageFormat::Q5_K: return 16; // Q5_K_S
  case StorageFormat::Q6_K: return 18;
  case StorageFormat::BF16: return 32;
  case StorageFormat::Q4_G128:
  case StorageFormat::Q4_G256:
  case StorageFormat::Q4_G64: return 0; // refused by baseFormat()
  }
  return 0;
}

llvm::Error synthError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), "synth: " + msg);
}

/// The base format of `opts.format`; for "q4_k_m", Q4_K.
llvm::Expected<StorageFormat> baseFormat(llvm::StringRef format) {
  if (format.equals_insensitive("q4_k_m"))
    return StorageFormat::Q4_K;
  const StorageFormatInfo *fi = lookupStorageFormat(std::string_view(format.data(), format.size()));
  if (!fi) {
    std::string names;
    size_t n;
    const StorageFormatInfo *all = allStorageFormats(n);
    for (size_t i = 0; i < n; ++i)
      if (isGGUFFormat(all[i].format))
        names += std::string(all[i].name) + ", ";
    return synthError("unknown format '" + format + "' (expected one of " + names + "q4_k_m)");
  }
  if (!isGGUFFormat(fi->format))
    return synthError("format '" + format + "' is milm's own and cannot be written to GGUF "
                      "(quantize with milmc compile --quantize instead)");
  return fi->format;
}
} // namespace

SynthParamCount countSynthParameters(const SynthPreset &p) {
  SynthParamCount c;
  for (const Entry &e : modelTensors(p)) {
    uint64_t n = 1;
    for (uint64_t d : e.ne)
      n *= d;
    c.total += n;
    if (e.role == Role::TokenEmbd || e.role == Role::Output)
      c.embedding += n;
    bool expert = p.experts > 0 && (e.role == Role::FfnGate || e.role == Role::FfnUp ||
                                    e.role == Role::FfnDown);
    c.active += expert ? n / static_cast<uint64_t>(p.experts) * p.expertsUsed : n;
  }
  return c;
}

llvm::Expected<SynthPreset> resolveSynthPreset(const SynthOptions &opts) {
  const SynthPreset *base = lookupSynthPreset(opts.preset);
  if (!base) {
    std::string names;
    for (const SynthPreset &p : kPresets)
      names += (names.empty() ? "" : ", ") + p.name;
    return synthError("unknown preset '" + opts.preset + "' (expected one of " + names + ")");
  }
  SynthPreset p = *base;
  if (opts.layers) {
    if (*opts.layers < 1 || *opts.layers > 1024)
      return synthError("layers must be in [1, 1024], got " + llvm::Twine(*opts.layers));
    p.layers = *opts.layers;
  }
  if (opts.vocab) {
    if (*opts.vocab < 259 || *opts.vocab > (int64_t(1) << 24))
      return synthError("vocab must be in [259, 16777216] (3 special + 256 byte tokens), got " +
                        llvm::Twine(*opts.vocab));
    p.vocab = *opts.vocab;
  }
  if (opts.context) {
    if (*opts.context < 1 || *opts.context > (int64_t(1) << 24))
      return synthError("context must be in [1, 16777216], got " + llvm::Twine(*opts.context));
    p.context = *opts.context;
  }
  return p;
}

llvm::Expected<std::vector<SynthTensorPlan>> planSynthTensors(const SynthOptions &opts) {
  llvm::Expected<SynthPreset> p = resolveSynthPreset(opts);
  if (!p)
    return p.takeError();
  llvm::Expected<StorageFormat> base = baseFormat(opts.format);
  if (!base)
    return base.takeError();
  const bool q4km = llvm::StringRef(opts.format).equals_insensitive("q4_k_m");
  std::vector<SynthTensorPlan> plan;
  for (const Entry &e : modelTensors(*p)) {
    SynthTensorPlan t;
    t.name = e.name;
    t.ne = e.ne;
    t.kind = e.kind;
    if (e.kind != SynthTensorPlan::Kind::Weight)
      t.format = StorageFormat::F32; // norms and the MoE router stay f32, as in llama.cpp
    else
      t.format = fitRow(q4km ? q4kmFormat(e, *p) : *base, e.ne[0]);
    plan.push_back(std::move(t));
  }
  return plan;
}

//===----------------------------------------------------------------------===//
// Vocabulary
//===----------------------------------------------------------------------===//

SynthVocab makeSynthVocab(int64_t vocab) {
  SynthVocab v;
  auto add = [&](std::string s, float score, int32_t type) {
    v.tokens.push_back(std::move(s));
    v.scores.push_back(score);
    v.types.push_back(type);
  };
  add("<unk>", 0.0f, 2);
  add("<s>", 0.0f, 3);
  add("</s>", 0.0f, 3);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    add(name, 0.0f, 6);
  }

  // Generated pieces, most "frequent" first: single characters, then "▁"-prefixed
  // letters, then letter n-grams with and without "▁". Each level only uses pieces
  // whose halves exist in an earlier level, so a BPE tokenizer can reach them.
  const std::string space = "\xE2\x96\x81"; // U+2581, SentencePiece's word boundary
  std::vector<std::string> singles = {space};
  for (char c = 'a'; c <= 'z'; ++c)
    singles.push_back(std::string(1, c));
  for (char c = 'A'; c <= 'Z'; ++c)
    singles.push_back(std::string(1, c));
  for (char c = '0'; c <= '9'; ++c)
    singles.push_back(std::string(1, c));
  for (char c : std::string(".,;:!?'\"-()[]{}/\\@#$%&*+=<>_|~^`"))
    singles.push_back(std::string(1, c));

  int64_t rank = 0;
  auto addPiece = [&](const std::string &s) {
    if (static_cast<int64_t>(v.tokens.size()) >= vocab)
      return false;
    add(s, -static_cast<float>(rank++), 1);
    return true;
  };
  for (const std::string &s : singles)
    if (!addPiece(s))
      return v;
  // n-grams over the lower-case letters, level by level.
  std::vector<std::string> prev = {""};
  for (int len = 1; static_cast<int64_t>(v.tokens.size()) < vocab; ++len) {
    std::vector<std::string> cur;
    cur.reserve(prev.size() * 26);
    for (const std::string &p : prev)
      for (char c = 'a'; c <= 'z'; ++c)
        cur.push_back(p + c);
    if (len >= 2)
      for (const std::string &s : cur)
        if (!addPiece(s))
          return v;
    for (const std::string &s : cur)
      if (!addPiece(space + s))
        return v;
    prev.swap(cur);
  }
  return v;
}

//===----------------------------------------------------------------------===//
// Random numbers
//===----------------------------------------------------------------------===//

namespace {
inline uint64_t splitmix64(uint64_t &x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Four-lane vectors (GCC/Clang vector extensions): SSE2 and NEON registers, so the
// generator below is vector code at any optimisation level and on any host.
typedef uint32_t U32x4 __attribute__((vector_size(16)));
typedef int32_t I32x4 __attribute__((vector_size(16)));
typedef float F32x4 __attribute__((vector_size(16)));

inline U32x4 rotl(U32x4 x, int k) { return (x << k) | (x >> (32 - k)); }

/// Four xoshiro128++ generators (Blackman & Vigna) run lane by lane.
struct Xoshiro128x4 {
  U32x4 s0, s1, s2, s3;
  void seed(uint64_t &sm) {
    for (int k = 0; k < 4; ++k) {
      const uint64_t a = splitmix64(sm), b = splitmix64(sm);
      s0[k] = static_cast<uint32_t>(a);
      s1[k] = static_cast<uint32_t>(a >> 32);
      s2[k] = static_cast<uint32_t>(b);
      s3[k] = static_cast<uint32_t>(b >> 32) | 1u; // never all zero
    }
  }
  U32x4 next() {
    const U32x4 result = rotl(s0 + s3, 7) + s0;
    const U32x4 t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    return result;
  }
};

/// A row's random stream: four independent 4-lane generators (16 lanes), so
/// consecutive steps do not wait on one another.
struct RowRng {
  Xoshiro128x4 g[4];
  explicit RowRng(uint64_t seed) {
    for (Xoshiro128x4 &x : g)
      x.seed(seed);
  }
};

/// The stream of row `row` of tensor `tensor`: independent of how rows are split
/// across threads.
uint64_t rowSeed(uint64_t seed, uint64_t tensor, uint64_t row) {
  uint64_t x = seed;
  uint64_t a = splitmix64(x);
  x = a ^ (tensor * 0xD1B54A32D192ED03ull);
  uint64_t b = splitmix64(x);
  x = b ^ (row * 0xAEF17502108EF2D9ull);
  return splitmix64(x);
}

/// Approximately normal values: the sum of four 16-bit uniforms (Irwin-Hall, n = 4)
/// from two 32-bit draws, centred and scaled to `stddev`. Bounded at +-3.46 sigma.
void fillNormal(RowRng &rng, float *dst, int64_t n, float stddev) {
  // Variance of a uniform on {0..65535} is (65536^2 - 1) / 12; four of them sum to
  // mean 2 * 65535 and standard deviation sqrt((65536^2 - 1) / 3).
  const float scale = stddev / 37837.2267f;
  auto four = [&](Xoshiro128x4 &ga, Xoshiro128x4 &gb) {
    const U32x4 a = ga.next(), b = gb.next();
    const U32x4 sum = (a & 0xffffu) + (a >> 16) + (b & 0xffffu) + (b >> 16);
    const I32x4 centred = reinterpret_cast<const I32x4 &>(sum) - 131070;
    return __builtin_convertvector(centred, F32x4) * scale;
  };
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const F32x4 lo = four(rng.g[0], rng.g[1]), hi = four(rng.g[2], rng.g[3]);
    std::memcpy(dst + i, &lo, sizeof(lo));
    std::memcpy(dst + i + 4, &hi, sizeof(hi));
  }
  for (; i < n; i += 4) {
    const F32x4 v = four(rng.g[0], rng.g[1]);
    for (int k = 0; k < 4 && i + k < n; ++k)
      dst[i + k] = v[k];
  }
}

/// Uniform in [lo, lo + 1).
void fillUniform(RowRng &rng, float *dst, int64_t n, float lo) {
  for (int64_t i = 0; i < n; i += 4) {
    const U32x4 a = rng.g[0].next() >> 8;
    for (int k = 0; k < 4 && i + k < n; ++k)
      dst[i + k] = lo + static_cast<float>(a[k]) * 0x1p-24f;
  }
}
} // namespace

//===----------------------------------------------------------------------===//
// Writing
//===----------------------------------------------------------------------===//

namespace {
/// Generates and quantizes rows [r0, r0 + nr) of a tensor into `out`.
void produceRows(const SynthTensorPlan &t, uint64_t tensorIndex, uint64_t seed, uint64_t r0,
                 uint64_t nr, uint64_t rowBytes, uint8_t *out, std::vector<float> &scratch) {
  const int64_t rowElems = static_cast<int64_t>(t.ne[0]);
  scratch.resize(static_cast<size_t>(rowElems));
  for (uint64_t r = r0; r < r0 + nr; ++r) {
    RowRng rng(rowSeed(seed, tensorIndex, r));
    if (t.kind == SynthTensorPlan::Kind::Norm)
      fillUniform(rng, scratch.data(), rowElems, 0.5f);
    else
      fillNormal(rng, scratch.data(), rowElems, kSynthWeightStd);
    quantizeRow(t.format, scratch.data(), out + (r - r0) * rowBytes, rowElems);
  }
}
} // namespace

llvm::Error writeSyntheticModel(const SynthOptions &opts, llvm::StringRef path) {
  llvm::Expected<SynthPreset> pOr = resolveSynthPreset(opts);
  if (!pOr)
    return pOr.takeError();
  const SynthPreset p = *pOr;
  llvm::Expected<std::vector<SynthTensorPlan>> planOr = planSynthTensors(opts);
  if (!planOr)
    return planOr.takeError();
  auto plan = std::make_shared<std::vector<SynthTensorPlan>>(std::move(*planOr));
  llvm::Expected<StorageFormat> base = baseFormat(opts.format);
  if (!base)
    return base.takeError();

  gguf::GGUFWriter w;
  w.setString("general.architecture", "llama");
  w.setString("general.name", p.displayName);
  w.setUInt32("general.file_type", fileType(opts.format, *base));
  if (info(*base).blockElems > 1)
    w.setUInt32("general.quantization_version", 2);
  w.setUInt32("llama.vocab_size", static_cast<uint32_t>(p.vocab));
  w.setUInt32("llama.context_length", static_cast<uint32_t>(p.context));
  w.setUInt32("llama.embedding_length", static_cast<uint32_t>(p.hidden));
  w.setUInt32("llama.block_count", static_cast<uint32_t>(p.layers));
  w.setUInt32("llama.feed_forward_length", static_cast<uint32_t>(p.ffn));
  w.setUInt32("llama.attention.head_count", static_cast<uint32_t>(p.heads));
  w.setUInt32("llama.attention.head_count_kv", static_cast<uint32_t>(p.kvHeads));
  w.setUInt32("llama.attention.key_length", static_cast<uint32_t>(p.headDim));
  w.setUInt32("llama.attention.value_length", static_cast<uint32_t>(p.headDim));
  w.setUInt32("llama.rope.dimension_count", static_cast<uint32_t>(p.headDim));
  w.setFloat32("llama.rope.freq_base", static_cast<float>(p.ropeBase));
  w.setFloat32("llama.attention.layer_norm_rms_epsilon", static_cast<float>(p.rmsEps));
  if (p.experts > 0) {
    w.setUInt32("llama.expert_count", static_cast<uint32_t>(p.experts));
    w.setUInt32("llama.expert_used_count", static_cast<uint32_t>(p.expertsUsed));
  }
  SynthVocab vocab = makeSynthVocab(p.vocab);
  w.setString("tokenizer.ggml.model", "llama");
  w.setStringArray("tokenizer.ggml.tokens", vocab.tokens);
  w.setFloatArray("tokenizer.ggml.scores", vocab.scores);
  w.setIntArray("tokenizer.ggml.token_type", vocab.types);
  w.setUInt32("tokenizer.ggml.bos_token_id", 1);
  w.setUInt32("tokenizer.ggml.eos_token_id", 2);
  w.setUInt32("tokenizer.ggml.unknown_token_id", 0);
  w.setBool("tokenizer.ggml.add_bos_token", true);
  w.setBool("tokenizer.ggml.add_eos_token", false);
  // Provenance, so a synthetic file is never mistaken for a trained one.
  w.setString("milm.synth.preset", p.name);
  w.setString("milm.synth.format", opts.format);
  w.setUInt64("milm.synth.seed", opts.seed);

  unsigned threads = opts.threads ? opts.threads : std::max(1u, std::thread::hardware_concurrency());
  threads = std::min(threads, 64u);
  const uint64_t seed = opts.seed;

  for (size_t ti = 0; ti < plan->size(); ++ti) {
    const SynthTensorPlan &t = (*plan)[ti];
    w.addTensor(t.name, t.ne, t.format,
                [plan, ti, seed, threads](gguf::TensorSink &sink) -> llvm::Error {
                  const SynthTensorPlan &t = (*plan)[ti];
                  const uint64_t rowElems = t.ne[0];
                  const uint64_t rows = t.numElements() / rowElems;
                  std::optional<uint64_t> rb = rowBytes(t.format, rowElems);
                  if (!rb)
                    return synthError("tensor '" + t.name + "': rows of " +
                                      llvm::Twine(rowElems) + " values do not fit format " +
                                      std::string(info(t.format).name));
                  const uint64_t rowB = *rb;
                  // About 1M values per thread per chunk: a few MB of memory in all.
                  const uint64_t rowsPerThread = std::max<uint64_t>(1, (1u << 20) / rowElems);
                  const uint64_t chunkRows = rowsPerThread * threads;
                  std::vector<uint8_t> out(std::min(rows, chunkRows) * rowB);
                  std::vector<std::vector<float>> scratch(threads);
                  for (uint64_t r0 = 0; r0 < rows; r0 += chunkRows) {
                    const uint64_t nr = std::min(chunkRows, rows - r0);
                    const uint64_t per = (nr + threads - 1) / threads;
                    std::vector<std::thread> pool;
                    for (unsigned k = 1; k < threads && k * per < nr; ++k) {
                      const uint64_t a = k * per, n = std::min(per, nr - a);
                      pool.emplace_back([&, a, n, k] {
                        produceRows(t, ti, seed, r0 + a, n, rowB, out.data() + a * rowB,
                                    scratch[k]);
                      });
                    }
                    produceRows(t, ti, seed, r0, std::min(per, nr), rowB, out.data(), scratch[0]);
                    for (std::thread &th : pool)
                      th.join();
                    if (llvm::Error e = sink.write(llvm::ArrayRef<uint8_t>(out.data(), nr * rowB)))
                      return e;
                  }
                  return llvm::Error::success();
                });
  }
  return w.write(path);
}

} // namespace milm
