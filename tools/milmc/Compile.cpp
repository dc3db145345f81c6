//===- Compile.cpp - milmc compile ----------------------------------------===//
//
//   MODEL (or milm IR in a .mlir file) -> milm IR -> the model pipeline
//         (passes/, weights they create in OUT/.milmc-staging-*/weights.milmstore)
//         -> the artifact's config and tokenizer, read from the IR (ModelFromIR.h)
//         -> --milm-lower-to-cpu -> LLVM IR + op layer + microkernels
//         -> OUT/model.o (TargetMachine) -> OUT/model.milm (artifact writer)
//         -> OUT/milm-run (ld.lld with the runtime, statically)
//   --embed-weights: model.milm goes into OUT/milm-run (ld.lld --format=binary)
//   and is not left in OUT/.
//
//===----------------------------------------------------------------------===//
#include "tools/milmc/Compile.h"
#include "tools/milmc/Compare.h"
#include "tools/milmc/Package.h"

#include "codegen/Target.h"
#include "frontends/builder/ModelBuilder.h"
#include "passes/Calibration.h"
#include "passes/Passes.h"
#include "runtime/LinkConfig.h"
#include "codegen/artifact/ArtifactWriter.h"
#include "codegen/artifact/ModelFromIR.h"
#include "dialects/milm/MilmDialect.h"
#include "milm/artifact.h"
#include "milm/tokenizer.h"

// The generic (portable C) microkernels' repackers: the same code, linked into
// milmc, that defines the packed layouts the target kernels read.
#define MILM_UK_PREFIX milm_uk_generic_
#include "codegen/ukernels/include/milm_ukernels.h"
#undef MILM_UK_PREFIX

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/Threading.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cstdint>
#include <unistd.h>

namespace milm {
namespace {

llvm::Error err(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

/// The packed layouts of `rowGroup` rows milmc writes for kernels that read
/// them, "q4_0x8 q8_0x8 ...".
std::string repackedLayoutNames(int64_t rowGroup) {
  std::string names;
  for (const PackedLayoutInfo &p : kPackedLayouts)
    if (static_cast<int64_t>(p.rowGroup) == rowGroup)
      names += (names.empty() ? "" : " ") + std::string(p.name);
  return names;
}

} // namespace

/// The bytes of the KV cache milm_context_new allocates for this code
/// (model_abi.h's milm_model_kv_bytes on its descriptor).
static bool kvCacheBytes(const LoweredModelInfo &info, uint64_t *bytes) {
  milm_model_desc d{};
  d.num_layers = info.layers;
  d.num_kv_heads = info.kvHeads;
  d.head_dim = info.headDim;
  d.kv_capacity = info.kvCapacity;
  d.layer_kv_heads = info.layerKvHeads.empty() ? nullptr : info.layerKvHeads.data();
  return milm_model_kv_bytes(&d, bytes);
}

/// Runs `pm` on `module`; a failure is one line with the first error. A
/// pass's warnings and remarks (what it measured: milm-quantize's bits per
/// weight) are printed as they come, one line each.
llvm::Error runPasses(mlir::PassManager &pm, mlir::ModuleOp module, const std::string &model) {
  std::string diag;
  mlir::ScopedDiagnosticHandler handler(module.getContext(), [&](mlir::Diagnostic &d) {
    if (d.getSeverity() == mlir::DiagnosticSeverity::Warning)
      llvm::errs() << "milmc: warning: " << model << ": " << d.str() << "\n";
    else if (d.getSeverity() == mlir::DiagnosticSeverity::Remark)
      llvm::errs() << "milmc: " << d.str() << "\n";
    else if (diag.empty() && d.getSeverity() == mlir::DiagnosticSeverity::Error)
      diag = d.str();
    return mlir::success();
  });
  if (mlir::failed(pm.run(module)))
    return err(model + ": cannot compile: " + diag);
  return llvm::Error::success();
}

namespace {

struct Stage {
  explicit Stage(std::string what) : what(std::move(what)), start(std::chrono::steady_clock::now()) {
    llvm::errs() << "milmc: " << this->what << "...\n";
  }
  double done() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  std::string what;
  std::chrono::steady_clock::time_point start;
};

} // namespace

namespace {

/// Everything is written into a staging folder inside OUT/ (same file system)
/// and renamed into place only when all of it succeeded: a failed compile
/// leaves OUT/ as it was, and an earlier milm-run there still runs. OUT/ and
/// the folder are made once a model has been read; the folder goes when this
/// does.
struct StagingDir {
  explicit StagingDir(std::string outDir) : outDir(std::move(outDir)) {}
  ~StagingDir() {
    if (!path.empty())
      llvm::sys::fs::remove_directories(path);
  }
  llvm::Error create() {
    if (!path.empty())
      return llvm::Error::success();
    if (std::error_code ec = llvm::sys::fs::create_directories(outDir))
      return err(outDir + ": " + ec.message());
    llvm::SmallString<256> p;
    llvm::sys::fs::createUniquePath(outDir + "/.milmc-staging-%%%%%%", p, false);
    if (std::error_code ec = llvm::sys::fs::create_directory(p, /*IgnoreExisting=*/false))
      return err(p + ": " + ec.message());
    path = std::string(p);
    return llvm::Error::success();
  }
  std::string outDir, path;
};

/// One model of a compile (the model, or the draft model linked beside it).
struct UnitOptions {
  std::string model;      ///< its file
  std::string stem;       ///< "model" or "draft": STAGING/<stem>.o and <stem>.milm
  std::string symbolPrefix; ///< "milm_" or "milm_draft_" (model_abi.h)
  /// --emit package: the symbols carry the package's own prefix
  /// ("milm_<name>_", "milm_<name>_draft_"), symbolPrefix's names are weak
  /// aliases of them.
  bool packagePrefix = false;
  std::string quantize;
  bool quantizePure = false;
  bool rotate = false;
  bool calibrated = false; ///< the model (not the draft): --calibrate, --gptq, --outliers apply
};

/// What compiling one model left in the staging folder.
struct CompiledUnit {
  std::string object, artifact; ///< STAGING/<stem>.o and <stem>.milm
  std::string modelName;
  std::string symbolPrefix; ///< what the object's symbols are named with
  ModelConfig config;
  std::optional<TokenizerData> tokenizer;
  int64_t kvCapacity = 0, maxTokens = 0;
  uint64_t weightsBytes = 0, kvBytes = 0, arenaBytes = 0;
  double tImport = 0, tLower = 0, tCodegen = 0, tArtifact = 0;
  CodegenTimings tm;
};

} // namespace

llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>>
loadModelModule(mlir::MLIRContext &ctx, const std::string &path, int64_t kvCacheSize) {
  if (llvm::StringRef(path).ends_with(".mlir")) {
    // milm IR, e.g. from milmc import and milm-opt: everything comes from it.
    if (kvCacheSize)
      return err(path + ": --kv-cache-size applies when importing a model; milm IR "
                           "has its KV cache in its types (milmc import --kv-cache-size N)");
    ctx.loadDialect<mlir::milm::MilmDialect, mlir::func::FuncDialect>();
    std::string diag;
    mlir::ScopedDiagnosticHandler handler(&ctx, [&](mlir::Diagnostic &d) {
      if (diag.empty() && d.getSeverity() == mlir::DiagnosticSeverity::Error) {
        // "LINE:COL: message", as compilers say it.
        if (auto fl = llvm::dyn_cast<mlir::FileLineColLoc>(d.getLocation()))
          diag = std::to_string(fl.getLine()) + ":" + std::to_string(fl.getColumn()) + ":";
        diag += " " + d.str();
      }
      return mlir::success();
    });
    mlir::OwningOpRef<mlir::ModuleOp> module = mlir::parseSourceFile<mlir::ModuleOp>(path, &ctx);
    if (!module || mlir::failed(mlir::verify(*module)))
      return err(path + ":" + (diag.empty() ? std::string(" not milm IR") : diag));
    return module;
  }
  {
    auto desc = importModel(path);
    if (!desc)
      return desc.takeError();
    BuildOptions build;
    build.cacheCapacity = kvCacheSize;
    auto built = buildModelIR(ctx, *desc, build);
    if (!built)
      return built.takeError();
    return std::move(*built);
  }
}

llvm::Expected<std::vector<int32_t>> tokenizeWithModel(mlir::ModuleOp module,
                                                       const std::string &textPath) {
  llvm::Expected<std::optional<TokenizerData>> t = tokenizerFromIR(module);
  if (!t)
    return t.takeError();
  if (!*t)
    return err(textPath + ": the model has no tokenizer to read this text with");
  rt::TokenizerConfig c;
  c.kind = (*t)->model;
  c.pre = (*t)->pre;
  c.tokens = (*t)->tokens;
  c.scores = (*t)->scores;
  c.types = (*t)->types;
  c.merges = (*t)->merges;
  c.bos = int32_t((*t)->bos.value_or(-1));
  c.eos = int32_t((*t)->eos.value_or(-1));
  c.unk = int32_t((*t)->unk.value_or(-1));
  rt::Tokenizer tok;
  std::string why;
  if (!tok.init(std::move(c), &why))
    return err("the model's tokenizer: " + why);
  auto text = llvm::MemoryBuffer::getFile(textPath, /*IsText=*/false);
  if (!text)
    return err(textPath + ": cannot read: " + text.getError().message());
  llvm::StringRef bytes = (*text)->getBuffer();
  return tok.encode(std::string_view(bytes.data(), bytes.size()), /*addBos=*/false);
}

namespace {

/// Imports, transforms and lowers one model, emits its object and writes its
/// artifact into `staging`.
llvm::Expected<CompiledUnit> compileUnit(const CompileOptions &opts, const UnitOptions &u,
                                         const Target &backend, const ResolvedTarget &target,
                                         StagingDir &stagingDir) {
  CompiledUnit out;
  const std::string who = u.stem == "model" ? "" : u.stem + ": ";
  Stage importing(who + "importing the model");
  mlir::MLIRContext ctx;
  llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>> loaded =
      loadModelModule(ctx, u.model, opts.kvCacheSize);
  if (!loaded)
    return loaded.takeError();
  mlir::OwningOpRef<mlir::ModuleOp> module = std::move(*loaded);
  out.tImport = importing.done();
  // OUT/ and the staging folder exist from here on (not for a model that
  // cannot be read).
  if (llvm::Error e = stagingDir.create())
    return std::move(e);
  const std::string &staging = stagingDir.path;

  // The model-level passes. The weights they create go to a store in the
  // staging folder, read from there into the artifact and deleted with it.
  {
    mlir::PassManager pm(&ctx);
    ModelPipelineOptions pipeline;
    pipeline.weightStore =
        staging + (u.stem == "model" ? "/weights.milmstore" : "/" + u.stem + "-weights.milmstore");
    pipeline.quantize = u.quantize;
    pipeline.quantizePure = u.quantizePure;
    pipeline.rotate = u.rotate;
    pipeline.fuse = opts.fuse;
    pipeline.rotateOnline = u.rotate && u.calibrated && opts.rotateOnline;
    if (u.calibrated) {
      if (!opts.calibrateText.empty()) {
        Stage tokenizing(who + "tokenizing the calibration text");
        llvm::Expected<std::vector<int32_t>> ids = tokenizeWithModel(*module, opts.calibrateText);
        if (!ids)
          return ids.takeError();
        const std::string tokens = staging + "/calibration.tokens";
        if (llvm::Error e = writeTokenIds(tokens, *ids))
          return std::move(e);
        pipeline.calibrationTokens = tokens;
        pipeline.calibrationStats = staging + "/calibration.stats";
        pipeline.calibrationWindows = opts.calibrateWindows;
      } else {
        pipeline.calibrationStats = opts.calibration;
      }
      pipeline.pruneHeads = opts.pruneHeads;
      pipeline.pruneFfn = opts.pruneFfn;
      pipeline.pruneKvHeads = opts.pruneKvHeads;
      pipeline.pruneReconstruct = opts.pruneReconstruct;
      pipeline.pruneCalibrate = opts.pruneCalibration.empty() && !opts.calibrateText.empty();
      pipeline.pruneCalibrationStats = pipeline.pruneCalibrate ? staging + "/prune-calibration.stats"
                                                               : opts.pruneCalibration;
      pipeline.quantizeEmbedding = opts.quantizeEmbedding;
      pipeline.gptq = opts.gptq;
      pipeline.clip = opts.clip;
      pipeline.outliers = opts.outliers;
      pipeline.threads = std::max(1u, llvm::hardware_concurrency().compute_thread_count());
      if (opts.quantReport)
        pipeline.report = "-";
    }
    buildModelPipeline(pm, pipeline);
    if (llvm::Error e = runPasses(pm, *module, u.model))
      return std::move(e);
  }
  // What the artifact says about the model, from the IR as the pipeline left it.
  llvm::Expected<ModelConfig> config = modelConfigFromIR(*module);
  if (!config)
    return err(u.model + ": " + llvm::toString(config.takeError()));
  llvm::Expected<std::optional<TokenizerData>> tokenizer = tokenizerFromIR(*module);
  if (!tokenizer)
    return err(u.model + ": " + llvm::toString(tokenizer.takeError()));
  out.config = *config;
  out.tokenizer = *tokenizer;

  Stage lowering(who + "lowering for the target");
  mlir::PassManager pm(&ctx);
  // Packed layouts (kPackedLayouts) where the target's kernels read them.
  bool repack = opts.repack && backend.repacks(target);
  backend.buildLoweringPipeline(pm, opts.maxTokens, repack);
  if (llvm::Error e = runPasses(pm, *module, u.model))
    return std::move(e);
  auto info = backend.loweredInfo(*module);
  if (!info)
    return info.takeError();
  info->symbolPrefix = u.symbolPrefix;
  if (u.packagePrefix) {
    info->aliasPrefix = u.symbolPrefix;
    info->symbolPrefix = "milm_" + packageName(info->modelName) +
                         (u.stem == "model" ? "_" : "_" + u.stem + "_");
  }
  out.symbolPrefix = info->symbolPrefix;
  // What the runtime would refuse when it creates a context: say it now.
  if (info->kvCapacity > MILM_MODEL_MAX_KV_CAPACITY)
    return err(u.model + ": a KV cache of " + llvm::Twine(info->kvCapacity) +
               " positions (the model's context) is more than the runtime takes (" +
               llvm::Twine(MILM_MODEL_MAX_KV_CAPACITY) + "); compile with --kv-cache-size N");
  {
    // The bytes milm_context_new will allocate (model_abi.h's formula).
    uint64_t kv = 0;
    const bool fits = kvCacheBytes(*info, &kv);
    const double kvBytes = double(kv);
    const double ram = double(llvm::sys::Process::getPageSizeEstimate()) *
                       double(sysconf(_SC_PHYS_PAGES));
    if (!fits || kv > SIZE_MAX / 2)
      return err(u.model + ": a KV cache of " + llvm::Twine(info->kvCapacity) +
                 " positions needs more memory than any machine can allocate; compile with "
                 "--kv-cache-size N");
    if (ram > 0 && kvBytes > ram)
      llvm::errs() << llvm::format("milmc: warning: a KV cache of %lld positions needs %.1f GiB, "
                                   "more than this machine's %.1f GiB of memory; "
                                   "--kv-cache-size N makes it smaller\n",
                                   (long long)info->kvCapacity, kvBytes / 1073741824.0,
                                   ram / 1073741824.0);
  }
  out.kvCapacity = info->kvCapacity;
  out.maxTokens = info->maxTokens;
  out.weightsBytes = info->weightsBytes;
  out.arenaBytes = info->arenaBytes;
  kvCacheBytes(*info, &out.kvBytes);
  out.modelName = info->modelName;
  out.tLower = lowering.done();

  // The artifact's description of the weights, whose hash the code carries too.
  artifact::ArtifactSpec spec;
  spec.config = *config;
  if (*tokenizer)
    spec.tokenizer = **tokenizer;
  spec.target = target.triple;
  spec.options = {{"target", target.name}, {"cpu", target.cpu},
                  {"ukernels", target.ukernels},
                  {"max_tokens", std::to_string(opts.maxTokens)},
                  {"repack", repack ? repackedLayoutNames(backend.packedRowGroup()) : "none"},
                  {"kv_capacity", std::to_string(info->kvCapacity)},
                  {"quantize", u.quantize.empty() ? "none"
                                                  : u.quantize + (u.quantizePure ? " (pure)" : "")},
                  {"rotate", !u.rotate                              ? "none"
                             : u.calibrated && opts.rotateOnline ? "hadamard, online before down"
                                                                 : "hadamard"},
                  {"source", u.model}};
  if (opts.fuse)
    spec.options.push_back({"fuse", "qkv, gate-up"});
  if (u.calibrated && (opts.pruneHeads > 0 || opts.pruneFfn > 0 || opts.pruneKvHeads > 0))
    spec.options.push_back(
        {"prune", llvm::formatv("heads {0}, kv heads {1}, ffn {2}{3}", opts.pruneHeads,
                                opts.pruneKvHeads, opts.pruneFfn,
                                opts.pruneReconstruct ? ", reconstructed" : "")
                      .str()});
  if (u.stem != "model")
    spec.options.push_back({"role", u.stem});
  if (u.calibrated && (!opts.calibrateText.empty() || !opts.calibration.empty())) {
    spec.options.push_back({"calibration", !opts.calibrateText.empty() ? opts.calibrateText
                                                                        : opts.calibration});
    std::string rounding = opts.gptq ? "gptq" : "nearest";
    if (opts.clip)
      rounding += ", clipped scales";
    spec.options.push_back({"rounding", rounding});
    if (opts.outliers > 0)
      spec.options.push_back(
          {"outliers", llvm::formatv("{0} of each matrix columns in f16",
                                     llvm::format("%g", opts.outliers))
                           .str()});
  }
  if (u.calibrated && !opts.quantizeEmbedding.empty())
    spec.options.push_back({"quantize_embedding", opts.quantizeEmbedding});
  spec.weightsSize = info->weightsBytes;
  for (const LoweredWeight &w : info->weights) {
    artifact::ArtifactWeight aw;
    aw.name = w.name;
    aw.format = w.format;
    aw.shape = w.shape;
    aw.size = w.size;
    aw.offset = w.offset;
    if (!w.file.empty()) {
      aw.parts.push_back({w.file, w.sourceOffset, w.size});
    } else {
      uint64_t each = w.size / w.partFiles.size();
      for (size_t i = 0; i < w.partFiles.size(); ++i)
        aw.parts.push_back({w.partFiles[i], static_cast<uint64_t>(w.partOffsets[i]), each});
    }
    if (const PackedLayoutInfo *p = lookupPackedLayout(w.format)) {
      void (*repacker)(const void *, void *, int64_t, int64_t) = nullptr;
#define MILM_X(ID, id, name, layoutCode, base, group)                                      \
  if (p->code == layoutCode)                                                               \
    repacker = milm_uk_generic_repack_##id;
      MILM_PACKED_LAYOUTS(MILM_X)
#undef MILM_X
      if (!repacker || w.shape.size() < 2)
        return err(u.model + ": weight '" + w.name + "': no repacker for layout " +
                   std::string(p->name));
      int64_t K = w.shape.back();
      std::optional<uint64_t> row = rowBytes(p->base, static_cast<uint64_t>(K));
      if (!row)
        return err(u.model + ": weight '" + w.name + "': rows of " + llvm::Twine(K) +
                   " values do not fit " + std::string(p->name));
      aw.repackUnit = p->rowGroup * *row;
      aw.repack = [K, rows = p->rowGroup, repacker](llvm::ArrayRef<uint8_t> in,
                                                    llvm::MutableArrayRef<uint8_t> out) {
        repacker(in.data(), out.data(), rows, K);
      };
    }
    spec.weights.push_back(std::move(aw));
  }
  spec.modelHash = artifact::computeModelHash(spec);
  info->modelHash = spec.modelHash;

  Stage codegen(who + "generating code");
  out.object = staging + "/" + u.stem + ".o";
  if (llvm::Error e =
          backend.emitObject(*module, *info, target, MILM_BITCODE_DIR, out.object, &out.tm))
    return std::move(e);
  out.tCodegen = codegen.done();

  Stage writing("writing " + u.stem + ".milm");
  out.artifact = staging + "/" + u.stem + ".milm";
  if (llvm::Error e = artifact::writeArtifact(out.artifact, spec))
    return std::move(e);
  // The runtime's own checks, here rather than on the device: the file as
  // milm-run will read it, and the tokenizer it will build.
  {
    rt::Artifact check;
    std::string why;
    if (!check.open(out.artifact.c_str(), &why, rt::Artifact::Load::Map))
      return err(u.model + ": milm-run would refuse the compiled model: " + why);
    if (!check.tokenizer().valid()) {
      if (!*tokenizer)
        llvm::errs() << "milmc: warning: " << u.model
                     << " has no tokenizer (no tokenizer.json or tokenizer.ggml.*): the "
                        "compiled model takes token ids only (milm-run --logits-for)\n";
      else
        return err(u.model + ": milm-run could not use its tokenizer: " +
                   check.tokenizerError().substr(out.artifact.size() + 2));
    }
  }
  out.tArtifact = writing.done();
  return out;
}

/// A piece of text for a message, quoted and cut short.
std::string quoted(llvm::StringRef s) {
  std::string q;
  llvm::raw_string_ostream os(q);
  os << '\'';
  os.write_escaped(s.size() > 40 ? s.take_front(40) : s);
  if (s.size() > 40)
    os << "...";
  os << '\'';
  return q;
}

/// The first way the draft's tokenizer differs from the model's, "" when the
/// two tokenize every text alike (same kind, pre-tokenizer, tokens, scores,
/// types, merges, special tokens and bos handling) and their logits cover
/// the same vocabulary.
std::string tokenizerDifference(const CompiledUnit &m, const CompiledUnit &d) {
  if (m.config.vocabSize != d.config.vocabSize)
    return "the model has " + std::to_string(m.config.vocabSize) + " logits a token, the draft " +
           std::to_string(d.config.vocabSize);
  if (!m.tokenizer || !d.tokenizer) {
    if (!m.tokenizer && !d.tokenizer)
      return "";
    return std::string(m.tokenizer ? "the draft" : "the model") + " has no tokenizer";
  }
  const TokenizerData &a = *m.tokenizer, &b = *d.tokenizer;
  auto str = [](const std::string &what, const std::string &x, const std::string &y) {
    return x == y ? std::string() : what + " " + quoted(x) + " in the model, " + quoted(y) +
                                        " in the draft";
  };
  auto opt = [](const std::string &what, auto x, auto y) {
    auto show = [](auto v) { return v ? std::to_string(int64_t(*v)) : std::string("none"); };
    return x == y ? std::string() : what + " " + show(x) + " in the model, " + show(y) +
                                        " in the draft";
  };
  for (std::string diff : {str("tokenizer kind", a.model, b.model),
                           str("pre-tokenizer", a.pre, b.pre)})
    if (!diff.empty())
      return diff;
  if (a.tokens.size() != b.tokens.size())
    return "the model's tokenizer has " + std::to_string(a.tokens.size()) + " tokens, the draft's " +
           std::to_string(b.tokens.size());
  for (size_t i = 0; i < a.tokens.size(); ++i)
    if (a.tokens[i] != b.tokens[i])
      return "token " + std::to_string(i) + " is " + quoted(a.tokens[i]) + " in the model, " +
             quoted(b.tokens[i]) + " in the draft";
  if (a.scores != b.scores)
    return "the token scores differ";
  if (a.types != b.types)
    return "the token types differ";
  if (a.merges.size() != b.merges.size())
    return "the model's tokenizer has " + std::to_string(a.merges.size()) +
           " merges, the draft's " + std::to_string(b.merges.size());
  for (size_t i = 0; i < a.merges.size(); ++i)
    if (a.merges[i] != b.merges[i])
      return "merge " + std::to_string(i) + " is " + quoted(a.merges[i]) + " in the model, " +
             quoted(b.merges[i]) + " in the draft";
  for (std::string diff : {opt("bos", a.bos, b.bos), opt("eos", a.eos, b.eos),
                           opt("unk", a.unk, b.unk), opt("add_bos", a.addBos, b.addBos),
                           opt("add_eos", a.addEos, b.addEos)})
    if (!diff.empty())
      return diff;
  return "";
}

/// Runs ld.lld with `args` (element 0 its path); `what` names the output.
llvm::Error runLinker(const std::vector<std::string> &args, const std::string &what) {
  std::vector<llvm::StringRef> argv(args.begin(), args.end());
  std::string linkErr;
  int rc = llvm::sys::ExecuteAndWait(args[0], argv, std::nullopt, {}, 0, 0, &linkErr);
  if (rc != 0)
    return err("linking " + what + " failed (" +
               (linkErr.empty() ? "ld.lld exit " + std::to_string(rc) : linkErr) + ")");
  return llvm::Error::success();
}

/// --target hexagon: the model's object linked into the DSP shared object
/// (libmilm_model_dsp.so, with milm_dsp.h) and the static test executable
/// milm-run-hexagon (runtime/hexagon), then everything moved into OUT/.
llvm::Error linkHexagon(const CompileOptions &opts, const CompiledUnit &unit,
                        const ResolvedTarget &target, const std::string &staging) {
  Stage linking("linking libmilm_model_dsp.so and milm-run-hexagon");
  const HexagonRuntime &rt = hexagonRuntime();
  if (llvm::Error e = runLinker(hexagonSharedArguments(unit.object, "libmilm_model_dsp.so",
                                                       staging + "/libmilm_model_dsp.so"),
                                opts.outDir + "/libmilm_model_dsp.so"))
    return e;
  if (llvm::Error e = runLinker(hexagonExeArguments(unit.object, staging + "/milm-run-hexagon"),
                                opts.outDir + "/milm-run-hexagon"))
    return e;
  if (std::error_code ec = llvm::sys::fs::copy_file(rt.header, staging + "/milm_dsp.h"))
    return err(std::string(rt.header) + ": cannot copy: " + ec.message());
  double tLink = linking.done();
  // Into place; a CPU build's executable, draft and package there would be
  // another build's, so they go (the package as compileModel removes one).
  for (const char *stale : {"milm-run", "draft.o", "draft.milm"})
    llvm::sys::fs::remove(opts.outDir + "/" + stale);
  if (llvm::sys::fs::exists(opts.outDir + "/include/milm/milm.h")) {
    for (const char *dirPart : {"lib", "include", "examples"})
      llvm::sys::fs::remove_directories(opts.outDir + "/" + dirPart);
    if (isPackageReadme(opts.outDir + "/README.md"))
      llvm::sys::fs::remove(opts.outDir + "/README.md");
  }
  for (const char *name :
       {"model.o", "model.milm", "milm_dsp.h", "libmilm_model_dsp.so", "milm-run-hexagon"}) {
    std::string to = opts.outDir + "/" + name;
    if (std::error_code ec = llvm::sys::fs::rename(staging + "/" + name, to))
      return err(to + ": cannot move into place: " + ec.message());
  }
  llvm::errs() << "milmc: compiled " << unit.modelName << " for " << target.triple << " ("
               << target.cpu << ", " << target.ukernels << " kernels) into " << opts.outDir
               << ": libmilm_model_dsp.so (milm_dsp.h), milm-run-hexagon ("
               << (llvm::StringRef(target.features).contains("hvx-qfloat")
                       ? "for devices: qemu-hexagon 7.2 executes no HVX qfloat"
                       : "run it with qemu-hexagon -cpu v67")
               << ")\n";
  if (opts.verbose)
    llvm::errs() << llvm::format("milmc: import %.2f s, lower %.2f s, codegen %.2f s, artifact "
                                 "%.2f s, link %.2f s\n",
                                 unit.tImport, unit.tLower, unit.tCodegen, unit.tArtifact, tLink);
  return llvm::Error::success();
}

} // namespace

llvm::Error compileModel(const CompileOptions &opts) {
  llvm::InitializeAllTargetInfos();
  llvm::InitializeAllTargets();
  llvm::InitializeAllTargetMCs();
  llvm::InitializeAllAsmPrinters();

  registerAllTargets();
  const Target *backend = lookupTarget(opts.target);
  if (!backend)
    return err("unknown --target '" + opts.target + "' (" + listTargetNames() + ")");
  const std::string namedCpu = backend->cpuOfName(opts.target);
  if (!opts.cpu.empty() && !namedCpu.empty() && opts.cpu != namedCpu)
    return err("--target " + opts.target + " means --cpu " + namedCpu + ", not --cpu " +
               opts.cpu + "; give one of them");
  auto target = backend->resolve(opts.cpu.empty() ? namedCpu : opts.cpu);
  if (!target)
    return target.takeError();
  // Hexagon has a runtime of its own (runtime/hexagon): no libc, a DSP
  // shared object and a qemu test executable instead of milm-run.
  const bool hexagon = target->arch == "hexagon";
  const LinkTarget *link = hexagon ? nullptr : findLinkTarget(target->arch);
  if (hexagon && !hexagonRuntime().available)
    return err("no Hexagon runtime was built (" + std::string(hexagonRuntime().missing) +
               "); rebuild milm with a clang that has the Hexagon target");
  if (!hexagon && !link)
    return err("no runtime was built for " + target->arch + "; rebuild milm");
  if (hexagon && (!opts.draft.empty() || opts.emit != "exe" || opts.embedWeights))
    return err(std::string("--target ") + opts.target + " writes the DSP shared object and "
               "milm-run-hexagon with model.milm beside them; " +
               (!opts.draft.empty() ? "--draft (speculative decoding) is not in the Hexagon "
                                      "runtime yet"
                : opts.embedWeights ? "--embed-weights is not supported there"
                                    : "--emit " + opts.emit + " is for the CPU targets"));
  if (opts.maxKL >= 0 &&
      !llvm::StringRef(llvm::sys::getDefaultTargetTriple()).starts_with(target->arch))
    return err("the quality gate (--max-kl) runs the compiled model on this machine, which "
               "cannot run " + target->triple + " code; gate a host build");
  if (opts.emit != "exe" && opts.emit != "lib" && opts.emit != "package")
    return err("--emit '" + opts.emit + "': exe (milm-run and its weights), lib (the model's "
               "libraries, headers and weights) or package (both, with CMake and pkg-config "
               "files, an example and README.md)");
  if (opts.emit != "exe" && opts.embedWeights)
    return err("--emit " + opts.emit + " with --embed-weights: not yet (the library would need "
               "the weights linked in); ship model.milm beside the library, or open it from "
               "memory (milm_model_open_memory)");
  if (opts.emit == "package") {
    // The package's README.md replaces one milmc wrote, never the user's.
    if (llvm::sys::fs::exists(opts.outDir + "/README.md") &&
        !isPackageReadme(opts.outDir + "/README.md"))
      return err(opts.outDir + "/README.md exists and milmc did not write it: --emit package "
                 "writes its own README.md there; choose another -o");
  }
  if (opts.maxTokens < 1 || opts.maxTokens > 4096)
    return err("--max-tokens must be in [1, 4096], got " + llvm::Twine(opts.maxTokens));
  const bool haveDraft = !opts.draft.empty();
  for (const char *name : {"model.milm", "model.o", "milm-run", "draft.milm", "draft.o"}) {
    std::string out = opts.outDir + "/" + name;
    for (const std::string &in : {opts.model, opts.draft}) {
      bool same = false;
      if (!in.empty() && !llvm::sys::fs::equivalent(in, out, same) && same)
        return err(out + ": the output would overwrite an input model; choose another -o");
    }
  }
  StagingDir stagingDir(opts.outDir);
  UnitOptions mainUnit;
  mainUnit.model = opts.model;
  mainUnit.stem = "model";
  mainUnit.symbolPrefix = "milm_";
  mainUnit.quantize = opts.quantize;
  mainUnit.quantizePure = opts.quantizePure;
  mainUnit.rotate = opts.rotate;
  mainUnit.calibrated = true;
  mainUnit.packagePrefix = opts.emit != "exe";
  llvm::Expected<CompiledUnit> unit =
      compileUnit(opts, mainUnit, *backend, *target, stagingDir);
  if (!unit)
    return unit.takeError();
  // The draft model: the same target, its own symbols and artifact, and a
  // tokenizer identical to the model's (speculation compares token ids).
  std::optional<CompiledUnit> draft;
  if (haveDraft) {
    UnitOptions d;
    d.model = opts.draft;
    d.stem = "draft";
    d.symbolPrefix = "milm_draft_";
    d.quantize = opts.draftQuantize;
    d.quantizePure = opts.draftQuantizePure;
    d.packagePrefix = opts.emit != "exe";
    llvm::Expected<CompiledUnit> du = compileUnit(opts, d, *backend, *target, stagingDir);
    if (!du)
      return err("--draft: " + llvm::toString(du.takeError()));
    std::string diff = tokenizerDifference(*unit, *du);
    if (!diff.empty())
      return err("--draft " + opts.draft + " cannot draft for " + opts.model +
                 ": their tokenizers differ: " + diff);
    draft = std::move(*du);
  }

  const std::string staging = stagingDir.path;
  if (hexagon)
    return linkHexagon(opts, *unit, *target, staging);
  Stage linking("linking milm-run");
  std::string exe = staging + "/milm-run";
  std::vector<std::string> objects = {unit->object};
  if (draft)
    objects.push_back(draft->object);
  std::vector<std::string> args = linkArguments(*link, objects, exe);
  if (opts.embedWeights) {
    // ld.lld takes model.milm (and draft.milm) as raw bytes (one .data section
    // each); the script puts each in an output section of its own, 64 KiB
    // aligned (the runtime needs the weight section 64-byte aligned), kept
    // despite --gc-sections, between the symbols the runtime looks for.
    std::string script = staging + "/embed.ld";
    std::error_code ec;
    llvm::raw_fd_ostream os(script, ec, llvm::sys::fs::OF_Text);
    if (ec)
      return err(script + ": " + ec.message());
    os << "SECTIONS {\n"
          "  .milm_artifact : ALIGN(65536) {\n"
          "    milm_embedded_artifact_start = .;\n"
          "    KEEP(*/model.milm(.data))\n"
          "    milm_embedded_artifact_end = .;\n"
          "  }\n";
    if (draft)
      os << "  .milm_draft_artifact : ALIGN(65536) {\n"
            "    milm_embedded_draft_start = .;\n"
            "    KEEP(*/draft.milm(.data))\n"
            "    milm_embedded_draft_end = .;\n"
            "  }\n";
    os << "} INSERT AFTER .data;\n";
    os.close();
    if (os.has_error()) {
      std::string msg = os.error().message();
      os.clear_error();
      return err(script + ": cannot write: " + msg);
    }
    args.push_back("--format=binary");
    args.push_back(unit->artifact);
    if (draft)
      args.push_back(draft->artifact);
    for (const std::string &a : {std::string("--format=elf"), std::string("-T"), script})
      args.push_back(a);
  }
  if (llvm::Error e = runLinker(args, opts.outDir + "/milm-run"))
    return e;
  double tLink = linking.done();

  // The quality gate, before anything reaches OUT/: the same model compiled
  // without the model pipeline is the reference.
  if (opts.maxKL >= 0) {
    Stage gate("quality gate: compiling the reference and comparing on the eval text");
    CompileOptions ref = opts;
    ref.quantize.clear();
    ref.quantizePure = false;
    ref.rotate = false;
    ref.rotateOnline = false;
    ref.calibrateText.clear();
    ref.calibration.clear();
    ref.quantizeEmbedding.clear();
    ref.gptq = ref.clip = ref.quantReport = false;
    ref.outliers = 0;
    ref.maxKL = -1;
    ref.embedWeights = false;
    ref.draft.clear();
    ref.outDir = staging + "/reference";
    if (llvm::Error e = compileModel(ref))
      return err("quality gate: the reference model: " + llvm::toString(std::move(e)));
    CompareOptions c;
    c.a = ref.outDir;
    c.b = staging;
    c.text = opts.evalText;
    c.chunks = opts.evalChunks;
    llvm::Expected<CompareResult> r = runComparison(c);
    if (!r)
      return err("quality gate: " + llvm::toString(r.takeError()));
    std::string line = llvm::formatv("mean KL(reference || compiled) {0:F6} (p99 {1:F4}, max "
                                      "{2:F4}), top-1 {3:F2}%, perplexity {4:F4} -> {5:F4} on "
                                      "{6} ({7} tokens)",
                                      r->klMean, r->klP99, r->klMax, 100.0 * r->top1, r->pplA,
                                      r->pplB, opts.evalText, r->scored)
                           .str();
    char bound[32];
    snprintf(bound, sizeof bound, "%g", opts.maxKL);
    if (r->klMean > opts.maxKL)
      return err("quality gate failed: " + line + " exceeds --max-kl " + bound +
                 "; nothing was written to " + opts.outDir);
    llvm::errs() << "milmc: quality gate passed: " << line << " <= --max-kl " << bound << "\n";
  }

  std::vector<std::string> packaged;
  if (opts.emit != "exe") {
    Stage packaging(opts.emit == "lib" ? "writing the libraries" : "writing the package");
    PackageSpec p;
    p.dir = staging;
    p.modelName = unit->modelName;
    p.triple = target->triple;
    p.cpu = target->cpu;
    p.requiredFeatures = target->requiredFeatures;
    p.objects = objects;
    p.runtimeArchive = link->runtimeArchive;
    p.link = link;
    p.headerDir = MILM_RUNTIME_INCLUDE_DIR;
    p.symbolPrefix = unit->symbolPrefix;
    p.hasDraft = draft.has_value();
    p.weightsBytes = unit->weightsBytes;
    p.kvBytes = unit->kvBytes;
    p.arenaBytes = unit->arenaBytes;
    p.kvCapacity = unit->kvCapacity;
    p.maxTokens = unit->maxTokens;
    p.full = opts.emit == "package";
    llvm::Expected<std::vector<std::string>> w = writePackage(p);
    if (!w)
      return w.takeError();
    packaged = std::move(*w);
  }

  // Into place: the objects, the weights (or, embedded, no stale .milm), then
  // the executable. Without a draft, an earlier compile's draft files go: they
  // would mislead.
  auto moveIn = [&](const char *name) -> llvm::Error {
    std::string to = opts.outDir + "/" + name;
    if (std::error_code ec = llvm::sys::fs::rename(staging + "/" + name, to))
      return err(to + ": cannot move into place: " + ec.message());
    return llvm::Error::success();
  };
  // --emit lib: the libraries, headers and weights only; an earlier compile's
  // milm-run and objects go (they would be another build's).
  const bool withExe = opts.emit != "lib";
  if (!withExe) {
    for (const char *stale : {"model.o", "draft.o", "milm-run"})
      llvm::sys::fs::remove(opts.outDir + "/" + stale);
  } else if (llvm::Error e = moveIn("model.o")) {
    return e;
  }
  if (withExe && draft) {
    if (llvm::Error e = moveIn("draft.o"))
      return e;
  } else if (withExe) {
    llvm::sys::fs::remove(opts.outDir + "/draft.o");
  }
  if (opts.embedWeights || !draft)
    llvm::sys::fs::remove(opts.outDir + "/draft.milm");
  else if (llvm::Error e = moveIn("draft.milm"))
    return e;
  if (opts.embedWeights)
    llvm::sys::fs::remove(opts.outDir + "/model.milm");
  else if (llvm::Error e = moveIn("model.milm"))
    return e;
  // A package's parts replace an earlier package's; without --emit lib or
  // package an earlier one's go: they would hold another build. What marks
  // them: include/milm/milm.h, and for README.md its first line as
  // writePackage writes it (a README.md of the user's own stays).
  const std::string outDir = opts.outDir;
  const bool hadPackage = llvm::sys::fs::exists(outDir + "/include/milm/milm.h");
  if (!packaged.empty() || hadPackage) {
    for (const char *dirPart : {"lib", "include", "examples"})
      llvm::sys::fs::remove_directories(outDir + "/" + dirPart);
    if (isPackageReadme(outDir + "/README.md"))
      llvm::sys::fs::remove(outDir + "/README.md");
  }
  for (const std::string &part : packaged)
    if (llvm::Error e = moveIn(part.c_str()))
      return e;
  if (withExe)
    if (llvm::Error e = moveIn("milm-run"))
      return e;

  llvm::errs() << "milmc: compiled " << unit->modelName;
  if (draft)
    llvm::errs() << " with the draft " << draft->modelName;
  llvm::errs() << " for " << target->triple << " (" << target->cpu << ", " << target->ukernels
               << " kernels) into " << opts.outDir
               << (packaged.empty() ? ""
                   : std::string(opts.emit == "lib" ? " (the libraries of milm_"
                                                    : " (with the package milm_") +
                         packageName(unit->modelName) + ")")
               << "\n";
  if (draft && draft->kvCapacity < unit->kvCapacity)
    llvm::errs() << "milmc: warning: the draft's KV cache holds " << draft->kvCapacity
                 << " positions, the model's " << unit->kvCapacity
                 << ": past that, milm-run decodes without drafting (--kv-cache-size N sets "
                    "both)\n";
  if (opts.verbose)
    for (const CompiledUnit *u : {&*unit, draft ? &*draft : nullptr})
      if (u)
        llvm::errs() << llvm::format("milmc: %simport %.2f s, lower %.2f s, codegen %.2f s "
                                     "(translate %.2f, link %.2f, optimize %.2f, emit %.2f), "
                                     "artifact %.2f s\n",
                                     u == &*unit ? "" : "draft: ", u->tImport, u->tLower,
                                     u->tCodegen, u->tm.translate, u->tm.link, u->tm.optimize,
                                     u->tm.emit, u->tArtifact);
  if (opts.verbose)
    llvm::errs() << llvm::format("milmc: link %.2f s\n", tLink);
  return llvm::Error::success();
}

llvm::Error calibrateModel(const CalibrateCommandOptions &opts) {
  if (opts.text.empty())
    return err("calibrate needs --text FILE (the text the model reads)");
  if (opts.output.empty())
    return err("calibrate needs -o STATS (where the statistics go)");
  mlir::MLIRContext ctx;
  llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>> module = loadModelModule(ctx, opts.model, 0);
  if (!module)
    return module.takeError();
  llvm::Expected<std::vector<int32_t>> ids = tokenizeWithModel(**module, opts.text);
  if (!ids)
    return ids.takeError();
  // Token ids and rotated weights live in a folder of their own, gone after.
  llvm::SmallString<128> dir;
  if (std::error_code ec = llvm::sys::fs::createUniqueDirectory("milmc-calibrate", dir))
    return err("cannot create a temporary folder: " + ec.message());
  struct Remove {
    std::string d;
    ~Remove() { llvm::sys::fs::remove_directories(d); }
  } remove{std::string(dir)};
  const std::string tokens = std::string(dir) + "/calibration.tokens";
  if (llvm::Error e = writeTokenIds(tokens, *ids))
    return e;
  Stage running("calibrating on " + std::to_string(ids->size()) + " tokens of " + opts.text +
                (opts.rotate ? " (rotated with milm-rotate first)" : ""));
  mlir::PassManager pm(&ctx);
  if (opts.rotate) {
    RotateOptions r;
    r.weightStore = std::string(dir) + "/weights.milmstore";
    r.online = opts.online;
    pm.addPass(createRotate(r));
  }
  CalibrateOptions c;
  c.tokens = tokens;
  c.stats = opts.output;
  c.window = opts.window;
  c.maxWindows = opts.windows;
  c.matrices = opts.matrices;
  c.threads = opts.threads;
  c.progress = true;
  pm.addPass(createCalibrate(c));
  if (llvm::Error e = runPasses(pm, **module, opts.model))
    return e;
  llvm::errs() << llvm::format("milmc: calibrated in %.1f s\n", running.done());
  return llvm::Error::success();
}

} // namespace milm
