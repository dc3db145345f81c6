//===- SelectLayouts.cpp - milm-cpu-select-layouts ------------------------===//
//
// Which weights the CPU kernels read in a packed layout (Passes.td).
//
//===----------------------------------------------------------------------===//
#include "codegen/cpu/LowerToCPU.h"
#include "codegen/cpu/Lowering.h"

#include "llvm/ADT/StringSet.h"

namespace milm {

#define GEN_PASS_DEF_CPUSELECTLAYOUTS
#include "codegen/cpu/Passes.h.inc"

namespace {

using namespace cpu;

struct CPUSelectLayouts : impl::CPUSelectLayoutsBase<CPUSelectLayouts> {
  using CPUSelectLayoutsBase::CPUSelectLayoutsBase;

  void runOnOperation() override {
    if (repack && rowGroup != 8 && rowGroup != 32) {
      getOperation().emitError() << getArgument() << ": row-group " << rowGroup
                                 << " has no packed layouts (8 or 32)";
      return signalPassFailure();
    }
    FailureOr<mm::ModelOp> model = onlyModel(getOperation(), getArgument());
    if (failed(model))
      return signalPassFailure();
    FailureOr<func::FuncOp> forward = forwardOf(*model);
    if (failed(forward))
      return signalPassFailure();
    // Embedding tables are read by rows: they keep GGUF's layout.
    llvm::StringSet<> rowRead;
    forward->walk([&](mm::EmbeddingOp e) {
      if (auto w = e.getTable().getDefiningOp<mm::WeightOp>())
        rowRead.insert(w.getName());
    });
    forward->walk([&](mm::WeightOp w) {
      w->removeAttr(kLayoutAttr);
      if (!repack || rowRead.contains(w.getName()))
        return;
      mm::WeightType t = w.getType();
      const PackedLayoutInfo *packed =
          packedLayoutFor(static_cast<StorageFormat>(t.getFormat()), rowGroup);
      int64_t rows = t.getShape().size() >= 2 ? t.getShape()[t.getShape().size() - 2] : 0;
      if (packed && rows > 0 && rows % packed->rowGroup == 0)
        w->setAttr(kLayoutAttr, StringAttr::get(&getContext(), packed->name));
    });
  }
};

} // namespace
} // namespace milm
