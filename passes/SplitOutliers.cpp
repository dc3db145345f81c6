//===- SplitOutliers.cpp - milm-split-outliers: f16 columns + 4-bit body --===//
//
// Passes.td has the contract; passes/Rounding.h picks the columns and rounds.
//
//===----------------------------------------------------------------------===//
#include "passes/Calibration.h"
#include "passes/Passes.h"
#include "passes/Rounding.h"
#include "passes/WeightStore.h"

#include "common/milm/Quantize.h"

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
    int64_t storedCount = 0; // matrices stored as a 4-bit body (+ f16 columns)
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
      mlir::OpBuilder builder(&getContext());
      const std::string schemeText =
          rows[before].scheme + ", " + std::to_string(rows[before].outliers) + " f16 columns";
      const int64_t K = type.getShape().back();
      const int64_t N = type.getNumElements() / K;
      const std::vector<int64_t> &columns = rows[before].columns;
      std::optional<mm::WeightFormat> real =
          type.getRank() == 2 && !scheme->asym ? storageFormatFor(*scheme, K) : std::nullopt;
      if (!real) {
        // Simulated: the values as f32, outlier columns included.
        mm::WeightType f32 =
            mm::WeightType::get(type.getContext(), type.getShape(), mm::WeightFormat::f32);
        llvm::Expected<WeightReference> ref = store->append(
            f32, llvm::ArrayRef<uint8_t>(reinterpret_cast<const uint8_t *>(values->data()),
                                         values->size() * sizeof(float)));
        if (!ref)
          return fail(ops.front().getLoc(), llvm::toString(ref.takeError()));
        for (mm::WeightOp op : ops) {
          setWeightReference(op, *ref);
          op->setAttr(kRoundedSchemeAttr, builder.getStringAttr(schemeText));
          op->setAttr(kRoundedBitsAttr, builder.getF64FloatAttr(*b));
        }
        continue;
      }
      // The body in the scheme's format, zero in the outlier columns; the
      // columns as an f16 side matrix [N, k] read by milm.outlier_columns
      // after each product.
      llvm::Expected<std::vector<uint8_t>> body =
          encodeRounded(name, *scheme, *real, values->data(), N, K, columns);
      if (!body)
        return fail(ops.front().getLoc(), llvm::toString(body.takeError()));
      mm::WeightType bodyType = mm::WeightType::get(type.getContext(), type.getShape(), *real);
      llvm::Expected<WeightReference> bodyRef = store->append(bodyType, *body);
      if (!bodyRef)
        return fail(ops.front().getLoc(), llvm::toString(bodyRef.takeError()));
      const double bodyBits = 8.0 * double(body->size()) / double(N * K);
      std::optional<WeightReference> sideRef;
      const int64_t k = static_cast<int64_t>(columns.size());
      if (k > 0) {
        std::vector<uint16_t> side(static_cast<size_t>(N * k));
        for (int64_t r = 0; r < N; ++r)
          for (int64_t j = 0; j < k; ++j)
            side[size_t(r * k + j)] = fp32ToFp16((*values)[size_t(r * K + columns[size_t(j)])]);
        mm::WeightType sideType = mm::WeightType::get(type.getContext(), {N, k}, mm::WeightFormat::f16);
        llvm::Expected<WeightReference> ref = store->append(
            sideType, llvm::ArrayRef<uint8_t>(reinterpret_cast<const uint8_t *>(side.data()),
                                              side.size() * sizeof(uint16_t)));
        if (!ref)
          return fail(ops.front().getLoc(), llvm::toString(ref.takeError()));
        sideRef = *ref;
      }
      const std::string sideName = name.str() + ".outliers";
      for (mm::WeightOp op : ops) {
        setWeightReference(op, *bodyRef);
        op->setAttr(kRoundedSchemeAttr, builder.getStringAttr(schemeText));
        op->setAttr(kRoundedBitsAttr, builder.getF64FloatAttr(bodyBits));
        if (!sideRef)
          continue;
        for (mlir::OpOperand &use : llvm::make_early_inc_range(op->getUses())) {
          auto lin = llvm::dyn_cast<mm::LinearOp>(use.getOwner());
          if (!lin || use.getOperandNumber() != 1)
            continue;
          builder.setInsertionPointAfter(lin);
          auto sideOp = mm::WeightOp::create(builder, lin.getLoc(), sideRef->type,
                                             builder.getStringAttr(sideName),
                                             builder.getStringAttr(sideRef->file),
                                             builder.getI64IntegerAttr(int64_t(sideRef->offset)),
                                             nullptr, nullptr);
          sideOp->setAttr(kRoundedSchemeAttr,
                          builder.getStringAttr("f16 outlier columns of " + name.str()));
          sideOp->setAttr(kRoundedBitsAttr, builder.getF64FloatAttr(16.0 + 32.0 / double(N)));
          auto oc = mm::OutlierColumnsOp::create(builder, lin.getLoc(), lin.getType(),
                                                 lin.getResult(), lin.getInput(), sideOp,
                                                 builder.getDenseI64ArrayAttr(columns));
          lin.getResult().replaceAllUsesExcept(oc.getResult(), oc);
        }
      }
      ++storedCount;
    }
    if (!report.empty())
      if (llvm::Error e = writeRoundingReport(report, getArgument().str() + " " + body, rows))
        return fail(module.getLoc(), llvm::toString(std::move(e)));
    mlir::emitRemark(module.getLoc())
        << getArgument() << ": " << scheme->name() << (gptq ? "+gptq" : clip ? "+clip" : "")
        << (storedCount == static_cast<int64_t>(byName.size())
                ? std::string(" (4-bit body + f16 columns)")
            : storedCount > 0 ? " (" + std::to_string(storedCount) +
                                    " matrices as a 4-bit body + f16 columns, the rest "
                                    "simulated as f32)"
                              : std::string(" (simulated, stored as f32)"))
        << ": " << static_cast<int64_t>(weights) << " weights of "
        << byName.size() << " matrices, "
        << llvm::formatv("{0:F2}", weights > 0 ? 100.0 * kept / weights : 0.0).str()
        << "% kept in f16, "
        << llvm::formatv("{0:F3}", weights > 0 ? bits / weights : 0.0).str() << " bits per weight";
  }
};

} // namespace

} // namespace milm
