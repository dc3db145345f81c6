//===- Embedding.cpp - The CPU lowering of milm.embedding -------------------===//
#include "codegen/cpu/Lowering.h"

#include "codegen/ukernels/include/milm_ukernels.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <cmath>

namespace milm {
namespace cpu {

LogicalResult Lowering::lowerEmbedding(mm::EmbeddingOp e) {
  Operation *op = e.getOperation();
  if (e.getTokens() != tokensTensor)
    return fail(op, "the token ids must be @forward's first argument");
  mm::WeightType t = wtype(e.getTable());
  return callOp(op, kOp_embedding,
                {{"format", fmtOf(e.getTable())},
                 {"table", weightPtr(e.getTable())},
                 {"dim", i64(t.getShape()[1])},
                 {"tokens", ptrOf(tokensArg)},
                 {"T", T},
                 {"out", bufPtr(e.getResult())}});
}

} // namespace cpu
} // namespace milm
