//===- GGUFTestUtil.h - Helpers shared by the GGUF unit tests ---------------===//
#ifndef MILM_TEST_UNIT_GGUF_GGUFTESTUTIL_H
#define MILM_TEST_UNIT_GGUF_GGUFTESTUTIL_H

#include "frontends/common/ModelDescription.h"
#include "frontends/gguf/GGUF.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace milm {
namespace gguf {
namespace test {

inline std::string fixture(const std::string &rel) {
  return std::string(MILM_FIXTURES_DIR) + "/" + rel;
}

/// Serialises a writer to bytes (fails the test on a writer error).
inline std::vector<uint8_t> writeToBytes(const GGUFWriter &w) {
  llvm::SmallString<0> buf;
  llvm::raw_svector_ostream os(buf);
  llvm::Error e = w.writeTo(os);
  EXPECT_FALSE(bool(e)) << llvm::toString(std::move(e));
  return std::vector<uint8_t>(buf.begin(), buf.end());
}

inline llvm::Expected<std::unique_ptr<GGUFFile>>
parseBytes(const std::vector<uint8_t> &bytes, llvm::StringRef name = "bad.gguf") {
  return GGUFFile::parse(
      llvm::MemoryBuffer::getMemBufferCopy(
          llvm::StringRef(reinterpret_cast<const char *>(bytes.data()),
                          bytes.size()),
          name),
      name);
}

/// The error message of a failed parse, or "<parsed>" when it succeeded.
inline std::string parseError(const std::vector<uint8_t> &bytes,
                              llvm::StringRef name = "bad.gguf") {
  auto f = parseBytes(bytes, name);
  if (f)
    return "<parsed>";
  return llvm::toString(f.takeError());
}

template <typename T> void poke(std::vector<uint8_t> &b, size_t at, T v) {
  ASSERT_LE(at + sizeof(T), b.size());
  for (size_t k = 0; k < sizeof(T); ++k)
    b[at + k] = uint8_t(uint64_t(v) >> (8 * k));
}

/// Options for a tiny synthetic model written with GGUFWriter. Every weight is
/// F32 filled with a deterministic pattern.
struct TinyModel {
  std::string arch = "llama";
  uint32_t layers = 1, hidden = 64, heads = 4, kvHeads = 2, ff = 96, vocab = 32;
  uint32_t experts = 0, expertsUsed = 0;
  bool output = true;        ///< write output.weight (false: tied embeddings)
  bool tokenizer = true;     ///< write a tokenizer with `vocab` tokens
  int64_t keyLength = -1;    ///< write attention.key_length when >= 0

  /// Shape each tensor would have (GGUF ne order); tests may edit the map
  /// through `mutate` before writing.
  struct T {
    std::string name;
    std::vector<uint64_t> ne;
  };
  std::vector<T> tensors() const {
    uint64_t hd = keyLength >= 0 ? uint64_t(keyLength) : hidden / heads;
    uint64_t q = heads * hd, kv = kvHeads * hd;
    std::vector<T> t;
    t.push_back({"token_embd.weight", {hidden, vocab}});
    t.push_back({"output_norm.weight", {hidden}});
    if (output)
      t.push_back({"output.weight", {hidden, vocab}});
    for (uint32_t l = 0; l < layers; ++l) {
      std::string b = "blk." + std::to_string(l) + ".";
      t.push_back({b + "attn_norm.weight", {hidden}});
      t.push_back({b + "attn_q.weight", {hidden, q}});
      t.push_back({b + "attn_k.weight", {hidden, kv}});
      t.push_back({b + "attn_v.weight", {hidden, kv}});
      t.push_back({b + "attn_output.weight", {q, hidden}});
      if (arch == "qwen2") {
        t.push_back({b + "attn_q.bias", {q}});
        t.push_back({b + "attn_k.bias", {kv}});
        t.push_back({b + "attn_v.bias", {kv}});
      }
      t.push_back({b + "ffn_norm.weight", {hidden}});
      if (experts) {
        t.push_back({b + "ffn_gate_inp.weight", {hidden, experts}});
        t.push_back({b + "ffn_gate_exps.weight", {hidden, ff, experts}});
        t.push_back({b + "ffn_up_exps.weight", {hidden, ff, experts}});
        t.push_back({b + "ffn_down_exps.weight", {ff, hidden, experts}});
      } else {
        t.push_back({b + "ffn_gate.weight", {hidden, ff}});
        t.push_back({b + "ffn_up.weight", {hidden, ff}});
        t.push_back({b + "ffn_down.weight", {ff, hidden}});
      }
    }
    return t;
  }

  void addMetadata(GGUFWriter &w) const {
    w.setString("general.architecture", arch);
    w.setString("general.name", "tiny-" + arch);
    std::string a = arch + ".";
    w.setUInt32(a + "context_length", 128);
    w.setUInt32(a + "embedding_length", hidden);
    w.setUInt32(a + "block_count", layers);
    w.setUInt32(a + "feed_forward_length", ff);
    w.setUInt32(a + "attention.head_count", heads);
    w.setUInt32(a + "attention.head_count_kv", kvHeads);
    w.setFloat32(a + "attention.layer_norm_rms_epsilon", 1e-6f);
    w.setFloat32(a + "rope.freq_base", 500000.0f);
    if (keyLength >= 0)
      w.setUInt32(a + "attention.key_length", uint32_t(keyLength));
    if (experts) {
      w.setUInt32(a + "expert_count", experts);
      w.setUInt32(a + "expert_used_count", expertsUsed);
    }
    if (tokenizer) {
      std::vector<std::string> toks;
      std::vector<float> scores;
      std::vector<int32_t> types;
      for (uint32_t k = 0; k < vocab; ++k) {
        toks.push_back("tok" + std::to_string(k));
        scores.push_back(-float(k));
        types.push_back(k < 3 ? 3 : 1);
      }
      w.setString("tokenizer.ggml.model", "gpt2");
      w.setString("tokenizer.ggml.pre", "default");
      w.setStringArray("tokenizer.ggml.tokens", toks);
      w.setFloatArray("tokenizer.ggml.scores", scores);
      w.setIntArray("tokenizer.ggml.token_type", types);
      w.setStringArray("tokenizer.ggml.merges", {"t o", "to k"});
      w.setUInt32("tokenizer.ggml.bos_token_id", 1);
      w.setUInt32("tokenizer.ggml.eos_token_id", 2);
      w.setUInt32("tokenizer.ggml.padding_token_id", 0);
      w.setBool("tokenizer.ggml.add_bos_token", true);
      w.setBool("tokenizer.ggml.add_eos_token", false);
    }
  }

  static void addF32(GGUFWriter &w, const T &t) {
    uint64_t n = 1;
    for (uint64_t d : t.ne)
      n *= d;
    std::vector<uint8_t> bytes(n * 4);
    for (uint64_t k = 0; k < n; ++k) {
      float v = float(k % 17) * 0.125f - 1.0f;
      std::memcpy(&bytes[k * 4], &v, 4);
    }
    w.addTensor(t.name, t.ne, StorageFormat::F32, bytes);
  }

  /// Metadata plus the given tensors.
  void fill(GGUFWriter &w, const std::vector<T> &ts) const {
    addMetadata(w);
    for (const T &t : ts)
      addF32(w, t);
  }
  std::vector<uint8_t> bytes() const {
    GGUFWriter w;
    fill(w, tensors());
    return writeToBytes(w);
  }
};

} // namespace test
} // namespace gguf
} // namespace milm

#endif
