//===- GGUFReaderTest.cpp - GGUFFile on the llama.cpp fixtures --------------===//
//
// The fixtures were written by llama.cpp (see test/fixtures/README.md), so
// these tests check the reader against an independent writer.

#include "GGUFTestUtil.h"

#include "llvm/Support/Endian.h"

#include <cstring>
#include <map>

using namespace milm;
using namespace milm::gguf;
using namespace milm::gguf::test;

namespace {

struct Variant {
  const char *model; // llama-dense, llama-moe, qwen2-dense
  const char *quant; // f32, f16, q8_0, ...
};

const Variant kVariants[] = {
    {"llama-dense", "f32"},  {"llama-dense", "f16"},  {"llama-dense", "q8_0"},
    {"llama-dense", "q4_0"}, {"llama-dense", "q4_k_m"}, {"llama-dense", "q6_k"},
    {"llama-moe", "f16"},    {"llama-moe", "q8_0"},   {"llama-moe", "q4_0"},
    {"llama-moe", "q4_k_m"}, {"llama-moe", "q6_k"},   {"qwen2-dense", "f16"},
    {"qwen2-dense", "q8_0"}, {"qwen2-dense", "q4_0"}, {"qwen2-dense", "q4_k_m"},
    {"qwen2-dense", "q6_k"},
};

std::string path(const Variant &v) {
  return fixture(std::string("gguf/") + v.model + "-" + v.quant + ".gguf");
}

/// The format llama.cpp gives the bulk of the matrices for a variant.
StorageFormat bulkFormat(llvm::StringRef quant) {
  if (quant == "f32") return StorageFormat::F32;
  if (quant == "f16") return StorageFormat::F16;
  if (quant == "q8_0") return StorageFormat::Q8_0;
  if (quant == "q4_0") return StorageFormat::Q4_0;
  if (quant == "q4_k_m") return StorageFormat::Q4_K;
  return StorageFormat::Q6_K;
}

class FixtureTest : public ::testing::TestWithParam<Variant> {};

TEST_P(FixtureTest, ParsesWithConsistentLayout) {
  const Variant &v = GetParam();
  auto f = GGUFFile::open(path(v));
  ASSERT_TRUE(bool(f)) << llvm::toString(f.takeError());
  const GGUFFile &g = **f;
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.alignment(), 32u);
  EXPECT_EQ(g.dataOffset() % 32, 0u);
  EXPECT_GE(g.dataOffset(), g.tensorInfoOffset());
  EXPECT_LT(g.dataOffset() - g.tensorInfoOffset(),
            g.tensors().size() * 200 + 32);

  std::string model = v.model;
  bool moe = model == "llama-moe", qwen = model == "qwen2-dense";
  std::string arch = qwen ? "qwen2" : "llama";
  auto a = g.getString("general.architecture");
  ASSERT_TRUE(bool(a)) << llvm::toString(a.takeError());
  EXPECT_EQ(*a, arch);
  auto name = g.getString("general.name");
  ASSERT_TRUE(bool(name));
  EXPECT_EQ(*name, model);

  // Config values from the fixtures README.
  auto u = [&](const std::string &k) -> uint64_t {
    auto r = g.getUInt(arch + "." + k);
    EXPECT_TRUE(bool(r)) << llvm::toString(r.takeError());
    return r ? *r : ~0ull;
  };
  EXPECT_EQ(u("block_count"), 2u);
  EXPECT_EQ(u("embedding_length"), 256u);
  EXPECT_EQ(u("context_length"), 512u);
  EXPECT_EQ(u("attention.head_count"), 8u);
  EXPECT_EQ(u("attention.head_count_kv"), 2u);
  EXPECT_EQ(u("feed_forward_length"), moe ? 256u : 512u);
  if (moe) {
    EXPECT_EQ(u("expert_count"), 4u);
    EXPECT_EQ(u("expert_used_count"), 2u);
  } else {
    EXPECT_FALSE(g.contains(arch + ".expert_count"));
  }
  auto eps = g.getFloat(arch + ".attention.layer_norm_rms_epsilon");
  ASSERT_TRUE(bool(eps));
  EXPECT_FLOAT_EQ(float(*eps), 1e-5f);
  auto base = g.getFloat(arch + ".rope.freq_base");
  ASSERT_TRUE(bool(base));
  EXPECT_EQ(*base, 10000.0);

  // Tokenizer metadata.
  auto toks = g.getStringArray("tokenizer.ggml.tokens");
  ASSERT_TRUE(bool(toks));
  EXPECT_EQ(toks->size(), 512u);
  EXPECT_EQ((*toks)[0], "<unk>");
  auto scores = g.getFloatArray("tokenizer.ggml.scores");
  ASSERT_TRUE(bool(scores));
  EXPECT_EQ(scores->size(), 512u);
  auto types = g.getIntArray("tokenizer.ggml.token_type");
  ASSERT_TRUE(bool(types));
  EXPECT_EQ(types->size(), 512u);
  auto bos = g.getUInt("tokenizer.ggml.bos_token_id");
  auto eos = g.getUInt("tokenizer.ggml.eos_token_id");
  ASSERT_TRUE(bos && eos);
  EXPECT_EQ(*bos, 1u);
  EXPECT_EQ(*eos, 2u);

  // Tensor table.
  size_t perBlock = moe ? 10 : qwen ? 12 : 9;
  EXPECT_EQ(g.tensors().size(), 3 + 2 * perBlock);
  uint64_t total = 0;
  for (const TensorInfo &t : g.tensors()) {
    EXPECT_EQ(g.findTensor(t.name), &t);
    EXPECT_EQ(t.fileOffset, g.dataOffset() + t.relOffset) << t.name;
    EXPECT_EQ(t.relOffset % 32, 0u) << t.name;
    EXPECT_LE(t.fileOffset + t.nbytes, g.fileSize()) << t.name;
    EXPECT_EQ(g.tensorData(t).size(), t.nbytes);
    EXPECT_EQ(g.tensorData(t).data(),
              reinterpret_cast<const uint8_t *>(g.buffer().getBufferStart()) +
                  t.fileOffset);
    total += t.nbytes;
  }
  EXPECT_LE(total, g.fileSize() - g.dataOffset());

  const TensorInfo *q = g.findTensor("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->ne, (std::vector<uint64_t>{256, 256}));
  EXPECT_EQ(q->format, bulkFormat(v.quant));
  const TensorInfo *k = g.findTensor("blk.1.attn_k.weight");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->ne, (std::vector<uint64_t>{256, 64})); // 2 kv heads x 32
  EXPECT_EQ(k->shape(), (std::vector<int64_t>{64, 256}));
  const TensorInfo *norm = g.findTensor("output_norm.weight");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(norm->format, StorageFormat::F32);
  EXPECT_EQ(norm->ne, (std::vector<uint64_t>{256}));
  EXPECT_EQ(norm->nbytes, 1024u);
  // Norm weights are random in [0.5, 1.5] (README): checks tensorData reads the
  // right bytes.
  llvm::ArrayRef<uint8_t> nd = g.tensorData(*norm);
  for (size_t j = 0; j < 256; ++j) {
    float x;
    uint32_t bits =
        llvm::support::endian::read32le(nd.data() + 4 * j);
    std::memcpy(&x, &bits, 4);
    ASSERT_GE(x, 0.5f) << j;
    ASSERT_LE(x, 1.5f) << j;
  }

  if (moe) {
    const TensorInfo *down = g.findTensor("blk.0.ffn_down_exps.weight");
    ASSERT_NE(down, nullptr);
    EXPECT_EQ(down->ne, (std::vector<uint64_t>{256, 256, 4}));
    EXPECT_EQ(down->shape(), (std::vector<int64_t>{4, 256, 256}));
    const TensorInfo *router = g.findTensor("blk.1.ffn_gate_inp.weight");
    ASSERT_NE(router, nullptr);
    EXPECT_EQ(router->shape(), (std::vector<int64_t>{4, 256}));
    EXPECT_EQ(g.findTensor("blk.0.ffn_gate.weight"), nullptr);
  }
  if (qwen) {
    const TensorInfo *bq = g.findTensor("blk.0.attn_q.bias");
    const TensorInfo *bk = g.findTensor("blk.1.attn_k.bias");
    ASSERT_TRUE(bq && bk);
    EXPECT_EQ(bq->ne, (std::vector<uint64_t>{256}));
    EXPECT_EQ(bk->ne, (std::vector<uint64_t>{64}));
    EXPECT_EQ(bq->format, StorageFormat::F32);
  } else {
    EXPECT_EQ(g.findTensor("blk.0.attn_q.bias"), nullptr);
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllFixtures, FixtureTest, ::testing::ValuesIn(kVariants),
    [](const ::testing::TestParamInfo<Variant> &i) {
      std::string n = std::string(i.param.model) + "_" + i.param.quant;
      for (char &c : n)
        if (c == '-')
          c = '_';
      return n;
    });

TEST(GGUFReader, Q4KMMixesQ4KAndQ6K) {
  for (const char *model : {"llama-dense", "llama-moe", "qwen2-dense"}) {
    auto f = GGUFFile::open(path({model, "q4_k_m"}));
    ASSERT_TRUE(bool(f)) << llvm::toString(f.takeError());
    std::map<StorageFormat, int> count;
    for (const TensorInfo &t : (*f)->tensors())
      count[t.format]++;
    EXPECT_GT(count[StorageFormat::Q4_K], 0) << model;
    EXPECT_GT(count[StorageFormat::Q6_K], 0) << model;
    EXPECT_EQ(count.size(), 3u) << model; // plus F32 norms
    auto fmt = [&](const char *n) {
      const TensorInfo *t = (*f)->findTensor(n);
      EXPECT_NE(t, nullptr) << n;
      return t ? t->format : StorageFormat::BF16;
    };
    EXPECT_EQ(fmt("output.weight"), StorageFormat::Q6_K);
    EXPECT_EQ(fmt("token_embd.weight"), StorageFormat::Q4_K);
    EXPECT_EQ(fmt("blk.0.attn_q.weight"), StorageFormat::Q4_K);
    EXPECT_EQ(fmt("blk.1.attn_v.weight"), StorageFormat::Q6_K);
    EXPECT_EQ(fmt("output_norm.weight"), StorageFormat::F32);
    // Q6_K: 210 bytes per 256 values; output is 512 rows of 256.
    EXPECT_EQ((*f)->findTensor("output.weight")->nbytes, 512u * 210u);
    EXPECT_EQ((*f)->findTensor("token_embd.weight")->nbytes, 512u * 144u);
  }
}

TEST(GGUFReader, MetadataOrderAndOffsets) {
  auto f = GGUFFile::open(path({"llama-moe", "q4_k_m"}));
  ASSERT_TRUE(bool(f)) << llvm::toString(f.takeError());
  std::vector<llvm::StringRef> keys = (*f)->keys();
  ASSERT_GE(keys.size(), 3u);
  EXPECT_EQ(keys[0], "general.architecture");
  EXPECT_EQ(keys[1], "general.name");
  EXPECT_EQ((*f)->metadata()[0].value.offset, 24u); // right after the header
  // general.architecture = "llama": 8 + 20 + 4 + 8 + 5 bytes.
  EXPECT_EQ((*f)->metadata()[1].value.offset, 24u + 45u);
  const Value *v = (*f)->find("llama.expert_count");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->type, ValueType::UINT32);
  EXPECT_EQ(v->u, 4u);
  EXPECT_EQ(v->describe(), "uint32 4");
  EXPECT_EQ((*f)->find("no.such.key"), nullptr);

  // Typed getter errors name file, key and offset.
  std::string file = path({"llama-moe", "q4_k_m"});
  auto s = (*f)->getString("llama.expert_count");
  ASSERT_FALSE(bool(s));
  EXPECT_EQ(llvm::toString(s.takeError()),
            file + ": metadata key 'llama.expert_count' at byte " +
                std::to_string(v->offset) +
                ": has type uint32, expected string");
  auto m = (*f)->getUInt("llama.no_such_key");
  ASSERT_FALSE(bool(m));
  EXPECT_EQ(llvm::toString(m.takeError()),
            file + ": metadata key 'llama.no_such_key' at byte 24: missing");
  auto fa = (*f)->getFloatArray("tokenizer.ggml.tokens");
  ASSERT_FALSE(bool(fa));
  EXPECT_EQ(llvm::toString(fa.takeError()),
            file + ": metadata key 'tokenizer.ggml.tokens' at byte " +
                std::to_string((*f)->find("tokenizer.ggml.tokens")->offset) +
                ": has type array<string>, expected an array of float32 or "
                "float64");
}

TEST(GGUFReader, VocabOnlyLlamaSpm) {
  auto f = GGUFFile::open(fixture("tokenizer/ggml-vocab-llama-spm.gguf"));
  ASSERT_TRUE(bool(f)) << llvm::toString(f.takeError());
  const GGUFFile &g = **f;
  EXPECT_EQ(g.tensors().size(), 0u);
  EXPECT_EQ(*g.getString("tokenizer.ggml.model"), "llama");
  auto toks = g.getStringArray("tokenizer.ggml.tokens");
  ASSERT_TRUE(bool(toks));
  ASSERT_EQ(toks->size(), 32000u);
  EXPECT_EQ((*toks)[0], "<unk>");
  EXPECT_EQ((*toks)[1], "<s>");
  EXPECT_EQ((*toks)[2], "</s>");
  EXPECT_EQ(g.getFloatArray("tokenizer.ggml.scores")->size(), 32000u);
  EXPECT_EQ(*g.getUInt("llama.vocab_size"), 32000u);
  EXPECT_EQ(*g.getBool("tokenizer.ggml.add_bos_token"), true);
  EXPECT_EQ(*g.getBool("tokenizer.ggml.add_eos_token"), false);
  EXPECT_EQ(*g.getUInt("tokenizer.ggml.bos_token_id"), 1u);
}

TEST(GGUFReader, VocabOnlyGpt2) {
  auto f = GGUFFile::open(fixture("tokenizer/ggml-vocab-gpt-2.gguf"));
  ASSERT_TRUE(bool(f)) << llvm::toString(f.takeError());
  const GGUFFile &g = **f;
  EXPECT_EQ(g.tensors().size(), 0u);
  EXPECT_EQ(*g.getString("general.architecture"), "gpt2");
  EXPECT_EQ(*g.getString("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(*g.getString("tokenizer.ggml.pre"), "gpt-2");
  EXPECT_EQ(g.getStringArray("tokenizer.ggml.tokens")->size(), 50257u);
  auto merges = g.getStringArray("tokenizer.ggml.merges");
  ASSERT_TRUE(bool(merges));
  ASSERT_EQ(merges->size(), 50000u);
  EXPECT_EQ((*merges)[0], "\xC4\xA0 t"); // "Ġ t"
  EXPECT_EQ(*g.getUInt("tokenizer.ggml.eos_token_id"), 50256u);
  EXPECT_FALSE(g.contains("tokenizer.ggml.scores"));
}

TEST(GGUFReader, OpenMissingFile) {
  auto f = GGUFFile::open("/nonexistent/dir/model.gguf");
  ASSERT_FALSE(bool(f));
  std::string msg = llvm::toString(f.takeError());
  EXPECT_EQ(msg.rfind("/nonexistent/dir/model.gguf: cannot open: ", 0), 0u)
      << msg;
}

} // namespace
