//===- CheckpointTestUtil.h - Small HF checkpoints for the tests ----------===//
#ifndef MILM_TEST_UNIT_SAFETENSORS_CHECKPOINTTESTUTIL_H
#define MILM_TEST_UNIT_SAFETENSORS_CHECKPOINTTESTUTIL_H

#include "frontends/safetensors/SafetensorsFile.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace milm::test {

/// A fresh directory, removed with everything in it at the end of the test.
class TempDir {
public:
  TempDir() {
    llvm::SmallString<128> p;
    std::error_code ec = llvm::sys::fs::createUniqueDirectory("milm-st-test", p);
    EXPECT_FALSE(ec) << ec.message();
    path_ = std::string(p);
  }
  ~TempDir() { llvm::sys::fs::remove_directories(path_); }
  const std::string &path() const { return path_; }
  std::string file(llvm::StringRef name) const {
    llvm::SmallString<128> p(path_);
    llvm::sys::path::append(p, name);
    return std::string(p);
  }

private:
  std::string path_;
};

/// A tensor with owned, deterministic pseudo-random bytes.
struct OwnedTensor {
  std::string name;
  StorageFormat format = StorageFormat::F32;
  std::vector<int64_t> shape;
  std::string bytes;
};

inline size_t elementSize(StorageFormat f) { return f == StorageFormat::F32 ? 4 : 2; }

inline OwnedTensor makeTensor(std::string name, std::vector<int64_t> shape,
                              StorageFormat format = StorageFormat::F32) {
  OwnedTensor t;
  t.name = std::move(name);
  t.format = format;
  t.shape = std::move(shape);
  size_t n = elementSize(format);
  for (int64_t d : t.shape)
    n *= static_cast<size_t>(d);
  std::mt19937 rng(static_cast<uint32_t>(std::hash<std::string>()(t.name)));
  t.bytes.resize(n);
  for (char &c : t.bytes)
    c = static_cast<char>(rng());
  return t;
}

inline llvm::Error writeTensors(const std::string &path, const std::vector<OwnedTensor> &ts,
                                const std::map<std::string, std::string> &meta = {}) {
  std::vector<SafetensorsWriteTensor> w;
  for (const OwnedTensor &t : ts)
    w.push_back({t.name, t.format, t.shape, t.bytes});
  return writeSafetensors(path, w, meta);
}

inline void writeText(const std::string &path, const std::string &text) {
  llvm::Error e = writeFileAtomically(path, text);
  ASSERT_FALSE(e) << llvm::toString(std::move(e));
}

inline std::string readBytes(const std::string &path, uint64_t offset, uint64_t n) {
  auto buf = llvm::MemoryBuffer::getFile(path, false, false);
  if (!buf)
    return "<cannot open " + path + ">";
  return (*buf)->getBuffer().substr(offset, n).str();
}

/// u64 length + header + data, for hand-made (often malformed) files.
inline std::string rawSafetensors(const std::string &header, const std::string &data = "",
                                  std::optional<uint64_t> claimedLength = std::nullopt) {
  uint64_t n = claimedLength.value_or(header.size());
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i)
    s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s + header + data;
}

/// HF tensors of a LLaMA-style model (names written out, not via HFModel).
struct HFShape {
  int64_t vocab = 48, hidden = 32, heads = 4, kvHeads = 2, headDim = 8, ff = 40, layers = 2;
  int64_t experts = 0;
  bool bias = false, tied = false;
  StorageFormat format = StorageFormat::F32;
};

inline std::vector<OwnedTensor> hfTensors(const HFShape &s) {
  std::vector<OwnedTensor> ts;
  const int64_t H = s.hidden, Q = s.heads * s.headDim, KV = s.kvHeads * s.headDim;
  ts.push_back(makeTensor("model.embed_tokens.weight", {s.vocab, H}, s.format));
  for (int64_t l = 0; l < s.layers; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    ts.push_back(makeTensor(p + "input_layernorm.weight", {H}, s.format));
    ts.push_back(makeTensor(p + "self_attn.q_proj.weight", {Q, H}, s.format));
    ts.push_back(makeTensor(p + "self_attn.k_proj.weight", {KV, H}, s.format));
    ts.push_back(makeTensor(p + "self_attn.v_proj.weight", {KV, H}, s.format));
    if (s.bias) {
      ts.push_back(makeTensor(p + "self_attn.q_proj.bias", {Q}, s.format));
      ts.push_back(makeTensor(p + "self_attn.k_proj.bias", {KV}, s.format));
      ts.push_back(makeTensor(p + "self_attn.v_proj.bias", {KV}, s.format));
    }
    ts.push_back(makeTensor(p + "self_attn.o_proj.weight", {H, Q}, s.format));
    ts.push_back(makeTensor(p + "post_attention_layernorm.weight", {H}, s.format));
    if (s.experts == 0) {
      ts.push_back(makeTensor(p + "mlp.gate_proj.weight", {s.ff, H}, s.format));
      ts.push_back(makeTensor(p + "mlp.up_proj.weight", {s.ff, H}, s.format));
      ts.push_back(makeTensor(p + "mlp.down_proj.weight", {H, s.ff}, s.format));
    } else {
      ts.push_back(makeTensor(p + "block_sparse_moe.gate.weight", {s.experts, H}, s.format));
      for (int64_t e = 0; e < s.experts; ++e) {
        std::string x = p + "block_sparse_moe.experts." + std::to_string(e) + ".";
        ts.push_back(makeTensor(x + "w1.weight", {s.ff, H}, s.format));
        ts.push_back(makeTensor(x + "w2.weight", {H, s.ff}, s.format));
        ts.push_back(makeTensor(x + "w3.weight", {s.ff, H}, s.format));
      }
    }
  }
  ts.push_back(makeTensor("model.norm.weight", {H}, s.format));
  if (!s.tied)
    ts.push_back(makeTensor("lm_head.weight", {s.vocab, H}, s.format));
  return ts;
}

} // namespace milm::test

#endif
