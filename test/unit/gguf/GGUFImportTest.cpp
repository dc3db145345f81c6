//===- GGUFImportTest.cpp - importGGUF on fixtures and synthetic models -----===//

#include "GGUFTestUtil.h"

#include "frontends/gguf/GGUFImport.h"

#include "llvm/Support/FileSystem.h"

#include <cmath>

using namespace milm;
using namespace milm::gguf;
using namespace milm::gguf::test;

namespace {

std::string fixtureModel(const std::string &name) {
  return fixture("gguf/" + name + ".gguf");
}

ModelDescription mustImport(const std::string &path) {
  auto d = importGGUF(path);
  EXPECT_TRUE(bool(d)) << llvm::toString(d.takeError());
  return d ? std::move(*d) : ModelDescription();
}

void expectCommonFixtureConfig(const ModelConfig &c) {
  EXPECT_EQ(c.vocabSize, 512);
  EXPECT_EQ(c.contextLength, 512);
  EXPECT_EQ(c.hiddenSize, 256);
  EXPECT_EQ(c.numLayers, 2);
  EXPECT_EQ(c.numHeads, 8);
  EXPECT_EQ(c.numKVHeads, 2);
  EXPECT_EQ(c.headDim, 32);
  EXPECT_EQ(c.rotaryDim, 32);
  EXPECT_FLOAT_EQ(float(c.rmsEps), 1e-5f);
  EXPECT_EQ(c.ropeBase, 10000.0);
  EXPECT_EQ(c.ropeScaling, RopeScaling::None);
  EXPECT_FALSE(c.tiedEmbeddings);
}

TEST(GGUFImport, LlamaDense) {
  std::string p = fixtureModel("llama-dense-q4_k_m");
  ModelDescription d = mustImport(p);
  EXPECT_EQ(d.sourcePath, p);
  EXPECT_EQ(d.sourceKind, "gguf");
  const ModelConfig &c = d.config;
  EXPECT_EQ(c.arch, "llama");
  EXPECT_EQ(c.name, "llama-dense");
  expectCommonFixtureConfig(c);
  EXPECT_EQ(c.ffnSize, 512);
  EXPECT_EQ(c.numExperts, 0);
  EXPECT_EQ(c.numExpertsUsed, 0);
  EXPECT_EQ(c.ropePairing, RopePairing::Norm);
  EXPECT_FALSE(c.qkvBias);

  ASSERT_EQ(d.tensors.size(), 21u);
  auto f = GGUFFile::open(p);
  ASSERT_TRUE(bool(f));
  for (size_t k = 0; k < d.tensors.size(); ++k) {
    const TensorRef &r = d.tensors[k];
    const TensorInfo &t = (*f)->tensors()[k]; // source order is kept
    EXPECT_EQ(r.name, t.name);
    EXPECT_EQ(r.file, p);
    EXPECT_EQ(r.offset, t.fileOffset);
    EXPECT_EQ(r.nbytes, t.nbytes);
    EXPECT_EQ(r.format, t.format);
    EXPECT_TRUE(r.sourceName.empty());
  }
  const TensorRef *o = d.findTensor("blk.0.attn_output.weight");
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->shape, (std::vector<int64_t>{256, 256}));
  const TensorRef *down = d.findTensor("blk.1.ffn_down.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->shape, (std::vector<int64_t>{256, 512}));
  EXPECT_EQ(down->format, StorageFormat::Q6_K);
  const TensorRef *gate = d.findTensor("blk.1.ffn_gate.weight");
  ASSERT_NE(gate, nullptr);
  EXPECT_EQ(gate->shape, (std::vector<int64_t>{512, 256}));
  EXPECT_EQ(gate->format, StorageFormat::Q4_K);
  const TensorRef *emb = d.findTensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->shape, (std::vector<int64_t>{512, 256}));

  ASSERT_TRUE(d.tokenizer.has_value());
  const TokenizerData &t = *d.tokenizer;
  EXPECT_EQ(t.model, "llama");
  EXPECT_EQ(t.tokens.size(), 512u);
  EXPECT_EQ(t.tokens[0], "<unk>");
  EXPECT_EQ(t.scores.size(), 512u);
  EXPECT_EQ(t.types.size(), 512u);
  EXPECT_TRUE(t.merges.empty());
  EXPECT_EQ(t.bos, 1);
  EXPECT_EQ(t.eos, 2);
  EXPECT_EQ(t.unk, 0);
  EXPECT_FALSE(t.pad.has_value());
}

TEST(GGUFImport, LlamaMoE) {
  ModelDescription d = mustImport(fixtureModel("llama-moe-q4_k_m"));
  const ModelConfig &c = d.config;
  EXPECT_EQ(c.arch, "llama");
  expectCommonFixtureConfig(c);
  EXPECT_EQ(c.numExperts, 4);
  EXPECT_EQ(c.numExpertsUsed, 2);
  EXPECT_EQ(c.ffnSize, 256);
  EXPECT_EQ(c.ropePairing, RopePairing::Norm);
  EXPECT_EQ(d.tensors.size(), 23u);
  const TensorRef *r = d.findTensor("blk.1.ffn_gate_inp.weight");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->shape, (std::vector<int64_t>{4, 256}));
  const TensorRef *g = d.findTensor("blk.0.ffn_gate_exps.weight");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->shape, (std::vector<int64_t>{4, 256, 256}));
  const TensorRef *dn = d.findTensor("blk.1.ffn_down_exps.weight");
  ASSERT_NE(dn, nullptr);
  EXPECT_EQ(dn->format, StorageFormat::Q6_K);
  EXPECT_EQ(dn->nbytes, 4u * 256u * 210u);
  EXPECT_EQ(d.findTensor("blk.0.ffn_gate.weight"), nullptr);
}

TEST(GGUFImport, Qwen2Dense) {
  ModelDescription d = mustImport(fixtureModel("qwen2-dense-q4_k_m"));
  const ModelConfig &c = d.config;
  EXPECT_EQ(c.arch, "qwen2");
  expectCommonFixtureConfig(c);
  EXPECT_EQ(c.ffnSize, 512);
  EXPECT_EQ(c.ropePairing, RopePairing::Neox);
  EXPECT_TRUE(c.qkvBias);
  EXPECT_EQ(d.tensors.size(), 27u);
  const TensorRef *bq = d.findTensor("blk.0.attn_q.bias");
  const TensorRef *bv = d.findTensor("blk.1.attn_v.bias");
  ASSERT_TRUE(bq && bv);
  EXPECT_EQ(bq->shape, (std::vector<int64_t>{256}));
  EXPECT_EQ(bv->shape, (std::vector<int64_t>{64}));
  EXPECT_EQ(bq->format, StorageFormat::F32);
}

TEST(GGUFImport, EveryFixtureVariantImports) {
  std::error_code ec;
  int n = 0;
  for (llvm::sys::fs::directory_iterator it(fixture("gguf"), ec), end;
       it != end && !ec; it.increment(ec)) {
    llvm::StringRef p = it->path();
    if (!p.ends_with(".gguf"))
      continue;
    ++n;
    auto d = importGGUF(p);
    ASSERT_TRUE(bool(d)) << llvm::toString(d.takeError());
    EXPECT_EQ(d->config.numLayers, 2) << p.str();
    EXPECT_EQ(d->config.headDim, 32) << p.str();
    EXPECT_EQ(d->config.vocabSize, 512) << p.str();
    EXPECT_EQ(d->config.numExperts, p.contains("moe") ? 4 : 0) << p.str();
    EXPECT_EQ(d->config.qkvBias, p.contains("qwen2")) << p.str();
  }
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(n, 16);
}

TEST(GGUFImport, VocabOnlyFilesAreRejectedClearly) {
  std::string spm = fixture("tokenizer/ggml-vocab-llama-spm.gguf");
  auto d = importGGUF(spm);
  ASSERT_FALSE(bool(d));
  EXPECT_EQ(llvm::toString(d.takeError()),
            spm + ": header at byte 8: the file has no tensors (a vocab-only "
                  "GGUF?); a model needs its weights");
  std::string gpt2 = fixture("tokenizer/ggml-vocab-gpt-2.gguf");
  auto d2 = importGGUF(gpt2);
  ASSERT_FALSE(bool(d2));
  EXPECT_EQ(llvm::toString(d2.takeError()),
            gpt2 + ": metadata key 'general.architecture' at byte 24: unknown "
                   "architecture 'gpt2' (supported: llama, qwen2, deci)");

  // Their tokenizers import on their own.
  auto f = GGUFFile::open(spm);
  ASSERT_TRUE(bool(f));
  auto t = importTokenizer(**f);
  ASSERT_TRUE(bool(t)) << llvm::toString(t.takeError());
  ASSERT_TRUE(t->has_value());
  EXPECT_EQ((*t)->model, "llama");
  EXPECT_EQ((*t)->pre, "default");
  EXPECT_EQ((*t)->tokens.size(), 32000u);
  EXPECT_EQ((*t)->scores.size(), 32000u);
  EXPECT_EQ((*t)->addBos, true);
  EXPECT_EQ((*t)->addEos, false);
  auto g = GGUFFile::open(gpt2);
  ASSERT_TRUE(bool(g));
  auto t2 = importTokenizer(**g);
  ASSERT_TRUE(bool(t2)) << llvm::toString(t2.takeError());
  ASSERT_TRUE(t2->has_value());
  EXPECT_EQ((*t2)->model, "gpt2");
  EXPECT_EQ((*t2)->merges.size(), 50000u);
  EXPECT_TRUE((*t2)->scores.empty());
  EXPECT_EQ((*t2)->bos, 50256);
  EXPECT_FALSE((*t2)->addBos.has_value());
}

// ---- synthetic models ------------------------------------------------------

struct Imported {
  std::unique_ptr<GGUFFile> file;
  llvm::Expected<ModelDescription> desc = ModelDescription();
};

Imported importBytes(const std::vector<uint8_t> &bytes) {
  Imported r;
  auto f = parseBytes(bytes, "tiny.gguf");
  if (!f) {
    r.desc = f.takeError();
    return r;
  }
  r.file = std::move(*f);
  r.desc = importGGUF(*r.file, "tiny.gguf");
  return r;
}

std::string importError(const std::vector<uint8_t> &bytes) {
  Imported r = importBytes(bytes);
  if (r.desc)
    return "<imported>";
  return llvm::toString(r.desc.takeError());
}

std::vector<uint8_t> build(const TinyModel &m,
                           const std::function<void(GGUFWriter &)> &edit = {},
                           std::vector<TinyModel::T> tensors = {}) {
  GGUFWriter w;
  m.fill(w, tensors.empty() ? m.tensors() : tensors);
  if (edit)
    edit(w);
  return writeToBytes(w);
}

/// Offset of a key or tensor in a file built by build().
uint64_t keyOffset(const std::vector<uint8_t> &b, llvm::StringRef key) {
  auto f = parseBytes(b);
  EXPECT_TRUE(bool(f));
  const Value *v = f ? (*f)->find(key) : nullptr;
  EXPECT_NE(v, nullptr) << key.str();
  return v ? v->offset : 0;
}
uint64_t tensorOffset(const std::vector<uint8_t> &b, llvm::StringRef name) {
  auto f = parseBytes(b);
  EXPECT_TRUE(bool(f));
  const TensorInfo *t = f ? (*f)->findTensor(name) : nullptr;
  return t ? t->infoOffset : (f ? (*f)->tensorInfoOffset() : 0);
}
std::string at(uint64_t off) { return " at byte " + std::to_string(off) + ": "; }

TEST(GGUFImportSynthetic, DenseLlamaAndTiedEmbeddings) {
  TinyModel m;
  Imported r = importBytes(m.bytes());
  ASSERT_TRUE(bool(r.desc)) << llvm::toString(r.desc.takeError());
  const ModelConfig &c = r.desc->config;
  EXPECT_EQ(c.hiddenSize, 64);
  EXPECT_EQ(c.headDim, 16);
  EXPECT_EQ(c.rotaryDim, 16);
  EXPECT_EQ(c.ffnSize, 96);
  EXPECT_EQ(c.vocabSize, 32);
  EXPECT_EQ(c.contextLength, 128);
  EXPECT_EQ(c.ropeBase, 500000.0);
  EXPECT_FLOAT_EQ(float(c.rmsEps), 1e-6f);
  EXPECT_FALSE(c.tiedEmbeddings);
  ASSERT_TRUE(r.desc->tokenizer.has_value());
  EXPECT_EQ(r.desc->tokenizer->model, "gpt2");
  EXPECT_EQ(r.desc->tokenizer->merges, (std::vector<std::string>{"t o", "to k"}));
  EXPECT_EQ(r.desc->tokenizer->pad, 0);
  EXPECT_EQ(r.desc->tokenizer->addBos, true);
  EXPECT_EQ(r.desc->tokenizer->addEos, false);
  EXPECT_EQ(r.desc->tokenizer->types[0], 3);
  EXPECT_EQ(r.desc->tokenizer->scores[5], -5.0f);

  m.output = false;
  Imported tied = importBytes(m.bytes());
  ASSERT_TRUE(bool(tied.desc)) << llvm::toString(tied.desc.takeError());
  EXPECT_TRUE(tied.desc->config.tiedEmbeddings);
  EXPECT_EQ(tied.desc->findTensor("output.weight"), nullptr);

  // Without a tokenizer the vocabulary comes from the embedding.
  m.tokenizer = false;
  m.vocab = 40;
  Imported notok = importBytes(m.bytes());
  ASSERT_TRUE(bool(notok.desc)) << llvm::toString(notok.desc.takeError());
  EXPECT_EQ(notok.desc->config.vocabSize, 40);
  EXPECT_FALSE(notok.desc->tokenizer.has_value());
}

TEST(GGUFImportSynthetic, KeyLengthSetsHeadDim) {
  TinyModel m;
  m.keyLength = 32; // 4 heads x 32 = 128 != hidden 64
  Imported r = importBytes(m.bytes());
  ASSERT_TRUE(bool(r.desc)) << llvm::toString(r.desc.takeError());
  EXPECT_EQ(r.desc->config.headDim, 32);
  EXPECT_EQ(r.desc->findTensor("blk.0.attn_q.weight")->shape,
            (std::vector<int64_t>{128, 64}));
  EXPECT_EQ(r.desc->findTensor("blk.0.attn_output.weight")->shape,
            (std::vector<int64_t>{64, 128}));
}

TEST(GGUFImportSynthetic, MoEAndQwen2) {
  TinyModel m;
  m.experts = 4;
  m.expertsUsed = 2;
  m.layers = 2;
  Imported r = importBytes(m.bytes());
  ASSERT_TRUE(bool(r.desc)) << llvm::toString(r.desc.takeError());
  EXPECT_EQ(r.desc->config.numExperts, 4);
  EXPECT_EQ(r.desc->findTensor("blk.1.ffn_down_exps.weight")->shape,
            (std::vector<int64_t>{4, 64, 96}));

  TinyModel q;
  q.arch = "qwen2";
  Imported rq = importBytes(q.bytes());
  ASSERT_TRUE(bool(rq.desc)) << llvm::toString(rq.desc.takeError());
  EXPECT_TRUE(rq.desc->config.qkvBias);
  EXPECT_EQ(rq.desc->config.ropePairing, RopePairing::Neox);
  EXPECT_EQ(rq.desc->findTensor("blk.0.attn_k.bias")->shape,
            (std::vector<int64_t>{32}));
}

TEST(GGUFImportSynthetic, RopeScaling) {
  TinyModel m;
  auto b = build(m, [](GGUFWriter &w) {
    w.setString("llama.rope.scaling.type", "yarn");
    w.setFloat32("llama.rope.scaling.factor", 4.0f);
    w.setUInt32("llama.rope.scaling.original_context_length", 32);
    w.setUInt32("llama.rope.dimension_count", 8);
  });
  Imported r = importBytes(b);
  ASSERT_TRUE(bool(r.desc)) << llvm::toString(r.desc.takeError());
  EXPECT_EQ(r.desc->config.ropeScaling, RopeScaling::YaRN);
  EXPECT_EQ(r.desc->config.ropeScalingFactor, 4.0);
  EXPECT_EQ(r.desc->config.ropeOrigContext, 32);
  EXPECT_EQ(r.desc->config.rotaryDim, 8);

  auto bad = build(m, [](GGUFWriter &w) {
    w.setString("llama.rope.scaling.type", "longrope");
  });
  EXPECT_EQ(importError(bad), "tiny.gguf: metadata key 'llama.rope.scaling.type'" +
                                  at(keyOffset(bad, "llama.rope.scaling.type")) +
                                  "unsupported rope scaling type 'longrope' "
                                  "(supported: none, linear, yarn)");
  auto odd = build(m, [](GGUFWriter &w) {
    w.setUInt32("llama.rope.dimension_count", 17);
  });
  EXPECT_EQ(importError(odd), "tiny.gguf: metadata key 'llama.rope.dimension_count'" +
                                  at(keyOffset(odd, "llama.rope.dimension_count")) +
                                  "rotary dimension 17 must be even and at most "
                                  "the head dimension 16");
}

TEST(GGUFImportSynthetic, ImportFromPath) {
  llvm::SmallString<128> dir;
  ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("gguf-import-test", dir));
  std::string p = std::string(dir) + "/tiny.gguf";
  GGUFWriter w;
  TinyModel m;
  m.fill(w, m.tensors());
  llvm::Error e = w.write(p);
  ASSERT_FALSE(bool(e)) << llvm::toString(std::move(e));
  auto d = importGGUF(p);
  ASSERT_TRUE(bool(d)) << llvm::toString(d.takeError());
  EXPECT_EQ(d->sourcePath, p);
  EXPECT_EQ(d->tensors[0].file, p);
  llvm::sys::fs::remove(p);
  llvm::sys::fs::remove(dir);
}

TEST(GGUFImportSynthetic, MissingAndSurplusTensors) {
  TinyModel m;
  auto ts = m.tensors();
  ts.erase(std::find_if(ts.begin(), ts.end(), [](const TinyModel::T &t) {
    return t.name == "blk.0.ffn_up.weight";
  }));
  auto b = build(m, {}, ts);
  uint64_t infos = tensorOffset(b, "no-such-tensor");
  EXPECT_EQ(importError(b), "tiny.gguf: tensor 'blk.0.ffn_up.weight'" + at(infos) +
                                "missing (required by a llama model (dense, "
                                "block_count 1))");

  ts = m.tensors();
  ts.push_back({"blk.0.attn_q.bias", {64}});
  b = build(m, {}, ts);
  EXPECT_EQ(importError(b), "tiny.gguf: tensor 'blk.0.attn_q.bias'" +
                                at(tensorOffset(b, "blk.0.attn_q.bias")) +
                                "unexpected tensor: not part of a llama model "
                                "(dense, block_count 1)");

  ts = m.tensors();
  ts.insert(ts.begin() + 1, {"rope_freqs.weight", {8}});
  b = build(m, {}, ts);
  EXPECT_EQ(importError(b), "tiny.gguf: tensor 'rope_freqs.weight'" +
                                at(tensorOffset(b, "rope_freqs.weight")) +
                                "rope frequency factors (llama 3.1 rope "
                                "scaling) are not supported");

  ts = m.tensors();
  ts.push_back({"blk.1.attn_norm.weight", {64}}); // beyond block_count
  b = build(m, {}, ts);
  EXPECT_EQ(importError(b), "tiny.gguf: tensor 'blk.1.attn_norm.weight'" +
                                at(tensorOffset(b, "blk.1.attn_norm.weight")) +
                                "unexpected tensor: not part of a llama model "
                                "(dense, block_count 1)");

  // A dense FFN tensor in an MoE model.
  TinyModel moe;
  moe.experts = 4;
  moe.expertsUsed = 2;
  ts = moe.tensors();
  ts.push_back({"blk.0.ffn_up.weight", {64, 96}});
  b = build(moe, {}, ts);
  EXPECT_EQ(importError(b), "tiny.gguf: tensor 'blk.0.ffn_up.weight'" +
                                at(tensorOffset(b, "blk.0.ffn_up.weight")) +
                                "unexpected tensor: not part of a llama model "
                                "(expert_count 4, block_count 1)");

  // qwen2 needs its biases.
  TinyModel q;
  q.arch = "qwen2";
  ts = q.tensors();
  ts.erase(std::find_if(ts.begin(), ts.end(), [](const TinyModel::T &t) {
    return t.name == "blk.0.attn_v.bias";
  }));
  b = build(q, {}, ts);
  EXPECT_EQ(importError(b), "tiny.gguf: tensor 'blk.0.attn_v.bias'" +
                                at(tensorOffset(b, "x")) +
                                "missing (required by a qwen2 model (dense, "
                                "block_count 1))");
}

TEST(GGUFImportSynthetic, ShapesThatContradictTheConfig) {
  TinyModel m;
  auto withShape = [&](const TinyModel &model, const std::string &name,
                       std::vector<uint64_t> ne) {
    auto ts = model.tensors();
    for (auto &t : ts)
      if (t.name == name)
        t.ne = ne;
    return build(model, {}, ts);
  };
  auto b = withShape(m, "blk.0.attn_k.weight", {64, 64});
  EXPECT_EQ(importError(b), "tiny.gguf: tensor 'blk.0.attn_k.weight'" +
                                at(tensorOffset(b, "blk.0.attn_k.weight")) +
                                "shape [64, 64] contradicts the config: expected "
                                "[32, 64] = [n_head_kv*head_dim, n_embd]");
  b = withShape(m, "blk.0.ffn_down.weight", {64, 96}); // transposed
  EXPECT_EQ(importError(b), "tiny.gguf: tensor 'blk.0.ffn_down.weight'" +
                                at(tensorOffset(b, "blk.0.ffn_down.weight")) +
                                "shape [96, 64] contradicts the config: expected "
                                "[64, 96] = [n_embd, n_ff]");
  b = withShape(m, "output_norm.weight", {64, 1});
  EXPECT_EQ(importError(b), "tiny.gguf: tensor 'output_norm.weight'" +
                                at(tensorOffset(b, "output_norm.weight")) +
                                "shape [1, 64] contradicts the config: expected "
                                "[64] = [n_embd]");
  b = withShape(m, "token_embd.weight", {64, 33}); // tokenizer says 32
  EXPECT_EQ(importError(b), "tiny.gguf: tensor 'token_embd.weight'" +
                                at(tensorOffset(b, "token_embd.weight")) +
                                "shape [33, 64] contradicts the config: expected "
                                "[32, 64] = [vocab, n_embd]");
  TinyModel moe;
  moe.experts = 4;
  moe.expertsUsed = 1;
  b = withShape(moe, "blk.0.ffn_gate_exps.weight", {64, 96, 3});
  EXPECT_EQ(importError(b), "tiny.gguf: tensor 'blk.0.ffn_gate_exps.weight'" +
                                at(tensorOffset(b, "blk.0.ffn_gate_exps.weight")) +
                                "shape [3, 96, 64] contradicts the config: "
                                "expected [4, 96, 64] = [n_expert, n_ff, n_embd]");
  b = withShape(moe, "blk.0.ffn_gate_inp.weight", {64, 5});
  EXPECT_EQ(importError(b), "tiny.gguf: tensor 'blk.0.ffn_gate_inp.weight'" +
                                at(tensorOffset(b, "blk.0.ffn_gate_inp.weight")) +
                                "shape [5, 64] contradicts the config: expected "
                                "[4, 64] = [n_expert, n_embd]");
  TinyModel q;
  q.arch = "qwen2";
  b = withShape(q, "blk.0.attn_q.bias", {32});
  EXPECT_EQ(importError(b), "tiny.gguf: tensor 'blk.0.attn_q.bias'" +
                                at(tensorOffset(b, "blk.0.attn_q.bias")) +
                                "shape [32] contradicts the config: expected "
                                "[64] = [n_head*head_dim]");
}

TEST(GGUFImportSynthetic, BadConfig) {
  TinyModel m;
  auto b = build(m, [](GGUFWriter &w) { w.setString("general.architecture", "mamba"); });
  EXPECT_EQ(importError(b), "tiny.gguf: metadata key 'general.architecture' at "
                            "byte 24: unknown architecture 'mamba' (supported: "
                            "llama, qwen2, deci)");
  // File content quoted in a message is escaped: the error stays one line.
  b = build(m, [](GGUFWriter &w) { w.setString("general.architecture", "lla'ma\n"); });
  EXPECT_EQ(importError(b), "tiny.gguf: metadata key 'general.architecture' at "
                            "byte 24: unknown architecture 'lla\\x27ma\\x0a' "
                            "(supported: llama, qwen2, deci)");
  b = build(m, [](GGUFWriter &w) { w.remove("general.architecture"); });
  EXPECT_EQ(importError(b), "tiny.gguf: metadata key 'general.architecture' at "
                            "byte 24: missing");
  b = build(m, [](GGUFWriter &w) { w.remove("llama.block_count"); });
  EXPECT_EQ(importError(b), "tiny.gguf: metadata key 'llama.block_count' at byte "
                            "24: missing");
  b = build(m, [](GGUFWriter &w) { w.setString("llama.embedding_length", "64"); });
  EXPECT_EQ(importError(b), "tiny.gguf: metadata key 'llama.embedding_length'" +
                                at(keyOffset(b, "llama.embedding_length")) +
                                "has type string, expected an integer");
  b = build(m, [](GGUFWriter &w) { w.setInt32("llama.attention.head_count", -4); });
  EXPECT_EQ(importError(b), "tiny.gguf: metadata key 'llama.attention.head_count'" +
                                at(keyOffset(b, "llama.attention.head_count")) +
                                "value -4 is out of range (1 to 2147483647)");
  b = build(m, [](GGUFWriter &w) { w.setUInt32("llama.block_count", 1000); });
  EXPECT_EQ(importError(b), "tiny.gguf: metadata key 'llama.block_count'" +
                                at(keyOffset(b, "llama.block_count")) +
                                "block count 1000 needs at least 9000 tensors, "
                                "the file has 12");
  b = build(m, [](GGUFWriter &w) { w.setFloat32("llama.attention.layer_norm_rms_epsilon", -1); });
  EXPECT_EQ(importError(b),
            "tiny.gguf: metadata key 'llama.attention.layer_norm_rms_epsilon'" +
                at(keyOffset(b, "llama.attention.layer_norm_rms_epsilon")) +
                "value -1 must be finite and positive");

  TinyModel kv3 = m;
  kv3.kvHeads = 3;
  b = kv3.bytes();
  EXPECT_EQ(importError(b), "tiny.gguf: metadata key 'llama.attention.head_count_kv'" +
                                at(keyOffset(b, "llama.attention.head_count_kv")) +
                                "head count 4 is not a multiple of the KV head "
                                "count 3");
  TinyModel h5 = m;
  h5.heads = 5;
  h5.kvHeads = 5;
  h5.keyLength = 16; // writes q with 5*16 rows ...
  b = build(h5, [](GGUFWriter &w) { w.remove("llama.attention.key_length"); });
  EXPECT_EQ(importError(b), "tiny.gguf: metadata key 'llama.attention.head_count'" +
                                at(keyOffset(b, "llama.attention.head_count")) +
                                "embedding length 64 is not a multiple of the "
                                "head count 5 (and there is no "
                                "attention.key_length)");

  TinyModel moe = m;
  moe.experts = 4;
  moe.expertsUsed = 5;
  b = moe.bytes();
  EXPECT_EQ(importError(b), "tiny.gguf: metadata key 'llama.expert_used_count'" +
                                at(keyOffset(b, "llama.expert_used_count")) +
                                "uses 5 experts per token but the model has "
                                "only 4");
  TinyModel qmoe = moe;
  qmoe.arch = "qwen2";
  qmoe.expertsUsed = 2;
  b = qmoe.bytes();
  EXPECT_EQ(importError(b), "tiny.gguf: metadata key 'qwen2.expert_count'" +
                                at(keyOffset(b, "qwen2.expert_count")) +
                                "experts are only supported for arch llama (got "
                                "4 experts for qwen2)");
  b = build(m, [](GGUFWriter &w) { w.setUInt32("llama.vocab_size", 31); });
  EXPECT_EQ(importError(b), "tiny.gguf: metadata key 'llama.vocab_size'" +
                                at(keyOffset(b, "llama.vocab_size")) +
                                "vocab size 31 differs from the 32 entries of "
                                "tokenizer.ggml.tokens");
}

// llama.cpp's converters (convert-llama2c-to-ggml) write -1 for a special
// token the vocabulary lacks, as uint32 0xFFFFFFFF or int32 -1: unset.
TEST(GGUFImportSynthetic, MinusOneSpecialIdsAreUnset) {
  TinyModel m;
  for (bool asInt32 : {false, true}) {
    auto b = build(m, [asInt32](GGUFWriter &w) {
      for (const char *k : {"tokenizer.ggml.padding_token_id",
                            "tokenizer.ggml.unknown_token_id",
                            "tokenizer.ggml.eos_token_id"}) {
        if (asInt32)
          w.setInt32(k, -1);
        else
          w.setUInt32(k, 0xFFFFFFFFu);
      }
    });
    Imported r = importBytes(b);
    ASSERT_TRUE(bool(r.desc)) << llvm::toString(r.desc.takeError());
    ASSERT_TRUE(r.desc->tokenizer.has_value());
    EXPECT_FALSE(r.desc->tokenizer->pad.has_value());
    EXPECT_FALSE(r.desc->tokenizer->unk.has_value());
    EXPECT_FALSE(r.desc->tokenizer->eos.has_value());
    EXPECT_TRUE(r.desc->tokenizer->bos.has_value());
  }
  // Any other id past the vocabulary is still an error.
  auto b = build(m, [](GGUFWriter &w) {
    w.setUInt32("tokenizer.ggml.padding_token_id", 0xFFFFFFFEu);
  });
  EXPECT_EQ(importError(b),
            "tiny.gguf: metadata key 'tokenizer.ggml.padding_token_id'" +
                at(keyOffset(b, "tokenizer.ggml.padding_token_id")) +
                "token id 4294967294 is out of range (vocabulary of 32 tokens)");
}

TEST(GGUFImportSynthetic, BadTokenizer) {
  TinyModel m;
  auto b = build(m, [](GGUFWriter &w) {
    w.setUInt32("tokenizer.ggml.bos_token_id", 32);
  });
  EXPECT_EQ(importError(b), "tiny.gguf: metadata key 'tokenizer.ggml.bos_token_id'" +
                                at(keyOffset(b, "tokenizer.ggml.bos_token_id")) +
                                "token id 32 is out of range (vocabulary of 32 "
                                "tokens)");
  b = build(m, [](GGUFWriter &w) {
    w.setFloatArray("tokenizer.ggml.scores", {1.0f, 2.0f});
  });
  EXPECT_EQ(importError(b), "tiny.gguf: metadata key 'tokenizer.ggml.scores'" +
                                at(keyOffset(b, "tokenizer.ggml.scores")) +
                                "has 2 entries, expected one per token (32)");
  b = build(m, [](GGUFWriter &w) {
    w.set("tokenizer.ggml.token_type",
          Value::ofIntArray(ValueType::INT64, std::vector<int64_t>(32, 1ll << 40)));
  });
  EXPECT_EQ(importError(b), "tiny.gguf: metadata key 'tokenizer.ggml.token_type'" +
                                at(keyOffset(b, "tokenizer.ggml.token_type")) +
                                "element 0 (1099511627776) does not fit int32");
  b = build(m, [](GGUFWriter &w) {
    w.setUInt8("tokenizer.ggml.add_bos_token", 1);
  });
  EXPECT_EQ(importError(b), "tiny.gguf: metadata key 'tokenizer.ggml.add_bos_token'" +
                                at(keyOffset(b, "tokenizer.ggml.add_bos_token")) +
                                "has type uint8, expected bool");
  b = build(m, [](GGUFWriter &w) { w.remove("tokenizer.ggml.tokens"); });
  EXPECT_EQ(importError(b), "tiny.gguf: metadata key 'tokenizer.ggml.tokens' at "
                            "byte 24: missing");
}

} // namespace

// A structurally pruned model: head counts and FFN widths as per-layer arrays
// (llama.cpp's form, what milmc prune writes); hostile arrays are refused.
TEST(GGUFImportSynthetic, PerLayerArrays) {
  TinyModel m;
  m.layers = 2;
  m.keyLength = 16;
  std::vector<TinyModel::T> shapes = m.tensors();
  for (TinyModel::T &t : shapes) {
    if (t.name == "blk.1.attn_q.weight")
      t.ne = {64, 32};
    else if (t.name == "blk.1.attn_output.weight")
      t.ne = {32, 64};
    else if (t.name == "blk.1.ffn_gate.weight" || t.name == "blk.1.ffn_up.weight")
      t.ne = {64, 64};
    else if (t.name == "blk.1.ffn_down.weight")
      t.ne = {64, 64};
  }
  auto arrays = [](std::vector<int32_t> heads, std::vector<int32_t> ffn) {
    return [heads, ffn](GGUFWriter &w) {
      w.setIntArray("llama.attention.head_count", heads);
      w.setIntArray("llama.feed_forward_length", ffn);
    };
  };
  Imported r = importBytes(build(m, arrays({4, 2}, {96, 64}), shapes));
  ASSERT_TRUE(bool(r.desc)) << llvm::toString(r.desc.takeError());
  const ModelConfig &c = r.desc->config;
  EXPECT_EQ(c.numHeads, 4);
  EXPECT_EQ(c.layerHeads, (std::vector<int64_t>{4, 2}));
  EXPECT_TRUE(c.layerKVHeads.empty()); // the scalar 2 in both layers
  EXPECT_EQ(c.ffnSize, 96);
  EXPECT_EQ(c.layerFfn, (std::vector<int64_t>{96, 64}));
  // An array whose entries are all equal is the scalar.
  Imported u = importBytes(build(m, arrays({4, 4}, {96, 96})));
  ASSERT_TRUE(bool(u.desc)) << llvm::toString(u.desc.takeError());
  EXPECT_TRUE(u.desc->config.layerHeads.empty());
  EXPECT_EQ(u.desc->config.numHeads, 4);

  auto contains = [](const std::string &s, const char *what) {
    return s.find(what) != std::string::npos;
  };
  std::string e = importError(build(m, arrays({4}, {96, 64}), shapes));
  EXPECT_TRUE(contains(e, "'llama.attention.head_count'") &&
              contains(e, "has 1 entries for 2 blocks (one per block expected)"))
      << e;
  e = importError(build(m, arrays({4, 0}, {96, 64}), shapes));
  EXPECT_TRUE(contains(e, "entry 1 is 0, out of range") &&
              contains(e, "layers without attention or FFN are not supported"))
      << e;
  e = importError(build(m, arrays({4, 2}, {96, -5}), shapes));
  EXPECT_TRUE(contains(e, "'llama.feed_forward_length'") && contains(e, "entry 1 is -5")) << e;
  // The shapes must follow the arrays.
  e = importError(build(m, arrays({4, 4}, {96, 64}), shapes));
  EXPECT_TRUE(contains(e, "tensor 'blk.1.attn_q.weight'") && contains(e, "contradicts the config"))
      << e;
  // Heads that differ between layers need key_length for the head dimension.
  TinyModel nk = m;
  nk.keyLength = -1;
  e = importError(build(nk, arrays({4, 2}, {96, 64}), shapes));
  EXPECT_TRUE(contains(e, "attention.key_length is needed")) << e;
}
