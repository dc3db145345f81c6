//===- Elementwise.cpp - The CPU lowering of milm.swiglu and milm.add ----===//
#include "codegen/cpu/Lowering.h"

#include "codegen/ukernels/include/milm_ukernels.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <cmath>

namespace milm {
namespace cpu {

LogicalResult Lowering::lowerSwiGLU(mm::SwiGLUOp s) {
  // silu(g) * u = g / (1 + exp(-g)) * u
  elementwise({rows(s.getGate()), rows(s.getUp())}, rows(s.getResult()),
              [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                Value one = arith::ConstantOp::create(nb, nl, nb.getF32FloatAttr(1.0f));
                Value e = math::ExpOp::create(nb, nl, arith::NegFOp::create(nb, nl, a[0]));
                Value silu =
                    arith::DivFOp::create(nb, nl, a[0], arith::AddFOp::create(nb, nl, one, e));
                return arith::MulFOp::create(nb, nl, silu, a[1]);
              });
  return success();
}

LogicalResult Lowering::lowerAdd(mm::AddOp s) {
  elementwise({rows(s.getLhs()), rows(s.getRhs())}, rows(s.getResult()),
              [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                return arith::AddFOp::create(nb, nl, a[0], a[1]);
              });
  return success();
}

} // namespace cpu
} // namespace milm
