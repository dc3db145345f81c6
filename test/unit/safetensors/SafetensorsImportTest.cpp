//===- SafetensorsImportTest.cpp - HF checkpoints -> ModelDescription -----===//

#include "CheckpointTestUtil.h"
#include "frontends/safetensors/HFModel.h"
#include "frontends/safetensors/SafetensorsImporter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

using namespace milm;
using namespace milm::test;

namespace {

const char *kLlamaConfig = R"({
  "architectures": ["LlamaForCausalLM"],
  "model_type": "llama",
  "vocab_size": 48,
  "hidden_size": 32,
  "intermediate_size": 40,
  "num_hidden_layers": 2,
  "num_attention_heads": 4,
  "num_key_value_heads": 2,
  "max_position_embeddings": 256,
  "rms_norm_eps": 1e-05,
  "rope_theta": 500000.0,
  "hidden_act": "silu",
  "tie_word_embeddings": false,
  "rope_scaling": {"type": "linear", "factor": 4.0},
  "bos_token_id": 1,
  "eos_token_id": 2,
  "torch_dtype": "float16"
}
)";

const char *kQwen2Config = R"({
  "architectures": ["Qwen2ForCausalLM"],
  "vocab_size": 48,
  "hidden_size": 32,
  "intermediate_size": 40,
  "num_hidden_layers": 2,
  "num_attention_heads": 4,
  "num_key_value_heads": 2,
  "head_dim": 16,
  "max_position_embeddings": 512,
  "rms_norm_eps": 1e-06,
  "rope_theta": 1000000.0,
  "rope_scaling": {"rope_type": "yarn", "factor": 2.0, "original_max_position_embeddings": 128},
  "tie_word_embeddings": true,
  "use_sliding_window": false,
  "sliding_window": 4096,
  "eos_token_id": [5, 6]
}
)";

const char *kMixtralConfig = R"({
  "architectures": ["MixtralForCausalLM"],
  "vocab_size": 48,
  "hidden_size": 32,
  "intermediate_size": 24,
  "num_hidden_layers": 2,
  "num_attention_heads": 4,
  "num_key_value_heads": 1,
  "max_position_embeddings": 1024,
  "num_local_experts": 4,
  "num_experts_per_tok": 2,
  "sliding_window": null,
  "rope_scaling": null
}
)";

const char *kGpt2Tokenizer = R"({
  "version": "1.0",
  "added_tokens": [
    {"id": 5, "content": "<|endoftext|>", "special": true},
    {"id": 6, "content": "<|im_end|>", "special": true},
    {"id": 7, "content": "<tool>", "special": false}
  ],
  "model": {
    "type": "BPE",
    "byte_fallback": false,
    "vocab": {"a": 0, "b": 1, "ab": 2, "\u0120": 3, "\u0120a": 4},
    "merges": ["a b", ["\u0120", "a"]]
  }
}
)";

const char *kLlamaTokenizer = R"({
  "added_tokens": [
    {"id": 0, "content": "<unk>", "special": true},
    {"id": 1, "content": "<s>", "special": true},
    {"id": 2, "content": "</s>", "special": true}
  ],
  "model": {
    "type": "BPE",
    "unk_token": "<unk>",
    "byte_fallback": true,
    "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x00>": 3, "<0x0A>": 4, "\u2581": 5,
              "a": 6, "\u2581a": 7},
    "merges": ["\u2581 a"]
  }
}
)";

/// Writes `tensors` into `dir`: one model.safetensors, or `shards` files with an
/// index (tensor i goes to shard i % shards, each shard's order shuffled).
void writeCheckpoint(const TempDir &dir, const char *config,
                     const std::vector<OwnedTensor> &tensors, int shards = 1) {
  writeText(dir.file("config.json"), config);
  if (shards == 1) {
    llvm::Error e = writeTensors(dir.file("model.safetensors"), tensors);
    ASSERT_FALSE(e) << llvm::toString(std::move(e));
    return;
  }
  std::vector<std::vector<OwnedTensor>> parts(shards);
  std::string index = "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {";
  for (size_t i = 0; i < tensors.size(); ++i) {
    int s = static_cast<int>(i % shards);
    parts[s].push_back(tensors[i]);
    char name[64];
    snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, shards);
    index += (i ? ",\n" : "\n") + std::string("  \"") + tensors[i].name + "\": \"" + name + "\"";
  }
  index += "\n}}\n";
  writeText(dir.file("model.safetensors.index.json"), index);
  for (int s = 0; s < shards; ++s) {
    std::reverse(parts[s].begin(), parts[s].end());
    char name[64];
    snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, shards);
    llvm::Error e = writeTensors(dir.file(name), parts[s]);
    ASSERT_FALSE(e) << llvm::toString(std::move(e));
  }
}

/// Every non-expert tensor of `md` points at the bytes written for its HF name.
void expectBytesMatch(const ModelDescription &md, const std::vector<OwnedTensor> &written) {
  std::map<std::string, const OwnedTensor *> byName;
  for (const OwnedTensor &t : written)
    byName[t.name] = &t;
  size_t seen = 0;
  auto check = [&](const TensorRef &r) {
    auto it = byName.find(r.sourceName);
    ASSERT_NE(it, byName.end()) << r.name << " from " << r.sourceName;
    EXPECT_EQ(r.shape, it->second->shape) << r.name;
    EXPECT_EQ(r.format, it->second->format) << r.name;
    EXPECT_EQ(r.nbytes, it->second->bytes.size()) << r.name;
    EXPECT_EQ(readBytes(r.file, r.offset, r.nbytes), it->second->bytes) << r.name;
    ++seen;
  };
  for (const TensorRef &t : md.tensors) {
    if (t.parts.empty()) {
      check(t);
      continue;
    }
    for (const TensorRef &p : t.parts)
      check(p);
  }
  EXPECT_EQ(seen, written.size());
}

std::string importError(const std::string &path) {
  llvm::Expected<ModelDescription> md = importSafetensors(path);
  if (md)
    return "<no error>";
  return llvm::toString(md.takeError());
}

/// Byte offset of `needle` in file `path`.
std::string offsetIn(const std::string &path, const std::string &needle) {
  std::string text = readBytes(path, 0, UINT64_MAX);
  size_t p = text.find(needle);
  EXPECT_NE(p, std::string::npos) << needle << " in " << path;
  return std::to_string(p);
}

/// Where tensor `name` of safetensors file `path` starts: its data (`data`) or its
/// key in the header; "<...>" when there is no such tensor, so that a failing
/// test reports a mismatch instead of crashing.
std::string tensorAt(const std::string &path, const std::string &name, bool data) {
  llvm::Expected<SafetensorsFile> f = SafetensorsFile::open(path);
  if (!f)
    return "<" + llvm::toString(f.takeError()) + ">";
  const SafetensorsTensor *t = f->find(name);
  if (!t)
    return "<no tensor " + name + " in " + path + ">";
  return std::to_string(data ? t->offset : t->headerOffset);
}

// --- models -----------------------------------------------------------------

TEST(SafetensorsImport, Llama) {
  TempDir dir;
  HFShape shape;
  shape.format = StorageFormat::F16;
  std::vector<OwnedTensor> ts = hfTensors(shape);
  // An old-style buffer that is not a weight: skipped.
  ts.push_back(makeTensor("model.layers.0.self_attn.rotary_emb.inv_freq", {4}));
  writeCheckpoint(dir, kLlamaConfig, ts);

  llvm::Expected<ModelDescription> md = importSafetensors(dir.path());
  ASSERT_TRUE(bool(md)) << llvm::toString(md.takeError());
  EXPECT_EQ(md->sourcePath, dir.path());
  EXPECT_EQ(md->sourceKind, "safetensors");
  const ModelConfig &c = md->config;
  EXPECT_EQ(c.arch, "llama");
  EXPECT_EQ(c.vocabSize, 48);
  EXPECT_EQ(c.contextLength, 256);
  EXPECT_EQ(c.hiddenSize, 32);
  EXPECT_EQ(c.numLayers, 2);
  EXPECT_EQ(c.numHeads, 4);
  EXPECT_EQ(c.numKVHeads, 2);
  EXPECT_EQ(c.headDim, 8);
  EXPECT_EQ(c.rotaryDim, 8);
  EXPECT_EQ(c.ffnSize, 40);
  EXPECT_EQ(c.numExperts, 0);
  EXPECT_DOUBLE_EQ(c.rmsEps, 1e-5);
  EXPECT_DOUBLE_EQ(c.ropeBase, 500000.0);
  EXPECT_EQ(c.ropePairing, RopePairing::Neox);
  EXPECT_EQ(c.ropeScaling, RopeScaling::Linear);
  EXPECT_DOUBLE_EQ(c.ropeScalingFactor, 4.0);
  EXPECT_FALSE(c.qkvBias);
  EXPECT_FALSE(c.tiedEmbeddings);
  EXPECT_FALSE(md->tokenizer.has_value());

  ASSERT_EQ(md->tensors.size(), ts.size() - 1);
  const TensorRef *q = md->findTensor("blk.1.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->sourceName, "model.layers.1.self_attn.q_proj.weight");
  EXPECT_EQ(q->file, dir.file("model.safetensors"));
  EXPECT_EQ(q->format, StorageFormat::F16);
  EXPECT_EQ(q->shape, (std::vector<int64_t>{32, 32}));
  for (const char *n : {"token_embd.weight", "output.weight", "output_norm.weight",
                        "blk.0.attn_norm.weight", "blk.0.ffn_norm.weight", "blk.0.attn_k.weight",
                        "blk.0.attn_v.weight", "blk.0.attn_output.weight", "blk.0.ffn_gate.weight",
                        "blk.0.ffn_up.weight", "blk.0.ffn_down.weight"})
    EXPECT_NE(md->findTensor(n), nullptr) << n;
  // Source order is data order.
  EXPECT_EQ(md->tensors.front().name, "token_embd.weight");
  EXPECT_EQ(md->tensors.back().name, "output.weight");
  ts.pop_back();
  expectBytesMatch(*md, ts);
}

TEST(SafetensorsImport, Qwen2WithTokenizer) {
  TempDir dir;
  HFShape shape;
  shape.headDim = 16;
  shape.bias = true;
  shape.tied = true;
  shape.format = StorageFormat::BF16;
  std::vector<OwnedTensor> ts = hfTensors(shape);
  writeCheckpoint(dir, kQwen2Config, ts);
  writeText(dir.file("tokenizer.json"), kGpt2Tokenizer);
  writeText(dir.file("tokenizer_config.json"),
            R"({"bos_token": null, "eos_token": "<|im_end|>", "add_bos_token": false})");

  llvm::Expected<ModelDescription> md = importSafetensors(dir.file("config.json"));
  ASSERT_TRUE(bool(md)) << llvm::toString(md.takeError());
  const ModelConfig &c = md->config;
  EXPECT_EQ(c.arch, "qwen2");
  EXPECT_TRUE(c.qkvBias);
  EXPECT_TRUE(c.tiedEmbeddings);
  EXPECT_EQ(c.headDim, 16);
  EXPECT_EQ(c.rotaryDim, 16);
  EXPECT_EQ(c.contextLength, 512);
  EXPECT_DOUBLE_EQ(c.rmsEps, 1e-6);
  EXPECT_DOUBLE_EQ(c.ropeBase, 1e6);
  EXPECT_EQ(c.ropeScaling, RopeScaling::YaRN);
  EXPECT_DOUBLE_EQ(c.ropeScalingFactor, 2.0);
  EXPECT_EQ(c.ropeOrigContext, 128);
  EXPECT_EQ(md->findTensor("output.weight"), nullptr);
  const TensorRef *kb = md->findTensor("blk.1.attn_k.bias");
  ASSERT_NE(kb, nullptr);
  EXPECT_EQ(kb->shape, (std::vector<int64_t>{32}));
  EXPECT_EQ(kb->format, StorageFormat::BF16);
  EXPECT_EQ(md->findTensor("blk.0.attn_q.weight")->shape, (std::vector<int64_t>{64, 32}));
  EXPECT_EQ(md->findTensor("blk.0.attn_output.weight")->shape, (std::vector<int64_t>{32, 64}));
  expectBytesMatch(*md, ts);

  ASSERT_TRUE(md->tokenizer.has_value());
  const TokenizerData &tok = *md->tokenizer;
  EXPECT_EQ(tok.source, dir.file("tokenizer.json"));
  EXPECT_EQ(tok.model, "gpt2");
  EXPECT_EQ(tok.pre, "qwen2");
  ASSERT_EQ(tok.tokens.size(), 48u); // padded to vocab_size
  std::vector<std::string> first8(tok.tokens.begin(), tok.tokens.begin() + 8);
  EXPECT_EQ(first8, (std::vector<std::string>{"a", "b", "ab", "\xC4\xA0",
                                              "\xC4\xA0"
                                              "a",
                                              "<|endoftext|>", "<|im_end|>", "<tool>"}));
  EXPECT_EQ(tok.tokens[8], "[PAD8]");
  EXPECT_EQ(tok.tokens[47], "[PAD47]");
  std::vector<int32_t> types8(tok.types.begin(), tok.types.begin() + 9);
  EXPECT_EQ(types8, (std::vector<int32_t>{1, 1, 1, 1, 1, 3, 3, 4, 5}));
  EXPECT_EQ(tok.types.size(), 48u);
  EXPECT_TRUE(tok.scores.empty());
  EXPECT_EQ(tok.merges, (std::vector<std::string>{"a b", "\xC4\xA0 a"}));
  EXPECT_EQ(tok.eos, 5); // config.json's eos_token_id (first of the list) wins
  EXPECT_FALSE(tok.bos.has_value());
  EXPECT_EQ(tok.addBos, false);
  EXPECT_FALSE(tok.addEos.has_value());
}

TEST(SafetensorsImport, LlamaTokenizerWithByteFallback) {
  TempDir dir;
  std::vector<OwnedTensor> ts = hfTensors(HFShape{});
  std::string config = kLlamaConfig;
  config.replace(config.find("\"bos_token_id\": 1,"), 18, "");
  writeCheckpoint(dir, config.c_str(), ts);
  writeText(dir.file("tokenizer.json"), kLlamaTokenizer);
  writeText(dir.file("tokenizer_config.json"),
            R"({"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>",
                "pad_token": "<unk>", "add_bos_token": true, "add_eos_token": false})");
  llvm::Expected<ModelDescription> md = importSafetensors(dir.file("model.safetensors"));
  ASSERT_TRUE(bool(md)) << llvm::toString(md.takeError());
  const TokenizerData &tok = *md->tokenizer;
  EXPECT_EQ(tok.model, "llama");
  EXPECT_EQ(tok.pre, "");
  std::vector<int32_t> types(tok.types.begin(), tok.types.begin() + 8);
  EXPECT_EQ(types, (std::vector<int32_t>{2, 3, 3, 6, 6, 1, 1, 1}));
  EXPECT_EQ(tok.unk, 0);
  EXPECT_EQ(tok.bos, 1); // from tokenizer_config.json: config.json has none
  EXPECT_EQ(tok.eos, 2);
  EXPECT_EQ(tok.pad, 0);
  EXPECT_EQ(tok.addBos, true);
  EXPECT_EQ(tok.addEos, false);
  EXPECT_EQ(tok.merges, (std::vector<std::string>{"\xE2\x96\x81 a"}));
}

TEST(SafetensorsImport, MixtralShardedExperts) {
  TempDir dir;
  HFShape shape;
  shape.kvHeads = 1;
  shape.ff = 24;
  shape.experts = 4;
  std::vector<OwnedTensor> ts = hfTensors(shape);
  writeCheckpoint(dir, kMixtralConfig, ts, /*shards=*/2);

  for (std::string path : {dir.path(), dir.file("model.safetensors.index.json"),
                           dir.file("model-00002-of-00002.safetensors")}) {
    llvm::Expected<ModelDescription> md = importSafetensors(path);
    ASSERT_TRUE(bool(md)) << llvm::toString(md.takeError());
    const ModelConfig &c = md->config;
    EXPECT_EQ(c.arch, "llama");
    EXPECT_EQ(c.numExperts, 4);
    EXPECT_EQ(c.numExpertsUsed, 2);
    EXPECT_EQ(c.numKVHeads, 1);
    EXPECT_DOUBLE_EQ(c.rmsEps, 1e-5);  // MixtralConfig's default
    EXPECT_DOUBLE_EQ(c.ropeBase, 1e6); // MixtralConfig's default
    EXPECT_EQ(c.ropeScaling, RopeScaling::None);

    // 1 embd + 2 * (norm, q, k, v, o, norm, gate_inp, 3 stacked) + norm + output
    EXPECT_EQ(md->tensors.size(), 1u + 2 * 10 + 2);
    for (const char *kind : {"gate", "up", "down"}) {
      std::string name = std::string("blk.1.ffn_") + kind + "_exps.weight";
      const TensorRef *t = md->findTensor(name);
      ASSERT_NE(t, nullptr) << name;
      std::vector<int64_t> expectShape = std::string(kind) == "down"
                                             ? std::vector<int64_t>{4, 32, 24}
                                             : std::vector<int64_t>{4, 24, 32};
      EXPECT_EQ(t->shape, expectShape);
      ASSERT_EQ(t->parts.size(), 4u);
      const char *w = std::string(kind) == "gate" ? "w1" : std::string(kind) == "up" ? "w3" : "w2";
      EXPECT_EQ(t->sourceName,
                std::string("model.layers.1.block_sparse_moe.experts.*.") + w + ".weight");
      uint64_t sum = 0;
      for (int e = 0; e < 4; ++e) {
        const TensorRef &p = t->parts[e];
        EXPECT_EQ(p.name, name + "[" + std::to_string(e) + "]");
        EXPECT_EQ(p.sourceName, "model.layers.1.block_sparse_moe.experts." + std::to_string(e) +
                                    "." + w + ".weight");
        EXPECT_EQ(p.shape, std::vector<int64_t>(expectShape.begin() + 1, expectShape.end()));
        sum += p.nbytes;
      }
      EXPECT_EQ(t->nbytes, sum);
      EXPECT_EQ(t->file, t->parts[0].file);
      EXPECT_EQ(t->offset, t->parts[0].offset);
    }
    // Experts live in different shards.
    const TensorRef *up = md->findTensor("blk.0.ffn_up_exps.weight");
    EXPECT_NE(up->parts[0].file, up->parts[1].file);
    EXPECT_EQ(md->findTensor("blk.0.ffn_gate_inp.weight")->shape, (std::vector<int64_t>{4, 32}));
    expectBytesMatch(*md, ts);
  }
}

TEST(SafetensorsImport, TiedConfigWithStoredLmHeadReadsAsUntied) {
  TempDir dir;
  std::vector<OwnedTensor> ts = hfTensors(HFShape{});
  std::string config = kLlamaConfig;
  config.replace(config.find("\"tie_word_embeddings\": false"), 28,
                 "\"tie_word_embeddings\": true");
  writeCheckpoint(dir, config.c_str(), ts);
  llvm::Expected<ModelDescription> md = importSafetensors(dir.path());
  ASSERT_TRUE(bool(md)) << llvm::toString(md.takeError());
  EXPECT_FALSE(md->config.tiedEmbeddings);
  EXPECT_NE(md->findTensor("output.weight"), nullptr);
}

TEST(SafetensorsImport, HFConfigRoundTrip) {
  // hfConfigJson() writes what parseHFConfig() reads back.
  ModelConfig c;
  c.arch = "qwen2";
  c.vocabSize = 100;
  c.contextLength = 2048;
  c.hiddenSize = 64;
  c.numLayers = 3;
  c.numHeads = 8;
  c.numKVHeads = 2;
  c.headDim = 8;
  c.rotaryDim = 4;
  c.ffnSize = 96;
  c.rmsEps = 1e-6;
  c.ropeBase = 1e6;
  c.ropePairing = RopePairing::Neox;
  c.ropeScaling = RopeScaling::NTK;
  c.ropeScalingFactor = 2.5;
  c.ropeOrigContext = 1024;
  c.qkvBias = true;
  c.tiedEmbeddings = true;
  llvm::Expected<HFConfig> back = parseHFConfig("config.json", hfConfigJson(c, 1, 2));
  ASSERT_TRUE(bool(back)) << llvm::toString(back.takeError());
  const ModelConfig &b = back->config;
  EXPECT_EQ(back->architecture, "Qwen2ForCausalLM");
  EXPECT_EQ(b.arch, c.arch);
  EXPECT_EQ(b.vocabSize, c.vocabSize);
  EXPECT_EQ(b.contextLength, c.contextLength);
  EXPECT_EQ(b.hiddenSize, c.hiddenSize);
  EXPECT_EQ(b.numLayers, c.numLayers);
  EXPECT_EQ(b.numHeads, c.numHeads);
  EXPECT_EQ(b.numKVHeads, c.numKVHeads);
  EXPECT_EQ(b.headDim, c.headDim);
  EXPECT_EQ(b.rotaryDim, c.rotaryDim);
  EXPECT_EQ(b.ffnSize, c.ffnSize);
  EXPECT_DOUBLE_EQ(b.rmsEps, c.rmsEps);
  EXPECT_DOUBLE_EQ(b.ropeBase, c.ropeBase);
  EXPECT_EQ(b.ropeScaling, c.ropeScaling);
  EXPECT_DOUBLE_EQ(b.ropeScalingFactor, c.ropeScalingFactor);
  EXPECT_EQ(b.ropeOrigContext, c.ropeOrigContext);
  EXPECT_EQ(b.qkvBias, c.qkvBias);
  EXPECT_EQ(b.tiedEmbeddings, c.tiedEmbeddings);
  EXPECT_EQ(back->bos, 1);
  EXPECT_EQ(back->eos, 2);
}

TEST(SafetensorsImport, NameMapping) {
  EXPECT_EQ(mapHFTensorName("model.layers.12.mlp.down_proj.weight").canonical,
            "blk.12.ffn_down.weight");
  EXPECT_EQ(mapHFTensorName("model.layers.3.block_sparse_moe.gate.weight").canonical,
            "blk.3.ffn_gate_inp.weight");
  HFTensorName e = mapHFTensorName("model.layers.3.block_sparse_moe.experts.7.w2.weight");
  EXPECT_EQ(e.canonical, "blk.3.ffn_down_exps.weight");
  EXPECT_EQ(e.expert, 7);
  EXPECT_FALSE(mapHFTensorName("model.layers.01.mlp.up_proj.weight").known);
  EXPECT_FALSE(mapHFTensorName("model.layers.x.mlp.up_proj.weight").known);
  EXPECT_FALSE(mapHFTensorName("model.layers.99999999999999999999.mlp.up_proj.weight").known);
  EXPECT_TRUE(mapHFTensorName("model.layers.0.self_attn.rotary_emb.inv_freq").ignored);
  EXPECT_EQ(hfTensorName("blk.4.attn_v.bias"), "model.layers.4.self_attn.v_proj.bias");
  EXPECT_EQ(hfTensorName("output.weight"), "lm_head.weight");
  EXPECT_EQ(hfExpertTensorName("blk.2.ffn_up_exps.weight", 5),
            "model.layers.2.block_sparse_moe.experts.5.w3.weight");
}

// --- errors -----------------------------------------------------------------

/// A valid llama checkpoint with `config` edited by `edit`.
std::string errorWithConfig(const TempDir &dir, const std::function<void(std::string &)> &edit) {
  std::string config = kLlamaConfig;
  edit(config);
  writeCheckpoint(dir, config.c_str(), hfTensors(HFShape{}));
  return importError(dir.path());
}

void replace(std::string &s, const std::string &from, const std::string &to) {
  size_t p = s.find(from);
  ASSERT_NE(p, std::string::npos) << from;
  s.replace(p, from.size(), to);
}

TEST(SafetensorsImportErrors, MissingConfigField) {
  TempDir dir;
  EXPECT_EQ(errorWithConfig(dir, [](std::string &c) { replace(c, "\"hidden_size\": 32,", ""); }),
            dir.file("config.json") + ": key 'hidden_size': missing (required for "
                                      "LlamaForCausalLM)");
}

TEST(SafetensorsImportErrors, ConfigFieldOfWrongType) {
  TempDir dir;
  std::string err = errorWithConfig(
      dir, [](std::string &c) { replace(c, "\"vocab_size\": 48", "\"vocab_size\": \"48\""); });
  EXPECT_EQ(err, dir.file("config.json") + ": key 'vocab_size' at byte " +
                     offsetIn(dir.file("config.json"), "\"vocab_size\"") +
                     ": expected an integer, got \"48\"");
}

TEST(SafetensorsImportErrors, ConfigNotJson) {
  TempDir dir;
  EXPECT_EQ(errorWithConfig(dir, [](std::string &c) { c = "{\"architectures\": [}"; }),
            dir.file("config.json") + ": invalid JSON at byte 20: Invalid JSON value");
}

TEST(SafetensorsImportErrors, UnknownArchitecture) {
  TempDir dir;
  std::string err = errorWithConfig(
      dir, [](std::string &c) { replace(c, "LlamaForCausalLM", "GPT2LMHeadModel"); });
  EXPECT_EQ(err, dir.file("config.json") + ": key 'architectures' at byte " +
                     offsetIn(dir.file("config.json"), "\"architectures\"") +
                     ": unknown architecture 'GPT2LMHeadModel' (milm reads LlamaForCausalLM, "
                     "Qwen2ForCausalLM and MixtralForCausalLM)");
}

TEST(SafetensorsImportErrors, UnsupportedRopeScaling) {
  TempDir dir;
  std::string err = errorWithConfig(
      dir, [](std::string &c) { replace(c, "{\"type\": \"linear\"", "{\"type\": \"llama3\""); });
  EXPECT_EQ(err, dir.file("config.json") + ": key 'rope_scaling.type' at byte " +
                     offsetIn(dir.file("config.json"), "\"type\"") +
                     ": rope scaling 'llama3' is not supported (milm reads linear, dynamic "
                     "and yarn)");
}

TEST(SafetensorsImportErrors, HeadsNotMultipleOfKVHeads) {
  TempDir dir;
  std::string err = errorWithConfig(dir, [](std::string &c) {
    replace(c, "\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3");
  });
  EXPECT_EQ(err, dir.file("config.json") + ": key 'num_key_value_heads' at byte " +
                     offsetIn(dir.file("config.json"), "\"num_key_value_heads\"") +
                     ": num_attention_heads 4 is not a multiple of num_key_value_heads 3");
}

TEST(SafetensorsImportErrors, NoConfig) {
  TempDir dir;
  writeText(dir.file("model.safetensors"), "");
  EXPECT_EQ(importError(dir.path()),
            dir.file("config.json") + ": cannot open: No such file or directory");
  EXPECT_EQ(importError(dir.file("nope")), dir.file("nope") + ": no such file or directory");
}

TEST(SafetensorsImportErrors, NoWeights) {
  TempDir dir;
  writeText(dir.file("config.json"), kLlamaConfig);
  EXPECT_EQ(importError(dir.path()),
            dir.path() + ": no model.safetensors or model.safetensors.index.json");
}

TEST(SafetensorsImportErrors, MissingTensor) {
  TempDir dir;
  std::vector<OwnedTensor> ts = hfTensors(HFShape{});
  ts.erase(std::find_if(ts.begin(), ts.end(), [](const OwnedTensor &t) {
    return t.name == "model.layers.1.mlp.up_proj.weight";
  }));
  writeCheckpoint(dir, kLlamaConfig, ts);
  EXPECT_EQ(importError(dir.path()), dir.path() + ": tensor 'blk.1.ffn_up.weight': missing; "
                                                  "the config implies shape [40, 32] (ff, hidden)");
}

TEST(SafetensorsImportErrors, SurplusTensor) {
  TempDir dir;
  std::vector<OwnedTensor> ts = hfTensors(HFShape{});
  ts.push_back(makeTensor("model.layers.0.mlp.extra.weight", {3}));
  ts.push_back(makeTensor("model.layers.2.input_layernorm.weight", {32}));
  writeCheckpoint(dir, kLlamaConfig, ts);
  EXPECT_EQ(importError(dir.path()),
            dir.file("model.safetensors") +
                ": tensor 'model.layers.0.mlp.extra.weight': "
                "unexpected at byte " +
                tensorAt(dir.file("model.safetensors"), "model.layers.0.mlp.extra.weight", true) +
                "; the config implies no such tensor");
}

TEST(SafetensorsImportErrors, ShapeContradictingConfig) {
  TempDir dir;
  std::vector<OwnedTensor> ts = hfTensors(HFShape{});
  for (OwnedTensor &t : ts)
    if (t.name == "model.layers.1.self_attn.k_proj.weight")
      t = makeTensor(t.name, {32, 32});
  writeCheckpoint(dir, kLlamaConfig, ts);
  EXPECT_EQ(
      importError(dir.path()),
      dir.file("model.safetensors") +
          ": tensor 'blk.1.attn_k.weight' (source 'model.layers.1.self_attn.k_proj.weight'): "
          "expected shape [16, 32] (kv_heads*head_dim, hidden), got [32, 32] at byte " +
          tensorAt(dir.file("model.safetensors"), "model.layers.1.self_attn.k_proj.weight", true));
}

TEST(SafetensorsImportErrors, BadSafetensorsInDirectory) {
  TempDir dir;
  writeText(dir.file("config.json"), kLlamaConfig);
  std::string header =
      R"({"model.embed_tokens.weight":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})";
  writeText(dir.file("model.safetensors"), rawSafetensors(header, std::string(8, 0)));
  EXPECT_EQ(importError(dir.path()),
            dir.file("model.safetensors") + ": tensor 'model.embed_tokens.weight' at byte " +
                std::to_string(8 + header.find("\"dtype\"")) +
                ": unsupported dtype 'F64' (milm reads F32, F16 and BF16)");
}

TEST(SafetensorsImportErrors, IndexProblems) {
  HFShape shape;
  {
    TempDir dir;
    writeCheckpoint(dir, kLlamaConfig, hfTensors(shape), 2);
    llvm::sys::fs::remove(dir.file("model-00002-of-00002.safetensors"));
    EXPECT_EQ(importError(dir.path()), dir.file("model-00002-of-00002.safetensors") +
                                           ": cannot open: No such file or directory");
  }
  {
    TempDir dir;
    writeCheckpoint(dir, kLlamaConfig, hfTensors(shape), 2);
    std::string index = readBytes(dir.file("model.safetensors.index.json"), 0, UINT64_MAX);
    replace(index, "\"model.embed_tokens.weight\": \"model-00001-of-00002.safetensors\"",
            "\"model.embed_tokens.weight\": \"model-00002-of-00002.safetensors\"");
    writeText(dir.file("model.safetensors.index.json"), index);
    EXPECT_EQ(importError(dir.path()), dir.file("model-00001-of-00002.safetensors") +
                                           ": tensor 'model.embed_tokens.weight' at byte " +
                                           tensorAt(dir.file("model-00001-of-00002.safetensors"),
                                                    "model.embed_tokens.weight", false) +
                                           ": " + dir.file("model.safetensors.index.json") +
                                           " places it in 'model-00002-of-00002.safetensors'");
  }
  {
    TempDir dir;
    writeCheckpoint(dir, kLlamaConfig, hfTensors(shape), 2);
    std::string index = readBytes(dir.file("model.safetensors.index.json"), 0, UINT64_MAX);
    replace(index, "\"weight_map\": {",
            "\"weight_map\": {\"ghost\": \"model-00001-of-00002.safetensors\",");
    writeText(dir.file("model.safetensors.index.json"), index);
    EXPECT_EQ(importError(dir.path()),
              dir.file("model.safetensors.index.json") + ": key 'weight_map.ghost' at byte " +
                  offsetIn(dir.file("model.safetensors.index.json"), "\"ghost\"") +
                  ": shard 'model-00001-of-00002.safetensors' has no tensor 'ghost'");
  }
  {
    TempDir dir;
    writeCheckpoint(dir, kLlamaConfig, hfTensors(shape), 2);
    std::string index = readBytes(dir.file("model.safetensors.index.json"), 0, UINT64_MAX);
    replace(index, "\"model.embed_tokens.weight\": \"model-00001-of-00002.safetensors\"",
            "\"model.embed_tokens.weight\": \"../model-00001-of-00002.safetensors\"");
    writeText(dir.file("model.safetensors.index.json"), index);
    EXPECT_EQ(
        importError(dir.path()),
        dir.file("model.safetensors.index.json") +
            ": key 'weight_map.model.embed_tokens.weight' at byte " +
            offsetIn(dir.file("model.safetensors.index.json"), "\"model.embed_tokens.weight\"") +
            ": expected the name of a file in the model directory, got "
            "\"../model-00001-of-00002.safetensors\"");
  }
  {
    TempDir dir;
    std::vector<OwnedTensor> ts = hfTensors(shape);
    writeCheckpoint(dir, kLlamaConfig, ts, 2);
    // A shard holding a tensor the index does not list.
    std::vector<OwnedTensor> shard1;
    for (size_t i = 0; i < ts.size(); i += 2)
      shard1.push_back(ts[i]);
    shard1.push_back(makeTensor("stray", {2}));
    ASSERT_FALSE(
        llvm::errorToBool(writeTensors(dir.file("model-00001-of-00002.safetensors"), shard1)));
    EXPECT_EQ(importError(dir.path()),
              dir.file("model-00001-of-00002.safetensors") + ": tensor 'stray' at byte " +
                  tensorAt(dir.file("model-00001-of-00002.safetensors"), "stray", false) +
                  ": not listed in " + dir.file("model.safetensors.index.json"));
  }
}

TEST(SafetensorsImportErrors, MixtralExperts) {
  HFShape shape;
  shape.kvHeads = 1;
  shape.ff = 24;
  shape.experts = 4;
  {
    TempDir dir;
    std::vector<OwnedTensor> ts = hfTensors(shape);
    ts.erase(std::find_if(ts.begin(), ts.end(), [](const OwnedTensor &t) {
      return t.name == "model.layers.1.block_sparse_moe.experts.2.w3.weight";
    }));
    writeCheckpoint(dir, kMixtralConfig, ts);
    EXPECT_EQ(importError(dir.path()), dir.file("model.safetensors") +
                                           ": tensor 'blk.1.ffn_up_exps.weight': expert 2 is "
                                           "missing (no 'model.layers.1.block_sparse_moe."
                                           "experts.2.w3.weight')");
  }
  {
    TempDir dir;
    std::vector<OwnedTensor> ts = hfTensors(shape);
    ts.push_back(makeTensor("model.layers.0.block_sparse_moe.experts.4.w1.weight", {24, 32}));
    writeCheckpoint(dir, kMixtralConfig, ts);
    EXPECT_EQ(importError(dir.path()),
              dir.file("model.safetensors") +
                  ": tensor 'model.layers.0.block_sparse_moe.experts.4.w1.weight' at byte " +
                  tensorAt(dir.file("model.safetensors"),
                           "model.layers.0.block_sparse_moe.experts.4.w1.weight", false) +
                  ": expert 4, but num_local_experts is 4");
  }
  {
    TempDir dir;
    std::vector<OwnedTensor> ts = hfTensors(shape);
    for (OwnedTensor &t : ts)
      if (t.name == "model.layers.0.block_sparse_moe.experts.3.w2.weight")
        t = makeTensor(t.name, {24, 32});
    writeCheckpoint(dir, kMixtralConfig, ts);
    EXPECT_EQ(importError(dir.path()),
              dir.file("model.safetensors") +
                  ": tensor 'blk.0.ffn_down_exps.weight[3]' (source "
                  "'model.layers.0.block_sparse_moe.experts.3.w2.weight'): expected shape "
                  "[32, 24] (a slice of 'blk.0.ffn_down_exps.weight' [4, 32, 24]), got [24, 32] "
                  "at byte " +
                  tensorAt(dir.file("model.safetensors"),
                           "model.layers.0.block_sparse_moe.experts.3.w2.weight", true));
  }
}

TEST(SafetensorsImportErrors, TokenizerProblems) {
  HFShape shape;
  {
    TempDir dir;
    writeCheckpoint(dir, kLlamaConfig, hfTensors(shape));
    std::string tok = kLlamaTokenizer;
    replace(tok, "\"\\u2581a\": 7", "\"\\u2581a\": 9");
    writeText(dir.file("tokenizer.json"), tok);
    EXPECT_EQ(importError(dir.path()), dir.file("tokenizer.json") + ": key 'model.vocab' at byte " +
                                           offsetIn(dir.file("tokenizer.json"), "\"vocab\"") +
                                           ": no token has id 7 (ids must be dense)");
  }
  {
    TempDir dir;
    writeCheckpoint(dir, kLlamaConfig, hfTensors(shape));
    std::string tok = kLlamaTokenizer;
    replace(tok, "\"\\u2581a\": 7", "\"\\u2581a\": 4000000000");
    writeText(dir.file("tokenizer.json"), tok);
    EXPECT_EQ(importError(dir.path()), dir.file("tokenizer.json") + ": key 'model.vocab' at byte " +
                                           offsetIn(dir.file("tokenizer.json"), "\"vocab\"") +
                                           ": token '\xE2\x96\x81"
                                           "a' has id 4000000000, but only 11 tokens are listed "
                                           "(ids must be dense)");
  }
  {
    TempDir dir;
    std::string config = kLlamaConfig;
    replace(config, "\"eos_token_id\": 2", "\"eos_token_id\": 30");
    writeCheckpoint(dir, config.c_str(), hfTensors(shape));
    writeText(dir.file("tokenizer.json"), kLlamaTokenizer);
    EXPECT_EQ(importError(dir.path()), dir.file("config.json") + ": key 'eos_token_id' at byte " +
                                           offsetIn(dir.file("config.json"), "\"eos_token_id\"") +
                                           ": token id 30 is not in the 8 tokens of " +
                                           dir.file("tokenizer.json"));
  }
  {
    TempDir dir;
    writeCheckpoint(dir, kLlamaConfig, hfTensors(shape));
    std::string tok = kLlamaTokenizer;
    replace(tok, "\"type\": \"BPE\"", "\"type\": \"Unigram\"");
    writeText(dir.file("tokenizer.json"), tok);
    EXPECT_EQ(importError(dir.path()),
              dir.file("tokenizer.json") + ": key 'model.type' at byte " +
                  offsetIn(dir.file("tokenizer.json"), "\"type\"") +
                  ": tokenizer model 'Unigram' is not supported (milm reads BPE)");
  }
}

} // namespace

TEST(SafetensorsImport, HFConfigPerLayerLists) {
  // A structurally pruned model (milmc prune's export): per-layer lists of
  // heads, KV heads and FFN widths written and read back; hostile lists refused.
  ModelConfig c;
  c.arch = "llama";
  c.vocabSize = 100;
  c.contextLength = 256;
  c.hiddenSize = 64;
  c.numLayers = 3;
  c.numHeads = 8;
  c.numKVHeads = 2;
  c.headDim = 8;
  c.rotaryDim = 8;
  c.ffnSize = 96;
  c.layerHeads = {8, 4, 2};
  c.layerKVHeads = {2, 2, 1};
  c.layerFfn = {96, 64, 32};
  llvm::Expected<HFConfig> back = parseHFConfig("config.json", hfConfigJson(c));
  ASSERT_TRUE(bool(back)) << llvm::toString(back.takeError());
  EXPECT_EQ(back->config.numHeads, 8);
  EXPECT_EQ(back->config.layerHeads, c.layerHeads);
  EXPECT_EQ(back->config.layerKVHeads, c.layerKVHeads);
  EXPECT_EQ(back->config.layerFfn, c.layerFfn);
  EXPECT_EQ(back->config.ffnSize, 96);

  auto error = [&](llvm::StringRef from, llvm::StringRef to) {
    std::string text = hfConfigJson(c);
    size_t at = text.find(from.str());
    EXPECT_NE(at, std::string::npos) << from.str();
    if (at != std::string::npos)
      text.replace(at, from.size(), to.str());
    llvm::Expected<HFConfig> r = parseHFConfig("config.json", text);
    return r ? std::string("<parsed>") : llvm::toString(r.takeError());
  };
  // The lists as hfConfigJson prints them (two-space JSON).
  std::string e = error("\"num_attention_heads\": [\n    8,\n    4,\n    2\n  ]",
                        "\"num_attention_heads\": [8, 4]");
  EXPECT_NE(e.find("'num_attention_heads'"), std::string::npos) << e;
  EXPECT_NE(e.find("has 2 entries for 3 layers"), std::string::npos) << e;
  e = error("\"intermediate_size\": [\n    96,\n    64,\n    32\n  ]",
            "\"intermediate_size\": [96, 0, 32]");
  EXPECT_NE(e.find("entry 1 must be a positive integer, got 0"), std::string::npos) << e;
  e = error("\"num_key_value_heads\": [\n    2,\n    2,\n    1\n  ]",
            "\"num_key_value_heads\": [2, 3, 1]");
  EXPECT_NE(e.find("is not a multiple of num_key_value_heads 3 in layer 1"), std::string::npos)
      << e;
}
