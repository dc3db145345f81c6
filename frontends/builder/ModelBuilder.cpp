//===- ModelBuilder.cpp - ModelDescription -> milm IR ---------------------===//
#include "frontends/builder/ModelBuilder.h"

#include "dialects/milm/MilmDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Path.h"

#include <charconv>
#include <cstdlib>

using namespace mlir;
namespace mm = mlir::milm;

namespace milm {
namespace {

mm::WeightFormat toWeightFormat(StorageFormat f) {
  // milm's WeightFormat uses ggml_type numbers, like StorageFormat.
  return static_cast<mm::WeightFormat>(static_cast<uint32_t>(f));
}

/// GGUF stores eps and rope bases as f32: 1e-5f widens to 9.99999974e-06.
/// Values that are exactly an f32 are given back as the shortest decimal that
/// reads back as that f32, so the IR says 1.0e-05, as the model author wrote.
double canonicalF64(double v) {
  float f = static_cast<float>(v);
  if (static_cast<double>(f) != v)
    return v;
  char text[64];
  auto res = std::to_chars(text, text + sizeof(text) - 1, f); // shortest round trip
  *res.ptr = 0;
  return std::strtod(text, nullptr);
}

std::string symbolFor(llvm::StringRef path) {
  std::string stem = llvm::sys::path::stem(path).str();
  if (stem == "config" || stem == "model" || stem.rfind("model.safetensors", 0) == 0)
    stem = llvm::sys::path::filename(llvm::sys::path::parent_path(path)).str();
  std::string out;
  for (char c : stem)
    out += (llvm::isAlnum(c) || c == '_') ? c : '_';
  if (out.empty() || llvm::isDigit(out[0]))
    out = "m_" + out;
  return out;
}

class Builder {
public:
  Builder(MLIRContext &ctx, const ModelDescription &model)
      : ctx(ctx), model(model), cfg(model.config), b(&ctx) {}

  llvm::Expected<OwningOpRef<ModuleOp>> build(const BuildOptions &options);

private:
  /// A milm.weight for the canonical tensor `name`, or an error naming it.
  llvm::Expected<Value> weight(const std::string &name);
  /// A milm.weight for slice `e` of the stacked tensor `name` (an expert's
  /// matrix), named `name[e]`.
  llvm::Expected<Value> slice(const std::string &name, int64_t e);
  RankedTensorType act(int64_t features) {
    return RankedTensorType::get({ShapedType::kDynamic, features}, b.getF32Type());
  }
  llvm::Error error(const llvm::Twine &msg) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   model.sourcePath + ": " + msg);
  }

  MLIRContext &ctx;
  const ModelDescription &model;
  const ModelConfig &cfg;
  OpBuilder b;
  Location loc = UnknownLoc::get(&ctx);
};

llvm::Expected<Value> Builder::weight(const std::string &name) {
  const TensorRef *t = model.findTensor(name);
  if (!t)
    return error("tensor '" + name + "' is missing");
  auto type = mm::WeightType::getChecked(
      [&] { return emitError(loc); }, &ctx, ArrayRef<int64_t>(t->shape), toWeightFormat(t->format));
  if (!type)
    return error("tensor '" + name + "' has a shape its format cannot store");
  auto op = mm::WeightOp::create(b, loc, type, b.getStringAttr(name), StringAttr(),
                                 IntegerAttr(), ArrayAttr(), DenseI64ArrayAttr());
  if (t->parts.empty()) {
    op.setFileAttr(b.getStringAttr(t->file));
    op.setOffsetAttr(b.getI64IntegerAttr(static_cast<int64_t>(t->offset)));
  } else {
    SmallVector<Attribute> files;
    SmallVector<int64_t> offsets;
    for (const TensorRef &p : t->parts) {
      files.push_back(b.getStringAttr(p.file));
      offsets.push_back(static_cast<int64_t>(p.offset));
    }
    op.setPartFilesAttr(b.getArrayAttr(files));
    op.setPartOffsetsAttr(b.getDenseI64ArrayAttr(offsets));
  }
  return op.getResult();
}

llvm::Expected<Value> Builder::slice(const std::string &name, int64_t e) {
  const TensorRef *t = model.findTensor(name);
  if (!t)
    return error("tensor '" + name + "' is missing");
  if (t->shape.size() < 2 || e < 0 || e >= t->shape[0])
    return error("tensor '" + name + "' has no slice " + llvm::Twine(e));
  ArrayRef<int64_t> inner = ArrayRef<int64_t>(t->shape).drop_front();
  auto type = mm::WeightType::getChecked([&] { return emitError(loc); }, &ctx, inner,
                                         toWeightFormat(t->format));
  if (!type)
    return error("tensor '" + name + "' has a shape its format cannot store");
  std::optional<uint64_t> bytes = rowBytes(t->format, static_cast<uint64_t>(inner.back()));
  for (int64_t d : inner.drop_back())
    if (bytes && (d < 0 || (d != 0 && *bytes > UINT64_MAX / static_cast<uint64_t>(d))))
      bytes.reset();
    else if (bytes)
      *bytes *= static_cast<uint64_t>(d);
  if (!bytes)
    return error("tensor '" + name + "': its slices' size overflows");
  const TensorRef *part = t->parts.empty() ? nullptr : &t->parts[static_cast<size_t>(e)];
  const std::string file = part ? part->file : t->file;
  const uint64_t offset = part ? part->offset : t->offset + static_cast<uint64_t>(e) * *bytes;
  return mm::WeightOp::create(b, loc, type, b.getStringAttr(name + "[" + std::to_string(e) + "]"),
                              b.getStringAttr(file), b.getI64IntegerAttr(int64_t(offset)),
                              ArrayAttr(), DenseI64ArrayAttr())
      .getResult();
}

llvm::Expected<OwningOpRef<ModuleOp>> Builder::build(const BuildOptions &options) {
  ctx.loadDialect<mm::MilmDialect, func::FuncDialect>();

  const int64_t D = cfg.hiddenSize, KV = cfg.numKVHeads,
                HD = cfg.headDim, V = cfg.vocabSize;
  const bool moe = cfg.numExperts > 0;
  std::string tokSource;
  if (model.tokenizer)
    tokSource = model.tokenizer->source.empty() ? model.sourcePath : model.tokenizer->source;
  auto config = mm::ModelConfigAttr::getChecked(
      [&] { return emitError(loc); }, &ctx, StringRef(cfg.arch), V, cfg.contextLength, D,
      cfg.numLayers, cfg.numHeads, KV, HD, cfg.ffnSize, cfg.numExperts, cfg.numExpertsUsed,
      model.tokenizer && model.tokenizer->bos ? *model.tokenizer->bos : -1,
      model.tokenizer && model.tokenizer->eos ? *model.tokenizer->eos : -1,
      cfg.tiedEmbeddings, StringRef(model.tokenizer ? model.tokenizer->model : ""),
      StringRef(tokSource), StringRef(cfg.name), ArrayRef<int64_t>(cfg.layerHeads),
      ArrayRef<int64_t>(cfg.layerKVHeads), ArrayRef<int64_t>(cfg.layerFfn));
  if (!config)
    return error("the model configuration is inconsistent");

  Type cacheElem = options.cacheElement == "f32"    ? b.getF32Type()
                   : options.cacheElement == "bf16" ? b.getBF16Type()
                   : options.cacheElement == "f16"  ? b.getF16Type()
                                                    : Type();
  if (!cacheElem)
    return error("unknown KV cache element type '" + options.cacheElement +
                 "' (f16, bf16 or f32)");
  int64_t capacity = options.cacheCapacity ? options.cacheCapacity : cfg.contextLength;
  auto cacheType = mm::KVCacheType::get(&ctx, cfg.numLayers, KV, HD, capacity, cacheElem,
                                        ArrayRef<int64_t>(cfg.layerKVHeads));

  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  b.setInsertionPointToEnd(module->getBody());
  std::string name = options.modelName.empty() ? symbolFor(model.sourcePath) : options.modelName;
  auto modelOp = mm::ModelOp::create(b, loc, name, config);
  modelOp.getBody().emplaceBlock();
  b.setInsertionPointToStart(&modelOp.getBody().front());

  auto ids = RankedTensorType::get({ShapedType::kDynamic}, b.getI32Type());
  auto fn = func::FuncOp::create(b, loc, "forward",
                                 b.getFunctionType({ids, ids, cacheType}, {act(V)}));
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  Value tokens = entry->getArgument(0), positions = entry->getArgument(1),
        cache = entry->getArgument(2);

  auto eps = b.getF64FloatAttr(canonicalF64(cfg.rmsEps));
  auto pairing = mm::RopePairingAttr::get(
      &ctx, cfg.ropePairing == RopePairing::Neox ? mm::RopePairing::neox : mm::RopePairing::norm);
  mm::RopeScaling scalingKind = mm::RopeScaling::none;
  switch (cfg.ropeScaling) {
  case RopeScaling::None: break;
  case RopeScaling::Linear: scalingKind = mm::RopeScaling::linear; break;
  case RopeScaling::NTK: scalingKind = mm::RopeScaling::ntk; break;
  case RopeScaling::YaRN: scalingKind = mm::RopeScaling::yarn; break;
  }
  auto rope = [&](Value x, int64_t width) -> Value {
    auto op = mm::RopeOp::create(b, loc, act(width), x, positions, b.getI64IntegerAttr(HD), pairing,
                                 b.getF64FloatAttr(canonicalF64(cfg.ropeBase)),
                                 mm::RopeScalingAttr::get(&ctx, scalingKind), FloatAttr(),
                                 IntegerAttr(), IntegerAttr());
    if (scalingKind != mm::RopeScaling::none) {
      op.setFactorAttr(b.getF64FloatAttr(canonicalF64(cfg.ropeScalingFactor)));
      if (cfg.ropeOrigContext > 0)
        op.setOriginalContextAttr(b.getI64IntegerAttr(cfg.ropeOrigContext));
    }
    if (cfg.rotaryDim > 0 && cfg.rotaryDim != HD)
      op.setRotaryDimAttr(b.getI64IntegerAttr(cfg.rotaryDim));
    return op;
  };

#define MILM_WEIGHT(var, name)                                                 \
  auto var##OrErr = weight(name);                                              \
  if (!var##OrErr)                                                             \
    return var##OrErr.takeError();                                             \
  Value var = *var##OrErr;

  MILM_WEIGHT(table, "token_embd.weight");
  Value x = mm::EmbeddingOp::create(b, loc, act(D), table, tokens);
  for (int64_t l = 0; l < cfg.numLayers; ++l) {
    const int64_t H = cfg.headsAt(l), KV = cfg.kvHeadsAt(l), F = cfg.ffnAt(l);
    std::string p = "blk." + std::to_string(l) + ".";
    MILM_WEIGHT(attnNorm, p + "attn_norm.weight");
    Value h = mm::RMSNormOp::create(b, loc, act(D), x, attnNorm, eps);
    auto proj = [&](const char *n, int64_t rows) -> llvm::Expected<Value> {
      auto w = weight(p + "attn_" + n + ".weight");
      if (!w)
        return w.takeError();
      Value bias;
      if (cfg.qkvBias) {
        auto bw = weight(p + "attn_" + n + ".bias");
        if (!bw)
          return bw.takeError();
        bias = *bw;
      }
      return mm::LinearOp::create(b, loc, act(rows), h, *w, bias).getResult();
    };
    auto q = proj("q", H * HD);
    if (!q) return q.takeError();
    auto k = proj("k", KV * HD);
    if (!k) return k.takeError();
    auto v = proj("v", KV * HD);
    if (!v) return v.takeError();
    Value qr = rope(*q, H * HD), kr = rope(*k, KV * HD);
    Value attn = mm::AttentionOp::create(b, loc, act(H * HD), qr, kr, *v, cache, positions,
                                         Value(), l, H, KV, HD, mm::AttentionMask::causal,
                                         FloatAttr());
    MILM_WEIGHT(wo, p + "attn_output.weight");
    Value o = mm::LinearOp::create(b, loc, act(D), attn, wo, Value());
    Value r1 = mm::AddOp::create(b, loc, x.getType(), x, o);
    MILM_WEIGHT(ffnNorm, p + "ffn_norm.weight");
    Value h2 = mm::RMSNormOp::create(b, loc, act(D), r1, ffnNorm, eps);
    Value f;
    if (moe) {
      MILM_WEIGHT(router, p + "ffn_gate_inp.weight");
      if (options.unfusedMoE) {
        const int64_t E = cfg.numExperts;
        Value route = mm::MoERouteOp::create(b, loc, act(E), h2, router, cfg.numExpertsUsed,
                                             mm::MoEWeighting::topk_softmax);
        SmallVector<Value> outs;
        for (int64_t e = 0; e < E; ++e) {
          auto gate = slice(p + "ffn_gate_exps.weight", e);
          if (!gate) return gate.takeError();
          auto up = slice(p + "ffn_up_exps.weight", e);
          if (!up) return up.takeError();
          auto down = slice(p + "ffn_down_exps.weight", e);
          if (!down) return down.takeError();
          Value g = mm::LinearOp::create(b, loc, act(F), h2, *gate, Value());
          Value u = mm::LinearOp::create(b, loc, act(F), h2, *up, Value());
          Value m = mm::SwiGLUOp::create(b, loc, g.getType(), g, u);
          outs.push_back(mm::LinearOp::create(b, loc, act(D), m, *down, Value()));
        }
        f = mm::MoECombineOp::create(b, loc, act(D), route, outs);
      } else {
        MILM_WEIGHT(gate, p + "ffn_gate_exps.weight");
        MILM_WEIGHT(up, p + "ffn_up_exps.weight");
        MILM_WEIGHT(down, p + "ffn_down_exps.weight");
        f = mm::MoEOp::create(b, loc, act(D), h2, router, gate, up, down, cfg.numExpertsUsed,
                              mm::MoEWeighting::topk_softmax);
      }
    } else {
      MILM_WEIGHT(gate, p + "ffn_gate.weight");
      MILM_WEIGHT(up, p + "ffn_up.weight");
      MILM_WEIGHT(down, p + "ffn_down.weight");
      Value g = mm::LinearOp::create(b, loc, act(F), h2, gate, Value());
      Value u = mm::LinearOp::create(b, loc, act(F), h2, up, Value());
      Value m = mm::SwiGLUOp::create(b, loc, g.getType(), g, u);
      f = mm::LinearOp::create(b, loc, act(D), m, down, Value());
    }
    x = mm::AddOp::create(b, loc, r1.getType(), r1, f);
  }
  MILM_WEIGHT(outNorm, "output_norm.weight");
  Value hf = mm::RMSNormOp::create(b, loc, act(D), x, outNorm, eps);
  Value outW = table;
  if (!cfg.tiedEmbeddings) {
    MILM_WEIGHT(out, "output.weight");
    outW = out;
  }
  Value logits = mm::LogitsOp::create(b, loc, act(V), hf, outW);
  func::ReturnOp::create(b, loc, logits);
#undef MILM_WEIGHT

  std::string diag;
  {
    ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &d) {
      if (diag.empty())
        diag = d.str();
      return success();
    });
    if (failed(verify(*module)))
      return error("the imported model does not verify: " + diag);
  }
  return module;
}

} // namespace

llvm::Expected<OwningOpRef<ModuleOp>> buildModelIR(MLIRContext &ctx,
                                                   const ModelDescription &model,
                                                   const BuildOptions &options) {
  return Builder(ctx, model).build(options);
}

} // namespace milm
