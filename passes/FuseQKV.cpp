//===- FuseQKV.cpp - milm-fuse-qkv: one product for q, k and v -----------===//
//
// Passes.td says what the pass does: each attention's q, k and v products
// (milm.linear of one input, through milm.rope for q and k) become one
// product over the three weights' rows and three milm.columns.
//
//===----------------------------------------------------------------------===//
#include "passes/FuseProducts.h"
#include "passes/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringExtras.h"

namespace milm {

#define GEN_PASS_DEF_FUSEQKV
#include "passes/Passes.h.inc"

namespace {

namespace mm = mlir::milm;

/// The milm.linear that produces `x` (through one milm.rope).
mm::LinearOp productOf(mlir::Value x) {
  if (auto r = x.getDefiningOp<mm::RopeOp>())
    x = r.getInput();
  return x.getDefiningOp<mm::LinearOp>();
}

struct FuseQKVPass : impl::FuseQKVBase<FuseQKVPass> {
  using Base::Base;

  void runOnOperation() override {
    mlir::ModuleOp module = getOperation();
    if (weightStore.empty()) {
      module.emitError() << getArgument() << ": no weight store given (weight-store=PATH)";
      return signalPassFailure();
    }
    std::shared_ptr<WeightStore> store;
    llvm::SmallVector<mm::AttentionOp> attns;
    module.walk([&](mm::AttentionOp a) { attns.push_back(a); });
    int64_t fused = 0;
    std::vector<std::string> skipped;
    for (mm::AttentionOp a : attns) {
      mm::LinearOp q = productOf(a.getQ()), k = productOf(a.getK()), v = productOf(a.getV());
      std::string layer = "layer " + std::to_string(a.getLayer());
      if (!q || !k || !v) {
        skipped.push_back(layer + ": q, k or v is not a milm.linear");
        continue;
      }
      llvm::SmallVector<mm::LinearOp> parts{q, k, v};
      if (std::optional<std::string> why = cannotFuse(parts)) {
        skipped.push_back(layer + ": " + *why);
        continue;
      }
      const std::string name = "blk." + std::to_string(a.getLayer()) + ".attn_qkv.weight";
      auto cols = fuseProducts(parts, name, weightStore, store);
      if (!cols) {
        a.emitOpError() << getArgument() << ": " << llvm::toString(cols.takeError());
        return signalPassFailure();
      }
      ++fused;
    }
    mlir::emitRemark(module.getLoc())
        << getArgument() << ": fused q/k/v in " << fused << " of " << attns.size()
        << " attention layers"
        << (skipped.empty() ? std::string() : "; left alone: " + llvm::join(skipped, "; "));
  }
};

} // namespace
} // namespace milm
