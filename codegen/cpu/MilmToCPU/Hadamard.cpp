//===- Hadamard.cpp - The CPU lowering of milm.hadamard -------------------===//
//
// A copy of the input into the result's buffer, then milm_op_hadamard in
// place (the kernel's fast Walsh-Hadamard transform).
//
//===----------------------------------------------------------------------===//
#include "codegen/cpu/Lowering.h"

namespace milm {
namespace cpu {
namespace {

struct HadamardLowering : CPUOpLowering<mm::HadamardOp> {
  using CPUOpLowering::CPUOpLowering;

  LogicalResult lower(mm::HadamardOp op, Adaptor a, Emitter &e,
                      ConversionPatternRewriter &rw) const override {
    Value y = e.buffer(op.getResult());
    linalg::CopyOp::create(e.b, e.loc, e.rows(a.getInput()), e.rows(y));
    int64_t n = llvm::cast<RankedTensorType>(op.getInput().getType()).getDimSize(1);
    if (failed(e.callOp(op, kOp_hadamard,
                        {{"x", e.ptrOf(y)},
                         {"T", frame.T},
                         {"n", e.i64(n)},
                         {"block", e.i64(static_cast<int64_t>(op.getBlock()))}})))
      return failure();
    rw.replaceOp(op, y);
    return success();
  }
};

} // namespace

void populateHadamardLowering(CPUPatterns &patterns) { patterns.add<HadamardLowering>(); }

} // namespace cpu
} // namespace milm
