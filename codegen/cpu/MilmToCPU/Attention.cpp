//===- Attention.cpp - The CPU lowering of milm.attention -------------------===//
#include "codegen/cpu/Lowering.h"

#include "codegen/ukernels/include/milm_ukernels.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <cmath>

namespace milm {
namespace cpu {

LogicalResult Lowering::lowerAttention(mm::AttentionOp a) {
  Operation *op = a.getOperation();
  if (a.getTreeMask())
    return fail(op, "tree attention masks are not supported by the CPU runtime yet");
  if (a.getCache() != cacheTensor || a.getPositions() != positionsTensor)
    return fail(op, "the cache and positions must be @forward's arguments");
  int64_t H = a.getNumHeads(), KV = a.getNumKvHeads(), HD = a.getHeadDim();
  int64_t cap = cacheType.getCapacity();
  uint64_t layerBytes = kvLayerBytes();
  double scale = a.getScale() ? a.getScale()->convertToDouble() : 1.0 / std::sqrt(double(HD));
  return callOp(op, kOp_attention,
                {{"ex", ex},
                 {"q", bufPtr(a.getQ())},
                 {"k", bufPtr(a.getK())},
                 {"v", bufPtr(a.getV())},
                 {"kv_layer", ptrOf(bytesAt(kv, layerBytes * a.getLayer(), layerBytes))},
                 {"capacity", i64(cap)},
                 {"pos", ptrOf(positionsArg)},
                 {"T", T},
                 {"H", i64(H)},
                 {"KV", i64(KV)},
                 {"HD", i64(HD)},
                 {"scale", f32(scale)},
                 {"out", bufPtr(a.getResult())}});
}

} // namespace cpu
} // namespace milm
