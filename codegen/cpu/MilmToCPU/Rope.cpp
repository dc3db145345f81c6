//===- Rope.cpp - The CPU lowering of milm.rope -------------------===//
#include "codegen/cpu/Lowering.h"

#include "codegen/ukernels/include/milm_ukernels.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <cmath>

namespace milm {
namespace cpu {

LogicalResult Lowering::lowerRope(mm::RopeOp r) {
  Operation *op = r.getOperation();
  if (r.getPositions() != positionsTensor)
    return fail(op, "positions must be @forward's second argument");
  // In place when rope is the input's only user, else on a copy.
  Value in = r.getInput();
  if (auto it = buffers.find(in); in.hasOneUse() && it != buffers.end()) {
    // A copy first: inserting the result may grow the map and move `in`'s
    // entry (`buffers[res] = buffers[in]` read it after the move, now and
    // then: an intermittent crash of milmc compile).
    Buffer shared = it->second;
    buffers[r.getResult()] = shared;
    lastUse.erase(in); // the region lives on as the result's
  } else {
    linalg::CopyOp::create(b, loc, rows(in), rows(r.getResult()));
  }
  int64_t hd = r.getHeadDim();
  int64_t rotary = r.getRotaryDim().value_or(hd);
  int64_t scaling = static_cast<int64_t>(r.getScaling());
  double factor = r.getFactor() ? r.getFactor()->convertToDouble() : 1.0;
  return callOp(op, kOp_rope,
                {{"x", bufPtr(r.getResult())},
                 {"T", T},
                 {"heads", i64(features(in) / hd)},
                 {"head_dim", i64(hd)},
                 {"pos", ptrOf(positionsArg)},
                 {"pairing", i32(r.getPairing() == mm::RopePairing::neox ? 1 : 0)},
                 {"rotary_dim", i32(rotary)},
                 {"base", f32(r.getBase().convertToDouble())},
                 {"scaling", i32(scaling)},
                 {"factor", f32(factor)},
                 {"orig_ctx", i32(r.getOriginalContext().value_or(0))}});
}

} // namespace cpu
} // namespace milm
