//===- Rope.cpp - The CPU lowering of milm.rope ---------------------------===//
//
// milm_op_rope rotates its buffer in place: the input's own buffer when the
// plan says so (milm.in_place: rope is the input's only user), else a
// linalg.copy of the input first.
//
//===----------------------------------------------------------------------===//
#include "codegen/cpu/Lowering.h"

namespace milm {
namespace cpu {
namespace {

struct RopeLowering : CPUOpLowering<mm::RopeOp> {
  using CPUOpLowering::CPUOpLowering;

  LogicalResult checkOp(mm::RopeOp op) const override {
    if (op.getPositions() != frame.positionsTensor)
      return cannotCompile(op, "positions must be @forward's second argument");
    return success();
  }

  LogicalResult lower(mm::RopeOp op, Adaptor a, Emitter &e,
                      ConversionPatternRewriter &rw) const override {
    Value x = a.getInput();
    if (!op->hasAttr(kInPlaceAttr)) {
      Value copy = e.buffer(op.getResult());
      linalg::CopyOp::create(e.b, e.loc, e.rows(x), e.rows(copy));
      x = copy;
    }
    int64_t hd = op.getHeadDim();
    int64_t features = llvm::cast<RankedTensorType>(op.getInput().getType()).getDimSize(1);
    double factor = op.getFactor() ? op.getFactor()->convertToDouble() : 1.0;
    if (failed(e.callOp(op, kOp_rope,
                        {{"x", e.ptrOf(x)},
                         {"T", frame.T},
                         {"heads", e.i64(features / hd)},
                         {"head_dim", e.i64(hd)},
                         {"pos", e.ptrOf(frame.positions)},
                         {"pairing", e.i32(op.getPairing() == mm::RopePairing::neox ? 1 : 0)},
                         {"rotary_dim", e.i32(op.getRotaryDim().value_or(hd))},
                         {"base", e.f32(op.getBase().convertToDouble())},
                         {"scaling", e.i32(static_cast<int64_t>(op.getScaling()))},
                         {"factor", e.f32(factor)},
                         {"orig_ctx", e.i32(op.getOriginalContext().value_or(0))}})))
      return failure();
    rw.replaceOp(op, x);
    return success();
  }
};

} // namespace

void populateRopeLowering(CPUPatterns &patterns) { patterns.add<RopeLowering>(); }

} // namespace cpu
} // namespace milm
