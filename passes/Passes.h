//===- Passes.h - milm's model-level passes and pipeline --------*- C++ -*-===//
//
// The passes declared in Passes.td and the model pipeline that `milmc compile`
// runs on the milm IR before code generation (milm-model-pipeline in
// milm-opt). Passes that create or rewrite weights write them through
// passes/WeightStore.h to the store the driver names (`weight-store`).
//
//===----------------------------------------------------------------------===//
#ifndef MILM_PASSES_PASSES_H
#define MILM_PASSES_PASSES_H

#include "dialects/milm/MilmDialect.h"

#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

#include <memory>
#include <string>

namespace milm {

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

/// Options of the model pipeline (`--milm-model-pipeline="weight-store=PATH"`).
struct ModelPipelineOptions : mlir::PassPipelineOptions<ModelPipelineOptions> {
  Option<std::string> weightStore{
      *this, "weight-store",
      llvm::cl::desc("The weight store that passes append the weights they create to "
                     "(created when a pass first writes one; passes/WeightStore.h)")};
  Option<std::string> quantize{
      *this, "quantize",
      llvm::cl::desc("Run milm-quantize with this format (a storage format or q4_k_m); "
                     "empty: keep the weights' formats")};
  Option<bool> rotate{*this, "rotate",
                      llvm::cl::desc("Run milm-rotate (before milm-quantize)"),
                      llvm::cl::init(false)};
  Option<bool> rotateOnline{*this, "rotate-online",
                            llvm::cl::desc("milm-rotate's `online`: a milm.hadamard before "
                                           "each dense FFN's down product"),
                            llvm::cl::init(false)};
  Option<std::string> calibrationTokens{
      *this, "calibration-tokens",
      llvm::cl::desc("Run milm-calibrate on these token ids (after milm-rotate) and give its "
                     "statistics to the passes that round weights")};
  Option<std::string> calibrationStats{
      *this, "calibration-stats",
      llvm::cl::desc("Where milm-calibrate writes its statistics, or, without "
                     "calibration-tokens, statistics to read")};
  Option<int64_t> calibrationWindows{*this, "calibration-windows",
                                     llvm::cl::desc("milm-calibrate's max-windows (0: all)"),
                                     llvm::cl::init(0)};
  Option<bool> gptq{*this, "gptq", llvm::cl::desc("Round the 4-bit schemes with GPTQ"),
                    llvm::cl::init(false)};
  Option<bool> clip{*this, "clip", llvm::cl::desc("Choose the 4-bit schemes' scales by error"),
                    llvm::cl::init(false)};
  Option<double> outliers{*this, "outliers",
                          llvm::cl::desc("Run milm-split-outliers keeping this fraction of "
                                         "input columns in f16 (the body: `quantize`)"),
                          llvm::cl::init(0.0)};
  Option<double> pruneHeads{*this, "prune-heads",
                            llvm::cl::desc("Run milm-prune-transact first, removing this fraction "
                                           "of each layer's query heads"),
                            llvm::cl::init(0.0)};
  Option<double> pruneKvHeads{*this, "prune-kv-heads",
                              llvm::cl::desc("Run milm-prune-transact first, removing this "
                                             "fraction of each layer's KV heads with their "
                                             "query heads"),
                              llvm::cl::init(0.0)};
  Option<double> pruneFfn{*this, "prune-ffn",
                          llvm::cl::desc("Run milm-prune-transact first, removing this fraction "
                                         "of each dense FFN's channels"),
                          llvm::cl::init(0.0)};
  Option<bool> pruneReconstruct{*this, "prune-reconstruct",
                                llvm::cl::desc("milm-prune-transact's `reconstruct`"),
                                llvm::cl::init(false)};
  Option<std::string> pruneCalibrationStats{
      *this, "prune-calibration-stats",
      llvm::cl::desc("Statistics of the unpruned model that pruning ranks by: where "
                     "milm-calibrate writes them with prune-calibrate, else statistics to read")};
  Option<bool> pruneCalibrate{
      *this, "prune-calibrate",
      llvm::cl::desc("Run milm-calibrate on calibration-tokens before pruning, writing "
                     "prune-calibration-stats"),
      llvm::cl::init(false)};
  Option<bool> fuse{*this, "fuse",
                    llvm::cl::desc("Run milm-fuse-qkv and milm-fuse-gate-up last"),
                    llvm::cl::init(false)};
  Option<std::string> report{*this, "report",
                             llvm::cl::desc("Append the per-matrix rounding error tables here")};
  Option<unsigned> threads{*this, "threads",
                           llvm::cl::desc("Threads of calibration and rounding"),
                           llvm::cl::init(1)};
  Option<std::string> quantizeEmbedding{
      *this, "quantize-embedding",
      llvm::cl::desc("milm-quantize's `embedding`: the token embedding's storage format")};
  Option<bool> quantizePure{*this, "quantize-pure",
                            llvm::cl::desc("milm-quantize's `pure`: every matrix in the format"),
                            llvm::cl::init(false)};
};

/// The model-level passes `milmc compile` runs on a module holding a
/// milm.model before its target's lowering, in order: milm-fuse-moe (always);
/// milm-prune-transact
/// when `options.pruneHeads`, `pruneKvHeads` or `pruneFfn` is set (after a
/// milm-calibrate of the unpruned model when calibration tokens are given);
/// milm-rotate when
/// `options.rotate`; milm-calibrate when `options.calibrationTokens` is set
/// and there is something to quantize;
/// milm-split-outliers when `options.outliers` > 0 (its body the 4-bit scheme
/// `options.quantize`); milm-quantize when `options.quantize` names a format;
/// milm-fuse-qkv and milm-fuse-gate-up when `options.fuse`.
/// The IR stays in the milm dialect;
/// weights it creates are in `options.weightStore`.
void buildModelPipeline(mlir::OpPassManager &pm, const ModelPipelineOptions &options);

/// Registers every pass of Passes.td and the pipeline `milm-model-pipeline`
/// (for milm-opt and --pass-pipeline strings).
void registerMilmPasses();

} // namespace milm

#endif
