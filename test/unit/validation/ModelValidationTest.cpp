//===- ModelValidationTest.cpp - validateModel ----------------------------===//

#include "frontends/common/ModelValidation.h"

#include <gtest/gtest.h>

#include <functional>

using namespace milm;

namespace {

/// A model description built tensor by tensor, with consecutive offsets.
struct Builder {
  ModelDescription md;
  uint64_t next = 64;

  Builder() {
    md.sourcePath = "m.gguf";
    md.sourceKind = "gguf";
    ModelConfig &c = md.config;
    c.arch = "llama";
    c.vocabSize = 40;
    c.contextLength = 128;
    c.hiddenSize = 32;
    c.numLayers = 2;
    c.numHeads = 4;
    c.numKVHeads = 2;
    c.headDim = 8;
    c.rotaryDim = 8;
    c.ffnSize = 64;
  }

  static uint64_t bytesOf(StorageFormat f, const std::vector<int64_t> &shape) {
    const StorageFormatInfo &fi = info(f);
    uint64_t elems = 1;
    for (int64_t d : shape)
      elems *= static_cast<uint64_t>(d);
    return elems / fi.blockElems * fi.blockBytes;
  }

  TensorRef &add(const std::string &name, std::vector<int64_t> shape,
                 StorageFormat f = StorageFormat::F32) {
    TensorRef t;
    t.name = name;
    t.file = "m.gguf";
    t.offset = next;
    t.format = f;
    t.nbytes = bytesOf(f, shape);
    t.shape = std::move(shape);
    next += t.nbytes;
    md.tensors.push_back(std::move(t));
    return md.tensors.back();
  }

  /// Every tensor of the config, by hand (not through forEachImpliedTensor).
  Builder &full(StorageFormat linear = StorageFormat::F32) {
    const ModelConfig &c = md.config;
    int64_t H = c.hiddenSize, Q = c.numHeads * c.headDim, KV = c.numKVHeads * c.headDim,
            F = c.ffnSize, V = c.vocabSize, E = c.numExperts;
    add("token_embd.weight", {V, H}, linear);
    for (int64_t l = 0; l < c.numLayers; ++l) {
      std::string b = "blk." + std::to_string(l) + ".";
      add(b + "attn_norm.weight", {H});
      add(b + "attn_q.weight", {Q, H}, linear);
      add(b + "attn_k.weight", {KV, H}, linear);
      add(b + "attn_v.weight", {KV, H}, linear);
      if (c.qkvBias) {
        add(b + "attn_q.bias", {Q});
        add(b + "attn_k.bias", {KV});
        add(b + "attn_v.bias", {KV});
      }
      add(b + "attn_output.weight", {H, Q}, linear);
      add(b + "ffn_norm.weight", {H});
      if (E == 0) {
        add(b + "ffn_gate.weight", {F, H}, linear);
        add(b + "ffn_up.weight", {F, H}, linear);
        add(b + "ffn_down.weight", {H, F}, linear);
      } else {
        add(b + "ffn_gate_inp.weight", {E, H});
        add(b + "ffn_gate_exps.weight", {E, F, H}, linear);
        add(b + "ffn_up_exps.weight", {E, F, H}, linear);
        add(b + "ffn_down_exps.weight", {E, H, F}, linear);
      }
    }
    add("output_norm.weight", {H});
    if (!c.tiedEmbeddings)
      add("output.weight", {V, H}, linear);
    return *this;
  }

  TensorRef &get(const std::string &name) {
    for (TensorRef &t : md.tensors)
      if (t.name == name)
        return t;
    ADD_FAILURE() << "no tensor " << name;
    return md.tensors.front();
  }
  void remove(const std::string &name) {
    for (size_t i = 0; i < md.tensors.size(); ++i)
      if (md.tensors[i].name == name) {
        md.tensors.erase(md.tensors.begin() + i);
        return;
      }
    ADD_FAILURE() << "no tensor " << name;
  }

  /// Replaces stacked tensor `name` by one made of per-expert parts at scattered
  /// offsets, as the safetensors importer builds them.
  void splitIntoParts(const std::string &name) {
    TensorRef &t = get(name);
    std::vector<int64_t> partShape(t.shape.begin() + 1, t.shape.end());
    t.parts.clear();
    uint64_t partBytes = t.nbytes / t.shape[0];
    for (int64_t e = 0; e < t.shape[0]; ++e) {
      TensorRef p;
      p.name = name + "[" + std::to_string(e) + "]";
      p.file = "expert" + std::to_string(e) + ".safetensors";
      p.offset = 1000 + 100 * e;
      p.nbytes = partBytes;
      p.format = t.format;
      p.shape = partShape;
      p.sourceName = "src." + std::to_string(e);
      t.parts.push_back(p);
    }
    t.file = t.parts[0].file;
    t.offset = t.parts[0].offset;
  }
};

std::string errorOf(const ModelDescription &md) {
  llvm::Error e = validateModel(md);
  return e ? llvm::toString(std::move(e)) : "";
}

TEST(ModelValidation, AcceptsDenseModel) {
  Builder b;
  b.full();
  EXPECT_EQ(errorOf(b.md), "");
}

TEST(ModelValidation, AcceptsBlockFormats) {
  Builder b;
  b.full(StorageFormat::Q8_0);
  EXPECT_EQ(errorOf(b.md), "");
}

TEST(ModelValidation, AcceptsQkvBiasAndTiedEmbeddings) {
  Builder b;
  b.md.config.arch = "qwen2";
  b.md.config.qkvBias = true;
  b.md.config.tiedEmbeddings = true;
  b.full();
  EXPECT_EQ(errorOf(b.md), "");
  EXPECT_EQ(b.md.findTensor("output.weight"), nullptr);
}

TEST(ModelValidation, AcceptsMoeContiguousAndParts) {
  Builder b;
  b.md.config.numExperts = 4;
  b.md.config.numExpertsUsed = 2;
  b.full();
  EXPECT_EQ(errorOf(b.md), "");
  b.splitIntoParts("blk.1.ffn_down_exps.weight");
  EXPECT_EQ(errorOf(b.md), "");
}

TEST(ModelValidation, ImpliedTensorsInCanonicalOrder) {
  Builder b;
  b.md.config.numLayers = 1;
  b.md.config.qkvBias = true;
  std::vector<std::string> names;
  forEachImpliedTensor(b.md.config, [&](const ImpliedTensor &t) {
    names.push_back(t.name + " " + formatShape(t.shape));
    return true;
  });
  std::vector<std::string> expected = {"token_embd.weight [40, 32]",
                                       "blk.0.attn_norm.weight [32]",
                                       "blk.0.attn_q.weight [32, 32]",
                                       "blk.0.attn_k.weight [16, 32]",
                                       "blk.0.attn_v.weight [16, 32]",
                                       "blk.0.attn_q.bias [32]",
                                       "blk.0.attn_k.bias [16]",
                                       "blk.0.attn_v.bias [16]",
                                       "blk.0.attn_output.weight [32, 32]",
                                       "blk.0.ffn_norm.weight [32]",
                                       "blk.0.ffn_gate.weight [64, 32]",
                                       "blk.0.ffn_up.weight [64, 32]",
                                       "blk.0.ffn_down.weight [32, 64]",
                                       "output_norm.weight [32]",
                                       "output.weight [40, 32]"};
  EXPECT_EQ(names, expected);
}

// --- config -----------------------------------------------------------------

TEST(ModelValidation, ConfigErrors) {
  struct Case {
    std::function<void(ModelConfig &)> edit;
    std::string message;
  } cases[] = {
      {[](ModelConfig &c) { c.numHeads = 0; }, "m.gguf: config: numHeads must be positive, got 0"},
      {[](ModelConfig &c) { c.vocabSize = -3; },
       "m.gguf: config: vocabSize must be positive, got -3"},
      {[](ModelConfig &c) { c.headDim = 0; }, "m.gguf: config: headDim must be positive, got 0"},
      {[](ModelConfig &c) { c.numKVHeads = 3; },
       "m.gguf: config: numHeads 4 is not a multiple of numKVHeads 3"},
      {[](ModelConfig &c) { c.rotaryDim = 10; }, "m.gguf: config: rotaryDim 10 exceeds headDim 8"},
      {[](ModelConfig &c) { c.rotaryDim = 5; }, "m.gguf: config: rotaryDim 5 is odd"},
      {[](ModelConfig &c) {
         c.numExperts = 4;
         c.numExpertsUsed = 5;
       },
       "m.gguf: config: numExpertsUsed 5 must be between 1 and numExperts 4"},
      {[](ModelConfig &c) { c.numExpertsUsed = 2; },
       "m.gguf: config: numExpertsUsed is 2 but the model has no experts"},
      {[](ModelConfig &c) { c.rmsEps = 0; },
       "m.gguf: config: rmsEps must be positive and finite, got 0"},
      {[](ModelConfig &c) {
         c.ropeScaling = RopeScaling::Linear;
         c.ropeScalingFactor = -2;
       },
       "m.gguf: config: ropeScalingFactor must be positive and finite, got -2"},
      {[](ModelConfig &c) {
         c.numHeads = int64_t(1) << 40;
         c.numKVHeads = 1;
         c.headDim = int64_t(1) << 30;
         c.rotaryDim = 2;
       },
       "m.gguf: config: numHeads 1099511627776 * headDim 1073741824 overflows"},
      {[](ModelConfig &c) { c.arch.clear(); }, "m.gguf: config: arch is empty"},
  };
  for (const Case &tc : cases) {
    Builder b;
    b.full();
    tc.edit(b.md.config);
    EXPECT_EQ(errorOf(b.md), tc.message);
  }
}

// --- tensors ----------------------------------------------------------------

TEST(ModelValidation, ShapeContradictingConfig) {
  Builder b;
  b.full();
  TensorRef &q = b.get("blk.1.attn_q.weight");
  q.shape = {32, 16};
  q.nbytes = 32 * 16 * 4;
  EXPECT_EQ(errorOf(b.md), "m.gguf: tensor 'blk.1.attn_q.weight': expected shape [32, 32] "
                           "(heads*head_dim, hidden), got [32, 16] at byte " +
                               std::to_string(q.offset));
}

TEST(ModelValidation, ShapeErrorNamesSourceName) {
  Builder b;
  b.full();
  TensorRef &k = b.get("blk.0.attn_k.weight");
  k.file = "model.safetensors";
  k.sourceName = "model.layers.0.self_attn.k_proj.weight";
  k.shape = {32, 32};
  EXPECT_EQ(errorOf(b.md), "model.safetensors: tensor 'blk.0.attn_k.weight' (source "
                           "'model.layers.0.self_attn.k_proj.weight'): expected shape [16, 32] "
                           "(kv_heads*head_dim, hidden), got [32, 32] at byte " +
                               std::to_string(k.offset));
}

TEST(ModelValidation, MissingTensor) {
  Builder b;
  b.full();
  b.remove("blk.1.ffn_up.weight");
  EXPECT_EQ(errorOf(b.md), "m.gguf: tensor 'blk.1.ffn_up.weight': missing; the config "
                           "implies shape [64, 32] (ff, hidden)");
}

TEST(ModelValidation, MissingBias) {
  Builder b;
  b.md.config.qkvBias = true;
  b.full();
  b.remove("blk.0.attn_v.bias");
  EXPECT_EQ(errorOf(b.md), "m.gguf: tensor 'blk.0.attn_v.bias': missing; the config "
                           "implies shape [16] (kv_heads*head_dim)");
}

TEST(ModelValidation, MissingOutputUnlessTied) {
  Builder b;
  b.full();
  b.remove("output.weight");
  EXPECT_EQ(errorOf(b.md), "m.gguf: tensor 'output.weight': missing; the config implies "
                           "shape [40, 32] (vocab, hidden)");
  b.md.config.tiedEmbeddings = true;
  EXPECT_EQ(errorOf(b.md), "");
}

TEST(ModelValidation, SurplusTensor) {
  Builder b;
  b.full();
  TensorRef &extra = b.add("blk.2.attn_norm.weight", {32});
  extra.sourceName = "model.layers.2.input_layernorm.weight";
  EXPECT_EQ(errorOf(b.md), "m.gguf: tensor 'blk.2.attn_norm.weight' (source "
                           "'model.layers.2.input_layernorm.weight'): unexpected at byte " +
                               std::to_string(extra.offset) +
                               "; the config implies no such tensor");
}

TEST(ModelValidation, BiasWithoutQkvBiasIsSurplus) {
  Builder b;
  b.full();
  uint64_t at = b.add("blk.0.attn_q.bias", {32}).offset;
  EXPECT_EQ(errorOf(b.md), "m.gguf: tensor 'blk.0.attn_q.bias': unexpected at byte " +
                               std::to_string(at) + "; the config implies no such tensor");
}

TEST(ModelValidation, OutputWithTiedEmbeddingsIsSurplus) {
  Builder b;
  b.full();
  b.md.config.tiedEmbeddings = true;
  uint64_t at = b.get("output.weight").offset;
  EXPECT_EQ(errorOf(b.md), "m.gguf: tensor 'output.weight': unexpected at byte " +
                               std::to_string(at) + "; the config implies no such tensor");
}

TEST(ModelValidation, DuplicateTensor) {
  Builder b;
  b.full();
  uint64_t first = b.get("blk.0.ffn_norm.weight").offset;
  uint64_t second = b.add("blk.0.ffn_norm.weight", {32}).offset;
  EXPECT_EQ(errorOf(b.md), "m.gguf: tensor 'blk.0.ffn_norm.weight': duplicate at byte " +
                               std::to_string(second) + "; first at byte " + std::to_string(first) +
                               " of m.gguf");
}

TEST(ModelValidation, BlockFormatNeedsWholeBlocks) {
  Builder b;
  b.md.config.hiddenSize = 48; // not a multiple of 32
  b.md.config.numHeads = 6;
  b.md.config.numKVHeads = 2;
  b.full();
  TensorRef &t = b.get("token_embd.weight");
  t.format = StorageFormat::Q4_0;
  t.nbytes = 40 * 48 / 32 * 18; // what a careless writer would claim
  EXPECT_EQ(errorOf(b.md), "m.gguf: tensor 'token_embd.weight': innermost dimension 48 is "
                           "not a multiple of the q4_0 block size 32 (shape [40, 48] at "
                           "byte 64)");
}

TEST(ModelValidation, ByteCountMustMatchShape) {
  Builder b;
  b.full(StorageFormat::Q4_K);
  b.md.config.hiddenSize = 32;
  // q4_k blocks hold 256 values: a [64, 32] weight cannot be q4_k.
  EXPECT_EQ(errorOf(b.md), "m.gguf: tensor 'token_embd.weight': innermost dimension 32 is "
                           "not a multiple of the q4_k block size 256 (shape [40, 32] at "
                           "byte 64)");
  Builder c;
  c.full(StorageFormat::F16);
  TensorRef &t = c.get("blk.0.attn_output.weight");
  t.nbytes += 2;
  EXPECT_EQ(errorOf(c.md), "m.gguf: tensor 'blk.0.attn_output.weight': holds 2050 bytes at "
                           "byte " +
                               std::to_string(t.offset) + ", but shape [32, 32] of f16 needs 2048");
}

TEST(ModelValidation, NonPositiveDimension) {
  Builder b;
  b.md.config.vocabSize = 0;
  b.full();
  // The config check comes first...
  EXPECT_EQ(errorOf(b.md), "m.gguf: config: vocabSize must be positive, got 0");
  // ...and a tensor with a zero dimension never matches a valid config's shape.
  Builder c;
  c.full();
  c.get("output_norm.weight").shape = {0};
  EXPECT_EQ(errorOf(c.md), "m.gguf: tensor 'output_norm.weight': expected shape [32] "
                           "(hidden), got [0] at byte " +
                               std::to_string(c.get("output_norm.weight").offset));
}

TEST(ModelValidation, StackedPartsErrors) {
  auto moe = [] {
    Builder b;
    b.md.config.numExperts = 4;
    b.md.config.numExpertsUsed = 2;
    b.full();
    b.splitIntoParts("blk.0.ffn_up_exps.weight");
    return b;
  };
  {
    Builder b = moe();
    b.get("blk.0.ffn_up_exps.weight").parts.pop_back();
    EXPECT_EQ(errorOf(b.md), "expert0.safetensors: tensor 'blk.0.ffn_up_exps.weight': "
                             "stacked from 3 parts, but its shape [4, 64, 32] needs 4");
  }
  {
    Builder b = moe();
    TensorRef &p = b.get("blk.0.ffn_up_exps.weight").parts[2];
    p.shape = {32, 64};
    EXPECT_EQ(errorOf(b.md), "expert2.safetensors: tensor 'blk.0.ffn_up_exps.weight[2]' "
                             "(source 'src.2'): expected shape [64, 32] (a slice of "
                             "'blk.0.ffn_up_exps.weight' [4, 64, 32]), got [32, 64] at byte "
                             "1200");
  }
  {
    Builder b = moe();
    b.get("blk.0.ffn_up_exps.weight").parts[1].format = StorageFormat::F16;
    EXPECT_EQ(errorOf(b.md), "expert1.safetensors: tensor 'blk.0.ffn_up_exps.weight[1]' "
                             "(source 'src.1'): format f16 at byte 1100 differs from the "
                             "format f32 of 'blk.0.ffn_up_exps.weight'");
  }
  {
    Builder b = moe();
    b.get("blk.0.ffn_up_exps.weight").parts[3].nbytes = 7;
    EXPECT_EQ(errorOf(b.md), "expert3.safetensors: tensor 'blk.0.ffn_up_exps.weight[3]' "
                             "(source 'src.3'): holds 7 bytes at byte 1300, but shape "
                             "[64, 32] of f32 needs 8192");
  }
  {
    Builder b = moe();
    b.get("blk.0.ffn_up_exps.weight").nbytes = 1;
    EXPECT_EQ(errorOf(b.md), "expert0.safetensors: tensor 'blk.0.ffn_up_exps.weight': holds "
                             "1 bytes at byte 1000, but its parts hold 32768");
  }
}

TEST(ModelValidation, LyingLayerCountFailsFast) {
  Builder b;
  b.full();
  b.md.config.numLayers = int64_t(1) << 50;
  EXPECT_EQ(errorOf(b.md), "m.gguf: tensor 'blk.2.attn_norm.weight': missing; the config "
                           "implies shape [32] (hidden)");
}

} // namespace
