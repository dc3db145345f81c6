//===- SynthTest.cpp - Synthetic MiLM2-preset models ----------------------===//
//
// Writes the tiny presets in every format, reads them back with GGUFFile and the
// GGUF importer, and checks metadata, tensor shapes and types, the statistics of
// the (dequantized) weights, determinism, and the Q4_K_M mix rule.
//
//===----------------------------------------------------------------------===//
#include "common/milm/Quantize.h"
#include "frontends/gguf/GGUF.h"
#include "frontends/gguf/GGUFImport.h"
#include "frontends/synth/Synth.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace milm;

namespace {

#define ASSERT_NO_ERROR(expr)                                                  \
  do {                                                                         \
    if (llvm::Error err_ = (expr))                                             \
      FAIL() << llvm::toString(std::move(err_));                               \
  } while (0)

class TempDir {
public:
  TempDir() {
    std::error_code ec = llvm::sys::fs::createUniqueDirectory("milm-synth-test", path_);
    EXPECT_FALSE(ec) << ec.message();
  }
  ~TempDir() { llvm::sys::fs::remove_directories(path_); }
  std::string file(llvm::StringRef name) const {
    llvm::SmallString<256> p(path_);
    llvm::sys::path::append(p, name);
    return std::string(p);
  }

private:
  llvm::SmallString<256> path_;
};

std::unique_ptr<gguf::GGUFFile> openOrFail(const std::string &path) {
  auto f = gguf::GGUFFile::open(path);
  if (!f) {
    ADD_FAILURE() << llvm::toString(f.takeError());
    return nullptr;
  }
  return std::move(*f);
}

std::vector<float> dequantizeTensor(const gguf::GGUFFile &f, const gguf::TensorInfo &t) {
  std::vector<float> v(t.numElements());
  auto bytes = f.tensorData(t);
  dequantizeRow(t.format, bytes.data(), v.data(), static_cast<int64_t>(v.size()));
  return v;
}

uint64_t getUInt(const gguf::GGUFFile &f, llvm::StringRef key) {
  auto v = f.getUInt(key);
  if (!v) {
    ADD_FAILURE() << llvm::toString(v.takeError());
    return 0;
  }
  return *v;
}

bool sameFileContents(const std::string &a, const std::string &b) {
  auto ba = llvm::MemoryBuffer::getFile(a), bb = llvm::MemoryBuffer::getFile(b);
  if (!ba || !bb)
    return false;
  return (*ba)->getBuffer() == (*bb)->getBuffer();
}

SynthOptions tinyOptions(const std::string &format, const std::string &preset = "tiny") {
  SynthOptions o;
  o.preset = preset;
  o.format = format;
  o.seed = 42;
  o.threads = 2;
  return o;
}

} // namespace

//===----------------------------------------------------------------------===//
// Presets
//===----------------------------------------------------------------------===//

TEST(SynthPresets, ShapesAreConsistent) {
  for (const SynthPreset &p : synthPresets()) {
    SCOPED_TRACE(p.name);
    EXPECT_EQ(p.hidden, p.heads * p.headDim);
    EXPECT_EQ(p.heads % p.kvHeads, 0);
    EXPECT_LT(p.kvHeads, p.heads); // every preset uses GQA
    EXPECT_GE(p.vocab, 259);
    EXPECT_EQ(p.experts == 0, p.expertsUsed == 0);
    if (p.name.rfind("tiny", 0) != 0) {
      EXPECT_TRUE(p.headDim == 64 || p.headDim == 128);
      EXPECT_EQ(p.hidden % 256, 0); // every K format fits every row
      EXPECT_EQ(p.ffn % 256, 0);
    }
    EXPECT_EQ(lookupSynthPreset(p.name), &p);
  }
  EXPECT_EQ(lookupSynthPreset("0.7BX8"), lookupSynthPreset("moe-0.7bx8"));
  EXPECT_EQ(lookupSynthPreset("7b"), nullptr);
}

TEST(SynthPresets, ParameterCountsMatchTheirNames) {
  struct Nominal {
    const char *name;
    double billions;
  } nominal[] = {{"0.3b", 0.3}, {"0.7b", 0.7}, {"1.3b", 1.3}, {"2.4b", 2.4}, {"6b", 6.0}};
  for (const Nominal &n : nominal) {
    const SynthPreset *p = lookupSynthPreset(n.name);
    ASSERT_NE(p, nullptr) << n.name;
    double b = countSynthParameters(*p).total / 1e9;
    EXPECT_NEAR(b, n.billions, 0.1 * n.billions) << n.name;
  }
  // The 4B preset is the 40-layer, ~3.5B-parameter model.
  const SynthPreset *p4 = lookupSynthPreset("4b");
  ASSERT_NE(p4, nullptr);
  EXPECT_EQ(p4->layers, 40);
  EXPECT_NEAR(countSynthParameters(*p4).total / 1e9, 3.5, 0.1);
  // MoE: 8 experts, top-2; only two experts count as active.
  for (const char *name : {"moe-0.7bx8", "moe-2bx8"}) {
    const SynthPreset *p = lookupSynthPreset(name);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->experts, 8);
    EXPECT_EQ(p->expertsUsed, 2);
    SynthParamCount c = countSynthParameters(*p);
    EXPECT_LT(c.active, c.total / 2) << name;
  }
  // The dense twins of moe-0.7bx8 and moe-2bx8 have their active parameters
  // but the routers'.
  for (auto [moeName, twinName] : {std::pair{"moe-0.7bx8", "0.7bx8-dense"},
                                   std::pair{"moe-2bx8", "2bx8-dense"}}) {
    const SynthPreset *moe = lookupSynthPreset(moeName);
    const SynthPreset *twin = lookupSynthPreset(twinName);
    ASSERT_NE(twin, nullptr) << twinName;
    EXPECT_EQ(twin->experts, 0);
    uint64_t routers = uint64_t(moe->layers) * moe->experts * moe->hidden;
    EXPECT_EQ(countSynthParameters(*twin).active + routers, countSynthParameters(*moe).active)
        << twinName;
  }
  // Hand count for tiny: embeddings 2 * 512 * 64, per layer q/o 64x64, k/v 64x32,
  // ffn 3 * 64 * 256, two norms of 64; one final norm.
  SynthParamCount t = countSynthParameters(*lookupSynthPreset("tiny"));
  const uint64_t layer = 2 * 64 * 64 + 2 * 64 * 32 + 3 * 64 * 256 + 2 * 64;
  EXPECT_EQ(t.total, 2u * 512 * 64 + 2 * layer + 64);
  EXPECT_EQ(t.active, t.total);
  EXPECT_EQ(t.embedding, 2u * 512 * 64);
}

TEST(SynthPresets, OverridesAndErrors) {
  SynthOptions o = tinyOptions("q8_0");
  o.layers = 3;
  o.vocab = 1000;
  o.context = 77;
  auto p = resolveSynthPreset(o);
  ASSERT_TRUE(static_cast<bool>(p)) << llvm::toString(p.takeError());
  EXPECT_EQ(p->layers, 3);
  EXPECT_EQ(p->vocab, 1000);
  EXPECT_EQ(p->context, 77);

  o.vocab = 100; // cannot hold the special and byte tokens
  auto bad = resolveSynthPreset(o);
  ASSERT_FALSE(static_cast<bool>(bad));
  EXPECT_NE(llvm::toString(bad.takeError()).find("vocab"), std::string::npos);

  SynthOptions unknown = tinyOptions("q8_0", "13b");
  auto e1 = resolveSynthPreset(unknown);
  ASSERT_FALSE(static_cast<bool>(e1));
  EXPECT_NE(llvm::toString(e1.takeError()).find("unknown preset '13b'"), std::string::npos);

  auto e2 = planSynthTensors(tinyOptions("q3_k"));
  ASSERT_FALSE(static_cast<bool>(e2));
  EXPECT_NE(llvm::toString(e2.takeError()).find("unknown format 'q3_k'"), std::string::npos);
}

//===----------------------------------------------------------------------===//
// The Q4_K_M rule
//===----------------------------------------------------------------------===//

namespace {
std::map<std::string, StorageFormat> planFormats(const SynthOptions &o) {
  std::map<std::string, StorageFormat> m;
  auto plan = planSynthTensors(o);
  if (!plan) {
    ADD_FAILURE() << llvm::toString(plan.takeError());
    return m;
  }
  for (const auto &t : *plan)
    m[t.name] = t.format;
  return m;
}
} // namespace

TEST(SynthQ4KM, DenseFollowsLlamaCpp) {
  SynthOptions o = tinyOptions("q4_k_m", "1.3b"); // 24 layers
  auto f = planFormats(o);
  EXPECT_EQ(f["output.weight"], StorageFormat::Q6_K);
  EXPECT_EQ(f["token_embd.weight"], StorageFormat::Q4_K);
  EXPECT_EQ(f["blk.0.attn_norm.weight"], StorageFormat::F32);
  // llama.cpp's use_more_bits for 24 layers: the first 3, the last 3, and every
  // third layer in between starting at 5.
  const std::set<int> more = {0, 1, 2, 5, 8, 11, 14, 17, 20, 21, 22, 23};
  for (int l = 0; l < 24; ++l) {
    std::string b = "blk." + std::to_string(l) + ".";
    StorageFormat want = more.count(l) ? StorageFormat::Q6_K : StorageFormat::Q4_K;
    EXPECT_EQ(f[b + "attn_v.weight"], want) << l;
    EXPECT_EQ(f[b + "ffn_down.weight"], want) << l;
    EXPECT_EQ(f[b + "attn_q.weight"], StorageFormat::Q4_K) << l;
    EXPECT_EQ(f[b + "attn_k.weight"], StorageFormat::Q4_K) << l;
    EXPECT_EQ(f[b + "attn_output.weight"], StorageFormat::Q4_K) << l;
    EXPECT_EQ(f[b + "ffn_gate.weight"], StorageFormat::Q4_K) << l;
    EXPECT_EQ(f[b + "ffn_up.weight"], StorageFormat::Q4_K) << l;
  }
}

TEST(SynthQ4KM, EightExpertModels) {
  auto f = planFormats(tinyOptions("q4_k_m", "moe-0.7bx8")); // 20 layers, 8 experts
  EXPECT_EQ(f["output.weight"], StorageFormat::Q6_K);
  for (int l = 0; l < 20; ++l) {
    std::string b = "blk." + std::to_string(l) + ".";
    EXPECT_EQ(f[b + "attn_v.weight"], StorageFormat::Q8_0) << l;
    EXPECT_EQ(f[b + "attn_k.weight"], StorageFormat::Q8_0) << l;
    EXPECT_EQ(f[b + "attn_output.weight"], StorageFormat::Q5_K) << l;
    EXPECT_EQ(f[b + "ffn_gate_inp.weight"], StorageFormat::F32) << l;
    EXPECT_EQ(f[b + "ffn_gate_exps.weight"], StorageFormat::Q4_K) << l;
  }
  EXPECT_EQ(f["blk.0.ffn_down_exps.weight"], StorageFormat::Q6_K);
  EXPECT_EQ(f["blk.3.ffn_down_exps.weight"], StorageFormat::Q4_K);
}

TEST(SynthQ4KM, RowsTooShortForKBlocksFallBack) {
  // tiny has 64-value rows: Q4_K -> Q5_0 and Q6_K -> Q8_0, as llama.cpp does;
  // ffn_down rows have 256 values and keep their K formats. For 2 layers the
  // mix matches llama.cpp's choice for the llama-dense fixture: layer 1's attn_v
  // and ffn_down get Q6_K.
  auto f = planFormats(tinyOptions("q4_k_m"));
  EXPECT_EQ(f["token_embd.weight"], StorageFormat::Q5_0);
  EXPECT_EQ(f["output.weight"], StorageFormat::Q8_0);
  EXPECT_EQ(f["blk.0.attn_v.weight"], StorageFormat::Q5_0);
  EXPECT_EQ(f["blk.1.attn_v.weight"], StorageFormat::Q8_0);
  EXPECT_EQ(f["blk.0.ffn_down.weight"], StorageFormat::Q4_K);
  EXPECT_EQ(f["blk.1.ffn_down.weight"], StorageFormat::Q6_K);
  auto g = planFormats(tinyOptions("q5_k"));
  EXPECT_EQ(g["blk.0.attn_q.weight"], StorageFormat::Q5_1);
  EXPECT_EQ(g["blk.0.ffn_down.weight"], StorageFormat::Q5_K);
}

//===----------------------------------------------------------------------===//
// Vocabulary
//===----------------------------------------------------------------------===//

TEST(SynthVocab, SpecialAndByteTokens) {
  SynthVocab v = makeSynthVocab(512);
  ASSERT_EQ(v.tokens.size(), 512u);
  ASSERT_EQ(v.scores.size(), 512u);
  ASSERT_EQ(v.types.size(), 512u);
  EXPECT_EQ(v.tokens[0], "<unk>");
  EXPECT_EQ(v.tokens[1], "<s>");
  EXPECT_EQ(v.tokens[2], "</s>");
  EXPECT_EQ(v.types[0], 2);
  EXPECT_EQ(v.types[1], 3);
  EXPECT_EQ(v.types[2], 3);
  EXPECT_EQ(v.tokens[3], "<0x00>");
  EXPECT_EQ(v.tokens[3 + 0x0A], "<0x0A>");
  EXPECT_EQ(v.tokens[3 + 255], "<0xFF>");
  for (int i = 3; i < 259; ++i)
    EXPECT_EQ(v.types[i], 6) << i;
  EXPECT_EQ(v.tokens[259], "\xE2\x96\x81"); // the word-boundary piece comes first
  for (size_t i = 259; i < v.tokens.size(); ++i) {
    EXPECT_EQ(v.types[i], 1) << i;
    if (i > 259) {
      EXPECT_LT(v.scores[i], v.scores[i - 1]) << i; // strictly decreasing
    }
  }
}

TEST(SynthVocab, LargeVocabIsUniqueAndMergeable) {
  SynthVocab v = makeSynthVocab(65536);
  ASSERT_EQ(v.tokens.size(), 65536u);
  std::set<std::string> seen(v.tokens.begin(), v.tokens.end());
  EXPECT_EQ(seen.size(), v.tokens.size());
  // Every multi-character piece splits into a shorter piece plus its last
  // character, both in the vocabulary, so BPE merges can build it.
  const std::string space = "\xE2\x96\x81";
  for (size_t i = 259; i < v.tokens.size(); ++i) {
    const std::string &t = v.tokens[i];
    if (t == space || t.size() == 1)
      continue;
    std::string head = t.substr(0, t.size() - 1), last = t.substr(t.size() - 1);
    EXPECT_TRUE(seen.count(head)) << t;
    EXPECT_TRUE(seen.count(last)) << t;
  }
}

//===----------------------------------------------------------------------===//
// Writing and reading back
//===----------------------------------------------------------------------===//

namespace {
class SynthFormats : public ::testing::TestWithParam<std::string> {};
} // namespace

TEST_P(SynthFormats, TinyRoundTrip) {
  TempDir dir;
  const std::string path = dir.file("tiny.gguf");
  SynthOptions o = tinyOptions(GetParam());
  ASSERT_NO_ERROR(writeSyntheticModel(o, path));
  auto f = openOrFail(path);
  ASSERT_TRUE(f);

  // Metadata.
  auto arch = f->getString("general.architecture");
  ASSERT_TRUE(static_cast<bool>(arch)) << llvm::toString(arch.takeError());
  EXPECT_EQ(*arch, "llama");
  EXPECT_EQ(getUInt(*f, "llama.block_count"), 2u);
  EXPECT_EQ(getUInt(*f, "llama.embedding_length"), 64u);
  EXPECT_EQ(getUInt(*f, "llama.feed_forward_length"), 256u);
  EXPECT_EQ(getUInt(*f, "llama.attention.head_count"), 4u);
  EXPECT_EQ(getUInt(*f, "llama.attention.head_count_kv"), 2u);
  EXPECT_EQ(getUInt(*f, "llama.rope.dimension_count"), 16u);
  EXPECT_EQ(getUInt(*f, "llama.context_length"), 256u);
  EXPECT_EQ(getUInt(*f, "tokenizer.ggml.bos_token_id"), 1u);
  EXPECT_EQ(getUInt(*f, "tokenizer.ggml.eos_token_id"), 2u);
  EXPECT_FALSE(f->contains("llama.expert_count"));
  auto eps = f->getFloat("llama.attention.layer_norm_rms_epsilon");
  ASSERT_TRUE(static_cast<bool>(eps));
  EXPECT_NEAR(*eps, 1e-5, 1e-9);
  auto model = f->getString("tokenizer.ggml.model");
  ASSERT_TRUE(static_cast<bool>(model));
  EXPECT_EQ(*model, "llama");
  auto toks = f->getStringArray("tokenizer.ggml.tokens");
  ASSERT_TRUE(static_cast<bool>(toks));
  EXPECT_EQ(toks->size(), 512u);
  SynthVocab expectVocab = makeSynthVocab(512);
  EXPECT_TRUE(std::equal(toks->begin(), toks->end(), expectVocab.tokens.begin()));
  auto types = f->getIntArray("tokenizer.ggml.token_type");
  ASSERT_TRUE(static_cast<bool>(types));
  EXPECT_EQ(types->size(), 512u);

  // Tensors: exactly the plan, in order, with the planned formats.
  auto plan = planSynthTensors(o);
  ASSERT_TRUE(static_cast<bool>(plan)) << llvm::toString(plan.takeError());
  ASSERT_EQ(f->tensors().size(), plan->size());
  EXPECT_EQ(plan->size(), 1u + 2 * 9 + 2);
  for (size_t i = 0; i < plan->size(); ++i) {
    const gguf::TensorInfo &t = f->tensors()[i];
    const SynthTensorPlan &want = (*plan)[i];
    EXPECT_EQ(t.name, want.name);
    EXPECT_EQ(t.ne, want.ne) << t.name;
    EXPECT_EQ(t.format, want.format) << t.name;
  }
  const gguf::TensorInfo *embd = f->findTensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->shape(), (std::vector<int64_t>{512, 64}));
  const gguf::TensorInfo *down = f->findTensor("blk.1.ffn_down.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->shape(), (std::vector<int64_t>{64, 256}));
  const gguf::TensorInfo *k = f->findTensor("blk.0.attn_k.weight");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->shape(), (std::vector<int64_t>{32, 64}));
  // Plain formats are applied to every matrix (a row too short for a K block
  // falls back as llama.cpp does).
  if (GetParam() != "q4_k_m") {
    const StorageFormatInfo *fi = lookupStorageFormat(GetParam());
    ASSERT_NE(fi, nullptr);
    if (fi->blockElems <= 64) {
      EXPECT_EQ(embd->format, fi->format);
    }
    EXPECT_EQ(down->format, fi->format);
  }

  // Statistics: matrices ~ N(0, 0.02^2), norms uniform in [0.5, 1.5).
  double sum2 = 0;
  uint64_t n = 0;
  for (const gguf::TensorInfo &t : f->tensors()) {
    auto v = dequantizeTensor(*f, t);
    if (t.ne.size() == 1) {
      EXPECT_EQ(t.format, StorageFormat::F32) << t.name;
      double m = 0;
      for (float x : v) {
        EXPECT_GE(x, 0.5f) << t.name;
        EXPECT_LT(x, 1.5f) << t.name;
        m += x;
      }
      EXPECT_NEAR(m / v.size(), 1.0, 0.15) << t.name;
      continue;
    }
    double ts = 0, ts2 = 0;
    for (float x : v) {
      EXPECT_LE(std::fabs(x), 3.47f * kSynthWeightStd * 1.15f) << t.name;
      ts += x;
      ts2 += double(x) * x;
    }
    double mean = ts / v.size(), sd = std::sqrt(ts2 / v.size() - mean * mean);
    EXPECT_NEAR(mean, 0.0, 6 * kSynthWeightStd / std::sqrt(double(v.size()))) << t.name;
    EXPECT_NEAR(sd, kSynthWeightStd, 0.08 * kSynthWeightStd) << t.name;
    sum2 += ts2;
    n += v.size();
  }
  EXPECT_NEAR(std::sqrt(sum2 / n), kSynthWeightStd, 0.03 * kSynthWeightStd);

  // The importer accepts it as a llama model of the preset's shape.
  auto desc = importGGUF(path);
  ASSERT_TRUE(static_cast<bool>(desc)) << llvm::toString(desc.takeError());
  EXPECT_EQ(desc->config.arch, "llama");
  EXPECT_EQ(desc->config.numLayers, 2);
  EXPECT_EQ(desc->config.hiddenSize, 64);
  EXPECT_EQ(desc->config.numHeads, 4);
  EXPECT_EQ(desc->config.numKVHeads, 2);
  EXPECT_EQ(desc->config.headDim, 16);
  EXPECT_EQ(desc->config.ffnSize, 256);
  EXPECT_EQ(desc->config.vocabSize, 512);
  EXPECT_EQ(desc->config.numExperts, 0);
  ASSERT_TRUE(desc->tokenizer.has_value());
  EXPECT_EQ(desc->tokenizer->bos, 1);
  EXPECT_EQ(desc->tokenizer->eos, 2);
}

INSTANTIATE_TEST_SUITE_P(Tiny, SynthFormats,
                         ::testing::Values("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1",
                                           "q5_0", "q5_1", "q4_k", "q5_k", "q6_k", "q4_k_m"));

TEST(SynthWrite, TinyMoE) {
  TempDir dir;
  const std::string path = dir.file("moe.gguf");
  ASSERT_NO_ERROR(writeSyntheticModel(tinyOptions("q4_0", "tiny-moe"), path));
  auto f = openOrFail(path);
  ASSERT_TRUE(f);
  EXPECT_EQ(getUInt(*f, "llama.expert_count"), 4u);
  EXPECT_EQ(getUInt(*f, "llama.expert_used_count"), 2u);
  const gguf::TensorInfo *router = f->findTensor("blk.0.ffn_gate_inp.weight");
  ASSERT_NE(router, nullptr);
  EXPECT_EQ(router->format, StorageFormat::F32);
  EXPECT_EQ(router->shape(), (std::vector<int64_t>{4, 64}));
  const gguf::TensorInfo *gate = f->findTensor("blk.1.ffn_gate_exps.weight");
  const gguf::TensorInfo *down = f->findTensor("blk.1.ffn_down_exps.weight");
  ASSERT_NE(gate, nullptr);
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(gate->shape(), (std::vector<int64_t>{4, 256, 64}));
  EXPECT_EQ(down->shape(), (std::vector<int64_t>{4, 64, 256}));
  EXPECT_EQ(gate->format, StorageFormat::Q4_0);
  EXPECT_EQ(f->findTensor("blk.0.ffn_gate.weight"), nullptr);
  // Experts differ from one another (each row has its own stream).
  auto v = dequantizeTensor(*f, *gate);
  const size_t per = 256 * 64;
  EXPECT_FALSE(std::equal(v.begin(), v.begin() + per, v.begin() + per));

  auto desc = importGGUF(path);
  ASSERT_TRUE(static_cast<bool>(desc)) << llvm::toString(desc.takeError());
  EXPECT_EQ(desc->config.numExperts, 4);
  EXPECT_EQ(desc->config.numExpertsUsed, 2);
}

TEST(SynthWrite, DeterministicAcrossThreadCounts) {
  TempDir dir;
  SynthOptions o = tinyOptions("q4_k_m");
  o.threads = 1;
  ASSERT_NO_ERROR(writeSyntheticModel(o, dir.file("a.gguf")));
  o.threads = 3;
  ASSERT_NO_ERROR(writeSyntheticModel(o, dir.file("b.gguf")));
  EXPECT_TRUE(sameFileContents(dir.file("a.gguf"), dir.file("b.gguf")));
  o.seed = 43;
  ASSERT_NO_ERROR(writeSyntheticModel(o, dir.file("c.gguf")));
  EXPECT_FALSE(sameFileContents(dir.file("a.gguf"), dir.file("c.gguf")));
}

TEST(SynthWrite, Overrides) {
  TempDir dir;
  SynthOptions o = tinyOptions("q8_0");
  o.layers = 3;
  o.vocab = 1000;
  o.context = 77;
  ASSERT_NO_ERROR(writeSyntheticModel(o, dir.file("o.gguf")));
  auto f = openOrFail(dir.file("o.gguf"));
  ASSERT_TRUE(f);
  EXPECT_EQ(getUInt(*f, "llama.block_count"), 3u);
  EXPECT_EQ(getUInt(*f, "llama.context_length"), 77u);
  EXPECT_NE(f->findTensor("blk.2.ffn_up.weight"), nullptr);
  EXPECT_EQ(f->findTensor("blk.3.ffn_up.weight"), nullptr);
  const gguf::TensorInfo *out = f->findTensor("output.weight");
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->shape(), (std::vector<int64_t>{1000, 64}));
  auto toks = f->getStringArray("tokenizer.ggml.tokens");
  ASSERT_TRUE(static_cast<bool>(toks));
  EXPECT_EQ(toks->size(), 1000u);
}

TEST(SynthWrite, FailureLeavesNothingBehind) {
  TempDir dir;
  const std::string path = dir.file("missing-dir/model.gguf");
  llvm::Error e = writeSyntheticModel(tinyOptions("q4_0"), path);
  ASSERT_TRUE(static_cast<bool>(e));
  llvm::consumeError(std::move(e));
  EXPECT_FALSE(llvm::sys::fs::exists(path));
  // A bad option fails before anything is created.
  SynthOptions bad = tinyOptions("q4_0");
  bad.vocab = 5;
  e = writeSyntheticModel(bad, dir.file("bad.gguf"));
  ASSERT_TRUE(static_cast<bool>(e));
  llvm::consumeError(std::move(e));
  EXPECT_FALSE(llvm::sys::fs::exists(dir.file("bad.gguf")));
}
