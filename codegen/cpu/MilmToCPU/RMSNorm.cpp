//===- RMSNorm.cpp - The CPU lowering of milm.rms_norm --------------------===//
//
// y = x * w / sqrt(mean(x^2) + eps) per row, as loops over the rows in
// vector<8xf32> (no op-layer call: it is memory-bound and inlines well).
//
//===----------------------------------------------------------------------===//
#include "codegen/cpu/Lowering.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace milm {
namespace cpu {
namespace {

struct RMSNormLowering : CPUOpLowering<mm::RMSNormOp> {
  using CPUOpLowering::CPUOpLowering;

  LogicalResult checkOp(mm::RMSNormOp op) const override {
    if (llvm::cast<mm::WeightType>(op.getWeight().getType()).getFormat() != mm::WeightFormat::f32)
      return cannotCompile(op, "norm weights must be f32");
    return success();
  }

  LogicalResult lower(mm::RMSNormOp n, Adaptor a, Emitter &e,
                      ConversionPatternRewriter &rw) const override {
    OpBuilder &b = e.b;
    Location loc = e.loc;
    // Per row t < T: the sum of squares in 8 lanes (a vector<8xf32> carried by
    // the scf.for, summed across lanes at the end), then y = x * rsqrt(mean +
    // eps) * w, 8 values at a time; scalar loops for a tail of N % 8. Every
    // value lives in registers (a linalg reduction into an arena column made the
    // sum a load-add-store chain: no vectors, no reassociation), and each row is
    // computed the same whatever T is (prefill == decode).
    int64_t N = llvm::cast<RankedTensorType>(n.getInput().getType()).getDimSize(1);
    const int64_t VL = 8, N8 = N / VL * VL;
    Value x = a.getInput(), y = e.buffer(n.getResult());
    Value w = e.view(frame.weights, e.idx(static_cast<int64_t>(e.weightOffset(n.getWeight()))),
                   MemRefType::get({N}, b.getF32Type()));
    VectorType vt = VectorType::get({VL}, b.getF32Type());
    Value invN = e.f32(1.0 / static_cast<double>(N));
    Value eps = e.f32(n.getEps().convertToDouble());
    Value zero = e.f32(0.0);
    Value zeroV = vector::BroadcastOp::create(b, loc, vt, zero);
    auto rowLoop = scf::ForOp::create(b, loc, e.idx(0), frame.Tidx, e.idx(1));
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(rowLoop.getBody());
      Value t = rowLoop.getInductionVar();
      auto sumV =
          scf::ForOp::create(b, loc, e.idx(0), e.idx(N8), e.idx(VL), ValueRange{zeroV},
                             [&](OpBuilder &nb, Location nl, Value i, ValueRange acc) {
                               Value v = vector::LoadOp::create(nb, nl, vt, x, ValueRange{t, i});
                               Value s = math::FmaOp::create(nb, nl, v, v, acc[0]);
                               scf::YieldOp::create(nb, nl, ValueRange{s});
                             });
      Value sum = vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD, sumV.getResult(0));
      if (N8 < N) {
        auto tail = scf::ForOp::create(
            b, loc, e.idx(N8), e.idx(N), e.idx(1), ValueRange{sum},
            [&](OpBuilder &nb, Location nl, Value i, ValueRange acc) {
              Value v = memref::LoadOp::create(nb, nl, x, ValueRange{t, i});
              scf::YieldOp::create(nb, nl, ValueRange{math::FmaOp::create(nb, nl, v, v, acc[0])});
            });
        sum = tail.getResult(0);
      }
      Value mean = arith::MulFOp::create(b, loc, sum, invN);
      Value inv = math::RsqrtOp::create(b, loc, arith::AddFOp::create(b, loc, mean, eps));
      Value invV = vector::BroadcastOp::create(b, loc, vt, inv);
      scf::ForOp::create(b, loc, e.idx(0), e.idx(N8), e.idx(VL), ValueRange{},
                         [&](OpBuilder &nb, Location nl, Value i, ValueRange) {
                           Value v = vector::LoadOp::create(nb, nl, vt, x, ValueRange{t, i});
                           Value wv = vector::LoadOp::create(nb, nl, vt, w, ValueRange{i});
                           Value r = arith::MulFOp::create(
                               nb, nl, arith::MulFOp::create(nb, nl, v, invV), wv);
                           vector::StoreOp::create(nb, nl, r, y, ValueRange{t, i});
                           scf::YieldOp::create(nb, nl);
                         });
      if (N8 < N)
        scf::ForOp::create(b, loc, e.idx(N8), e.idx(N), e.idx(1), ValueRange{},
                           [&](OpBuilder &nb, Location nl, Value i, ValueRange) {
                             Value v = memref::LoadOp::create(nb, nl, x, ValueRange{t, i});
                             Value wv = memref::LoadOp::create(nb, nl, w, ValueRange{i});
                             Value r = arith::MulFOp::create(
                                 nb, nl, arith::MulFOp::create(nb, nl, v, inv), wv);
                             memref::StoreOp::create(nb, nl, r, y, ValueRange{t, i});
                             scf::YieldOp::create(nb, nl);
                           });
    }
    rw.replaceOp(n, y);
    return success();
  }
};

} // namespace

void populateRMSNormLowering(CPUPatterns &patterns) { patterns.add<RMSNormLowering>(); }

} // namespace cpu
} // namespace milm
