//===- PlanBuffers.cpp - milm-cpu-plan-buffers ----------------------------===//
//
// The memory plan of @milm_forward (Passes.td): weight section, arena regions
// with reuse, in-place rope and fused outlier columns, reuse of quantized activations, scratch regions.
//
//===----------------------------------------------------------------------===//
#include "codegen/cpu/LowerToCPU.h"
#include "codegen/cpu/Lowering.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"

#include <vector>

namespace milm {

#define GEN_PASS_DEF_CPUPLANBUFFERS
#include "codegen/cpu/Passes.h.inc"

namespace {

using namespace cpu;

/// First-fit allocator of arena regions with reuse of freed regions.
class Arena {
public:
  uint64_t allocate(uint64_t size) {
    size = alignUp(size);
    for (auto it = free.begin(); it != free.end(); ++it)
      if (it->second >= size) {
        uint64_t off = it->first;
        if (it->second > size)
          it->second -= size, it->first += size;
        else
          free.erase(it);
        return off;
      }
    uint64_t off = top;
    top += size;
    return off;
  }
  void release(uint64_t off, uint64_t size) { free.push_back({off, alignUp(size)}); }
  uint64_t size() const { return top; }

private:
  std::vector<std::pair<uint64_t, uint64_t>> free;
  uint64_t top = 0;
};

/// An f32 activation of rank 2: [tokens, features].
bool isActivation(Value v) {
  auto t = llvm::dyn_cast<RankedTensorType>(v.getType());
  return t && t.getRank() == 2 && t.getElementType().isF32();
}

struct CPUPlanBuffers : impl::CPUPlanBuffersBase<CPUPlanBuffers> {
  using CPUPlanBuffersBase::CPUPlanBuffersBase;

  void runOnOperation() override {
    if (maxTokens < 1) {
      getOperation().emitError() << "max-tokens must be at least 1";
      return signalPassFailure();
    }
    FailureOr<mm::ModelOp> model = onlyModel(getOperation(), getArgument());
    if (failed(model))
      return signalPassFailure();
    FailureOr<func::FuncOp> forward = forwardOf(*model);
    if (failed(forward) || failed(plan(*model, *forward)))
      return signalPassFailure();
  }

  LogicalResult plan(mm::ModelOp model, func::FuncOp forward) {
    Builder b(&getContext());
    const uint64_t T = static_cast<uint64_t>(maxTokens.getValue());
    Block &body = forward.getBody().front();
    llvm::DenseMap<Value, Operation *> lastUse;
    for (Operation &op : body)
      for (Value operand : op.getOperands())
        lastUse[operand] = &op;
    auto bytes = [&](Value v) {
      return T * static_cast<uint64_t>(llvm::cast<RankedTensorType>(v.getType()).getDimSize(1)) *
             4;
    };

    // The weight section: one aligned place per distinct name.
    struct Placed {
      mm::WeightType type;
      uint64_t offset;
    };
    llvm::StringMap<Placed> placed;
    uint64_t weightsTop = 0;
    // The arena.
    Arena arena;
    llvm::DenseMap<Value, uint64_t> region;
    uint64_t xqBytes = 0, moeBytes = 0;
    auto needXQ = [&](Value w, int64_t K) {
      auto t = llvm::cast<mm::WeightType>(w.getType());
      xqBytes = std::max(xqBytes, T * actRowBytes(t.getFormat(), K));
    };
    // The input the xq scratch holds 8-bit activations of, and their row size.
    Value xqInput;
    uint64_t xqRowBytes = 0;

    for (Operation &op : body) {
      if (auto w = llvm::dyn_cast<mm::WeightOp>(op)) {
        auto [it, fresh] = placed.try_emplace(w.getName(), Placed{w.getType(), 0});
        if (fresh) {
          it->second.offset = alignUp(weightsTop);
          weightsTop = it->second.offset + w.getType().getSizeInBytes();
        } else if (it->second.type != w.getType()) {
          return w.emitOpError() << "cannot be compiled for the CPU: weight '" << w.getName()
                                 << "' is referenced with two types";
        }
        w->setAttr(kSectionOffsetAttr,
                   b.getI64IntegerAttr(static_cast<int64_t>(it->second.offset)));
        continue;
      }
      // Quantized activations in the shared scratch.
      if (auto l = llvm::dyn_cast<mm::LinearOp>(op)) {
        auto t = llvm::cast<mm::WeightType>(l.getWeight().getType());
        int64_t K = t.getShape()[1];
        needXQ(l.getWeight(), K);
        uint64_t rowBytes = actRowBytes(t.getFormat(), K);
        // SSA values are immutable and the input is live here, so its buffer
        // still holds the numbers the previous product quantized.
        bool ready = rowBytes != 0 && l.getInput() == xqInput && rowBytes == xqRowBytes;
        if (ready)
          l->setAttr(kXQReadyAttr, b.getUnitAttr());
        else
          l->removeAttr(kXQReadyAttr);
        xqInput = rowBytes != 0 ? l.getInput() : Value();
        xqRowBytes = rowBytes;
      } else if (auto lg = llvm::dyn_cast<mm::LogitsOp>(op)) {
        needXQ(lg.getWeight(), llvm::cast<mm::WeightType>(lg.getWeight().getType()).getShape()[1]);
        xqInput = Value();
      } else if (auto m = llvm::dyn_cast<mm::MoEOp>(op)) {
        auto shape = [](Value w) { return llvm::cast<mm::WeightType>(w.getType()).getShape(); };
        int64_t E = shape(m.getRouter())[0], D = shape(m.getRouter())[1];
        int64_t F = shape(m.getGateExps())[1];
        needXQ(m.getRouter(), D);
        needXQ(m.getGateExps(), D);
        needXQ(m.getUpExps(), D);
        needXQ(m.getDownExps(), F);
        moeBytes = std::max(moeBytes, moeScratchBytes(T, E, m.getTopK(), D, F));
        xqInput = Value();
      }

      // The result's region: the logits go to the caller's buffer, a rope
      // whose input has no other user rotates it in place.
      if (op.getNumResults() == 1 && isActivation(op.getResult(0)) && !isa<mm::LogitsOp>(op)) {
        Value r = op.getResult(0);
        auto rope = llvm::dyn_cast<mm::RopeOp>(op);
        // The milm.outlier_columns a linear's call does (fusedOutlierColumns):
        // its result is the product's buffer.
        auto oc = llvm::dyn_cast<mm::OutlierColumnsOp>(op);
        auto ocLinear = oc ? oc.getPartial().getDefiningOp<mm::LinearOp>() : nullptr;
        Value inPlace = rope && rope.getInput().hasOneUse() ? rope.getInput()
                        : ocLinear && fusedOutlierColumns(ocLinear) == oc ? oc.getPartial()
                                                                          : Value();
        if (inPlace && region.count(inPlace)) {
          region[r] = region[inPlace];
          lastUse.erase(inPlace); // the region lives on as the result's
          op.setAttr(kInPlaceAttr, b.getUnitAttr());
        } else {
          region[r] = arena.allocate(bytes(r));
          op.removeAttr(kInPlaceAttr);
        }
        op.setAttr(kArenaOffsetAttr, b.getI64IntegerAttr(static_cast<int64_t>(region[r])));
      }
      // Regions of values whose last use was this op go back to the arena.
      for (Value operand : op.getOperands())
        if (lastUse.lookup(operand) == &op) {
          auto it = region.find(operand);
          if (it != region.end()) {
            arena.release(it->second, bytes(operand));
            region.erase(it);
          }
        }
    }

    // Shared scratch regions go after the activations.
    uint64_t xqOffset = alignUp(arena.size());
    uint64_t moeOffset = alignUp(xqOffset + xqBytes);
    uint64_t arenaBytes = alignUp(moeOffset + moeBytes);
    auto i64 = [&](uint64_t v) { return b.getI64IntegerAttr(static_cast<int64_t>(v)); };
    model->setAttr(kPlanAttr, b.getDictionaryAttr({
                                  b.getNamedAttr("max_tokens", i64(T)),
                                  b.getNamedAttr("arena_bytes", i64(arenaBytes)),
                                  b.getNamedAttr("weights_bytes", i64(weightsTop)),
                                  b.getNamedAttr("xq_offset", i64(xqOffset)),
                                  b.getNamedAttr("moe_offset", i64(moeOffset)),
                              }));
    return success();
  }
};

} // namespace
} // namespace milm
