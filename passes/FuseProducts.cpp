//===- FuseProducts.cpp - One product over concatenated output rows ------===//
#include "passes/FuseProducts.h"

#include "common/milm/Quantize.h"
#include "common/milm/StorageFormat.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

namespace milm {

namespace mm = mlir::milm;

std::optional<std::string> cannotFuse(llvm::ArrayRef<mm::LinearOp> parts) {
  if (parts.size() < 2)
    return std::string("fewer than two products");
  mm::LinearOp p0 = parts.front();
  mm::WeightOp first = p0.getWeight().getDefiningOp<mm::WeightOp>();
  const bool bias = static_cast<bool>(p0.getBias());
  for (mm::LinearOp l : parts) {
    auto w = l.getWeight().getDefiningOp<mm::WeightOp>();
    if (!w || !first)
      return std::string("a weight that is not a milm.weight");
    if (!w->hasOneUse())
      return "weight '" + w.getName().str() + "' is read by another op too";
    if (l.getInput() != p0.getInput())
      return std::string("the products read different inputs");
    if (w.getType().getFormat() != first.getType().getFormat())
      return "weights in different formats (" +
             mm::stringifyWeightFormat(first.getType().getFormat()).str() + ", " +
             mm::stringifyWeightFormat(w.getType().getFormat()).str() + ")";
    if (w.getType().getRank() != 2 || w.getType().getShape()[1] != first.getType().getShape()[1])
      return std::string("weights of different input widths");
    if (static_cast<bool>(l.getBias()) != bias)
      return std::string("a bias on some products only");
    if (l.getBias()) {
      auto b = l.getBias().getDefiningOp<mm::WeightOp>();
      auto b0 = p0.getBias().getDefiningOp<mm::WeightOp>();
      if (!b || !b0 || !b->hasOneUse() || b.getType().getFormat() != b0.getType().getFormat())
        return std::string("biases that cannot be concatenated");
    }
    for (mlir::Operation *user : l.getResult().getUsers())
      if (llvm::isa<mm::OutlierColumnsOp>(user))
        return std::string("a product with f16 outlier columns");
  }
  return std::nullopt;
}

llvm::Expected<llvm::SmallVector<mm::ColumnsOp>>
fuseProducts(llvm::ArrayRef<mm::LinearOp> parts, llvm::StringRef name,
             llvm::StringRef storePath, std::shared_ptr<WeightStore> &store) {
  if (!store) {
    llvm::Expected<std::unique_ptr<WeightStore>> opened = WeightStore::open(storePath);
    if (!opened)
      return opened.takeError();
    store = std::move(*opened);
  }
  mm::LinearOp p0 = parts.front();
  mlir::MLIRContext *ctx = p0.getContext();
  mlir::OpBuilder b(ctx);
  // The weights' bytes one after the other: rows are whole blocks in every
  // format, so the concatenation is the fused matrix exactly.
  auto append = [&](llvm::ArrayRef<int64_t> shape, mm::WeightFormat format,
                    llvm::ArrayRef<mm::WeightOp> ws) -> llvm::Expected<WeightReference> {
    std::vector<uint8_t> bytes;
    for (mm::WeightOp w : ws) {
      llvm::Expected<std::vector<uint8_t>> part = readWeightBytes(w);
      if (!part)
        return part.takeError();
      bytes.insert(bytes.end(), part->begin(), part->end());
    }
    return store->append(mm::WeightType::get(ctx, shape, format), bytes);
  };
  llvm::SmallVector<mm::WeightOp> weights, biases;
  int64_t rows = 0;
  for (mm::LinearOp l : parts) {
    weights.push_back(l.getWeight().getDefiningOp<mm::WeightOp>());
    rows += weights.back().getType().getShape()[0];
    if (l.getBias())
      biases.push_back(l.getBias().getDefiningOp<mm::WeightOp>());
  }
  const int64_t K = weights.front().getType().getShape()[1];
  llvm::Expected<WeightReference> w =
      append({rows, K}, weights.front().getType().getFormat(), weights);
  if (!w)
    return w.takeError();
  std::optional<WeightReference> bias;
  if (!biases.empty()) {
    llvm::Expected<WeightReference> br = append({rows}, biases.front().getType().getFormat(), biases);
    if (!br)
      return br.takeError();
    bias = *br;
  }
  // The fused weight and product where the earliest part was (its users all
  // come after it; the input comes before every part).
  mm::LinearOp first = parts.front();
  for (mm::LinearOp l : parts)
    if (l->isBeforeInBlock(first))
      first = l;
  b.setInsertionPoint(first);
  auto weightOp = [&](const WeightReference &ref, llvm::StringRef n) {
    return mm::WeightOp::create(b, first.getLoc(), ref.type, b.getStringAttr(n),
                                b.getStringAttr(ref.file),
                                b.getI64IntegerAttr(int64_t(ref.offset)), nullptr, nullptr);
  };
  mm::WeightOp fusedW = weightOp(*w, name);
  mlir::Value fusedB;
  if (bias) {
    llvm::StringRef stem = name;
    stem.consume_back(".weight");
    fusedB = weightOp(*bias, (stem + ".bias").str());
  }
  auto in = llvm::cast<mlir::RankedTensorType>(first.getInput().getType());
  auto fusedT = mlir::RankedTensorType::get({in.getDimSize(0), rows}, in.getElementType());
  auto fused = mm::LinearOp::create(b, first.getLoc(), fusedT, first.getInput(), fusedW, fusedB);
  llvm::SmallVector<mm::ColumnsOp> out;
  int64_t offset = 0;
  for (mm::LinearOp l : parts) {
    const int64_t n = llvm::cast<mlir::RankedTensorType>(l.getType()).getDimSize(1);
    b.setInsertionPointAfter(fused);
    auto c = mm::ColumnsOp::create(b, l.getLoc(), l.getType(), fused.getResult(),
                                   b.getI64IntegerAttr(offset), b.getI64IntegerAttr(n));
    // After every part's columns so far, in order.
    if (!out.empty())
      c->moveAfter(out.back());
    l.getResult().replaceAllUsesWith(c.getResult());
    out.push_back(c);
    offset += n;
  }
  for (mm::LinearOp l : parts) {
    mm::WeightOp wo = l.getWeight().getDefiningOp<mm::WeightOp>();
    mm::WeightOp bo = l.getBias() ? l.getBias().getDefiningOp<mm::WeightOp>() : mm::WeightOp();
    l.erase();
    wo.erase();
    if (bo)
      bo.erase();
  }
  return out;
}

} // namespace milm
