//===- Embedding.cpp - The CPU lowering of milm.embedding -----------------===//
//
// milm_op_embedding: the rows of the table for the call's token ids.
//
//===----------------------------------------------------------------------===//
#include "codegen/cpu/Lowering.h"

namespace milm {
namespace cpu {
namespace {

struct EmbeddingLowering : CPUOpLowering<mm::EmbeddingOp> {
  using CPUOpLowering::CPUOpLowering;

  LogicalResult checkOp(mm::EmbeddingOp op) const override {
    if (op.getTokens() != frame.tokensTensor)
      return cannotCompile(op, "the token ids must be @forward's first argument");
    return success();
  }

  LogicalResult lower(mm::EmbeddingOp op, Adaptor, Emitter &e,
                      ConversionPatternRewriter &rw) const override {
    auto t = llvm::cast<mm::WeightType>(op.getTable().getType());
    Value out;
    if (failed(e.callOp(op, kOp_embedding,
                        {{"format", e.formatOf(op.getTable())},
                         {"table", e.weightPtr(op.getTable())},
                         {"dim", e.i64(t.getShape()[1])},
                         {"tokens", e.ptrOf(frame.tokens)},
                         {"T", frame.T},
                         {"out", e.ptrOf(out = e.buffer(op.getResult()))}})))
      return failure();
    rw.replaceOp(op, out);
    return success();
  }
};

} // namespace

void populateEmbeddingLowering(CPUPatterns &patterns) { patterns.add<EmbeddingLowering>(); }

} // namespace cpu
} // namespace milm
