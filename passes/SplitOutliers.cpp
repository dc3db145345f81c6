//===- SplitOutliers.cpp - milm-split-outliers: f16 columns + 4-bit body --===//
//
// Passes.td has the contract; passes/Rounding.h picks the columns and rounds.
//
//===----------------------------------------------------------------------===//
#include "passes/Calibration.h"
#include "passes/Passes.h"
#include "passes/Rounding.h"
#include "passes/WeightStore.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/Support/FormatVariadic.h"

namespace milm {

#define GEN_PASS_DEF_SPLITOUTLIERS
#include "passes/Passes.h.inc"

namespace {

namespace mm = mlir::milm;

struct SplitOutliersPass : impl::SplitOutliersBase<SplitOutliersPass> {
  using Base::Base;

  void runOnOperation() override {
    mlir::ModuleOp module = getOperation();
    auto fail = [&](mlir::Location loc, const llvm::Twine &msg) {
      mlir::emitError(loc) << getArgument() << ": " << msg;
      signalPassFailure();
    };
    std::optional<IntScheme> scheme = parseIntScheme(body);
    if (!scheme)
      return fail(module.getLoc(), "body '" + body +
                                       "' is not a 4-bit scheme (w4-channel, w4-g32, w4-g64, "
                                       "w4-g128, each also -asym)");
    if (!(fraction >= 0 && fraction < 0.5))
      return fail(module.getLoc(), "fraction " + std::to_string(double(fraction)) +
                                       " is not in [0, 0.5)");
    if (calibration.empty())
      return fail(module.getLoc(), "needs calibration=STATS (milmc calibrate): the columns kept "
                                   "are chosen by what the model's inputs carry");
    if (weightStore.empty())
      return fail(module.getLoc(), "no weight store given (weight-store=PATH)");
    llvm::Expected<CalibrationStats> stats = CalibrationStats::read(calibration);
    if (!stats)
      return fail(module.getLoc(), llvm::toString(stats.takeError()));

    // The weights of products: linears' and the experts' (not routers, not logits).
    llvm::MapVector<llvm::StringRef, llvm::SmallVector<mm::WeightOp>> byName;
    llvm::DenseSet<mlir::Operation *> products;
    module.walk([&](mlir::Operation *op) {
      if (auto l = llvm::dyn_cast<mm::LinearOp>(op)) {
        products.insert(l.getWeight().getDefiningOp());
      } else if (auto m = llvm::dyn_cast<mm::MoEOp>(op)) {
        for (mlir::Value v : {m.getGateExps(), m.getUpExps(), m.getDownExps()})
          products.insert(v.getDefiningOp());
      }
    });
    module.walk([&](mm::WeightOp op) {
      if (products.contains(op.getOperation()))
        byName[op.getName()].push_back(op);
    });
    // Every reference of a name moves together, so all of them must be products.
    module.walk([&](mm::WeightOp op) {
      if (!products.contains(op.getOperation()) && byName.count(op.getName()))
        byName.erase(op.getName());
    });

    RoundingOptions o;
    o.scheme = *scheme;
    o.gptq = gptq;
    o.clip = clip;
    o.threads = threads;
    std::vector<RoundingReportRow> rows;
    std::unique_ptr<WeightStore> store;
    double bits = 0, weights = 0, kept = 0;
    for (auto &[name, ops] : byName) {
      mm::WeightType type = ops.front().getType();
      if (type.getRank() != 2 && type.getRank() != 3)
        continue;
      llvm::Expected<std::vector<float>> values = readWeightValues(ops.front());
      if (!values)
        return fail(ops.front().getLoc(), llvm::toString(values.takeError()));
      const size_t before = rows.size();
      llvm::Expected<double> b = roundWeight(ops.front(), *values, o, &*stats, fraction, rows);
      if (!b)
        return fail(ops.front().getLoc(), getArgument() + ": " + llvm::toString(b.takeError()));
      const double n = double(type.getNumElements());
      bits += *b * n;
      weights += n;
      for (size_t i = before; i < rows.size(); ++i)
        kept += double(rows[i].outliers) * double(type.getShape()[type.getRank() - 2]);
      if (!store) {
        llvm::Expected<std::unique_ptr<WeightStore>> opened = WeightStore::open(weightStore);
        if (!opened)
          return fail(ops.front().getLoc(), llvm::toString(opened.takeError()));
        store = std::move(*opened);
      }
      mm::WeightType f32 = mm::WeightType::get(type.getContext(), type.getShape(), mm::WeightFormat::f32);
      llvm::Expected<WeightReference> ref = store->append(
          f32, llvm::ArrayRef<uint8_t>(reinterpret_cast<const uint8_t *>(values->data()),
                                       values->size() * sizeof(float)));
      if (!ref)
        return fail(ops.front().getLoc(), llvm::toString(ref.takeError()));
      mlir::Builder builder(&getContext());
      const std::string schemeText =
          rows[before].scheme + ", " + std::to_string(rows[before].outliers) + " f16 columns";
      for (mm::WeightOp op : ops) {
        setWeightReference(op, *ref);
        op->setAttr(kRoundedSchemeAttr, builder.getStringAttr(schemeText));
        op->setAttr(kRoundedBitsAttr, builder.getF64FloatAttr(*b));
      }
    }
    if (!report.empty())
      if (llvm::Error e = writeRoundingReport(report, getArgument().str() + " " + body, rows))
        return fail(module.getLoc(), llvm::toString(std::move(e)));
    mlir::emitRemark(module.getLoc())
        << getArgument() << ": " << scheme->name() << (gptq ? "+gptq" : clip ? "+clip" : "")
        << " (simulated, stored as f32): " << static_cast<int64_t>(weights) << " weights of "
        << byName.size() << " matrices, "
        << llvm::formatv("{0:F2}", weights > 0 ? 100.0 * kept / weights : 0.0).str()
        << "% kept in f16, "
        << llvm::formatv("{0:F3}", weights > 0 ? bits / weights : 0.0).str() << " bits per weight";
  }
};

} // namespace

} // namespace milm
