//===- Passes.cpp - milm's pass registration and model pipeline ----------===//
#include "passes/Passes.h"

#include "mlir/Pass/PassRegistry.h"

namespace milm {
namespace generated {
#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"
} // namespace generated

/// milm-calibrate on the pipeline's calibration tokens, writing `stats`.
static void addCalibrate(mlir::OpPassManager &pm, const ModelPipelineOptions &options,
                         const std::string &stats, bool matrices) {
  CalibrateOptions c;
  c.tokens = options.calibrationTokens;
  c.stats = stats;
  c.maxWindows = options.calibrationWindows;
  c.matrices = matrices;
  c.threads = options.threads;
  pm.addPass(createCalibrate(c));
}

void buildModelPipeline(mlir::OpPassManager &pm, const ModelPipelineOptions &options) {
  // Model-level passes go here, in the order they must run, each given
  // options.weightStore when it writes weights.
  // First, always: the passes below and the lowering take mixtures of
  // experts as one milm.moe (a no-op when the IR has none unfused).
  pm.addPass(createFuseMoE());
  if (options.pruneHeads > 0 || options.pruneFfn > 0 || options.pruneKvHeads > 0) {
    if (options.pruneCalibrate)
      addCalibrate(pm, options, options.pruneCalibrationStats, options.pruneReconstruct);
    PruneTransactOptions p;
    p.heads = options.pruneHeads;
    p.kvHeads = options.pruneKvHeads;
    p.ffn = options.pruneFfn;
    p.reconstruct = options.pruneReconstruct;
    p.calibration = options.pruneCalibrationStats;
    p.weightStore = options.weightStore;
    p.threads = options.threads;
    pm.addPass(createPruneTransact(p));
  }
  if (options.rotate) {
    RotateOptions r;
    r.weightStore = options.weightStore;
    r.online = options.rotateOnline;
    pm.addPass(createRotate(r));
  }
  if (!options.calibrationTokens.empty() && !options.quantize.empty())
    addCalibrate(pm, options, options.calibrationStats, options.gptq);
  if (options.outliers > 0) {
    SplitOutliersOptions s;
    s.body = options.quantize;
    s.fraction = options.outliers;
    s.calibration = options.calibrationStats;
    s.gptq = options.gptq;
    s.clip = options.clip;
    s.report = options.report;
    s.weightStore = options.weightStore;
    s.threads = options.threads;
    pm.addPass(createSplitOutliers(s));
  }
  if (!options.quantize.empty()) {
    QuantizeOptions q;
    q.format = options.quantize;
    q.pure = options.quantizePure;
    q.embedding = options.quantizeEmbedding;
    q.weightStore = options.weightStore;
    q.calibration = options.calibrationStats;
    q.gptq = options.gptq;
    q.clip = options.clip;
    q.report = options.report;
    q.threads = options.threads;
    pm.addPass(createQuantize(q));
  }
  if (options.fuse) {
    // Last: the fused weights are the rounded ones, their bytes concatenated.
    FuseQKVOptions f;
    f.weightStore = options.weightStore;
    pm.addPass(createFuseQKV(f));
    FuseGateUpOptions g;
    g.weightStore = options.weightStore;
    pm.addPass(createFuseGateUp(g));
  }
}

void registerMilmPasses() {
  generated::registerMilmPasses();
  mlir::PassPipelineRegistration<ModelPipelineOptions>(
      "milm-model-pipeline",
      "The model-level passes milmc compile runs before code generation "
      "(milm-fuse-moe, milm-prune-transact with prune-heads/prune-kv-heads/prune-ffn, milm-rotate with "
      "rotate=1, milm-calibrate with calibration-tokens=FILE, milm-split-outliers with "
      "outliers=F, milm-quantize with quantize=FORMAT, milm-fuse-qkv and milm-fuse-gate-up "
      "with fuse=1)",
      buildModelPipeline);
}

} // namespace milm
