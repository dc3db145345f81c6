//===- Return.cpp - The CPU lowering of @forward's func.return ---------===//
#include "codegen/cpu/Lowering.h"

#include "codegen/ukernels/include/milm_ukernels.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <cmath>

namespace milm {
namespace cpu {

LogicalResult Lowering::lowerReturn(func::ReturnOp r) {
  Operation *op = r.getOperation();
  if (r.getNumOperands() != 1 || r.getOperand(0) != resultTensor || !resultTensor)
    return fail(op, "@forward must return the result of its milm.logits");
  scf::YieldOp::create(b, loc, i32(0));
  return success();
}

} // namespace cpu
} // namespace milm
