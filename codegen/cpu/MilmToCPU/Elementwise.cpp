//===- Elementwise.cpp - The CPU lowering of milm.swiglu, milm.add, milm.columns ===//
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

/// out = fn(lhs, rhs) elementwise, into the result's buffer.
template <typename OpTy>
struct BinaryLowering : CPUOpLowering<OpTy> {
  using CPUOpLowering<OpTy>::CPUOpLowering;
  using typename CPUOpLowering<OpTy>::Adaptor;
  virtual Value compute(OpBuilder &b, Location loc, Value lhs, Value rhs) const = 0;

  LogicalResult lower(OpTy op, Adaptor a, Emitter &e,
                      ConversionPatternRewriter &rw) const override {
    Value l = e.rows(a.getOperands()[0]), r = e.rows(a.getOperands()[1]);
    Value out = e.buffer(op.getResult());
    e.elementwise({l, r}, e.rows(out), [&](OpBuilder &nb, Location nl, ValueRange v) {
      return compute(nb, nl, v[0], v[1]);
    });
    rw.replaceOp(op, out);
    return success();
  }
};

struct SwiGLULowering : BinaryLowering<mm::SwiGLUOp> {
  using BinaryLowering::BinaryLowering;
  // silu(g) * u = g / (1 + exp(-g)) * u
  Value compute(OpBuilder &b, Location loc, Value g, Value u) const override {
    Value one = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(1.0f));
    Value ex = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, g));
    Value silu = arith::DivFOp::create(b, loc, g, arith::AddFOp::create(b, loc, one, ex));
    return arith::MulFOp::create(b, loc, silu, u);
  }
};

/// The columns [offset, offset + size) of the first T rows, copied into the
/// result's buffer (a strided view of the input, then an elementwise copy).
struct ColumnsLowering : CPUOpLowering<mm::ColumnsOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(mm::ColumnsOp op, Adaptor a, Emitter &e,
                      ConversionPatternRewriter &rw) const override {
    Value in = e.rows(a.getInput());
    SmallVector<OpFoldResult> offsets{e.b.getIndexAttr(0),
                                      e.b.getIndexAttr(int64_t(op.getOffset()))};
    SmallVector<OpFoldResult> sizes{e.f.Tidx, e.b.getIndexAttr(int64_t(op.getSize()))};
    SmallVector<OpFoldResult> strides{e.b.getIndexAttr(1), e.b.getIndexAttr(1)};
    Value part = memref::SubViewOp::create(e.b, e.loc, in, offsets, sizes, strides);
    Value out = e.buffer(op.getResult());
    e.elementwise({part}, e.rows(out),
                  [](OpBuilder &, Location, ValueRange v) { return v[0]; });
    rw.replaceOp(op, out);
    return success();
  }
};

struct AddLowering : BinaryLowering<mm::AddOp> {
  using BinaryLowering::BinaryLowering;
  Value compute(OpBuilder &b, Location loc, Value lhs, Value rhs) const override {
    return arith::AddFOp::create(b, loc, lhs, rhs);
  }
};

} // namespace

void populateElementwiseLowering(CPUPatterns &patterns) {
  patterns.add<SwiGLULowering>();
  patterns.add<AddLowering>();
  patterns.add<ColumnsLowering>();
}

} // namespace cpu
} // namespace milm
