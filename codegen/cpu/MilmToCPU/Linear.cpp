//===- Linear.cpp - The CPU lowering of milm.linear -------------------===//
#include "codegen/cpu/Lowering.h"

#include "codegen/ukernels/include/milm_ukernels.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <cmath>

namespace milm {
namespace cpu {

LogicalResult Lowering::lowerLinear(mm::LinearOp l) {
  Operation *op = l.getOperation();
  mm::WeightType t = wtype(l.getWeight());
  Value bias = null();
  if (Value bv = l.getBias()) {
    if (wtype(bv).getFormat() != mm::WeightFormat::f32)
      return fail(op, "biases must be f32");
    bias = weightPtr(bv);
  }
  int64_t K = t.getShape()[1], N = t.getShape()[0];
  needXQ(t.getFormat(), K);
  Value xq = scratchPtr(xqOffsetConsts);
  // The same input, quantized the same way, by the previous linear: its
  // 8-bit activations are still in the scratch (SSA values are immutable and
  // the input is live here, so its buffer holds the same numbers).
  uint64_t rowBytes = actRowBytes(t.getFormat(), K);
  bool ready = rowBytes != 0 && l.getInput() == xqInput && rowBytes == xqRowBytes;
  xqInput = rowBytes != 0 ? l.getInput() : Value();
  xqRowBytes = rowBytes;
  return callOp(op, kOp_linear,
                {{"ex", ex},
                 {"format", fmtOf(l.getWeight())},
                 {"w", weightPtr(l.getWeight())},
                 {"bias", bias},
                 {"x", bufPtr(l.getInput())},
                 {"T", T},
                 {"K", i64(K)},
                 {"N", i64(N)},
                 {"y", bufPtr(l.getResult())},
                 {"xq_scratch", xq},
                 {"xq_ready", i32(ready ? 1 : 0)}});
}

} // namespace cpu
} // namespace milm
