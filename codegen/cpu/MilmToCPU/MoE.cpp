//===- MoE.cpp - The CPU lowering of milm.moe -----------------------------===//
//
// milm_op_moe: routing, the experts' gated FFNs and their weighted sum, in the
// MoE scratch region (milm-cpu-plan-buffers sized it) and the xq scratch.
//
//===----------------------------------------------------------------------===//
#include "codegen/cpu/Lowering.h"

#include "codegen/ukernels/include/milm_ukernels.h"

namespace milm {
namespace cpu {
namespace {

struct MoELowering : CPUOpLowering<mm::MoEOp> {
  using CPUOpLowering::CPUOpLowering;

  LogicalResult lower(mm::MoEOp op, Adaptor a, Emitter &e,
                      ConversionPatternRewriter &rw) const override {
    auto shape = [](Value w) { return llvm::cast<mm::WeightType>(w.getType()).getShape(); };
    int64_t E = shape(op.getRouter())[0], D = shape(op.getRouter())[1];
    int64_t F = shape(op.getGateExps())[1], k = op.getTopK();
    // The kernels' routing modes carry the dialect's names and numbers;
    // softmax_topk_norm renormalises softmax(all)'s top k, which is exactly
    // the softmax of the top-k logits: topk_softmax.
    static_assert(int(mm::MoEWeighting::topk_softmax) == MILM_UK_MOE_TOPK_SOFTMAX &&
                      int(mm::MoEWeighting::softmax_topk) == MILM_UK_MOE_SOFTMAX_TOPK,
                  "milm_uk_moe_mode must number the routing modes as MoEWeighting does");
    int32_t mode = op.getWeighting() == mm::MoEWeighting::softmax_topk
                       ? MILM_UK_MOE_SOFTMAX_TOPK
                       : MILM_UK_MOE_TOPK_SOFTMAX;
    Value xq = e.xqScratch();
    Value scratch = e.moeScratch();
    Value y;
    if (failed(e.callOp(op, kOp_moe,
                        {{"ex", frame.ex},
                         {"x", e.ptrOf(a.getInput())},
                         {"T", frame.T},
                         {"D", e.i64(D)},
                         {"F", e.i64(F)},
                         {"E", e.i64(E)},
                         {"top_k", e.i64(k)},
                         {"mode", e.i32(mode)},
                         {"router_format", e.formatOf(op.getRouter())},
                         {"router", e.weightPtr(op.getRouter())},
                         {"gate_format", e.formatOf(op.getGateExps())},
                         {"gate", e.weightPtr(op.getGateExps())},
                         {"up_format", e.formatOf(op.getUpExps())},
                         {"up", e.weightPtr(op.getUpExps())},
                         {"down_format", e.formatOf(op.getDownExps())},
                         {"down", e.weightPtr(op.getDownExps())},
                         {"y", e.ptrOf(y = e.buffer(op.getResult()))},
                         {"scratch", scratch},
                         {"xq_scratch", xq}})))
      return failure();
    rw.replaceOp(op, y);
    return success();
  }
};

} // namespace

void populateMoELowering(CPUPatterns &patterns) { patterns.add<MoELowering>(); }

} // namespace cpu
} // namespace milm
