//===- OutlierColumns.cpp - The CPU lowering of milm.outlier_columns ------===//
//
// After the milm.linear whose only user it is and whose input it reads, the
// op is done by that linear's call (milm_op_linear's side/cols/k: the same
// tasks add the columns to their rows, no second pass over the pool).
// Otherwise: a copy of the partial product into the result's buffer, then
// milm_op_outlier_columns in place. The column indices become a private
// constant global (memref.global) of the module, read by address.
//
//===----------------------------------------------------------------------===//
#include "codegen/cpu/Lowering.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/SymbolTable.h"

namespace milm {
namespace cpu {
namespace {

struct OutlierColumnsLowering : CPUOpLowering<mm::OutlierColumnsOp> {
  using CPUOpLowering::CPUOpLowering;

  LogicalResult checkOp(mm::OutlierColumnsOp op) const override {
    for (int64_t c : op.getColumns())
      if (c > INT32_MAX)
        return cannotCompile(op, "a column index does not fit 32 bits");
    return success();
  }

  LogicalResult lower(mm::OutlierColumnsOp op, Adaptor a, Emitter &e,
                      ConversionPatternRewriter &rw) const override {
    // After the milm.linear that computes it (Linear.cpp), in its tasks.
    if (auto lin = op.getPartial().getDefiningOp<mm::LinearOp>())
      if (fusedOutlierColumns(lin) == op) {
        rw.replaceOp(op, a.getPartial());
        return success();
      }
    Value cols = outlierColumnsTable(op, e, rw);
    Value y = e.buffer(op.getResult());
    linalg::CopyOp::create(e.b, e.loc, e.rows(a.getPartial()), e.rows(y));
    auto in = llvm::cast<RankedTensorType>(op.getInput().getType());
    auto out = llvm::cast<RankedTensorType>(op.getResult().getType());
    if (failed(e.callOp(op, kOp_outlier_columns,
                        {{"ex", frame.ex},
                         {"side", e.weightPtr(op.getSide())},
                         {"cols", cols},
                         {"k", e.i64(static_cast<int64_t>(op.getColumns().size()))},
                         {"x", e.ptrOf(a.getInput())},
                         {"T", frame.T},
                         {"K", e.i64(in.getDimSize(1))},
                         {"N", e.i64(out.getDimSize(1))},
                         {"y", e.ptrOf(y)}})))
      return failure();
    rw.replaceOp(op, y);
    return success();
  }
};

} // namespace

Value outlierColumnsTable(mm::OutlierColumnsOp op, Emitter &e, ConversionPatternRewriter &rw) {
  llvm::ArrayRef<int64_t> columns = op.getColumns();
  const int64_t k = static_cast<int64_t>(columns.size());
  auto module = op->getParentOfType<ModuleOp>();
  auto type = MemRefType::get({k}, e.b.getI32Type());
  SmallVector<int32_t> values(columns.begin(), columns.end());
  auto init = DenseElementsAttr::get(RankedTensorType::get({k}, e.b.getI32Type()),
                                     llvm::ArrayRef<int32_t>(values));
  std::string name;
  for (unsigned i = 0;; ++i) {
    name = "milm_outlier_columns_" + std::to_string(i);
    if (!SymbolTable::lookupSymbolIn(module, name))
      break;
  }
  {
    OpBuilder::InsertionGuard guard(rw);
    rw.setInsertionPointToStart(module.getBody());
    memref::GlobalOp::create(rw, e.loc, name, rw.getStringAttr("private"), type, init,
                             /*constant=*/true, /*alignment=*/IntegerAttr());
  }
  return e.ptrOf(memref::GetGlobalOp::create(e.b, e.loc, type, name));
}

void populateOutlierColumnsLowering(CPUPatterns &patterns) {
  patterns.add<OutlierColumnsLowering>();
}

} // namespace cpu
} // namespace milm
