//===- Passes.cpp - milm's pass registration and model pipeline ----------===//
#include "passes/Passes.h"

#include "mlir/Pass/PassRegistry.h"

namespace milm {
namespace generated {
#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"
} // namespace generated

void buildModelPipeline(mlir::OpPassManager &pm, const ModelPipelineOptions &options) {
  // Model-level passes go here, in the order they must run, each given
  // options.weightStore when it writes weights.
  if (options.rotate) {
    RotateOptions r;
    r.weightStore = options.weightStore;
    pm.addPass(createRotate(r));
  }
  if (!options.quantize.empty()) {
    QuantizeOptions q;
    q.format = options.quantize;
    q.pure = options.quantizePure;
    q.weightStore = options.weightStore;
    pm.addPass(createQuantize(q));
  }
}

void registerMilmPasses() {
  generated::registerMilmPasses();
  mlir::PassPipelineRegistration<ModelPipelineOptions>(
      "milm-model-pipeline",
      "The model-level passes milmc compile runs before code generation (milm-rotate with "
      "rotate=1, milm-quantize with quantize=FORMAT)",
      buildModelPipeline);
}

} // namespace milm
