//===- MilmDialect.h - The milm dialect -------------------------*- C++ -*-===//
#ifndef MILM_DIALECTS_MILM_MILMDIALECT_H
#define MILM_DIALECTS_MILM_MILMDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialects/milm/MilmEnums.h.inc"
#include "dialects/milm/MilmDialect.h.inc"

#include "mlir/IR/DialectImplementation.h"

namespace mlir::milm {
/// `[a, b, ...]`: a config's per-layer sizes.
FailureOr<SmallVector<int64_t>> parseLayerSizes(AsmParser &parser);
void printLayerSizes(AsmPrinter &printer, ArrayRef<int64_t> sizes);
} // namespace mlir::milm

#define GET_ATTRDEF_CLASSES
#include "dialects/milm/MilmAttrs.h.inc"

#define GET_TYPEDEF_CLASSES
#include "dialects/milm/MilmTypes.h.inc"

#define GET_OP_CLASSES
#include "dialects/milm/MilmOps.h.inc"

namespace mlir::milm {
/// Values per block of a storage format (1 for f32/f16/bf16).
int64_t getFormatBlockSize(WeightFormat format);
/// Bytes per block of a storage format.
int64_t getFormatBlockBytes(WeightFormat format);
} // namespace mlir::milm

#endif
