//===- Linear.cpp - The CPU lowering of milm.linear -----------------------===//
//
// milm_op_linear: y = x W^T (+ bias) for the weight's storage format, the
// input quantized to 8 bits in the shared xq scratch unless the plan says the
// previous product left it there (milm.xq_ready); with the milm.outlier_columns
// that follows it (fusedOutlierColumns), the f16 columns too.
//
//===----------------------------------------------------------------------===//
#include "codegen/cpu/Lowering.h"

namespace milm {
namespace cpu {
namespace {

struct LinearLowering : CPUOpLowering<mm::LinearOp> {
  using CPUOpLowering::CPUOpLowering;

  LogicalResult checkOp(mm::LinearOp op) const override {
    if (Value bias = op.getBias())
      if (llvm::cast<mm::WeightType>(bias.getType()).getFormat() != mm::WeightFormat::f32)
        return cannotCompile(op, "biases must be f32");
    return success();
  }

  LogicalResult lower(mm::LinearOp op, Adaptor a, Emitter &e,
                      ConversionPatternRewriter &rw) const override {
    auto t = llvm::cast<mm::WeightType>(op.getWeight().getType());
    Value bias = op.getBias() ? e.weightPtr(op.getBias()) : e.null();
    int64_t K = t.getShape()[1], N = t.getShape()[0];
    Value xq = e.xqScratch();
    bool ready = op->hasAttr(kXQReadyAttr);
    // The outlier columns that follow the product, done by the same call.
    Value side = e.null(), cols = e.null();
    int64_t k = 0;
    if (mm::OutlierColumnsOp oc = fusedOutlierColumns(op)) {
      side = e.weightPtr(oc.getSide());
      cols = outlierColumnsTable(oc, e, rw);
      k = static_cast<int64_t>(oc.getColumns().size());
    }
    Value y;
    if (failed(e.callOp(op, kOp_linear,
                        {{"ex", frame.ex},
                         {"format", e.formatOf(op.getWeight())},
                         {"w", e.weightPtr(op.getWeight())},
                         {"bias", bias},
                         {"x", e.ptrOf(a.getInput())},
                         {"T", frame.T},
                         {"K", e.i64(K)},
                         {"N", e.i64(N)},
                         {"y", e.ptrOf(y = e.buffer(op.getResult()))},
                         {"xq_scratch", xq},
                         {"xq_ready", e.i32(ready ? 1 : 0)},
                         {"side", side},
                         {"cols", cols},
                         {"k", e.i64(k)}})))
      return failure();
    rw.replaceOp(op, y);
    return success();
  }
};

} // namespace

void populateLinearLowering(CPUPatterns &patterns) { patterns.add<LinearLowering>(); }

} // namespace cpu
} // namespace milm
