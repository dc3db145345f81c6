//===- Logits.cpp - The CPU lowering of milm.logits -------------------===//
#include "codegen/cpu/Lowering.h"

#include "codegen/ukernels/include/milm_ukernels.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <cmath>

namespace milm {
namespace cpu {

LogicalResult Lowering::lowerLogits(mm::LogitsOp l) {
  Operation *op = l.getOperation();
  mm::WeightType t = wtype(l.getWeight());
  int64_t K = t.getShape()[1], N = t.getShape()[0];
  needXQ(t.getFormat(), K);
  Value xq = scratchPtr(xqOffsetConsts);
  xqInput = Value();
  resultTensor = l.getResult();
  return callOp(op, kOp_logits,
                {{"ex", ex},
                 {"format", fmtOf(l.getWeight())},
                 {"w", weightPtr(l.getWeight())},
                 {"x", bufPtr(l.getInput())},
                 {"T", T},
                 {"K", i64(K)},
                 {"N", i64(N)},
                 {"y", logitsArg},
                 {"all_rows", allLogits},
                 {"xq_scratch", xq}});
}

} // namespace cpu
} // namespace milm
