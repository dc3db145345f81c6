//===- milmc.cpp - the milm compiler driver -------------------------------===//
//
//   milmc import MODEL [-o model.mlir]    the model as milm IR, weights referenced
//   milmc inspect MODEL                   config, tensor table and storage formats
//   milmc synth --preset P --format F -o model.gguf
//                                         a random-weight MiLM2-shaped GGUF
//   milmc calibrate MODEL --text FILE -o STATS
//                                         what every product reads (for --gptq, --outliers)
//   milmc prune MODEL.gguf --text FILE --heads F --ffn F -o pruned.gguf
//                                         TransAct structured pruning, written as GGUF
//   milmc reference MODEL --ids "..."    logits of the reference interpreter (double)
//   milmc compare A B --text FILE         perplexity of two compiled models, KL(A||B)
//   milmc targets                         the targets milmc compile builds for
//   milmc version
//
//===----------------------------------------------------------------------===//
#include "dialects/milm/MilmDialect.h"
#include "frontends/builder/ModelBuilder.h"
#include "frontends/common/OneLineError.h"
#include "frontends/synth/Synth.h"
#include "codegen/Target.h"
#include "tools/milmc/Compare.h"
#include "tools/milmc/Compile.h"
#include "passes/Interpreter.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <csignal>
#include <map>

using namespace llvm;

static cl::SubCommand importCmd("import", "Import a model (GGUF, or safetensors + config.json) as milm IR");
static cl::SubCommand inspectCmd("inspect", "Print a model's configuration, tensors and storage formats");
static cl::SubCommand synthCmd("synth", "Write a random-weight GGUF model shaped like a MiLM2 preset");
static cl::SubCommand compileCmd("compile", "Compile a model into a self-contained executable and model.milm");
static cl::SubCommand calibrateCmd("calibrate", "Run a model over calibration text and record what every matrix product reads (for --gptq, --outliers)");
static cl::SubCommand pruneCmd("prune", "TransAct structured pruning of a GGUF model (attention heads, FFN channels), written as GGUF with per-layer sizes");
static cl::SubCommand referenceCmd("reference", "Run a model with the reference interpreter (double precision, op by op) and print its logits as milm-run --logits-for does");
static cl::SubCommand compareCmd("compare", "Run two compiled models over one text: perplexity of each, KL(A || B), top-1 agreement");
static cl::SubCommand targetsCmd("targets", "List the targets milmc compile builds for, with the machine each means");
static cl::SubCommand versionCmd("version", "Print milm's version and the LLVM it was built with");

static cl::OptionCategory importCat("milmc import options");
static cl::opt<std::string> importInput(cl::Positional, cl::desc("<model>"), cl::Required,
                                        cl::sub(importCmd), cl::sub(inspectCmd));
static cl::opt<std::string> importOutput("o", cl::desc("Output file (default: stdout)"),
                                         cl::value_desc("file"), cl::init("-"),
                                         cl::sub(importCmd), cl::cat(importCat));
static cl::opt<std::string> modelName("model-name", cl::desc("Symbol name of the milm.model"),
                                      cl::sub(importCmd), cl::cat(importCat));
static cl::opt<std::string> cacheElement("kv-cache-type", cl::desc("KV cache element type: f16, bf16 or f32"),
                                         cl::init("f16"), cl::sub(importCmd), cl::cat(importCat));
static cl::opt<int64_t> cacheCapacity("kv-cache-size",
                                      cl::desc("KV cache capacity in positions (default: the context length)"),
                                      cl::init(0), cl::sub(importCmd), cl::cat(importCat));
static cl::opt<bool> unfusedMoE("unfused-moe",
                                cl::desc("Write mixtures of experts unfused (milm.moe_route, one "
                                         "FFN per expert, milm.moe_combine; milm-fuse-moe and "
                                         "milmc compile fuse them)"),
                                cl::sub(importCmd), cl::cat(importCat));

static cl::OptionCategory synthCat("milmc synth options");
static cl::opt<std::string> synthPreset("preset", cl::desc("Preset: tiny, tiny-moe, 0.3b, 0.7b, 1.3b, 2.4b, 4b, 6b, moe-0.7bx8, moe-2bx8 (see --list-presets)"),
                                        cl::init("tiny"), cl::sub(synthCmd), cl::cat(synthCat));
static cl::opt<std::string> synthFormat("format", cl::desc("Storage format of the matrices: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k, or q4_k_m"),
                                        cl::init("q4_0"), cl::sub(synthCmd), cl::cat(synthCat));
static cl::opt<uint64_t> synthSeed("seed", cl::desc("Random seed"), cl::init(0), cl::sub(synthCmd), cl::cat(synthCat));
static cl::opt<int64_t> synthLayers("layers", cl::desc("Override the preset's layer count"), cl::init(0),
                                    cl::sub(synthCmd), cl::cat(synthCat));
static cl::opt<int64_t> synthVocab("vocab", cl::desc("Override the preset's vocabulary size"), cl::init(0),
                                   cl::sub(synthCmd), cl::cat(synthCat));
static cl::opt<int64_t> synthContext("context", cl::desc("Override the preset's context length"), cl::init(0),
                                     cl::sub(synthCmd), cl::cat(synthCat));
static cl::opt<unsigned> synthThreads("threads", cl::desc("Worker threads (default: all cores)"), cl::init(0),
                                      cl::sub(synthCmd), cl::cat(synthCat));
static cl::opt<std::string> synthOutput("o", cl::desc("Output GGUF file"), cl::value_desc("file"),
                                        cl::sub(synthCmd), cl::cat(synthCat));
static cl::opt<bool> listPresets("list-presets", cl::desc("List the presets with their shapes and parameter counts"),
                                 cl::sub(synthCmd), cl::cat(synthCat));

static cl::OptionCategory compileCat("milmc compile options");
static cl::opt<std::string> compileInput(cl::Positional, cl::desc("<model>"), cl::Required,
                                         cl::sub(compileCmd));
static cl::opt<std::string> compileOut("o", cl::desc("Output folder (model.milm, model.o, milm-run, with --draft draft.milm and draft.o; no .milm with --embed-weights)"),
                                       cl::value_desc("dir"), cl::Required, cl::sub(compileCmd),
                                       cl::cat(compileCat));
static cl::opt<std::string> compileTarget("target", cl::desc("host, x86-64 (x86-64-v3: AVX2), x86-64-v4 (AVX-512 with VNNI) or aarch64-linux-gnu"),
                                          cl::init("host"), cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<std::string> compileCpu("cpu", cl::desc("LLVM CPU name (default: the target's; host: this machine's)"),
                                       cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<int64_t> compileMaxTokens("max-tokens", cl::desc("Tokens per evaluation call, the prefill chunk"),
                                         cl::init(64), cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<int64_t> compileKV("kv-cache-size",
                                  cl::desc("KV cache capacity in positions (default: the context length)"),
                                  cl::init(0), cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<bool> compileNoRepack(
    "no-repack",
    cl::desc("Keep every weight in its GGUF layout (by default q4_0, q8_0, q4_k and q6_k "
             "products are repacked to 8 interleaved rows for the x86-64 AVX2/AVX-512 "
             "kernels)"),
    cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<std::string> compileQuantize(
    "quantize",
    cl::desc("Quantize the weight matrices (milm-quantize, round to nearest): f32, f16, bf16, "
             "q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k or the mixture q4_k_m; the "
             "output matrix gets q6_k as llama-quantize gives it, unless --quantize-pure; a "
             "4-bit scheme (w4-channel, w4-g128, w4-g64, w4-g32, stored in q4_g256, q4_g128, "
             "q4_g64, q4_0; the -asym variants in q4_1); "
             "or a calibrated recipe (w4-rot-outlier, w4-g128-rot-outlier, w4-outlier, w4-gptq: "
             "docs/QUANTIZATION.md)"),
    cl::value_desc("format"), cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<bool> compileRotate(
    "rotate",
    cl::desc("Rotate the residual stream by an orthogonal Hadamard-type matrix first "
             "(milm-rotate: the same function, weights easier to quantize; rotated weights "
             "are f32 until --quantize)"),
    cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<bool> compileOnline(
    "online-hadamard",
    cl::desc("With --rotate: also a Walsh-Hadamard transform before each dense FFN's down "
             "product, its weight multiplied by the same (milm-rotate's `online`)"),
    cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<bool> compileQuantizePure("quantize-pure",
                                         cl::desc("With --quantize: every matrix in that format"),
                                         cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<double> compileMaxKL(
    "max-kl",
    cl::desc("Quality gate: fail (writing nothing) when the mean KL of the compiled model "
             "against the same model compiled without --quantize exceeds X on --eval-text"),
    cl::value_desc("X"), cl::init(-1), cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<std::string> compileEvalText("eval-text",
                                            cl::desc("The text of the quality gate (--max-kl)"),
                                            cl::value_desc("file"), cl::sub(compileCmd),
                                            cl::cat(compileCat));
static cl::opt<int64_t> compileEvalChunks("eval-chunks",
                                          cl::desc("Windows of --eval-text the gate scores "
                                                   "(default: all)"),
                                          cl::init(0), cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<bool> compileEmbed("embed-weights",
                                  cl::desc("Link the weights into milm-run, which then runs alone: "
                                           "OUT/ holds only milm-run and model.o, no model.milm"),
                                  cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<std::string> compileDraft(
    "draft",
    cl::desc("A draft model for speculative decoding (milm-run --draft N), compiled for the "
             "same target into the same milm-run, its weights in OUT/draft.milm; its "
             "tokenizer must be the model's"),
    cl::value_desc("model"), cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<std::string> compileDraftQuantize(
    "draft-quantize",
    cl::desc("With --draft: quantize the draft's matrices (the formats of --quantize); "
             "with the model itself as the draft, self-speculation"),
    cl::value_desc("format"), cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<bool> compileDraftQuantizePure("draft-quantize-pure",
                                              cl::desc("With --draft-quantize: every matrix in "
                                                       "that format"),
                                              cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<std::string> compileEmit(
    "emit",
    cl::desc("exe (default): milm-run and its weights; lib: the model and the runtime as a "
             "static and a shared library with the C headers and the weights, for linking into "
             "your own program; package: both, with CMake and pkg-config files, an example and "
             "README.md"),
    cl::value_desc("kind"), cl::init("exe"), cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<bool> compileVerbose("v", cl::desc("Print the time of each stage"), cl::sub(compileCmd),
                                    cl::cat(compileCat));

static cl::opt<std::string> compileCalibrate(
    "calibrate",
    cl::desc("Calibration text: run the model over it after --rotate (milm-calibrate) and "
             "weight the 4-bit schemes' rounding by what each product reads"),
    cl::value_desc("file"), cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<int64_t> compileCalibrateWindows("calibrate-windows",
                                                cl::desc("With --calibrate: at most N windows (default: all)"),
                                                cl::init(0), cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<std::string> compileCalibration(
    "calibration", cl::desc("Statistics from milmc calibrate, instead of --calibrate"),
    cl::value_desc("stats"), cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<bool> compileGptq("gptq",
                                 cl::desc("Round the 4-bit schemes with GPTQ (needs --calibrate, "
                                          "or --calibration taken with --matrices)"),
                                 cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<bool> compileClip("clip",
                                 cl::desc("Choose the 4-bit schemes' scales by the "
                                          "(calibration-weighted) error"),
                                 cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<double> compileOutliers(
    "outliers",
    cl::desc("Keep this fraction of each matrix's input columns in f16 (milm-split-outliers; "
             "the body is --quantize's 4-bit scheme; needs calibration)"),
    cl::value_desc("fraction"), cl::init(0), cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<std::string> compileQuantizeEmbedding(
    "quantize-embedding",
    cl::desc("With --quantize: the token embedding table's storage format, when the model has "
             "an output matrix of its own (llama-quantize's --token-embedding-type)"),
    cl::value_desc("format"), cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<double> compilePruneHeads(
    "prune-heads",
    cl::desc("TransAct pruning (milm-prune-transact, docs/PRUNING.md): remove this fraction of "
             "each layer's query heads, evenly per KV group, by their output norm on the "
             "calibration text"),
    cl::value_desc("fraction"), cl::init(0), cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<double> compilePruneFfn(
    "prune-ffn",
    cl::desc("TransAct pruning: remove this fraction of each dense FFN's channels, by the norm "
             "of their SwiGLU value on the calibration text"),
    cl::value_desc("fraction"), cl::init(0), cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<double> compilePruneKvHeads(
    "prune-kv-heads",
    cl::desc("TransAct pruning: remove this fraction of each layer's KV heads, each with its "
             "query heads (the KV cache shrinks)"),
    cl::value_desc("fraction"), cl::init(0), cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<bool> compilePruneReconstruct(
    "prune-reconstruct",
    cl::desc("With pruning: refit o_proj and down_proj by least squares on the calibration "
             "inputs"),
    cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<std::string> compilePruneCalibration(
    "prune-calibration",
    cl::desc("With pruning: statistics of the unpruned model from milmc calibrate (--matrices "
             "for --prune-reconstruct), instead of running it over --calibrate's text"),
    cl::value_desc("stats"), cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<bool> compileFuse(
    "fuse",
    cl::desc("One product for each attention's q, k and v and for each FFN's gate and up "
             "(milm-fuse-qkv, milm-fuse-gate-up)"),
    cl::sub(compileCmd), cl::cat(compileCat));
static cl::opt<bool> compileQuantReport("quant-report",
                                        cl::desc("Print, per matrix, the error its rounding adds "
                                                 "to the product's output"),
                                        cl::sub(compileCmd), cl::cat(compileCat));

static cl::OptionCategory pruneCat("milmc prune options");
static cl::opt<std::string> pruneInput(cl::Positional, cl::desc("<model.gguf>"), cl::sub(pruneCmd));
static cl::opt<std::string> pruneOut("o", cl::desc("Where the pruned GGUF goes"), cl::value_desc("file"),
                                     cl::sub(pruneCmd), cl::cat(pruneCat));
static cl::opt<std::string> pruneText("text", cl::desc("Calibration text the heads and channels are ranked on"),
                                      cl::value_desc("file"), cl::sub(pruneCmd), cl::cat(pruneCat));
static cl::opt<std::string> pruneStats("calibration",
                                       cl::desc("Statistics from milmc calibrate (--matrices for "
                                                "--reconstruct), instead of --text"),
                                       cl::value_desc("stats"), cl::sub(pruneCmd), cl::cat(pruneCat));
static cl::opt<double> pruneHeadsOpt("heads", cl::desc("Fraction of each layer's query heads to remove (evenly per KV group)"),
                                     cl::value_desc("fraction"), cl::init(0), cl::sub(pruneCmd), cl::cat(pruneCat));
static cl::opt<double> pruneFfnOpt("ffn", cl::desc("Fraction of each dense FFN's channels to remove"),
                                   cl::value_desc("fraction"), cl::init(0), cl::sub(pruneCmd), cl::cat(pruneCat));
static cl::opt<bool> pruneReconstructOpt("reconstruct",
                                         cl::desc("Refit o_proj and down_proj by least squares on the calibration inputs"),
                                         cl::sub(pruneCmd), cl::cat(pruneCat));
static cl::list<int64_t> pruneKeepHeads("keep-heads",
                                        cl::desc("Query heads to keep, instead of --heads: one count for every layer, or one per layer (8,6,4,...)"),
                                        cl::CommaSeparated, cl::sub(pruneCmd), cl::cat(pruneCat));
static cl::opt<double> pruneKvHeadsOpt("kv-heads", cl::desc("Fraction of each layer's KV heads to remove, each with its query heads"),
                                       cl::value_desc("fraction"), cl::init(0), cl::sub(pruneCmd), cl::cat(pruneCat));
static cl::list<int64_t> pruneKeepKvHeads("keep-kv-heads",
                                          cl::desc("KV heads to keep, instead of --kv-heads: one count for every layer, or one per layer"),
                                          cl::CommaSeparated, cl::sub(pruneCmd), cl::cat(pruneCat));
static cl::list<int64_t> pruneKeepFfn("keep-ffn",
                                      cl::desc("FFN channels to keep, instead of --ffn: one count for every layer, or one per layer"),
                                      cl::CommaSeparated, cl::sub(pruneCmd), cl::cat(pruneCat));
static cl::opt<int64_t> pruneWindows("windows", cl::desc("With --text: at most N windows (default: all)"),
                                     cl::init(0), cl::sub(pruneCmd), cl::cat(pruneCat));

static cl::OptionCategory calibrateCat("milmc calibrate options");
static cl::opt<std::string> calibrateInput(cl::Positional, cl::desc("<model>"), cl::sub(calibrateCmd));
static cl::opt<std::string> calibrateText("text", cl::desc("The calibration text"), cl::value_desc("file"),
                                          cl::sub(calibrateCmd), cl::cat(calibrateCat));
static cl::opt<std::string> calibrateOut("o", cl::desc("Where the statistics go"), cl::value_desc("stats"),
                                         cl::sub(calibrateCmd), cl::cat(calibrateCat));
static cl::opt<bool> calibrateRotate("rotate", cl::desc("Rotate first, as milmc compile --rotate does"),
                                     cl::sub(calibrateCmd), cl::cat(calibrateCat));
static cl::opt<bool> calibrateOnline("online-hadamard",
                                     cl::desc("With --rotate: as milmc compile --online-hadamard"),
                                     cl::sub(calibrateCmd), cl::cat(calibrateCat));
static cl::opt<bool> calibrateMatrices("matrices",
                                       cl::desc("Also record the second-moment matrices (for --gptq)"),
                                       cl::sub(calibrateCmd), cl::cat(calibrateCat));
static cl::opt<int64_t> calibrateWindow("c", cl::desc("Tokens per window (default: the context, at most 512)"),
                                        cl::init(0), cl::sub(calibrateCmd), cl::cat(calibrateCat));
static cl::opt<int64_t> calibrateWindows("windows", cl::desc("At most N windows (default: all)"),
                                         cl::init(0), cl::sub(calibrateCmd), cl::cat(calibrateCat));
static cl::opt<unsigned> calibrateThreads("t", cl::desc("Threads (default: all cores)"), cl::init(0),
                                          cl::sub(calibrateCmd), cl::cat(calibrateCat));

static cl::OptionCategory referenceCat("milmc reference options");
static cl::opt<std::string> referenceInput(cl::Positional, cl::desc("<model or milm IR>"), cl::sub(referenceCmd));
static cl::opt<std::string> referenceIds("ids", cl::desc("Token ids, separated by spaces (run from position 0)"),
                                         cl::sub(referenceCmd), cl::cat(referenceCat));
static cl::opt<std::string> referenceOut("o", cl::desc("Output file (default: stdout)"), cl::init("-"),
                                         cl::sub(referenceCmd), cl::cat(referenceCat));

static cl::OptionCategory compareCat("milmc compare options");
static cl::list<std::string> compareInputs(cl::Positional, cl::desc("<A> <B> (milmc compile output folders)"),
                                           cl::sub(compareCmd));
static cl::opt<std::string> compareText("text", cl::desc("The text both models read (e.g. models/kjv-heldout.txt)"),
                                        cl::value_desc("file"), cl::sub(compareCmd), cl::cat(compareCat));
static cl::opt<int64_t> compareWindow("c", cl::desc("Window in tokens (default: milm-run's, the context up to 512)"),
                                      cl::init(0), cl::sub(compareCmd), cl::cat(compareCat));
static cl::opt<int64_t> compareChunks("chunks", cl::desc("Score only the first K windows"), cl::init(0),
                                      cl::sub(compareCmd), cl::cat(compareCat));
static cl::opt<int64_t> compareThreads("t", cl::desc("Threads of each model (default: milm-run's)"), cl::init(0),
                                       cl::sub(compareCmd), cl::cat(compareCat));
static cl::opt<bool> compareJson("json", cl::desc("Print one JSON object instead of the table"),
                                 cl::sub(compareCmd), cl::cat(compareCat));

static int fail(Error e) {
  logAllUnhandledErrors(std::move(e), errs(), "milmc: error: ");
  return 1;
}

static int runImport() {
  auto model = milm::importModel(importInput);
  if (!model)
    return fail(model.takeError());
  mlir::MLIRContext ctx;
  milm::BuildOptions opts;
  opts.modelName = modelName;
  opts.cacheElement = cacheElement;
  opts.cacheCapacity = cacheCapacity;
  opts.unfusedMoE = unfusedMoE;
  auto module = milm::buildModelIR(ctx, *model, opts);
  if (!module)
    return fail(module.takeError());
  bool same = false;
  if (!sys::fs::equivalent(importInput, importOutput, same) && same)
    return fail(createStringError(inconvertibleErrorCode(),
                                  importOutput + ": the output would overwrite the input model; "
                                                 "choose another -o"));
  std::string text;
  {
    raw_string_ostream os(text);
    (*module)->print(os);
    os << "\n";
  }
  if (importOutput == "-") {
    outs() << text;
    outs().flush();
    if (outs().has_error()) {
      std::string msg = outs().error().message();
      outs().clear_error();
      return fail(createStringError(inconvertibleErrorCode(), "standard output: " + msg));
    }
    return 0;
  }
  // Into a temporary file next to the output, renamed into place when it is
  // complete: a failed write (disk full, ulimit -f) leaves an existing file as it was.
  Expected<sys::fs::TempFile> tmp = sys::fs::TempFile::create(importOutput + ".tmp-%%%%%%");
  if (!tmp)
    return fail(createStringError(inconvertibleErrorCode(),
                                  importOutput + ": cannot create a temporary file: " +
                                      toString(tmp.takeError())));
  std::string writeError;
  {
    raw_fd_ostream os(tmp->FD, /*shouldClose=*/false);
    os << text;
    os.flush();
    if (os.has_error()) {
      writeError = os.error().message();
      os.clear_error();
    }
  }
  if (!writeError.empty()) {
    consumeError(tmp->discard());
    return fail(createStringError(inconvertibleErrorCode(),
                                  importOutput + ": cannot write: " + writeError));
  }
  if (Error e = tmp->keep(importOutput))
    return fail(createStringError(inconvertibleErrorCode(),
                                  importOutput + ": cannot move into place: " +
                                      toString(std::move(e))));
  return 0;
}

static std::string shapeStr(ArrayRef<int64_t> shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? "x" : "") + std::to_string(shape[i]);
  return s;
}

static std::string humanBytes(uint64_t n) {
  if (n < 10 * 1024)
    return std::to_string(n) + " B";
  if (n < 10 * 1024 * 1024)
    return formatv("{0:F1} KiB", n / 1024.0).str();
  if (n < 10ull * 1024 * 1024 * 1024)
    return formatv("{0:F1} MiB", n / 1048576.0).str();
  return formatv("{0:F2} GiB", n / 1073741824.0).str();
}

static int runInspect() {
  auto model = milm::importModel(importInput);
  if (!model)
    return fail(model.takeError());
  const milm::ModelConfig &c = model->config;
  raw_ostream &os = outs();
  os << "model       " << model->sourcePath << " (" << model->sourceKind << ")\n";
  // Strings from the file may hold control characters (ESC, NUL): escaped.
  auto esc = [](const std::string &v) { return milm::escapeControlChars(v); };
  os << "arch        " << esc(c.arch) << (c.name.empty() ? "" : "  \"" + esc(c.name) + "\"")
     << "\n";
  os << "layers      " << c.numLayers << "\n";
  os << "hidden      " << c.hiddenSize << "\n";
  auto perLayer = [&](const std::vector<int64_t> &v) {
    std::string s = " (per layer:";
    for (int64_t x : v)
      s += " " + std::to_string(x);
    return v.empty() ? std::string() : s + ")";
  };
  os << "heads       " << c.numHeads << " query" << perLayer(c.layerHeads) << ", "
     << c.numKVHeads << " kv" << perLayer(c.layerKVHeads) << ", head_dim " << c.headDim << "\n";
  os << "ffn         " << c.ffnSize << (c.numExperts ? " per expert" : "") << perLayer(c.layerFfn)
     << "\n";
  if (c.numExperts)
    os << "experts     " << c.numExperts << ", top " << c.numExpertsUsed << "\n";
  os << "vocab       " << c.vocabSize << "\n";
  os << "context     " << c.contextLength << "\n";
  static const char *scalings[] = {"none", "linear", "ntk", "yarn"};
  os << "rope        " << (c.ropePairing == milm::RopePairing::Neox ? "neox" : "norm") << ", base "
     << format("%g", c.ropeBase) << ", scaling " << scalings[static_cast<int>(c.ropeScaling)];
  if (c.ropeScaling != milm::RopeScaling::None)
    os << " x" << c.ropeScalingFactor;
  if (c.rotaryDim && c.rotaryDim != c.headDim)
    os << ", rotary_dim " << c.rotaryDim;
  os << "\n";
  os << "rms eps     " << format("%g", c.rmsEps) << "\n";
  os << "qkv bias    " << (c.qkvBias ? "yes" : "no") << "\n";
  os << "embeddings  " << (c.tiedEmbeddings ? "tied" : "separate output matrix") << "\n";
  if (const auto &t = model->tokenizer) {
    os << "tokenizer   " << esc(t->model) << ", " << t->tokens.size() << " tokens";
    if (!t->merges.empty())
      os << ", " << t->merges.size() << " merges";
    if (t->bos)
      os << ", bos " << *t->bos;
    if (t->eos)
      os << ", eos " << *t->eos;
    os << "\n";
  } else {
    os << "tokenizer   none\n";
  }

  uint64_t totalBytes = 0, totalElems = 0;
  std::map<std::string, std::pair<unsigned, uint64_t>> byFormat;
  size_t nameWidth = 4;
  for (const auto &t : model->tensors)
    nameWidth = std::max(nameWidth, esc(t.name).size());
  os << "\n" << left_justify("name", nameWidth) << "  " << left_justify("format", 6) << "  "
     << left_justify("shape", 14) << "  " << right_justify("offset", 12) << "  "
     << right_justify("bytes", 12) << "\n";
  for (const auto &t : model->tensors) {
    std::string fmt(milm::info(t.format).name);
    os << left_justify(esc(t.name), nameWidth) << "  " << left_justify(fmt, 6) << "  "
       << left_justify(shapeStr(t.shape), 14) << "  "
       << right_justify(t.parts.empty() ? std::to_string(t.offset) : "stacked", 12) << "  "
       << right_justify(std::to_string(t.nbytes), 12) << "\n";
    uint64_t elems = 1;
    for (int64_t d : t.shape)
      elems *= static_cast<uint64_t>(d);
    totalElems += elems;
    totalBytes += t.nbytes;
    auto &f = byFormat[fmt];
    f.first++;
    f.second += t.nbytes;
  }
  os << "\n" << model->tensors.size() << " tensors, " << totalElems << " parameters, "
     << humanBytes(totalBytes) << " ("
     << format("%.2f", totalElems ? totalBytes * 8.0 / totalElems : 0.0) << " bits per weight)\n";
  os << "formats    ";
  for (const auto &[name, f] : byFormat)
    os << " " << name << ": " << f.first << " tensors, " << humanBytes(f.second) << ";";
  os << "\n";
  return 0;
}

static int runSynth() {
  if (listPresets) {
    outs() << left_justify("preset", 12) << right_justify("layers", 7) << right_justify("hidden", 7)
           << right_justify("heads", 6) << right_justify("kv", 4) << right_justify("hdim", 5)
           << right_justify("ffn", 7) << right_justify("vocab", 7) << right_justify("experts", 8)
           << right_justify("params", 16) << right_justify("active", 16) << "\n";
    for (const milm::SynthPreset &p : milm::synthPresets()) {
      milm::SynthParamCount n = milm::countSynthParameters(p);
      outs() << left_justify(p.name, 12) << right_justify(std::to_string(p.layers), 7)
             << right_justify(std::to_string(p.hidden), 7) << right_justify(std::to_string(p.heads), 6)
             << right_justify(std::to_string(p.kvHeads), 4) << right_justify(std::to_string(p.headDim), 5)
             << right_justify(std::to_string(p.ffn), 7) << right_justify(std::to_string(p.vocab), 7)
             << right_justify(p.experts ? std::to_string(p.experts) + "/" + std::to_string(p.expertsUsed) : "-", 8)
             << right_justify(std::to_string(n.total), 16) << right_justify(std::to_string(n.active), 16)
             << "\n";
    }
    return 0;
  }
  if (synthOutput.empty())
    return fail(createStringError(inconvertibleErrorCode(), "synth needs an output file: -o FILE.gguf"));
  milm::SynthOptions opts;
  opts.preset = synthPreset;
  opts.format = synthFormat;
  opts.seed = synthSeed;
  if (synthLayers)
    opts.layers = synthLayers;
  if (synthVocab)
    opts.vocab = synthVocab;
  if (synthContext)
    opts.context = synthContext;
  opts.threads = synthThreads;
  if (Error e = milm::writeSyntheticModel(opts, synthOutput))
    return fail(std::move(e));
  return 0;
}

/// milmc reference: the interpreter's logits, one JSON line per position
/// (the layout of milm-run --logits-for and of models/*.ref.jsonl).
static int runReference() {
  auto usage = [](const std::string &msg) {
    return fail(createStringError(inconvertibleErrorCode(), msg));
  };
  if (referenceInput.empty())
    return usage("reference needs a model");
  std::vector<int32_t> ids;
  SmallVector<StringRef> words;
  StringRef(referenceIds).split(words, ' ', -1, false);
  for (StringRef w : words) {
    int32_t id;
    if (w.trim().getAsInteger(10, id) || id < 0)
      return usage("--ids: '" + w.str() + "' is not a token id");
    ids.push_back(id);
  }
  if (ids.empty())
    return usage("reference needs --ids \"ID ID ...\"");
  mlir::MLIRContext ctx;
  auto module = milm::loadModelModule(ctx, referenceInput, 0);
  if (!module)
    return fail(module.takeError());
  auto interp = milm::ModelInterpreter::create(**module);
  if (!interp)
    return fail(interp.takeError());
  auto logits = (*interp)->forward(ids);
  if (!logits)
    return fail(logits.takeError());
  std::error_code ec;
  ToolOutputFile out(referenceOut, ec, sys::fs::OF_None);
  if (ec)
    return usage(referenceOut + ": " + ec.message());
  const int64_t V = (*interp)->vocabSize();
  for (size_t t = 0; t < ids.size(); ++t) {
    const double *row = logits->data() + t * V;
    int64_t best = 0;
    for (int64_t v = 1; v < V; ++v)
      if (row[v] > row[best])
        best = v;
    out.os() << "{\"pos\":" << t << ",\"input\":" << ids[t] << ",\"argmax\":" << best
             << ",\"logits\":[";
    for (int64_t v = 0; v < V; ++v)
      out.os() << (v ? "," : "") << format("%.9g", row[v]);
    out.os() << "]}\n";
  }
  out.keep();
  return 0;
}

/// Named quantization recipes (docs/QUANTIZATION.md): what --quantize NAME
/// expands to. Options given explicitly win over the recipe's.
struct QuantRecipe {
  const char *name;
  bool rotate; ///< with the online Hadamard transform before down products
  const char *scheme; ///< the body's 4-bit scheme
  double outliers;
  const char *embedding;
};
static const QuantRecipe kRecipes[] = {
    // Rotation (with the online transform before down products) + outlier
    // separation: the MiLM2 scheme's two halves; GPTQ rounding with
    // error-chosen scales; the embedding at 6 bits.
    {"w4-rot-outlier", true, "w4-channel", 0.015, "q6_k"},
    // The same on a group-128 body (4.13 bits before the f16 columns), with
    // 1% of the columns kept to stay within 4.5 bits a weight.
    {"w4-g128-rot-outlier", true, "w4-g128", 0.01, "q6_k"},
    // The same without the rotation.
    {"w4-outlier", false, "w4-channel", 0.015, "q6_k"},
    // GPTQ alone on the standard per-channel scheme.
    {"w4-gptq", false, "w4-channel", 0.0, ""},
};

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  // A write past `ulimit -f` fails with EFBIG and is reported like any other
  // write error, instead of killing milmc with SIGXFSZ.
  signal(SIGXFSZ, SIG_IGN);
  cl::HideUnrelatedOptions({&importCat, &synthCat, &compileCat, &calibrateCat, &pruneCat, &referenceCat, &compareCat});
  cl::ParseCommandLineOptions(argc, argv,
                              "milmc: the milm ahead-of-time compiler for MiLM2 language models\n");
  if (versionCmd) {
    outs() << "milmc 0.1.0 (LLVM " << LLVM_VERSION_STRING << ")\n";
    return 0;
  }
  if (importCmd)
    return runImport();
  if (inspectCmd)
    return runInspect();
  if (synthCmd)
    return runSynth();
  if (compileCmd) {
    milm::CompileOptions opts;
    opts.model = compileInput;
    opts.outDir = compileOut;
    opts.target = compileTarget;
    opts.cpu = compileCpu;
    opts.maxTokens = compileMaxTokens;
    opts.kvCacheSize = compileKV;
    opts.verbose = compileVerbose;
    opts.embedWeights = compileEmbed;
    opts.repack = !compileNoRepack;
    opts.quantize = compileQuantize;
    const QuantRecipe *recipe = nullptr;
    for (const QuantRecipe &r : kRecipes)
      if (compileQuantize == r.name)
        recipe = &r;
    if (recipe) {
      if (compileCalibrate.empty() && compileCalibration.empty())
        return fail(createStringError(inconvertibleErrorCode(),
                                      "--quantize " + compileQuantize +
                                          " is calibrated: add --calibrate TEXT (e.g. "
                                          "models/kjv-calibration.txt)"));
      compileQuantize = recipe->scheme;
      opts.quantize = recipe->scheme;
      if (!compileRotate.getNumOccurrences())
        compileRotate = recipe->rotate;
      if (!compileOnline.getNumOccurrences())
        compileOnline = recipe->rotate && compileRotate;
      if (!compileOutliers.getNumOccurrences())
        compileOutliers = recipe->outliers;
      if (!compileGptq.getNumOccurrences())
        compileGptq = true;
      if (!compileClip.getNumOccurrences())
        compileClip = true;
      if (!compileQuantizeEmbedding.getNumOccurrences())
        compileQuantizeEmbedding = recipe->embedding;
    }
    opts.quantizePure = compileQuantizePure;
    opts.rotate = compileRotate;
    opts.rotateOnline = compileOnline;
    opts.maxKL = compileMaxKL;
    opts.evalText = compileEvalText;
    opts.evalChunks = compileEvalChunks;
    opts.draft = compileDraft;
    opts.emit = compileEmit;
    opts.draftQuantize = compileDraftQuantize;
    opts.draftQuantizePure = compileDraftQuantizePure;
    opts.calibrateText = compileCalibrate;
    opts.calibrateWindows = compileCalibrateWindows;
    opts.calibration = compileCalibration;
    opts.gptq = compileGptq;
    opts.clip = compileClip;
    opts.outliers = compileOutliers;
    opts.quantReport = compileQuantReport;
    opts.pruneHeads = compilePruneHeads;
    opts.pruneFfn = compilePruneFfn;
    opts.pruneKvHeads = compilePruneKvHeads;
    opts.fuse = compileFuse;
    opts.pruneReconstruct = compilePruneReconstruct;
    opts.pruneCalibration = compilePruneCalibration;
    opts.quantizeEmbedding = compileQuantizeEmbedding;
    if (!compileQuantizeEmbedding.empty() && compileQuantize.empty())
      return fail(createStringError(inconvertibleErrorCode(),
                                    "--quantize-embedding needs --quantize FORMAT"));
    auto usage = [&](const std::string &msg) {
      return fail(createStringError(inconvertibleErrorCode(), msg));
    };
    if (!compileCalibrate.empty() && !compileCalibration.empty())
      return usage("--calibrate TEXT and --calibration STATS are two ways to calibrate: give one");
    if (compileCalibrateWindows < 0)
      return usage("--calibrate-windows takes a number >= 0");
    if (!(compileOutliers >= 0 && compileOutliers < 0.5))
      return usage("--outliers takes a fraction in [0, 0.5)");
    const bool calibrated = !compileCalibrate.empty() || !compileCalibration.empty();
    const bool fourBit = llvm::StringRef(compileQuantize).starts_with("w4-");
    if ((compileGptq || compileOutliers > 0 || compileClip || compileQuantReport) && !fourBit)
      return usage(std::string(compileGptq ? "--gptq" : compileOutliers > 0 ? "--outliers"
                               : compileClip ? "--clip" : "--quant-report") +
                   " needs --quantize with a 4-bit scheme (w4-channel, w4-g32, w4-g64, w4-g128, "
                   "each also -asym)");
    if ((compileGptq || compileOutliers > 0) && !calibrated)
      return usage(std::string(compileGptq ? "--gptq" : "--outliers") +
                   " needs calibration: --calibrate TEXT (or --calibration STATS)");
    const bool pruning = compilePruneHeads > 0 || compilePruneFfn > 0 || compilePruneKvHeads > 0;
    if (!(compilePruneHeads >= 0 && compilePruneHeads < 1) ||
        !(compilePruneFfn >= 0 && compilePruneFfn < 1) ||
        !(compilePruneKvHeads >= 0 && compilePruneKvHeads < 1))
      return usage("--prune-heads, --prune-kv-heads and --prune-ffn take a fraction in [0, 1)");
    if ((compilePruneReconstruct || !compilePruneCalibration.empty()) && !pruning)
      return usage(std::string(compilePruneReconstruct ? "--prune-reconstruct" : "--prune-calibration") +
                   " needs --prune-heads, --prune-kv-heads or --prune-ffn");
    if (pruning && compileCalibrate.empty() && compilePruneCalibration.empty())
      return usage("pruning ranks heads and channels on calibration text: --calibrate TEXT (or "
                   "--prune-calibration STATS from milmc calibrate)");
    if (!compileCalibration.empty() && compileQuantize.empty())
      return usage("calibration is for quantizing: add --quantize with a 4-bit scheme");
    if (!compileCalibrate.empty() && compileQuantize.empty() && !pruning)
      return usage("calibration is for quantizing and pruning: add --quantize with a 4-bit "
                   "scheme, or --prune-heads/--prune-kv-heads/--prune-ffn");
    if ((!compileDraftQuantize.empty() || compileDraftQuantizePure) && compileDraft.empty())
      return fail(createStringError(inconvertibleErrorCode(),
                                    std::string(compileDraftQuantizePure ? "--draft-quantize-pure"
                                                                         : "--draft-quantize") +
                                        " needs --draft MODEL"));
    if (compileDraftQuantizePure && compileDraftQuantize.empty())
      return fail(createStringError(inconvertibleErrorCode(),
                                    "--draft-quantize-pure needs --draft-quantize FORMAT"));
    if (compileMaxKL.getNumOccurrences() && !(compileMaxKL >= 0))
      return fail(createStringError(inconvertibleErrorCode(), "--max-kl takes a number >= 0"));
    if (compileMaxKL.getNumOccurrences() && compileEvalText.empty())
      return fail(createStringError(inconvertibleErrorCode(),
                                    "--max-kl needs --eval-text FILE (the text the gate scores)"));
    if (!compileMaxKL.getNumOccurrences() && !compileEvalText.empty())
      return fail(createStringError(inconvertibleErrorCode(), "--eval-text needs --max-kl X"));
    if (compileEvalChunks < 0)
      return fail(createStringError(inconvertibleErrorCode(), "--eval-chunks takes a number >= 0"));
    if (compileOnline && !compileRotate)
      return fail(createStringError(inconvertibleErrorCode(), "--online-hadamard needs --rotate"));
    if (compileQuantizePure && compileQuantize.empty())
      return fail(createStringError(inconvertibleErrorCode(), "--quantize-pure needs --quantize FORMAT"));
    if (Error e = milm::compileModel(opts))
      return fail(std::move(e));
    return 0;
  }
  if (referenceCmd)
    return runReference();
  if (pruneCmd) {
    milm::PruneCommandOptions c;
    c.model = pruneInput;
    c.output = pruneOut;
    c.text = pruneText;
    c.calibration = pruneStats;
    c.heads = pruneHeadsOpt;
    c.ffn = pruneFfnOpt;
    c.reconstruct = pruneReconstructOpt;
    c.windows = pruneWindows;
    c.keepHeads.assign(pruneKeepHeads.begin(), pruneKeepHeads.end());
    c.keepFfn.assign(pruneKeepFfn.begin(), pruneKeepFfn.end());
    c.keepKvHeads.assign(pruneKeepKvHeads.begin(), pruneKeepKvHeads.end());
    c.kvHeads = pruneKvHeadsOpt;
    if (c.model.empty())
      return fail(createStringError(inconvertibleErrorCode(), "prune needs a model"));
    if (pruneWindows < 0)
      return fail(createStringError(inconvertibleErrorCode(), "--windows takes a number >= 0"));
    if (Error e = milm::pruneModel(c))
      return fail(std::move(e));
    return 0;
  }
  if (calibrateCmd) {
    milm::CalibrateCommandOptions c;
    c.model = calibrateInput;
    c.text = calibrateText;
    c.output = calibrateOut;
    c.rotate = calibrateRotate;
    c.online = calibrateOnline;
    if (calibrateOnline && !calibrateRotate)
      return fail(createStringError(inconvertibleErrorCode(), "--online-hadamard needs --rotate"));
    c.matrices = calibrateMatrices;
    c.window = calibrateWindow;
    c.windows = calibrateWindows;
    c.threads = calibrateThreads;
    if (c.model.empty())
      return fail(createStringError(inconvertibleErrorCode(), "calibrate needs a model"));
    if (calibrateWindow < 0 || calibrateWindows < 0)
      return fail(createStringError(inconvertibleErrorCode(), "-c and --windows take numbers >= 0"));
    if (Error e = milm::calibrateModel(c))
      return fail(std::move(e));
    return 0;
  }
  if (targetsCmd) {
    // The registry, as milmc compile --target sees it.
    InitializeAllTargetInfos();
    InitializeAllTargets();
    InitializeAllTargetMCs();
    milm::registerAllTargets();
    for (const milm::Target *t : milm::registeredTargets()) {
      outs() << t->name();
      for (const std::string &a : t->aliases())
        outs() << ", " << a;
      outs() << "\n    " << t->summary() << "\n";
      auto r = t->resolve("");
      if (!r) {
        outs() << "    (not available here: " << toString(r.takeError()) << ")\n";
        continue;
      }
      outs() << "    " << r->triple << ", cpu " << r->cpu << ", kernels " << r->ukernels
             << (t->repacks(*r) ? ", packed layouts" : "") << "\n";
    }
    return 0;
  }
  if (compareCmd) {
    if (compareInputs.size() != 2)
      return fail(createStringError(inconvertibleErrorCode(),
                                    "compare takes two compiled models, A and B (got " +
                                        std::to_string(compareInputs.size()) + ")"));
    if (compareWindow != 0 && compareWindow < 4)
      return fail(createStringError(inconvertibleErrorCode(),
                                    "-c " + std::to_string(compareWindow) +
                                        ": a window needs at least 4 tokens"));
    if (compareChunks < 0 || compareThreads < 0)
      return fail(createStringError(inconvertibleErrorCode(),
                                    "--chunks and -t take numbers >= 1"));
    milm::CompareOptions opts;
    opts.a = compareInputs[0];
    opts.b = compareInputs[1];
    opts.text = compareText;
    opts.window = compareWindow;
    opts.chunks = compareChunks;
    opts.threads = compareThreads;
    opts.json = compareJson;
    if (Error e = milm::compareModels(opts, outs()))
      return fail(std::move(e));
    return 0;
  }
  errs() << "milmc: no command given; run 'milmc --help' for the list\n";
  return 1;
}
