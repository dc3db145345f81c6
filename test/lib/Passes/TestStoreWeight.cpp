//===- TestStoreWeight.cpp - Test only: copy a weight into the store ------===//
//
// milm-test-store-weight (TestPasses.td): the smallest pass that writes a
// weight through passes/WeightStore.h, for test/passes/.
//
//===----------------------------------------------------------------------===//
#include "test/lib/Passes/TestPasses.h"

#include "passes/WeightStore.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"

namespace milm::test {

#define GEN_PASS_DEF_TESTSTOREWEIGHT
#include "test/lib/Passes/TestPasses.h.inc"

namespace {

namespace mm = mlir::milm;

struct TestStoreWeightPass : impl::TestStoreWeightBase<TestStoreWeightPass> {
  using Base::Base;

  void runOnOperation() override {
    mlir::ModuleOp module = getOperation();
    // Errors are one diagnostic of one line, at the weight when there is one.
    auto fail = [&](mlir::Location loc, const llvm::Twine &msg) {
      mlir::emitError(loc) << getArgument() << ": " << msg;
      signalPassFailure();
    };
    if (weightName.empty())
      return fail(module.getLoc(), "no weight named (weight=NAME)");
    if (weightStore.empty())
      return fail(module.getLoc(), "no weight store given (weight-store=PATH)");

    llvm::SmallVector<mm::WeightOp> refs;
    module.walk([&](mm::WeightOp op) {
      if (op.getName() == weightName)
        refs.push_back(op);
    });
    if (refs.empty())
      return fail(module.getLoc(), "no milm.weight named '" + weightName + "'");
    // The CPU lowering reads a weight once per name: every reference moves.
    for (mm::WeightOp op : refs)
      if (op.getType() != refs.front().getType())
        return fail(op.getLoc(), "weight '" + weightName + "' is referenced with two types");

    llvm::Expected<std::vector<uint8_t>> bytes = readWeightBytes(refs.front());
    if (!bytes)
      return fail(refs.front().getLoc(), llvm::toString(bytes.takeError()));
    llvm::Expected<std::unique_ptr<WeightStore>> store = WeightStore::open(weightStore);
    if (!store)
      return fail(refs.front().getLoc(), llvm::toString(store.takeError()));
    llvm::Expected<WeightReference> ref = (*store)->append(refs.front().getType(), *bytes);
    if (!ref)
      return fail(refs.front().getLoc(), llvm::toString(ref.takeError()));
    for (mm::WeightOp op : refs)
      setWeightReference(op, *ref);
  }
};

} // namespace

} // namespace milm::test
