//===- MilmDialect.cpp - milm dialect, attributes and types ---------------===//
#include "dialects/milm/MilmDialect.h"
#include "common/milm/StorageFormat.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::milm;

#include "dialects/milm/MilmDialect.cpp.inc"
#include "dialects/milm/MilmEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/milm/MilmAttrs.cpp.inc"

#define GET_TYPEDEF_CLASSES
#include "dialects/milm/MilmTypes.cpp.inc"

void MilmDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/milm/MilmAttrs.cpp.inc"
      >();
  addTypes<
#define GET_TYPEDEF_LIST
#include "dialects/milm/MilmTypes.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "dialects/milm/MilmOps.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// Storage formats
//===----------------------------------------------------------------------===//

// WeightFormat's numbers are GGUF's ggml_type numbers, like milm::StorageFormat:
// the block facts come from the one table, common/milm/formats.h. ODS cannot
// read that table, so MilmAttrs.td lists the cases again; these checks fail the
// build when a case and the table disagree (a format missing from
// WeightFormat, or numbered differently).
#define MILM_X(ID, id, name, code, elems, bytes, act)                                    \
  static_assert(static_cast<uint32_t>(WeightFormat::id) == code,                         \
                "WeightFormat::" #id " differs from common/milm/formats.h");
MILM_STORAGE_FORMATS(MILM_X)
#undef MILM_X
// (A case of WeightFormat that the table lacks: DialectTest.WeightFormatsAreTheTable.)

static const ::milm::StorageFormatInfo &formatInfo(WeightFormat format) {
  const ::milm::StorageFormatInfo *info =
      ::milm::lookupStorageFormat(static_cast<uint32_t>(format));
  assert(info && "every WeightFormat is a StorageFormat");
  return *info;
}

int64_t mlir::milm::getFormatBlockSize(WeightFormat format) {
  return formatInfo(format).blockElems;
}

int64_t mlir::milm::getFormatBlockBytes(WeightFormat format) {
  return formatInfo(format).blockBytes;
}

//===----------------------------------------------------------------------===//
// WeightType
//===----------------------------------------------------------------------===//

// !milm.weight<512x256xq4_0>: a static dimension list with a trailing `x`,
// then the storage format's keyword, as in tensor<512x256xf32>.
Type WeightType::parse(AsmParser &parser) {
  SmallVector<int64_t> shape;
  if (parser.parseLess() ||
      parser.parseDimensionList(shape, /*allowDynamic=*/false,
                                /*withTrailingX=*/true))
    return {};
  SMLoc formatLoc = parser.getCurrentLocation();
  StringRef keyword;
  if (parser.parseKeyword(&keyword))
    return {};
  std::optional<WeightFormat> format = symbolizeWeightFormat(keyword);
  if (!format) {
    parser.emitError(formatLoc) << "unknown weight storage format '" << keyword
                                << "'; expected one of f32, f16, bf16, q8_0, "
                                   "q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k";
    return {};
  }
  if (parser.parseGreater())
    return {};
  return parser.getChecked<WeightType>(parser.getContext(), shape, *format);
}

void WeightType::print(AsmPrinter &printer) const {
  printer << "<";
  for (int64_t d : getShape())
    printer << d << "x";
  printer << stringifyWeightFormat(getFormat()) << ">";
}

LogicalResult WeightType::verify(function_ref<InFlightDiagnostic()> emitError,
                                 ArrayRef<int64_t> shape, WeightFormat format) {
  if (shape.empty())
    return emitError() << "a weight needs at least one dimension";
  if (shape.size() > 4)
    return emitError() << "a weight has at most 4 dimensions, got "
                       << shape.size();
  for (int64_t d : shape)
    if (d <= 0)
      return emitError() << "weight dimensions must be positive, got " << d;
  int64_t block = getFormatBlockSize(format);
  if (shape.back() % block != 0)
    return emitError() << "innermost dimension " << shape.back()
                       << " of a " << stringifyWeightFormat(format)
                       << " weight is not a multiple of its block size "
                       << block;
  return success();
}

int64_t WeightType::getBlockSize() const {
  return getFormatBlockSize(getFormat());
}
int64_t WeightType::getBlockBytes() const {
  return getFormatBlockBytes(getFormat());
}
int64_t WeightType::getNumElements() const {
  int64_t n = 1;
  for (int64_t d : getShape())
    n *= d;
  return n;
}
uint64_t WeightType::getSizeInBytes() const {
  return static_cast<uint64_t>(getNumElements() / getBlockSize()) *
         static_cast<uint64_t>(getBlockBytes());
}

//===----------------------------------------------------------------------===//
// KVCacheType
//===----------------------------------------------------------------------===//

LogicalResult KVCacheType::verify(function_ref<InFlightDiagnostic()> emitError,
                                  int64_t layers, int64_t kvHeads,
                                  int64_t headDim, int64_t capacity,
                                  Type element, ArrayRef<int64_t> layerKVHeads) {
  if (layers <= 0 || kvHeads <= 0 || headDim <= 0 || capacity <= 0)
    return emitError() << "KV cache layers (" << layers << "), kv_heads ("
                       << kvHeads << "), head_dim (" << headDim
                       << ") and capacity (" << capacity
                       << ") must all be positive";
  if (!element.isF32() && !element.isF16() && !element.isBF16())
    return emitError() << "KV cache elements must be f32, f16 or bf16, got "
                       << element;
  if (!layerKVHeads.empty()) {
    if (static_cast<int64_t>(layerKVHeads.size()) != layers)
      return emitError() << "KV cache layer_kv_heads has " << layerKVHeads.size()
                         << " entries for " << layers << " layers";
    int64_t largest = 0;
    for (auto [l, v] : llvm::enumerate(layerKVHeads)) {
      if (v <= 0)
        return emitError() << "KV cache layer_kv_heads[" << l << "] must be positive, got " << v;
      largest = std::max(largest, v);
    }
    if (largest != kvHeads)
      return emitError() << "KV cache kv_heads (" << kvHeads
                         << ") must be the largest entry of layer_kv_heads (" << largest << ")";
  }
  return success();
}

int64_t KVCacheType::kvHeadsAt(int64_t layer) const {
  return getLayerKvHeads().empty() ? getKvHeads() : getLayerKvHeads()[layer];
}
uint64_t KVCacheType::layerBytes(int64_t layer) const {
  return 2ull * uint64_t(getCapacity()) * uint64_t(kvHeadsAt(layer)) * uint64_t(getHeadDim()) *
         uint64_t(getElement().getIntOrFloatBitWidth() / 8);
}
uint64_t KVCacheType::layerOffset(int64_t layer) const {
  uint64_t off = 0;
  for (int64_t l = 0; l < layer; ++l)
    off += layerBytes(l);
  return off;
}
uint64_t KVCacheType::totalBytes() const { return layerOffset(getLayers()); }

//===----------------------------------------------------------------------===//
// ModelConfigAttr
//===----------------------------------------------------------------------===//

FailureOr<SmallVector<int64_t>> mlir::milm::parseLayerSizes(AsmParser &parser) {
  SmallVector<int64_t> sizes;
  if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&]() -> ParseResult {
        int64_t v;
        if (parser.parseInteger(v))
          return failure();
        sizes.push_back(v);
        return success();
      }))
    return failure();
  return sizes;
}

void mlir::milm::printLayerSizes(AsmPrinter &printer, ArrayRef<int64_t> sizes) {
  printer << '[';
  llvm::interleaveComma(sizes, printer);
  printer << ']';
}

int64_t ModelConfigAttr::headsAt(int64_t layer) const {
  return getLayerHeads().empty() ? getNumHeads() : getLayerHeads()[layer];
}
int64_t ModelConfigAttr::kvHeadsAt(int64_t layer) const {
  return getLayerKvHeads().empty() ? getNumKvHeads() : getLayerKvHeads()[layer];
}
int64_t ModelConfigAttr::ffnAt(int64_t layer) const {
  return getLayerFfn().empty() ? getFfnSize() : getLayerFfn()[layer];
}
bool ModelConfigAttr::hasLayerShapes() const {
  return !getLayerHeads().empty() || !getLayerKvHeads().empty() || !getLayerFfn().empty();
}

ModelConfigAttr ModelConfigAttr::withLayerShapes(ArrayRef<int64_t> heads,
                                                 ArrayRef<int64_t> kvHeads,
                                                 ArrayRef<int64_t> ffn) const {
  auto largest = [](ArrayRef<int64_t> v, int64_t otherwise) {
    return v.empty() ? otherwise : *std::max_element(v.begin(), v.end());
  };
  // An array whose entries are all equal is the scalar.
  auto uniform = [](ArrayRef<int64_t> v) {
    return llvm::all_equal(v) ? ArrayRef<int64_t>() : v;
  };
  const int64_t h = largest(heads, getNumHeads()), kv = largest(kvHeads, getNumKvHeads()),
                f = largest(ffn, getFfnSize());
  heads = uniform(heads), kvHeads = uniform(kvHeads), ffn = uniform(ffn);
  return ModelConfigAttr::get(
      getContext(), getArch(), getVocabSize(), getContextLength(), getHiddenSize(),
      getNumLayers(), h, kv, getHeadDim(), f, getNumExperts(), getExpertsUsed(),
      getBosToken(), getEosToken(), getTiedEmbeddings(), getTokenizer(),
      getTokenizerSource(), getName(), heads, kvHeads, ffn);
}

ModelConfigAttr ModelConfigAttr::withTiedEmbeddings(bool tied) const {
  return ModelConfigAttr::get(
      getContext(), getArch(), getVocabSize(), getContextLength(), getHiddenSize(),
      getNumLayers(), getNumHeads(), getNumKvHeads(), getHeadDim(), getFfnSize(),
      getNumExperts(), getExpertsUsed(), getBosToken(), getEosToken(), tied,
      getTokenizer(), getTokenizerSource(), getName(), getLayerHeads(),
      getLayerKvHeads(), getLayerFfn());
}

LogicalResult ModelConfigAttr::verify(
    function_ref<InFlightDiagnostic()> emitError, StringRef arch,
    int64_t vocabSize, int64_t contextLength, int64_t hiddenSize,
    int64_t numLayers, int64_t numHeads, int64_t numKVHeads, int64_t headDim,
    int64_t ffnSize, int64_t numExperts, int64_t expertsUsed, int64_t bosToken,
    int64_t eosToken, bool tiedEmbeddings, StringRef tokenizer,
    StringRef tokenizerSource, StringRef name, ArrayRef<int64_t> layerHeads,
    ArrayRef<int64_t> layerKVHeads, ArrayRef<int64_t> layerFfn) {
  if (arch.empty())
    return emitError() << "model config needs an architecture name";
  struct {
    const char *name;
    int64_t value;
  } positive[] = {{"vocab_size", vocabSize},   {"context_length", contextLength},
                  {"hidden_size", hiddenSize}, {"num_layers", numLayers},
                  {"num_heads", numHeads},     {"num_kv_heads", numKVHeads},
                  {"head_dim", headDim},       {"ffn_size", ffnSize}};
  for (const auto &p : positive)
    if (p.value <= 0)
      return emitError() << "model config " << p.name
                         << " must be positive, got " << p.value;
  if (numHeads % numKVHeads != 0)
    return emitError() << "model config num_heads (" << numHeads
                       << ") is not a multiple of num_kv_heads (" << numKVHeads
                       << ")";
  struct {
    const char *name, *scalar;
    ArrayRef<int64_t> values;
    int64_t max;
  } arrays[] = {{"layer_heads", "num_heads", layerHeads, numHeads},
                {"layer_kv_heads", "num_kv_heads", layerKVHeads, numKVHeads},
                {"layer_ffn", "ffn_size", layerFfn, ffnSize}};
  for (const auto &a : arrays) {
    if (a.values.empty())
      continue;
    if (static_cast<int64_t>(a.values.size()) != numLayers)
      return emitError() << "model config " << a.name << " has " << a.values.size()
                         << " entries for " << numLayers << " layers";
    int64_t largest = 0;
    for (auto [l, v] : llvm::enumerate(a.values)) {
      if (v <= 0)
        return emitError() << "model config " << a.name << "[" << l
                           << "] must be positive, got " << v;
      largest = std::max(largest, v);
    }
    if (largest != a.max)
      return emitError() << "model config " << a.scalar << " (" << a.max
                         << ") must be the largest entry of " << a.name << " ("
                         << largest << ")";
  }
  for (int64_t l = 0; l < numLayers; ++l) {
    const int64_t h = layerHeads.empty() ? numHeads : layerHeads[l];
    const int64_t kv = layerKVHeads.empty() ? numKVHeads : layerKVHeads[l];
    if (h % kv != 0)
      return emitError() << "model config layer " << l << " has " << h
                         << " heads, not a multiple of its " << kv << " kv heads";
  }
  if (numExperts < 0 || expertsUsed < 0)
    return emitError() << "model config expert counts must not be negative";
  if ((numExperts == 0) != (expertsUsed == 0))
    return emitError() << "model config num_experts (" << numExperts
                       << ") and experts_used (" << expertsUsed
                       << ") must both be zero (dense) or both positive";
  if (expertsUsed > numExperts)
    return emitError() << "model config experts_used (" << expertsUsed
                       << ") exceeds num_experts (" << numExperts << ")";
  for (int64_t tok : {bosToken, eosToken})
    if (tok < -1 || tok >= vocabSize)
      return emitError() << "model config special token id " << tok
                         << " is outside the vocabulary of " << vocabSize;
  return success();
}
