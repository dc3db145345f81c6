//===- Compile.h - milmc compile ----------------------------------*- C++ -*-===//
#ifndef MILM_TOOLS_MILMC_COMPILE_H
#define MILM_TOOLS_MILMC_COMPILE_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace milm {

struct CompileOptions {
  std::string model;        ///< GGUF file or Hugging Face checkpoint
  std::string outDir;       ///< receives model.milm, model.o and milm-run (and draft.milm, draft.o)
  std::string target = "host";
  std::string cpu;          ///< empty: the target's default
  int64_t maxTokens = 64;   ///< tokens per milm_forward call (prefill chunk)
  int64_t kvCacheSize = 0;  ///< 0: the model's context length
  bool verbose = false;     ///< per-stage timings
  bool embedWeights = false; ///< link model.milm into milm-run; OUT/ gets no model.milm
  /// "exe": milm-run and its weights; "package": also what a device team
  /// links into its own program (tools/milmc/Package.h).
  std::string emit = "exe";
  bool repack = true;        ///< repack weights into the target kernels' layouts (q4_0x8 on x86-64)
  std::string quantize;      ///< milm-quantize's format ("": keep the model's formats)
  bool quantizePure = false; ///< milm-quantize's `pure`
  bool rotate = false;       ///< milm-rotate before milm-quantize
  bool rotateOnline = false; ///< milm-rotate's `online` (milm.hadamard before down products)
  /// Calibration (docs/QUANTIZATION.md): calibrateText is tokenized and run
  /// through the model after milm-rotate (milm-calibrate, at most
  /// calibrateWindows windows, 0: all); or `calibration` names statistics
  /// from `milmc calibrate`. They weight the 4-bit schemes' rounding (with
  /// clip, gptq) and choose milm-split-outliers' columns (outliers > 0: that
  /// fraction of each matrix's columns kept in f16). quantReport prints the
  /// per-matrix error tables to stdout.
  std::string quantizeEmbedding; ///< milm-quantize's `embedding` ("": the matrices' format)
  std::string calibrateText;
  int64_t calibrateWindows = 0;
  std::string calibration;
  bool gptq = false;
  bool clip = false;
  double outliers = 0;
  bool quantReport = false;
  /// Structured pruning (milm-prune-transact, docs/PRUNING.md), first of the
  /// passes: fractions of query heads and FFN channels removed per layer,
  /// ranked on statistics of the unpruned model (pruneCalibration, or
  /// calibrateText run through it before pruning); pruneReconstruct refits
  /// o_proj and down_proj.
  double pruneHeads = 0, pruneFfn = 0, pruneKvHeads = 0;
  bool pruneReconstruct = false;
  std::string pruneCalibration;
  /// milm-fuse-qkv and milm-fuse-gate-up, last of the model passes.
  bool fuse = false;
  /// A draft model for speculative decoding, compiled for the same target
  /// into the same milm-run (symbols milm_draft_*) and OUT/draft.milm; its
  /// tokenizer must be the model's. draftQuantize: milm-quantize's format for
  /// it (self-speculation: the model itself, quantized harder).
  std::string draft;
  std::string draftQuantize;
  bool draftQuantizePure = false;
  /// The quality gate: when >= 0, the compiled model and the model compiled
  /// without the model pipeline read evalText (milmc compare's method); a mean
  /// KL(reference || compiled) above maxKL fails the compile, and nothing is
  /// written to outDir.
  double maxKL = -1;
  std::string evalText;
  int64_t evalChunks = 0;    ///< windows of evalText to score (0: all)
};

/// The module of a model file (GGUF, safetensors folder) or of milm IR (.mlir).
llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>>
loadModelModule(mlir::MLIRContext &ctx, const std::string &path, int64_t kvCacheSize);

/// The text of `textPath` as the module's tokenizer reads it (no BOS).
llvm::Expected<std::vector<int32_t>> tokenizeWithModel(mlir::ModuleOp module,
                                                       const std::string &textPath);

/// milmc calibrate: the model (rotated first with `rotate`, as milmc compile
/// --rotate would) runs over `text`; the statistics go to `output`
/// (passes/Calibration.h).
struct CalibrateCommandOptions {
  std::string model, text, output;
  bool rotate = false;
  bool online = false;   ///< milm-rotate's `online`
  bool matrices = false; ///< also the second-moment matrices (GPTQ)
  int64_t window = 0;    ///< tokens per window (0: the context, at most 512)
  int64_t windows = 0;   ///< at most this many windows (0: all)
  unsigned threads = 0;
};
llvm::Error calibrateModel(const CalibrateCommandOptions &opts);

/// Runs `pm` on `module`; a failure is one line with the first error, a
/// pass's remarks are printed one line each ("milmc: ...").
llvm::Error runPasses(mlir::PassManager &pm, mlir::ModuleOp module, const std::string &model);

/// milmc prune: milm-prune-transact on a GGUF model, ranked on `text` (run
/// through the unpruned model, at most `windows` windows) or on statistics
/// from milmc calibrate; the pruned model goes to `output` as GGUF, with
/// per-layer sizes in the per-layer array form of the llama.* keys.
struct PruneCommandOptions {
  std::string model, output, text, calibration;
  double heads = 0, ffn = 0, kvHeads = 0;
  std::vector<int64_t> keepHeads, keepFfn, keepKvHeads; ///< counts to keep instead (milm-prune-transact's)
  bool reconstruct = false;
  int64_t windows = 0;
};
llvm::Error pruneModel(const PruneCommandOptions &opts);

/// Import, lower, generate code, write the artifact and link the executable.
llvm::Error compileModel(const CompileOptions &opts);

} // namespace milm

#endif
