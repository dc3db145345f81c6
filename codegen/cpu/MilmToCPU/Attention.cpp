//===- Attention.cpp - The CPU lowering of milm.attention -----------------===//
//
// milm_op_attention: appends the call's k and v rows to the layer's slice of
// the f16 KV cache at their positions, then causal attention of q over it.
//
//===----------------------------------------------------------------------===//
#include "codegen/cpu/Lowering.h"

#include <cmath>

namespace milm {
namespace cpu {
namespace {

struct AttentionLowering : CPUOpLowering<mm::AttentionOp> {
  using CPUOpLowering::CPUOpLowering;

  LogicalResult checkOp(mm::AttentionOp op) const override {
    if (op.getTreeMask())
      return cannotCompile(op, "tree attention masks are not supported by the CPU runtime yet");
    if (op.getCache() != frame.cacheTensor || op.getPositions() != frame.positionsTensor)
      return cannotCompile(op, "the cache and positions must be @forward's arguments");
    return success();
  }

  LogicalResult lower(mm::AttentionOp op, Adaptor a, Emitter &e,
                      ConversionPatternRewriter &rw) const override {
    int64_t H = op.getNumHeads(), KV = op.getNumKvHeads(), HD = op.getHeadDim();
    // Layer l's K and V (f16), after the layers before it (their KV head
    // counts may differ: mm::KVCacheType::layerOffset).
    const int64_t layer = static_cast<int64_t>(op.getLayer());
    const uint64_t layerBytes = frame.cacheType.layerBytes(layer);
    const uint64_t layerOffset = frame.cacheType.layerOffset(layer);
    double scale =
        op.getScale() ? op.getScale()->convertToDouble() : 1.0 / std::sqrt(double(HD));
    Value out;
    if (failed(e.callOp(op, kOp_attention,
                        {{"ex", frame.ex},
                         {"q", e.ptrOf(a.getQ())},
                         {"k", e.ptrOf(a.getK())},
                         {"v", e.ptrOf(a.getV())},
                         {"kv_layer",
                          e.ptrOf(e.bytesAt(frame.kv, layerOffset, layerBytes))},
                         {"capacity", e.i64(frame.cacheType.getCapacity())},
                         {"pos", e.ptrOf(frame.positions)},
                         {"T", frame.T},
                         {"H", e.i64(H)},
                         {"KV", e.i64(KV)},
                         {"HD", e.i64(HD)},
                         {"scale", e.f32(scale)},
                         {"out", e.ptrOf(out = e.buffer(op.getResult()))}})))
      return failure();
    rw.replaceOp(op, out);
    return success();
  }
};

} // namespace

void populateAttentionLowering(CPUPatterns &patterns) { patterns.add<AttentionLowering>(); }

} // namespace cpu
} // namespace milm
