//===- FuseMoE.cpp - milm-fuse-moe: one milm.moe per mixture of experts ---===//
//
// Passes.td says what the pass does: the unfused form of a mixture of experts
// (milm.moe_route, one SwiGLU FFN per expert, milm.moe_combine) becomes one
// milm.moe over the experts' matrices stacked into [experts, rows, cols]
// weights. The stacked weights reference the experts' bytes where they are
// (milm.weight's `stacked from` form): nothing is copied.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"

#include "dialects/milm/MilmDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringExtras.h"

#include <variant>

namespace milm {

#define GEN_PASS_DEF_FUSEMOE
#include "passes/Passes.h.inc"

namespace {

namespace mm = mlir::milm;

/// One expert's FFN: down(swiglu(gate(h), up(h))).
struct Expert {
  mm::LinearOp gate, up, down;
  mm::SwiGLUOp swiglu;
};

/// The weight a product reads, when it is a milm.weight read by it alone.
mm::WeightOp ownWeight(mm::LinearOp l) {
  auto w = l.getWeight().getDefiningOp<mm::WeightOp>();
  return w && w->hasOneUse() ? w : mm::WeightOp();
}

/// Expert e's FFN behind `out`, or why there is none.
std::variant<Expert, std::string> expertOf(mlir::Value out, mlir::Value h, size_t e) {
  const std::string who = "expert " + std::to_string(e);
  Expert x;
  x.down = out.getDefiningOp<mm::LinearOp>();
  if (!x.down || !out.hasOneUse())
    return who + ": its output is not a milm.linear read only by the combine";
  x.swiglu = x.down.getInput().getDefiningOp<mm::SwiGLUOp>();
  if (!x.swiglu || !x.down.getInput().hasOneUse())
    return who + ": the down product does not read a milm.swiglu of its own";
  x.gate = x.swiglu.getGate().getDefiningOp<mm::LinearOp>();
  x.up = x.swiglu.getUp().getDefiningOp<mm::LinearOp>();
  if (!x.gate || !x.up || !x.swiglu.getGate().hasOneUse() || !x.swiglu.getUp().hasOneUse())
    return who + ": gate or up is not a milm.linear read only by its swiglu";
  if (x.gate.getInput() != h || x.up.getInput() != h)
    return who + ": gate or up does not read the routed input";
  for (mm::LinearOp l : {x.gate, x.up, x.down}) {
    if (l.getBias())
      return who + ": a product with a bias (milm.moe has none)";
    mm::WeightOp w = ownWeight(l);
    if (!w)
      return who + ": a weight that is not a milm.weight read by its product alone";
    if (!w.getFile() || !w.getOffset())
      return who + ": weight '" + w.getName().str() + "' is not one slice of a file";
    for (mlir::Operation *user : l.getResult().getUsers())
      if (llvm::isa<mm::OutlierColumnsOp>(user))
        return who + ": a product with f16 outlier columns";
  }
  return x;
}

/// "blk.0.ffn_gate_exps.weight" when the experts' weights are that name's
/// slices [0], [1], ... (what milmc import --unfused-moe writes), else "".
std::string stackedName(llvm::ArrayRef<mm::WeightOp> ws) {
  std::string stem;
  for (auto [e, weight] : llvm::enumerate(ws)) {
    mm::WeightOp w = weight;
    llvm::StringRef n = w.getName();
    const std::string suffix = "[" + std::to_string(e) + "]";
    if (!n.consume_back(suffix) || (e > 0 && n != stem))
      return "";
    stem = n.str();
  }
  return stem;
}

struct FuseMoEPass : impl::FuseMoEBase<FuseMoEPass> {
  using Base::Base;

  void runOnOperation() override {
    mlir::ModuleOp module = getOperation();
    llvm::SmallVector<mm::MoECombineOp> combines;
    module.walk([&](mm::MoECombineOp c) { combines.push_back(c); });
    if (combines.empty())
      return;
    int64_t fused = 0;
    std::vector<std::string> skipped;
    for (auto [index, combine] : llvm::enumerate(combines)) {
      const size_t i = index;
      mm::MoECombineOp c = combine;
      const std::string what = "mixture " + std::to_string(i);
      auto route = c.getWeights().getDefiningOp<mm::MoERouteOp>();
      if (!route || !c.getWeights().hasOneUse()) {
        skipped.push_back(what + ": the weights are not a milm.moe_route read only by it");
        continue;
      }
      const mlir::Value h = route.getInput();
      const int64_t E = mm::WeightType(llvm::cast<mm::WeightType>(route.getRouter().getType()))
                            .getShape()[0];
      if (static_cast<int64_t>(c.getExperts().size()) != E) {
        skipped.push_back(what + ": " + std::to_string(c.getExperts().size()) +
                          " expert outputs for " + std::to_string(E) + " experts");
        continue;
      }
      llvm::SmallVector<Expert> experts;
      std::string why;
      for (auto [e, out] : llvm::enumerate(c.getExperts())) {
        auto x = expertOf(out, h, e);
        if (auto *bad = std::get_if<std::string>(&x)) {
          why = *bad;
          break;
        }
        experts.push_back(std::get<Expert>(x));
      }
      // Every expert's matrices of one kind alike: one stacked type each.
      auto kind = [&](auto get) {
        llvm::SmallVector<mm::WeightOp> ws;
        for (Expert &x : experts)
          ws.push_back(ownWeight(get(x)));
        return ws;
      };
      llvm::SmallVector<mm::WeightOp> gates, ups, downs;
      if (why.empty()) {
        gates = kind([](Expert &x) { return x.gate; });
        ups = kind([](Expert &x) { return x.up; });
        downs = kind([](Expert &x) { return x.down; });
        for (auto [name, ws] : {std::pair{"gate", &gates}, std::pair{"up", &ups},
                                std::pair{"down", &downs}})
          for (mm::WeightOp w : *ws)
            if (w.getType() != ws->front().getType()) {
              why = std::string("the experts' ") + name + " weights differ in shape or format";
              break;
            }
      }
      if (!why.empty()) {
        skipped.push_back(what + ": " + why);
        continue;
      }
      mlir::OpBuilder b(c);
      auto stack = [&](llvm::ArrayRef<mm::WeightOp> ws, const char *kindName) {
        mm::WeightOp first = ws.front();
        mm::WeightType t = first.getType();
        llvm::SmallVector<int64_t> shape{E};
        shape.append(t.getShape().begin(), t.getShape().end());
        llvm::SmallVector<mlir::Attribute> files;
        llvm::SmallVector<int64_t> offsets;
        for (mm::WeightOp w : ws) {
          files.push_back(w.getFileAttr());
          offsets.push_back(static_cast<int64_t>(*w.getOffset()));
        }
        std::string name = stackedName(ws);
        if (name.empty())
          name = "moe." + std::to_string(i) + ".ffn_" + kindName + "_exps.weight";
        return mm::WeightOp::create(b, c.getLoc(),
                                    mm::WeightType::get(&getContext(), shape, t.getFormat()),
                                    b.getStringAttr(name), nullptr, nullptr,
                                    b.getArrayAttr(files), b.getDenseI64ArrayAttr(offsets));
      };
      mm::WeightOp gate = stack(gates, "gate"), up = stack(ups, "up"),
                   down = stack(downs, "down");
      auto moe = mm::MoEOp::create(b, c.getLoc(), c.getType(), h, route.getRouter(), gate, up,
                                   down, route.getTopK(), route.getWeighting());
      c.getResult().replaceAllUsesWith(moe.getResult());
      c.erase();
      route.erase();
      for (Expert &x : experts) {
        llvm::SmallVector<mm::WeightOp> ws{ownWeight(x.down), ownWeight(x.gate), ownWeight(x.up)};
        x.down.erase();
        x.swiglu.erase();
        x.gate.erase();
        x.up.erase();
        for (mm::WeightOp w : ws)
          w.erase();
      }
      ++fused;
    }
    mlir::emitRemark(module.getLoc())
        << getArgument() << ": fused " << fused << " of " << combines.size()
        << " mixtures of experts"
        << (skipped.empty() ? std::string() : "; left alone: " + llvm::join(skipped, "; "));
  }
};

} // namespace
} // namespace milm
