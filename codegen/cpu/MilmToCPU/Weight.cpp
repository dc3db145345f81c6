//===- Weight.cpp - The CPU lowering of milm.weight -------------------===//
#include "codegen/cpu/Lowering.h"

#include "codegen/ukernels/include/milm_ukernels.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <cmath>

namespace milm {
namespace cpu {

LogicalResult Lowering::lowerWeight(mm::WeightOp w) {
  Operation *op = w.getOperation();
  mm::WeightType t = w.getType();
  auto it = weightByName.find(w.getName());
  if (it != weightByName.end()) {
    if (it->second.op.getType() != t)
      return fail(op, "weight '" + w.getName() + "' is referenced with two types");
    weightOf[w.getResult()] = it->second;
    return success();
  }
  // Products read the packed layout of their format (8 interleaved rows:
  // q4_0x8, q8_0x8, ...) when the target's kernels have one; the driver
  // repacks the bytes (milm_uk_repack_<layout>). Weights read by rows
  // (embedding tables) keep GGUF's layout.
  int64_t code = static_cast<int64_t>(t.getFormat());
  int64_t rows = t.getShape().size() >= 2 ? t.getShape()[t.getShape().size() - 2] : 0;
  const PackedLayoutInfo *packed =
      repack ? packedLayoutFor(static_cast<StorageFormat>(code)) : nullptr;
  if (packed && rows > 0 && rows % packed->rowGroup == 0 && !rowRead.contains(w.getName()))
    code = packed->code;
  WeightInfo info{w, alignUp(weightsTop), t.getSizeInBytes(), code};
  weightsTop = info.offset + info.size;
  weightByName[w.getName()] = info;
  weightOf[w.getResult()] = info;
  weightList.push_back(info);
  return success();
}

} // namespace cpu
} // namespace milm
