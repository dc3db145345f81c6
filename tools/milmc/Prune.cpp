//===- Prune.cpp - milmc prune: export a structurally pruned model as GGUF ===//
//
// Runs milm-prune-transact on a GGUF model (ranked on calibration text or on
// statistics from milmc calibrate) and writes the pruned model as a GGUF file
// for fine-tuning or for other runtimes: the source's metadata, with the
// per-layer head counts and FFN widths in the per-layer array form of the
// `<arch>.attention.head_count`, `.head_count_kv` and `.feed_forward_length`
// keys that llama.cpp reads, and every tensor as the pruned IR references it.
//
//===----------------------------------------------------------------------===//
#include "tools/milmc/Compile.h"

#include "codegen/artifact/ModelFromIR.h"
#include "frontends/gguf/GGUF.h"
#include "frontends/safetensors/HFModel.h"
#include "frontends/safetensors/SafetensorsFile.h"
#include "passes/Calibration.h"
#include "passes/Passes.h"
#include "passes/WeightStore.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

namespace milm {
using gguf::GGUFFile;
using gguf::GGUFWriter;
using gguf::KeyValue;
using gguf::TensorInfo;

namespace {
llvm::Error fail(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}
} // namespace

/// The pruned model as a Hugging Face checkpoint in the folder opts.output:
/// model.safetensors (f32/f16/bf16 weights only, under their HF names; a
/// llama GGUF's q/k rows put back in HF's rotate-half order) and config.json
/// (per-layer sizes as lists). The tokenizer stays in the GGUF.
static llvm::Error writeCheckpoint(const PruneCommandOptions &opts, mlir::ModuleOp module,
                                   const llvm::StringMap<mlir::milm::WeightOp> &weights) {
  namespace mm = mlir::milm;
  llvm::Expected<ModelConfig> cfg = modelConfigFromIR(module);
  if (!cfg)
    return cfg.takeError();
  llvm::Expected<std::optional<TokenizerData>> tok = tokenizerFromIR(module);
  if (!tok)
    return tok.takeError();
  if (cfg->numExperts > 0)
    return fail("safetensors export of a mixture-of-experts model is not supported (write GGUF)");
  // Every tensor in the order the GGUF had them (weights holds them by name).
  std::vector<std::string> names;
  for (const auto &e : weights)
    names.push_back(e.getKey().str());
  std::sort(names.begin(), names.end());
  std::vector<std::string> data(names.size());
  std::vector<SafetensorsWriteTensor> tensors;
  for (size_t i = 0; i < names.size(); ++i) {
    mm::WeightOp w = weights.lookup(names[i]);
    const StorageFormat f = static_cast<StorageFormat>(w.getType().getFormat());
    if (f != StorageFormat::F32 && f != StorageFormat::F16 && f != StorageFormat::BF16)
      return fail("safetensors holds f32, f16 and bf16 weights; '" + names[i] + "' is " +
                  mm::stringifyWeightFormat(w.getType().getFormat()) +
                  ": write GGUF (-o FILE.gguf)");
    const std::string hf = hfTensorName(names[i]);
    if (hf.empty())
      return fail("no Hugging Face name for tensor '" + names[i] + "'");
    llvm::Expected<std::vector<uint8_t>> bytes = readWeightBytes(w);
    if (!bytes)
      return bytes.takeError();
    std::string &b = data[i];
    b.assign(bytes->begin(), bytes->end());
    // llama GGUFs interleave each head's rotary pairs (rope "norm"); HF
    // checkpoints keep them in halves.
    llvm::StringRef n = names[i];
    if (cfg->ropePairing == RopePairing::Norm &&
        (n.ends_with("attn_q.weight") || n.ends_with("attn_k.weight")))
      b = hfRowsFromNormPairing(b, cfg->headDim, b.size() / size_t(w.getType().getShape()[0]));
    tensors.push_back({hf, f, std::vector<int64_t>(w.getType().getShape()), b});
  }
  if (std::error_code ec = llvm::sys::fs::create_directories(opts.output))
    return fail(opts.output + ": cannot create the folder: " + ec.message());
  if (llvm::Error e = writeSafetensors(opts.output + "/model.safetensors", tensors))
    return e;
  std::optional<int64_t> bos, eos;
  if (*tok && (*tok)->bos)
    bos = (*tok)->bos;
  if (*tok && (*tok)->eos)
    eos = (*tok)->eos;
  if (llvm::Error e = writeFileAtomically(opts.output + "/config.json", hfConfigJson(*cfg, bos, eos)))
    return e;
  llvm::errs() << "milmc: wrote " << opts.output << "/model.safetensors (" << tensors.size()
               << " tensors) and config.json; the tokenizer is the source GGUF's\n";
  return llvm::Error::success();
}

llvm::Error pruneModel(const PruneCommandOptions &opts) {
  namespace mm = mlir::milm;
  if (opts.output.empty())
    return fail("prune needs -o FILE.gguf, or -o FOLDER for safetensors + config.json (where "
                "the pruned model goes)");
  if (opts.text.empty() == opts.calibration.empty())
    return fail("prune ranks heads and channels on calibration text: give --text FILE or "
                "--calibration STATS (milmc calibrate), one of them");
  if (!(opts.heads >= 0 && opts.heads < 1) || !(opts.ffn >= 0 && opts.ffn < 1) ||
      !(opts.kvHeads >= 0 && opts.kvHeads < 1))
    return fail("--heads, --kv-heads and --ffn take a fraction in [0, 1)");
  if (opts.heads == 0 && opts.ffn == 0 && opts.kvHeads == 0 && opts.keepHeads.empty() &&
      opts.keepFfn.empty() && opts.keepKvHeads.empty())
    return fail("nothing to prune: give --heads, --kv-heads and/or --ffn (fractions to "
                "remove), or --keep-heads/--keep-kv-heads/--keep-ffn (counts to keep)");
  bool same = false;
  if (!llvm::sys::fs::equivalent(opts.model, opts.output, same) && same)
    return fail(opts.output + ": the output would overwrite the input model; choose another -o");
  llvm::Expected<std::unique_ptr<GGUFFile>> src = GGUFFile::open(opts.model);
  if (!src)
    return fail("milmc prune reads and writes GGUF: " + llvm::toString(src.takeError()));

  mlir::MLIRContext ctx;
  llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>> module = loadModelModule(ctx, opts.model, 0);
  if (!module)
    return module.takeError();
  llvm::SmallString<128> dir;
  if (std::error_code ec = llvm::sys::fs::createUniqueDirectory("milmc-prune", dir))
    return fail("cannot create a temporary folder: " + ec.message());
  struct Remove {
    std::string d;
    ~Remove() { llvm::sys::fs::remove_directories(d); }
  } remove{std::string(dir)};

  mlir::PassManager pm(&ctx);
  std::string stats = opts.calibration;
  if (!opts.text.empty()) {
    llvm::Expected<std::vector<int32_t>> ids = tokenizeWithModel(**module, opts.text);
    if (!ids)
      return ids.takeError();
    const std::string tokens = std::string(dir) + "/calibration.tokens";
    if (llvm::Error e = writeTokenIds(tokens, *ids))
      return e;
    stats = std::string(dir) + "/calibration.stats";
    CalibrateOptions c;
    c.tokens = tokens;
    c.stats = stats;
    c.maxWindows = opts.windows;
    c.matrices = opts.reconstruct;
    c.progress = true;
    pm.addPass(createCalibrate(c));
  }
  PruneTransactOptions p;
  p.heads = opts.heads;
  p.kvHeads = opts.kvHeads;
  p.keepKvHeads.assign(opts.keepKvHeads.begin(), opts.keepKvHeads.end());
  p.ffn = opts.ffn;
  p.keepHeads.assign(opts.keepHeads.begin(), opts.keepHeads.end());
  p.keepFfn.assign(opts.keepFfn.begin(), opts.keepFfn.end());
  p.reconstruct = opts.reconstruct;
  p.calibration = stats;
  p.weightStore = std::string(dir) + "/weights.milmstore";
  p.threads = std::max(1u, llvm::hardware_concurrency().compute_thread_count());
  pm.addPass(createPruneTransact(p));
  if (llvm::Error e = runPasses(pm, **module, opts.model))
    return e;

  // The pruned weights by name, and the config's per-layer sizes.
  llvm::StringMap<mm::WeightOp> weights;
  mm::ModelConfigAttr cfg;
  (*module)->walk([&](mm::WeightOp w) { weights[w.getName()] = w; });
  (*module)->walk([&](mm::ModelOp m) { cfg = m.getConfig(); });
  if (!cfg)
    return fail(opts.model + ": no milm.model after pruning");

  if (!llvm::StringRef(opts.output).ends_with(".gguf"))
    return writeCheckpoint(opts, **module, weights);

  llvm::Expected<llvm::StringRef> srcArch = (*src)->getString("general.architecture");
  if (!srcArch)
    return srcArch.takeError();
  // llama.cpp reads per-layer head counts and FFN widths for its `deci`
  // architecture (llama's graph), not for `llama` (whose layers must all be
  // alike): a llama model whose layers now differ is written as deci.
  // (deci has no experts: an MoE model stays llama.)
  const bool layered = cfg.hasLayerShapes();
  const std::string arch =
      layered && *srcArch == "llama" && cfg.getNumExperts() == 0 ? "deci" : srcArch->str();
  if (layered && arch != "deci")
    llvm::errs() << "milmc: warning: the layers of this " << *srcArch
                 << " model now differ in size; llama.cpp reads per-layer sizes only for "
                    "its deci architecture (dense llama), so only milm reads this file\n";
  GGUFWriter w;
  for (const KeyValue &kv : (*src)->metadata()) {
    llvm::StringRef key = kv.key;
    if (key.consume_front((*srcArch + ".").str()))
      w.set(arch + "." + key.str(), kv.value);
    else
      w.set(kv.key, kv.value);
  }
  w.setString("general.architecture", arch);
  auto perLayer = [&](llvm::StringRef suffix, int64_t (mm::ModelConfigAttr::*at)(int64_t) const,
                      bool uniform, int64_t scalar) {
    const std::string key = arch + "." + suffix.str();
    if (uniform) {
      w.setUInt32(key, uint32_t(scalar));
      return;
    }
    std::vector<int32_t> v;
    for (int64_t l = 0; l < cfg.getNumLayers(); ++l)
      v.push_back(int32_t((cfg.*at)(l)));
    w.setIntArray(key, v);
  };
  perLayer("attention.head_count", &mm::ModelConfigAttr::headsAt, cfg.getLayerHeads().empty(),
           cfg.getNumHeads());
  perLayer("attention.head_count_kv", &mm::ModelConfigAttr::kvHeadsAt,
           cfg.getLayerKvHeads().empty(), cfg.getNumKvHeads());
  perLayer("feed_forward_length", &mm::ModelConfigAttr::ffnAt, cfg.getLayerFfn().empty(),
           cfg.getFfnSize());
  // With head counts that differ between layers, the head dimension cannot
  // be derived from the embedding length: say it.
  w.setUInt32(arch + ".attention.key_length", uint32_t(cfg.getHeadDim()));
  w.setUInt32(arch + ".attention.value_length", uint32_t(cfg.getHeadDim()));

  for (const TensorInfo &t : (*src)->tensors()) {
    auto it = weights.find(t.name);
    if (it == weights.end()) {
      // Not in the IR (nothing reads it): as it is in the source.
      w.addTensor(t.name, t.ne, t.format, (*src)->tensorData(t));
      continue;
    }
    mm::WeightOp op = it->second;
    llvm::Expected<std::vector<uint8_t>> bytes = readWeightBytes(op);
    if (!bytes)
      return bytes.takeError();
    std::vector<uint64_t> ne;
    for (int64_t d : llvm::reverse(op.getType().getShape()))
      ne.push_back(uint64_t(d));
    w.addTensor(t.name, ne, static_cast<StorageFormat>(op.getType().getFormat()), *bytes);
  }
  if (llvm::Error e = w.write(opts.output))
    return e;
  uint64_t size = 0;
  llvm::sys::fs::file_size(opts.output, size);
  llvm::errs() << llvm::format("milmc: wrote %s (%.1f MiB, %zu tensors)\n", opts.output.c_str(),
                               double(size) / 1048576.0, w.numTensors());
  return llvm::Error::success();
}

} // namespace milm
