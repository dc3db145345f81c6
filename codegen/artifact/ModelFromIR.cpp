//===- ModelFromIR.cpp - What model.milm says about a model, read from IR --===//
#include "codegen/artifact/ModelFromIR.h"

#include "dialects/milm/MilmDialect.h"
#include "frontends/builder/ModelBuilder.h"

#include "llvm/Support/Path.h"

namespace milm {
namespace {

namespace mm = mlir::milm;

llvm::Error err(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

llvm::Expected<mm::ModelOp> theModel(mlir::ModuleOp module) {
  mm::ModelOp found;
  unsigned count = 0;
  module.walk([&](mm::ModelOp op) {
    found = op;
    ++count;
  });
  if (count != 1)
    return err("the module holds " + llvm::Twine(count) +
               " milm.model ops; a compiled artifact is one model");
  return found;
}

} // namespace

llvm::Expected<ModelConfig> modelConfigFromIR(mlir::ModuleOp module) {
  llvm::Expected<mm::ModelOp> model = theModel(module);
  if (!model)
    return model.takeError();
  mm::ModelConfigAttr a = model->getConfig();
  ModelConfig c;
  c.arch = a.getArch().str();
  c.name = a.getName().str();
  c.vocabSize = a.getVocabSize();
  c.contextLength = a.getContextLength();
  c.hiddenSize = a.getHiddenSize();
  c.numLayers = a.getNumLayers();
  c.numHeads = a.getNumHeads();
  c.numKVHeads = a.getNumKvHeads();
  c.headDim = a.getHeadDim();
  c.ffnSize = a.getFfnSize();
  c.numExperts = a.getNumExperts();
  c.numExpertsUsed = a.getExpertsUsed();
  c.tiedEmbeddings = a.getTiedEmbeddings();
  c.layerHeads.assign(a.getLayerHeads().begin(), a.getLayerHeads().end());
  c.layerKVHeads.assign(a.getLayerKvHeads().begin(), a.getLayerKvHeads().end());
  c.layerFfn.assign(a.getLayerFfn().begin(), a.getLayerFfn().end());

  // What the ops say: the first of each kind (norms and rotary embeddings are
  // alike in every layer; head counts and FFN widths come from the config).
  mm::RMSNormOp norm;
  mm::RopeOp rope;
  bool bias = false;
  model->walk([&](mlir::Operation *op) {
    if (auto n = llvm::dyn_cast<mm::RMSNormOp>(op); n && !norm)
      norm = n;
    else if (auto r = llvm::dyn_cast<mm::RopeOp>(op); r && !rope)
      rope = r;
    else if (auto l = llvm::dyn_cast<mm::LinearOp>(op))
      bias |= static_cast<bool>(l.getBias());
  });
  if (!norm || !rope)
    return err("milm.model @" + model->getSymName() + " has no " +
               (norm ? "milm.rope" : "milm.rms_norm") +
               " op: model.milm records its parameters");
  c.rmsEps = norm.getEps().convertToDouble();
  c.ropeBase = rope.getBase().convertToDouble();
  c.ropePairing = rope.getPairing() == mm::RopePairing::neox ? RopePairing::Neox : RopePairing::Norm;
  switch (rope.getScaling()) {
  case mm::RopeScaling::none: c.ropeScaling = RopeScaling::None; break;
  case mm::RopeScaling::linear: c.ropeScaling = RopeScaling::Linear; break;
  case mm::RopeScaling::ntk: c.ropeScaling = RopeScaling::NTK; break;
  case mm::RopeScaling::yarn: c.ropeScaling = RopeScaling::YaRN; break;
  }
  if (std::optional<llvm::APFloat> f = rope.getFactor())
    c.ropeScalingFactor = f->convertToDouble();
  if (std::optional<uint64_t> o = rope.getOriginalContext())
    c.ropeOrigContext = int64_t(*o);
  c.rotaryDim = rope.getRotaryDim() ? int64_t(*rope.getRotaryDim()) : c.headDim;
  c.qkvBias = bias;
  return c;
}

llvm::Expected<std::optional<TokenizerData>> tokenizerFromIR(mlir::ModuleOp module) {
  llvm::Expected<mm::ModelOp> model = theModel(module);
  if (!model)
    return model.takeError();
  mm::ModelConfigAttr a = model->getConfig();
  llvm::StringRef source = a.getTokenizerSource();
  if (source.empty())
    return std::nullopt;
  // A Hugging Face tokenizer.json is read with the folder it lives in
  // (config.json's special tokens, tokenizer_config.json's add_bos_token).
  std::string path = source.str();
  if (llvm::sys::path::filename(source) == "tokenizer.json") {
    path = llvm::sys::path::parent_path(source).str();
    if (path.empty())
      path = ".";
  }
  llvm::Expected<ModelDescription> desc = importModel(path);
  if (!desc)
    return err("the tokenizer of milm.model @" + model->getSymName() + " (tokenizer_source \"" +
               source + "\"): " + llvm::toString(desc.takeError()));
  if (!desc->tokenizer)
    return err(source + ": holds no tokenizer, but milm.model @" + model->getSymName() +
               " names it as its tokenizer_source");
  TokenizerData t = std::move(*desc->tokenizer);
  if (int64_t(t.tokens.size()) != a.getVocabSize())
    return err(source + ": a tokenizer of " + llvm::Twine(t.tokens.size()) +
               " tokens, but milm.model @" + model->getSymName() + " has a vocabulary of " +
               llvm::Twine(a.getVocabSize()));
  // The special tokens are the IR's.
  t.bos = a.getBosToken() >= 0 ? std::optional<int64_t>(a.getBosToken()) : std::nullopt;
  t.eos = a.getEosToken() >= 0 ? std::optional<int64_t>(a.getEosToken()) : std::nullopt;
  return t;
}

} // namespace milm
