//===- Elementwise.cpp - The CPU lowering of milm.swiglu and milm.add -----===//
//
// linalg.generic over the first T rows of the buffers; linalg-to-loops and
// LLVM vectorise them (exp as a polynomial: LowerToCPU.cpp).
//
//===----------------------------------------------------------------------===//
#include "codegen/cpu/Lowering.h"

#include "mlir/Dialect/Math/IR/Math.h"

namespace milm {
namespace cpu {
namespace {

struct SwiGLULowering : CPUOpLowering<mm::SwiGLUOp> {
  using CPUOpLowering::CPUOpLowering;

  LogicalResult lower(mm::SwiGLUOp op, Adaptor a, Emitter &e,
                      ConversionPatternRewriter &rw) const override {
    // silu(g) * u = g / (1 + exp(-g)) * u
    Value g = e.rows(a.getGate()), u = e.rows(a.getUp());
    Value out = e.buffer(op.getResult());
    e.elementwise({g, u}, e.rows(out), [&](OpBuilder &nb, Location nl, ValueRange v) -> Value {
      Value one = arith::ConstantOp::create(nb, nl, nb.getF32FloatAttr(1.0f));
      Value ex = math::ExpOp::create(nb, nl, arith::NegFOp::create(nb, nl, v[0]));
      Value silu = arith::DivFOp::create(nb, nl, v[0], arith::AddFOp::create(nb, nl, one, ex));
      return arith::MulFOp::create(nb, nl, silu, v[1]);
    });
    rw.replaceOp(op, out);
    return success();
  }
};

struct AddLowering : CPUOpLowering<mm::AddOp> {
  using CPUOpLowering::CPUOpLowering;

  LogicalResult lower(mm::AddOp op, Adaptor a, Emitter &e,
                      ConversionPatternRewriter &rw) const override {
    Value l = e.rows(a.getLhs()), r = e.rows(a.getRhs());
    Value out = e.buffer(op.getResult());
    e.elementwise({l, r}, e.rows(out), [&](OpBuilder &nb, Location nl, ValueRange v) -> Value {
      return arith::AddFOp::create(nb, nl, v[0], v[1]);
    });
    rw.replaceOp(op, out);
    return success();
  }
};

} // namespace

void populateElementwiseLowering(CPUPatterns &patterns) {
  patterns.add<SwiGLULowering>();
  patterns.add<AddLowering>();
}

} // namespace cpu
} // namespace milm
