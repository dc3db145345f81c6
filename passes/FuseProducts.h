//===- FuseProducts.h - One product over concatenated output rows -*- C++ -*-===//
//
// What milm-fuse-qkv and milm-fuse-gate-up share: products of one input by
// several weights become one product by the weights' rows concatenated (a
// new weight in the weight store, the bytes of each part one after the
// other, exact in every format), each part's result then the milm.columns of
// the fused result that it was.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_PASSES_FUSEPRODUCTS_H
#define MILM_PASSES_FUSEPRODUCTS_H

#include "passes/WeightStore.h"

#include "dialects/milm/MilmDialect.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <optional>
#include <string>

namespace milm {

/// Why `parts` cannot be fused (a reason to leave them as they are, not an
/// error), or nullopt when they can: every part a milm.linear of the same
/// input by its own milm.weight (read by nothing else), all weights of one
/// storage format and input width, biases on all parts or on none, and no
/// result read by a milm.outlier_columns (whose side matrix belongs to the
/// unfused product).
std::optional<std::string> cannotFuse(llvm::ArrayRef<mlir::milm::LinearOp> parts);

/// Fuses `parts` (cannotFuse gave nullopt) into one product by the weight
/// `name` (and `name`'s bias), appended to the store at `storePath` (opened
/// on first use into `store`). Returns the milm.columns ops that replaced
/// the parts' results, in order.
llvm::Expected<llvm::SmallVector<mlir::milm::ColumnsOp>>
fuseProducts(llvm::ArrayRef<mlir::milm::LinearOp> parts, llvm::StringRef name,
             llvm::StringRef storePath, std::shared_ptr<WeightStore> &store);

} // namespace milm

#endif
