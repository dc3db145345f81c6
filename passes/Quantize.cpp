//===- Quantize.cpp - milm-quantize: round-to-nearest weight quantization -===//
//
// Passes.td has the contract (which weights, which types, the fallbacks).
// Each weight is decoded to f32 from its stored format and encoded with the
// reference quantizers of common/milm/Quantize.h, row by row; the result goes
// to the weight store and every milm.weight op of that name points at it.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"
#include "passes/WeightStore.h"

#include "common/milm/Quantize.h"
#include "common/milm/StorageFormat.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/StringExtras.h"

#include <optional>
#include <vector>

namespace milm {

#define GEN_PASS_DEF_QUANTIZE
#include "passes/Passes.h.inc"

namespace {

namespace mm = mlir::milm;
using mm::WeightFormat;

StorageFormat storage(WeightFormat f) { return static_cast<StorageFormat>(f); }

/// llama-quantize's choice of layers that get more bits in the _M mixtures.
bool useMoreBits(int64_t layer, int64_t layers) {
  return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
}

/// The layer index of "blk.N....", else nullopt.
std::optional<int64_t> layerOf(llvm::StringRef name) {
  if (!name.consume_front("blk."))
    return std::nullopt;
  int64_t n;
  llvm::StringRef digits = name.take_until([](char c) { return c == '.'; });
  if (digits.getAsInteger(10, n))
    return std::nullopt;
  return n;
}

/// Where llama-quantize goes when rows do not fit a format's blocks.
std::optional<WeightFormat> fallback(WeightFormat f) {
  switch (f) {
  case WeightFormat::q4_k:
    return WeightFormat::q5_0;
  case WeightFormat::q5_k:
    return WeightFormat::q5_1;
  case WeightFormat::q6_k:
    return WeightFormat::q8_0;
  case WeightFormat::f32:
  case WeightFormat::f16:
  case WeightFormat::bf16:
    return std::nullopt;
  default:
    return WeightFormat::f16;
  }
}

/// Bits a value spends in format f, for "below q8_0" comparisons.
double bitsPerValue(WeightFormat f) {
  const StorageFormatInfo &i = info(storage(f));
  return 8.0 * i.blockBytes / i.blockElems;
}

struct QuantizePass : impl::QuantizeBase<QuantizePass> {
  using Base::Base;

  void runOnOperation() override {
    mlir::ModuleOp module = getOperation();
    auto fail = [&](mlir::Location loc, const llvm::Twine &msg) {
      mlir::emitError(loc) << getArgument() << ": " << msg;
      signalPassFailure();
    };
    const bool mixture = format == "q4_k_m";
    std::optional<WeightFormat> base =
        mixture ? std::optional(WeightFormat::q4_k) : mm::symbolizeWeightFormat(format);
    if (!base) {
      std::string names;
      size_t n;
      const StorageFormatInfo *all = allStorageFormats(n);
      for (size_t i = 0; i < n; ++i)
        names += std::string(all[i].name) + ", ";
      return fail(module.getLoc(), "format '" + format + "' is not a storage format (" + names +
                                       "or the mixture q4_k_m)");
    }
    if (weightStore.empty())
      return fail(module.getLoc(), "no weight store given (weight-store=PATH)");

    // Every reference of a name moves together (the lowering reads a weight once per name).
    llvm::MapVector<llvm::StringRef, llvm::SmallVector<mm::WeightOp>> byName;
    module.walk([&](mm::WeightOp op) { byName[op.getName()].push_back(op); });
    int64_t layers = 0;
    for (auto &[name, ops] : byName)
      if (std::optional<int64_t> l = layerOf(name))
        layers = std::max(layers, *l + 1);
    const bool hasOutput = byName.count("output.weight") != 0;

    std::unique_ptr<WeightStore> store;
    std::vector<std::string> fellBack;
    for (auto &[name, ops] : byName) {
      mm::WeightType type = ops.front().getType();
      for (mm::WeightOp op : ops)
        if (op.getType() != type)
          return fail(op.getLoc(), "weight '" + name + "' is referenced with two types");
      if (type.getRank() < 2 || name.ends_with("ffn_gate_inp.weight"))
        continue;
      const int64_t K = type.getShape().back();

      WeightFormat want = *base;
      if (!pure) {
        const bool isOutput = name == "output.weight" || (!hasOutput && name == "token_embd.weight");
        if (isOutput && bitsPerValue(want) < bitsPerValue(WeightFormat::q8_0))
          want = K % 256 == 0 ? WeightFormat::q6_k : WeightFormat::q8_0;
        if (mixture && !isOutput &&
            (name.ends_with("attn_v.weight") || name.contains("ffn_down"))) {
          std::optional<int64_t> layer = layerOf(name);
          if (layer && useMoreBits(*layer, layers))
            want = WeightFormat::q6_k;
        }
      }
      WeightFormat chosen = want;
      while (K % mm::getFormatBlockSize(chosen) != 0) {
        std::optional<WeightFormat> next = fallback(chosen);
        if (!next)
          return fail(ops.front().getLoc(), "weight '" + name + "': rows of " + llvm::Twine(K) +
                                                " values fit no format");
        chosen = *next;
      }
      if (chosen != want)
        fellBack.push_back(name.str() + " (" + mm::stringifyWeightFormat(chosen).str() +
                           " instead of " + mm::stringifyWeightFormat(want).str() + ")");
      if (chosen == type.getFormat())
        continue;

      llvm::Expected<std::vector<uint8_t>> bytes = readWeightBytes(ops.front());
      if (!bytes)
        return fail(ops.front().getLoc(), llvm::toString(bytes.takeError()));
      const int64_t rows = type.getNumElements() / K;
      const uint64_t inRow = *rowBytes(storage(type.getFormat()), uint64_t(K));
      const uint64_t outRow = *rowBytes(storage(chosen), uint64_t(K));
      std::vector<uint8_t> out(outRow * uint64_t(rows));
      std::vector<float> values(static_cast<size_t>(K));
      for (int64_t r = 0; r < rows; ++r) {
        dequantizeRow(storage(type.getFormat()), bytes->data() + uint64_t(r) * inRow,
                      values.data(), K);
        quantizeRow(storage(chosen), values.data(), out.data() + uint64_t(r) * outRow, K);
      }
      if (!store) {
        llvm::Expected<std::unique_ptr<WeightStore>> opened = WeightStore::open(weightStore);
        if (!opened)
          return fail(ops.front().getLoc(), llvm::toString(opened.takeError()));
        store = std::move(*opened);
      }
      mm::WeightType newType = mm::WeightType::get(type.getContext(), type.getShape(), chosen);
      llvm::Expected<WeightReference> ref = store->append(newType, out);
      if (!ref)
        return fail(ops.front().getLoc(), llvm::toString(ref.takeError()));
      for (mm::WeightOp op : ops)
        setWeightReference(op, *ref);
    }
    if (!fellBack.empty())
      mlir::emitWarning(module.getLoc())
          << getArgument() << ": rows that do not fit " << format << "'s blocks: "
          << llvm::join(fellBack, ", ");
  }
};

} // namespace

} // namespace milm
