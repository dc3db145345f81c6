//===- FuseGateUp.cpp - milm-fuse-gate-up: one product for gate and up ---===//
//
// Passes.td says what the pass does: each dense FFN's gate and up products
// (milm.linear of one input, read by one milm.swiglu) become one product
// over both weights' rows and two milm.columns.
//
//===----------------------------------------------------------------------===//
#include "passes/FuseProducts.h"
#include "passes/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringExtras.h"

namespace milm {

#define GEN_PASS_DEF_FUSEGATEUP
#include "passes/Passes.h.inc"

namespace {

namespace mm = mlir::milm;

struct FuseGateUpPass : impl::FuseGateUpBase<FuseGateUpPass> {
  using Base::Base;

  void runOnOperation() override {
    mlir::ModuleOp module = getOperation();
    if (weightStore.empty()) {
      module.emitError() << getArgument() << ": no weight store given (weight-store=PATH)";
      return signalPassFailure();
    }
    std::shared_ptr<WeightStore> store;
    llvm::SmallVector<mm::SwiGLUOp> ffns;
    module.walk([&](mm::SwiGLUOp s) { ffns.push_back(s); });
    int64_t fused = 0;
    std::vector<std::string> skipped;
    for (auto [i, s] : llvm::enumerate(ffns)) {
      auto gate = s.getGate().getDefiningOp<mm::LinearOp>();
      auto up = s.getUp().getDefiningOp<mm::LinearOp>();
      const std::string what = "FFN " + std::to_string(i);
      if (!gate || !up || !s.getGate().hasOneUse() || !s.getUp().hasOneUse()) {
        skipped.push_back(what + ": gate or up is not a milm.linear read only by it");
        continue;
      }
      llvm::SmallVector<mm::LinearOp> parts{gate, up};
      if (std::optional<std::string> why = cannotFuse(parts)) {
        skipped.push_back(what + ": " + *why);
        continue;
      }
      // blk.N.ffn_gate.weight -> blk.N.ffn_gate_up.weight
      llvm::StringRef g = gate.getWeight().getDefiningOp<mm::WeightOp>().getName();
      std::string name = g.ends_with("ffn_gate.weight")
                             ? (g.drop_back(strlen("ffn_gate.weight")) + "ffn_gate_up.weight").str()
                             : ("ffn_gate_up." + std::to_string(i) + ".weight");
      auto cols = fuseProducts(parts, name, weightStore, store);
      if (!cols) {
        s.emitOpError() << getArgument() << ": " << llvm::toString(cols.takeError());
        return signalPassFailure();
      }
      ++fused;
    }
    mlir::emitRemark(module.getLoc())
        << getArgument() << ": fused gate/up in " << fused << " of " << ffns.size() << " FFNs"
        << (skipped.empty() ? std::string() : "; left alone: " + llvm::join(skipped, "; "));
  }
};

} // namespace
} // namespace milm
