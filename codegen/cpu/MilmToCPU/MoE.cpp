//===- MoE.cpp - The CPU lowering of milm.moe -------------------===//
#include "codegen/cpu/Lowering.h"

#include "codegen/ukernels/include/milm_ukernels.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <cmath>

namespace milm {
namespace cpu {

LogicalResult Lowering::lowerMoE(mm::MoEOp m) {
  Operation *op = m.getOperation();
  mm::WeightType r = wtype(m.getRouter()), g = wtype(m.getGateExps()), u = wtype(m.getUpExps()),
                 d = wtype(m.getDownExps());
  int64_t E = r.getShape()[0], D = r.getShape()[1], F = g.getShape()[1], k = m.getTopK();
  // The kernels' routing modes carry the dialect's names and numbers;
  // softmax_topk_norm renormalises softmax(all)'s top k, which is exactly
  // the softmax of the top-k logits: topk_softmax.
  static_assert(int(mm::MoEWeighting::topk_softmax) == MILM_UK_MOE_TOPK_SOFTMAX &&
                    int(mm::MoEWeighting::softmax_topk) == MILM_UK_MOE_SOFTMAX_TOPK,
                "milm_uk_moe_mode must number the routing modes as MoEWeighting does");
  int32_t mode = MILM_UK_MOE_TOPK_SOFTMAX;
  switch (m.getWeighting()) {
  case mm::MoEWeighting::topk_softmax:
  case mm::MoEWeighting::softmax_topk_norm:
    mode = MILM_UK_MOE_TOPK_SOFTMAX;
    break;
  case mm::MoEWeighting::softmax_topk:
    mode = MILM_UK_MOE_SOFTMAX_TOPK;
    break;
  }
  needXQ(r.getFormat(), D);
  needXQ(g.getFormat(), D);
  needXQ(u.getFormat(), D);
  needXQ(d.getFormat(), F);
  // milm_op_moe's scratch: logits [T, E], ids and weights [T, k], gathered
  // inputs [T, D], gate/up [T, F] x 2, outputs [T, D], per-slot results
  // [T, k, D], (token, slot) pairs [T] x 2.
  uint64_t T64 = static_cast<uint64_t>(maxTokens);
  uint64_t scratch =
      4ull * (T64 * E + 2 * T64 * k + T64 * D + 2 * T64 * F + T64 * D + T64 * k * D + 2 * T64);
  moeScratchBytes = std::max(moeScratchBytes, scratch);
  Value xq = scratchPtr(xqOffsetConsts);
  xqInput = Value();
  Value sc = scratchPtr(moeOffsetConsts);
  return callOp(op, kOp_moe,
                {{"ex", ex},
                 {"x", bufPtr(m.getInput())},
                 {"T", T},
                 {"D", i64(D)},
                 {"F", i64(F)},
                 {"E", i64(E)},
                 {"top_k", i64(k)},
                 {"mode", i32(mode)},
                 {"router_format", fmtOf(m.getRouter())},
                 {"router", weightPtr(m.getRouter())},
                 {"gate_format", fmtOf(m.getGateExps())},
                 {"gate", weightPtr(m.getGateExps())},
                 {"up_format", fmtOf(m.getUpExps())},
                 {"up", weightPtr(m.getUpExps())},
                 {"down_format", fmtOf(m.getDownExps())},
                 {"down", weightPtr(m.getDownExps())},
                 {"y", bufPtr(m.getResult())},
                 {"scratch", sc},
                 {"xq_scratch", xq}});
}

} // namespace cpu
} // namespace milm
