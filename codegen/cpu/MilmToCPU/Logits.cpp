//===- Logits.cpp - The CPU lowering of milm.logits -----------------------===//
//
// milm_op_logits: the output projection into the caller's logits buffer, for
// the last row or every row (all_logits). @forward's return was the logits;
// the frame returns 0 instead, so the op has no user left and goes.
//
//===----------------------------------------------------------------------===//
#include "codegen/cpu/Lowering.h"

namespace milm {
namespace cpu {
namespace {

struct LogitsLowering : CPUOpLowering<mm::LogitsOp> {
  using CPUOpLowering::CPUOpLowering;

  LogicalResult lower(mm::LogitsOp op, Adaptor a, Emitter &e,
                      ConversionPatternRewriter &rw) const override {
    auto t = llvm::cast<mm::WeightType>(op.getWeight().getType());
    int64_t K = t.getShape()[1], N = t.getShape()[0];
    Value xq = e.xqScratch();
    if (failed(e.callOp(op, kOp_logits,
                        {{"ex", frame.ex},
                         {"format", e.formatOf(op.getWeight())},
                         {"w", e.weightPtr(op.getWeight())},
                         {"x", e.ptrOf(a.getInput())},
                         {"T", frame.T},
                         {"K", e.i64(K)},
                         {"N", e.i64(N)},
                         {"y", frame.logits},
                         {"all_rows", frame.allLogits},
                         {"xq_scratch", xq}})))
      return failure();
    rw.eraseOp(op);
    return success();
  }
};

} // namespace

void populateLogitsLowering(CPUPatterns &patterns) { patterns.add<LogitsLowering>(); }

} // namespace cpu
} // namespace milm
