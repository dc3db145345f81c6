//===- MilmOps.cpp - milm operations and their verifiers ------------------===//
#include "dialects/milm/MilmDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace mlir::milm;

#define GET_OP_CLASSES
#include "dialects/milm/MilmOps.cpp.inc"

namespace {
/// Prints a shape as 512x256 (dynamic dims as ?).
std::string shapeStr(ArrayRef<int64_t> shape) {
  std::string s;
  llvm::raw_string_ostream os(s);
  llvm::interleave(
      shape, os,
      [&](int64_t d) {
        if (ShapedType::isDynamic(d))
          os << "?";
        else
          os << d;
      },
      "x");
  return s;
}

bool dimsDiffer(int64_t a, int64_t b) {
  return !ShapedType::isDynamic(a) && !ShapedType::isDynamic(b) && a != b;
}

ArrayRef<int64_t> shapeOf(Value v) {
  return llvm::cast<ShapedType>(v.getType()).getShape();
}
WeightType weightOf(Value v) { return llvm::cast<WeightType>(v.getType()); }

/// Checks that the token dimension (dim 0) of `a` and `b` agree.
LogicalResult checkTokens(Operation *op, Value a, StringRef aName, Value b,
                          StringRef bName) {
  int64_t ta = shapeOf(a)[0], tb = shapeOf(b)[0];
  if (dimsDiffer(ta, tb))
    return op->emitOpError() << aName << " has " << ta << " tokens but "
                             << bName << " has " << tb;
  return success();
}
} // namespace

//===----------------------------------------------------------------------===//
// ModelOp
//===----------------------------------------------------------------------===//

LogicalResult ModelOp::verify() {
  ModelConfigAttr cfg = getConfig();
  auto fail = [&](Operation *op) { return op->emitOpError(); };
  WalkResult result = getBody().walk([&](Operation *op) -> WalkResult {
    if (auto attn = llvm::dyn_cast<AttentionOp>(op)) {
      const int64_t layer = static_cast<int64_t>(attn.getLayer());
      if (layer >= cfg.getNumLayers()) {
        fail(op) << "is layer " << layer << " but the model has "
                 << cfg.getNumLayers() << " layers";
        return WalkResult::interrupt();
      }
      if (static_cast<int64_t>(attn.getNumHeads()) != cfg.headsAt(layer) ||
          static_cast<int64_t>(attn.getNumKvHeads()) != cfg.kvHeadsAt(layer) ||
          static_cast<int64_t>(attn.getHeadDim()) != cfg.getHeadDim()) {
        fail(op) << "has " << attn.getNumHeads() << " heads, "
                 << attn.getNumKvHeads() << " kv heads of dimension "
                 << attn.getHeadDim() << " but the model config says "
                 << cfg.headsAt(layer) << ", " << cfg.kvHeadsAt(layer)
                 << " and " << cfg.getHeadDim()
                 << (cfg.hasLayerShapes() ? " for layer " + std::to_string(layer) : "");
        return WalkResult::interrupt();
      }
      KVCacheType cache = attn.getCache().getType();
      if (cache.getLayers() != cfg.getNumLayers()) {
        fail(op) << "uses a KV cache of " << cache.getLayers()
                 << " layers but the model has " << cfg.getNumLayers();
        return WalkResult::interrupt();
      }
    } else if (auto emb = llvm::dyn_cast<EmbeddingOp>(op)) {
      if (weightOf(emb.getTable()).getShape()[0] != cfg.getVocabSize()) {
        fail(op) << "looks up a table of "
                 << weightOf(emb.getTable()).getShape()[0]
                 << " rows but the model's vocab_size is "
                 << cfg.getVocabSize();
        return WalkResult::interrupt();
      }
    } else if (auto logits = llvm::dyn_cast<LogitsOp>(op)) {
      if (weightOf(logits.getWeight()).getShape()[0] != cfg.getVocabSize()) {
        fail(op) << "produces " << weightOf(logits.getWeight()).getShape()[0]
                 << " logits but the model's vocab_size is "
                 << cfg.getVocabSize();
        return WalkResult::interrupt();
      }
    } else if (auto moe = llvm::dyn_cast<MoEOp>(op)) {
      if (moe.getNumExperts() != cfg.getNumExperts() ||
          static_cast<int64_t>(moe.getTopK()) != cfg.getExpertsUsed()) {
        fail(op) << "routes to top " << moe.getTopK() << " of "
                 << moe.getNumExperts()
                 << " experts but the model config says top "
                 << cfg.getExpertsUsed() << " of " << cfg.getNumExperts();
        return WalkResult::interrupt();
      }
    }
    return WalkResult::advance();
  });
  return failure(result.wasInterrupted());
}

//===----------------------------------------------------------------------===//
// WeightOp
//===----------------------------------------------------------------------===//

LogicalResult WeightOp::verify() {
  if (getName().empty())
    return emitOpError() << "needs a non-empty weight name";
  if (getFile().has_value() != getOffset().has_value())
    return emitOpError() << "gives a file without an offset or an offset "
                            "without a file";
  if (getFile() && getFile()->empty())
    return emitOpError() << "names an empty file";
  if (getPartFiles().has_value() != getPartOffsets().has_value())
    return emitOpError() << "gives stacked part files without offsets or "
                            "offsets without files";
  if (getPartFiles()) {
    if (getFile())
      return emitOpError() << "is either in one place or stacked from parts, "
                              "not both";
    int64_t parts = getPartFiles()->size();
    int64_t outer = getResult().getType().getShape()[0];
    if (parts != outer || static_cast<int64_t>(getPartOffsets()->size()) != parts)
      return emitOpError() << "is stacked from " << parts << " files and "
                           << getPartOffsets()->size()
                           << " offsets but its outermost dimension is "
                           << outer;
    for (int64_t o : *getPartOffsets())
      if (o < 0)
        return emitOpError() << "has a negative part offset " << o;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// EmbeddingOp
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingOp::verify() {
  WeightType table = weightOf(getTable());
  if (table.getRank() != 2)
    return emitOpError() << "table must be [vocab, hidden], got "
                         << shapeStr(table.getShape());
  if (dimsDiffer(shapeOf(getResult())[1], table.getShape()[1]))
    return emitOpError() << "result has " << shapeOf(getResult())[1]
                         << " features but the table rows have "
                         << table.getShape()[1];
  return checkTokens(*this, getTokens(), "tokens", getResult(), "the result");
}

//===----------------------------------------------------------------------===//
// RMSNormOp
//===----------------------------------------------------------------------===//

LogicalResult RMSNormOp::verify() {
  WeightType w = weightOf(getWeight());
  if (w.getRank() != 1)
    return emitOpError() << "weight must be 1-D, got "
                         << shapeStr(w.getShape());
  if (getInput().getType() != getResult().getType())
    return emitOpError() << "result type " << getResult().getType()
                         << " differs from input type " << getInput().getType();
  if (dimsDiffer(shapeOf(getInput())[1], w.getShape()[0]))
    return emitOpError() << "input has " << shapeOf(getInput())[1]
                         << " features but the weight has "
                         << w.getShape()[0];
  if (!(getEps().convertToDouble() > 0.0))
    return emitOpError() << "eps must be positive";
  return success();
}

//===----------------------------------------------------------------------===//
// LinearOp / LogitsOp
//===----------------------------------------------------------------------===//

static LogicalResult verifyMatVec(Operation *op, Value input, Value weight,
                                  Value result, StringRef outName) {
  WeightType w = weightOf(weight);
  if (w.getRank() != 2)
    return op->emitOpError() << "weight must be [" << outName
                             << ", in], got " << shapeStr(w.getShape());
  if (dimsDiffer(shapeOf(input)[1], w.getShape()[1]))
    return op->emitOpError()
           << "input has " << shapeOf(input)[1]
           << " features but the weight expects " << w.getShape()[1];
  if (dimsDiffer(shapeOf(result)[1], w.getShape()[0]))
    return op->emitOpError() << "result has " << shapeOf(result)[1]
                             << " features but the weight produces "
                             << w.getShape()[0];
  return checkTokens(op, input, "input", result, "the result");
}

LogicalResult HadamardOp::verify() {
  const int64_t b = static_cast<int64_t>(getBlock());
  if (b & (b - 1))
    return emitOpError() << "block " << b << " is not a power of two";
  const int64_t n = llvm::cast<RankedTensorType>(getInput().getType()).getDimSize(1);
  if (!ShapedType::isDynamic(n) && n % b != 0)
    return emitOpError() << "block " << b << " does not divide the row length " << n;
  return success();
}

LogicalResult ColumnsOp::verify() {
  const int64_t n = llvm::cast<RankedTensorType>(getInput().getType()).getDimSize(1);
  const int64_t m = llvm::cast<RankedTensorType>(getResult().getType()).getDimSize(1);
  const int64_t off = static_cast<int64_t>(getOffset()), size = static_cast<int64_t>(getSize());
  if (m != size)
    return emitOpError() << "result has " << m << " columns but size is " << size;
  if (!ShapedType::isDynamic(n) && off + size > n)
    return emitOpError() << "columns [" << off << ", " << off + size
                         << ") are outside the input's " << n;
  return success();
}

LogicalResult OutlierColumnsOp::verify() {
  WeightType side = weightOf(getSide());
  if (side.getRank() != 2)
    return emitOpError() << "side must be [out, columns], got " << shapeStr(side.getShape());
  if (side.getFormat() != WeightFormat::f16)
    return emitOpError() << "side must be f16, got " << stringifyWeightFormat(side.getFormat());
  llvm::ArrayRef<int64_t> cols = getColumns();
  if (static_cast<int64_t>(cols.size()) != side.getShape()[1])
    return emitOpError() << cols.size() << " columns but side has " << side.getShape()[1];
  if (cols.empty())
    return emitOpError() << "no columns";
  const int64_t out = llvm::cast<RankedTensorType>(getPartial().getType()).getDimSize(1);
  if (!ShapedType::isDynamic(out) && out != side.getShape()[0])
    return emitOpError() << "side has " << side.getShape()[0] << " rows, the partial result "
                         << out << " columns";
  const int64_t in = llvm::cast<RankedTensorType>(getInput().getType()).getDimSize(1);
  for (size_t j = 0; j < cols.size(); ++j) {
    if (cols[j] < 0 || (!ShapedType::isDynamic(in) && cols[j] >= in))
      return emitOpError() << "column " << cols[j] << " is outside the input's " << in;
    if (j > 0 && cols[j] <= cols[j - 1])
      return emitOpError() << "columns must be ascending and distinct (" << cols[j - 1]
                           << " then " << cols[j] << ")";
  }
  return success();
}

LogicalResult LinearOp::verify() {
  if (failed(verifyMatVec(*this, getInput(), getWeight(), getResult(), "out")))
    return failure();
  if (Value bias = getBias()) {
    WeightType b = weightOf(bias);
    int64_t out = weightOf(getWeight()).getShape()[0];
    if (b.getRank() != 1 || b.getShape()[0] != out)
      return emitOpError() << "bias must be [" << out << "], got "
                           << shapeStr(b.getShape());
  }
  return success();
}

LogicalResult LogitsOp::verify() {
  return verifyMatVec(*this, getInput(), getWeight(), getResult(), "vocab");
}

//===----------------------------------------------------------------------===//
// RopeOp
//===----------------------------------------------------------------------===//

LogicalResult RopeOp::verify() {
  int64_t headDim = getHeadDim();
  int64_t features = shapeOf(getInput())[1];
  if (!ShapedType::isDynamic(features) && features % headDim != 0)
    return emitOpError() << "input has " << features
                         << " features, not a whole number of heads of "
                         << headDim;
  int64_t rotary = getRotaryDim().value_or(headDim);
  if (rotary > headDim)
    return emitOpError() << "rotary_dim " << rotary << " exceeds head_dim "
                         << headDim;
  if (rotary % 2 != 0)
    return emitOpError() << "rotary_dim " << rotary << " must be even";
  if (!(getBase().convertToDouble() > 1.0))
    return emitOpError() << "base must be greater than 1";
  RopeScaling scaling = getScaling();
  if (scaling == RopeScaling::none) {
    if (getFactor())
      return emitOpError() << "has a scaling factor but no scaling";
  } else {
    if (!getFactor() || !(getFactor()->convertToDouble() > 0.0))
      return emitOpError() << "scaling '" << stringifyRopeScaling(scaling)
                           << "' needs a positive factor";
    if (scaling == RopeScaling::yarn && !getOriginalContext())
      return emitOpError() << "scaling 'yarn' needs original_context";
  }
  return checkTokens(*this, getInput(), "input", getPositions(), "positions");
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

LogicalResult AttentionOp::verify() {
  int64_t heads = getNumHeads(), kvHeads = getNumKvHeads(),
          headDim = getHeadDim();
  if (heads % kvHeads != 0)
    return emitOpError() << "num_heads (" << heads
                         << ") is not a multiple of num_kv_heads (" << kvHeads
                         << ")";
  auto checkWidth = [&](Value v, StringRef name, int64_t n,
                        StringRef what) -> LogicalResult {
    int64_t f = shapeOf(v)[1];
    if (dimsDiffer(f, n * headDim))
      return emitOpError() << name << " has " << f << " features but "
                           << what << " x head_dim = " << n << " x "
                           << headDim << " = " << n * headDim;
    return success();
  };
  if (failed(checkWidth(getQ(), "q", heads, "num_heads")) ||
      failed(checkWidth(getK(), "k", kvHeads, "num_kv_heads")) ||
      failed(checkWidth(getV(), "v", kvHeads, "num_kv_heads")) ||
      failed(checkWidth(getResult(), "result", heads, "num_heads")))
    return failure();
  KVCacheType cache = getCache().getType();
  if (static_cast<int64_t>(getLayer()) >= cache.getLayers())
    return emitOpError() << "layer " << getLayer()
                         << " is outside the KV cache's " << cache.getLayers()
                         << " layers";
  const int64_t cacheHeads = cache.kvHeadsAt(static_cast<int64_t>(getLayer()));
  if (cacheHeads != kvHeads || cache.getHeadDim() != headDim)
    return emitOpError() << "KV cache holds " << cacheHeads
                         << " kv heads of dimension " << cache.getHeadDim()
                         << (cache.getLayerKvHeads().empty()
                                 ? std::string()
                                 : " in layer " + std::to_string(getLayer()))
                         << " but the op has " << kvHeads << " of dimension "
                         << headDim;
  if ((getMask() == AttentionMask::tree) != static_cast<bool>(getTreeMask()))
    return emitOpError() << "a tree_mask operand goes with mask = tree, and "
                            "only with it";
  if (Value m = getTreeMask()) {
    ArrayRef<int64_t> ms = shapeOf(m);
    int64_t t = shapeOf(getQ())[0];
    if (dimsDiffer(ms[0], t) || dimsDiffer(ms[1], t) ||
        dimsDiffer(ms[0], ms[1]))
      return emitOpError() << "tree_mask must be [tokens, tokens], got "
                           << shapeStr(ms) << " for " << shapeStr({t})
                           << " tokens";
  }
  if (auto s = getScale(); s && !(s->convertToDouble() > 0.0))
    return emitOpError() << "scale must be positive";
  if (failed(checkTokens(*this, getQ(), "q", getK(), "k")) ||
      failed(checkTokens(*this, getQ(), "q", getV(), "v")) ||
      failed(checkTokens(*this, getQ(), "q", getPositions(), "positions")) ||
      failed(checkTokens(*this, getQ(), "q", getResult(), "the result")))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// MoEOp
//===----------------------------------------------------------------------===//

LogicalResult MoERouteOp::verify() {
  WeightType router = weightOf(getRouter());
  if (router.getRank() != 2)
    return emitOpError() << "router must be [experts, hidden], got "
                         << shapeStr(router.getShape());
  const int64_t experts = router.getShape()[0];
  if (dimsDiffer(shapeOf(getInput())[1], router.getShape()[1]))
    return emitOpError() << "input has " << shapeOf(getInput())[1]
                         << " features but the router expects " << router.getShape()[1];
  if (dimsDiffer(shapeOf(getResult())[1], experts))
    return emitOpError() << "result has " << shapeOf(getResult())[1] << " columns for "
                         << experts << " experts";
  if (static_cast<int64_t>(getTopK()) > experts)
    return emitOpError() << "top_k " << getTopK() << " exceeds the " << experts << " experts";
  return checkTokens(*this, getInput(), "input", getResult(), "the result");
}

LogicalResult MoECombineOp::verify() {
  const int64_t experts = shapeOf(getWeights())[1];
  if (getExperts().empty())
    return emitOpError() << "needs at least one expert output";
  if (!ShapedType::isDynamic(experts) && experts != static_cast<int64_t>(getExperts().size()))
    return emitOpError() << "weights have " << experts << " columns but "
                         << getExperts().size() << " expert outputs are given";
  for (Value e : getExperts()) {
    if (e.getType() != getResult().getType())
      return emitOpError() << "expert output type " << e.getType() << " differs from the result's "
                           << getResult().getType();
    if (failed(checkTokens(*this, getWeights(), "weights", e, "an expert output")))
      return failure();
  }
  return success();
}

LogicalResult MoEOp::verify() {
  WeightType router = weightOf(getRouter());
  if (router.getRank() != 2)
    return emitOpError() << "router must be [experts, hidden], got "
                         << shapeStr(router.getShape());
  int64_t experts = router.getShape()[0];
  int64_t hidden = router.getShape()[1];
  if (dimsDiffer(shapeOf(getInput())[1], hidden))
    return emitOpError() << "input has " << shapeOf(getInput())[1]
                         << " features but the router expects " << hidden;
  if (getInput().getType() != getResult().getType())
    return emitOpError() << "result type " << getResult().getType()
                         << " differs from input type " << getInput().getType();
  if (static_cast<int64_t>(getTopK()) > experts)
    return emitOpError() << "top_k " << getTopK() << " exceeds the "
                         << experts << " experts";
  WeightType gate = weightOf(getGateExps()), up = weightOf(getUpExps()),
             down = weightOf(getDownExps());
  if (gate.getRank() != 3)
    return emitOpError() << "gate_exps must be [experts, ffn, hidden], got "
                         << shapeStr(gate.getShape());
  int64_t ffn = gate.getShape()[1];
  auto expect = [&](WeightType w, StringRef name,
                    ArrayRef<int64_t> want) -> LogicalResult {
    if (w.getShape() != want)
      return emitOpError() << name << " must be " << shapeStr(want)
                           << ", got " << shapeStr(w.getShape());
    return success();
  };
  if (failed(expect(gate, "gate_exps", {experts, ffn, hidden})) ||
      failed(expect(up, "up_exps", {experts, ffn, hidden})) ||
      failed(expect(down, "down_exps", {experts, hidden, ffn})))
    return failure();
  return checkTokens(*this, getInput(), "input", getResult(), "the result");
}
