//===- RMSNorm.cpp - The CPU lowering of milm.rms_norm -------------------===//
#include "codegen/cpu/Lowering.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace milm {
namespace cpu {

/// y = x * w / sqrt(mean(x^2) + eps) per row, as loops over the rows.
LogicalResult Lowering::lowerRMSNorm(mm::RMSNormOp n) {
  if (wtype(n.getWeight()).getFormat() != mm::WeightFormat::f32)
    return fail(n.getOperation(), "norm weights must be f32");
  // Per row t < T: the sum of squares in 8 lanes (a vector<8xf32> carried by
  // the scf.for, summed across lanes at the end), then y = x * rsqrt(mean +
  // eps) * w, 8 values at a time; scalar loops for a tail of N % 8. Every
  // value lives in registers (a linalg reduction into an arena column made the
  // sum a load-add-store chain: no vectors, no reassociation), and each row is
  // computed the same whatever T is (prefill == decode).
  int64_t N = features(n.getInput());
  const int64_t VL = 8, N8 = N / VL * VL;
  Value x = bufferOf(n.getInput()), y = bufferOf(n.getResult());
  Value w = view(weights, idx(static_cast<int64_t>(weightOf[n.getWeight()].offset)),
                 MemRefType::get({N}, b.getF32Type()));
  VectorType vt = VectorType::get({VL}, b.getF32Type());
  Value invN = f32(1.0 / static_cast<double>(N));
  Value eps = f32(n.getEps().convertToDouble());
  Value zero = f32(0.0);
  Value zeroV = vector::BroadcastOp::create(b, loc, vt, zero);
  auto rowLoop = scf::ForOp::create(b, loc, idx(0), Tidx, idx(1));
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(rowLoop.getBody());
    Value t = rowLoop.getInductionVar();
    auto sumV =
        scf::ForOp::create(b, loc, idx(0), idx(N8), idx(VL), ValueRange{zeroV},
                           [&](OpBuilder &nb, Location nl, Value i, ValueRange acc) {
                             Value v = vector::LoadOp::create(nb, nl, vt, x, ValueRange{t, i});
                             Value a = math::FmaOp::create(nb, nl, v, v, acc[0]);
                             scf::YieldOp::create(nb, nl, ValueRange{a});
                           });
    Value sum = vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD, sumV.getResult(0));
    if (N8 < N) {
      auto tail = scf::ForOp::create(
          b, loc, idx(N8), idx(N), idx(1), ValueRange{sum},
          [&](OpBuilder &nb, Location nl, Value i, ValueRange acc) {
            Value v = memref::LoadOp::create(nb, nl, x, ValueRange{t, i});
            scf::YieldOp::create(nb, nl, ValueRange{math::FmaOp::create(nb, nl, v, v, acc[0])});
          });
      sum = tail.getResult(0);
    }
    Value mean = arith::MulFOp::create(b, loc, sum, invN);
    Value inv = math::RsqrtOp::create(b, loc, arith::AddFOp::create(b, loc, mean, eps));
    Value invV = vector::BroadcastOp::create(b, loc, vt, inv);
    scf::ForOp::create(b, loc, idx(0), idx(N8), idx(VL), ValueRange{},
                       [&](OpBuilder &nb, Location nl, Value i, ValueRange) {
                         Value v = vector::LoadOp::create(nb, nl, vt, x, ValueRange{t, i});
                         Value wv = vector::LoadOp::create(nb, nl, vt, w, ValueRange{i});
                         Value r = arith::MulFOp::create(
                             nb, nl, arith::MulFOp::create(nb, nl, v, invV), wv);
                         vector::StoreOp::create(nb, nl, r, y, ValueRange{t, i});
                         scf::YieldOp::create(nb, nl);
                       });
    if (N8 < N)
      scf::ForOp::create(b, loc, idx(N8), idx(N), idx(1), ValueRange{},
                         [&](OpBuilder &nb, Location nl, Value i, ValueRange) {
                           Value v = memref::LoadOp::create(nb, nl, x, ValueRange{t, i});
                           Value wv = memref::LoadOp::create(nb, nl, w, ValueRange{i});
                           Value r = arith::MulFOp::create(
                               nb, nl, arith::MulFOp::create(nb, nl, v, inv), wv);
                           memref::StoreOp::create(nb, nl, r, y, ValueRange{t, i});
                           scf::YieldOp::create(nb, nl);
                         });
  }
  return success();
}

} // namespace cpu
} // namespace milm
