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
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cmath>

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

/// A 4-bit integer scheme the kernels do not read yet: "w4-channel" (one
/// scale per output row, symmetric: the standard mobile-NPU scheme) or
/// "w4-gG" (one scale per G values of a row, G in 32, 64, 128), with "-asym"
/// a zero point too. Simulated: each value is replaced by its dequantized
/// 4-bit value (scale rounded to f16, as a real format stores it) and the
/// weight is stored as f32, so the model computes exactly what such a
/// format would give, but reads 32 bits a weight.
struct Simulated {
  int64_t group = 0; ///< 0: the whole row
  bool asym = false;
  /// Bits a weight would take: 4, plus an f16 scale (and an f16 minimum when
  /// asymmetric) per group.
  double bits(int64_t K) const {
    double g = static_cast<double>(group ? group : K);
    return 4.0 + (asym ? 32.0 : 16.0) / g;
  }
};

std::optional<Simulated> parseSimulated(llvm::StringRef name) {
  if (!name.consume_front("w4-"))
    return std::nullopt;
  Simulated s;
  s.asym = name.consume_back("-asym");
  if (name == "channel")
    return s;
  if (name.consume_front("g") && !name.getAsInteger(10, s.group) &&
      (s.group == 32 || s.group == 64 || s.group == 128))
    return s;
  return std::nullopt;
}

float toF16AndBack(float x) {
  uint16_t h;
  float r;
  quantizeRow(StorageFormat::F16, &x, &h, 1);
  dequantizeRow(StorageFormat::F16, &h, &r, 1);
  return r;
}

/// x <- its 4-bit round-to-nearest value under `s`, per group of the row.
void simulateRow(const Simulated &s, float *x, int64_t K) {
  const int64_t G = s.group ? s.group : K;
  for (int64_t g0 = 0; g0 < K; g0 += G) {
    const int64_t n = std::min(G, K - g0);
    float lo = x[g0], hi = x[g0];
    for (int64_t i = 0; i < n; ++i)
      lo = std::min(lo, x[g0 + i]), hi = std::max(hi, x[g0 + i]);
    if (!s.asym) {
      // q in [-8, 7], scale = absmax / 8 with the sign of the extreme value
      // (ggml's q4_0 convention: the extreme maps to -8 exactly).
      const float extreme = hi >= -lo ? hi : lo;
      const float d = toF16AndBack(extreme / -8.0f);
      const float id = d != 0 ? 1.0f / d : 0.0f;
      for (int64_t i = 0; i < n; ++i) {
        float q = std::nearbyint(x[g0 + i] * id);
        q = std::min(7.0f, std::max(-8.0f, q));
        x[g0 + i] = q * d;
      }
    } else {
      // q in [0, 15]: x = q * d + min.
      const float mn = toF16AndBack(lo);
      const float d = toF16AndBack((hi - mn) / 15.0f);
      const float id = d != 0 ? 1.0f / d : 0.0f;
      for (int64_t i = 0; i < n; ++i) {
        float q = std::nearbyint((x[g0 + i] - mn) * id);
        q = std::min(15.0f, std::max(0.0f, q));
        x[g0 + i] = q * d + mn;
      }
    }
  }
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
    const std::optional<Simulated> simulated = parseSimulated(format);
    std::optional<WeightFormat> base =
        mixture     ? std::optional(WeightFormat::q4_k)
        : simulated ? std::optional(WeightFormat::f32)
                    : mm::symbolizeWeightFormat(format);
    if (!base) {
      std::string names;
      size_t n;
      const StorageFormatInfo *all = allStorageFormats(n);
      for (size_t i = 0; i < n; ++i)
        names += std::string(all[i].name) + ", ";
      return fail(module.getLoc(), "format '" + format + "' is not a storage format (" + names +
                                       "the mixture q4_k_m, or a simulated 4-bit scheme: "
                                       "w4-channel, w4-g32, w4-g64, w4-g128, each also -asym)");
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
    // What the weights cost after the pass, in bits (simulated weights at
    // their scheme's bits, not the f32 they are stored in).
    double bits = 0, weights = 0;
    for (auto &[name, ops] : byName) {
      mm::WeightType type = ops.front().getType();
      weights += static_cast<double>(type.getNumElements());
      auto count = [&](WeightFormat f) {
        bits += bitsPerValue(f) * static_cast<double>(type.getNumElements());
      };
      for (mm::WeightOp op : ops)
        if (op.getType() != type)
          return fail(op.getLoc(), "weight '" + name + "' is referenced with two types");
      if (type.getRank() < 2 || name.ends_with("ffn_gate_inp.weight")) {
        count(type.getFormat());
        continue;
      }
      const int64_t K = type.getShape().back();

      WeightFormat want = *base;
      if (!pure) {
        const bool isOutput = name == "output.weight" || (!hasOutput && name == "token_embd.weight");
        const double wantBits = simulated ? simulated->bits(K) : bitsPerValue(want);
        if (isOutput && wantBits < bitsPerValue(WeightFormat::q8_0))
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
      // The simulated scheme applies where the base format was chosen.
      const bool simulate = simulated && chosen == WeightFormat::f32 && want == *base;
      if (simulate)
        bits += simulated->bits(K) * static_cast<double>(type.getNumElements());
      else
        count(chosen);
      if (chosen == type.getFormat() && !simulate)
        continue;

      llvm::Expected<std::vector<float>> values = readWeightValues(ops.front());
      if (!values)
        return fail(ops.front().getLoc(), llvm::toString(values.takeError()));
      const int64_t rows = type.getNumElements() / K;
      const uint64_t outRow = *rowBytes(storage(chosen), uint64_t(K));
      std::vector<uint8_t> out(outRow * uint64_t(rows));
      for (int64_t r = 0; r < rows; ++r) {
        float *row = values->data() + r * K;
        if (simulate)
          simulateRow(*simulated, row, K);
        quantizeRow(storage(chosen), row, out.data() + uint64_t(r) * outRow, K);
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
    mlir::emitRemark(module.getLoc())
        << getArgument() << ": " << format << (simulated ? " (simulated, stored as f32)" : "")
        << ": " << static_cast<int64_t>(weights) << " weights at "
        << llvm::formatv("{0:F3}", weights > 0 ? bits / weights : 0.0).str()
        << " bits per weight";
    if (!fellBack.empty())
      mlir::emitWarning(module.getLoc())
          << getArgument() << ": rows that do not fit " << format << "'s blocks: "
          << llvm::join(fellBack, ", ");
  }
};

} // namespace

} // namespace milm
