//===- Quantize.cpp - milm-quantize: round-to-nearest weight quantization -===//
//
// Passes.td has the contract (which weights, which types, the fallbacks).
// Each weight is decoded to f32 from its stored format and encoded with the
// reference quantizers of common/milm/Quantize.h, row by row; the result goes
// to the weight store and every milm.weight op of that name points at it.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"
#include "passes/Rounding.h"
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

struct QuantizePass : impl::QuantizeBase<QuantizePass> {
  using Base::Base;

  void runOnOperation() override {
    mlir::ModuleOp module = getOperation();
    auto fail = [&](mlir::Location loc, const llvm::Twine &msg) {
      mlir::emitError(loc) << getArgument() << ": " << msg;
      signalPassFailure();
    };
    const bool mixture = format == "q4_k_m";
    const std::optional<IntScheme> simulated = parseIntScheme(format);
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
                                       "the mixture q4_k_m, or a 4-bit scheme: "
                                       "w4-channel, w4-g32, w4-g64, w4-g128, each also -asym)");
    }
    if (weightStore.empty())
      return fail(module.getLoc(), "no weight store given (weight-store=PATH)");
    std::optional<WeightFormat> embeddingFormat;
    if (!embedding.empty()) {
      embeddingFormat = mm::symbolizeWeightFormat(embedding);
      if (!embeddingFormat)
        return fail(module.getLoc(), "embedding format '" + embedding + "' is not a storage format");
    }
    if ((gptq || clip || !report.empty() || !calibration.empty()) && !simulated)
      return fail(module.getLoc(), "calibration, gptq, clip and report apply to the 4-bit integer "
                                   "schemes (w4-channel, w4-gG) for now, not to '" +
                                       format + "'");
    if (gptq && calibration.empty())
      return fail(module.getLoc(), "gptq needs calibration=STATS (milmc calibrate --matrices)");
    std::optional<CalibrationStats> stats;
    if (!calibration.empty()) {
      llvm::Expected<CalibrationStats> read = CalibrationStats::read(calibration);
      if (!read)
        return fail(module.getLoc(), llvm::toString(read.takeError()));
      stats = std::move(*read);
    }
    RoundingOptions rounding;
    if (simulated)
      rounding.scheme = *simulated;
    rounding.gptq = gptq;
    rounding.clip = clip;
    rounding.threads = threads;
    std::vector<RoundingReportRow> reportRows;

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
    // Rounded matrices stored in their scheme's own format, and those whose
    // rows it cannot hold (values stored as f32).
    int64_t stored = 0, simulatedF32 = 0;
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
      // Rounded already by milm-split-outliers: left as it is.
      if (auto b = ops.front()->getAttrOfType<mlir::FloatAttr>(kRoundedBitsAttr)) {
        bits += b.getValueAsDouble() * static_cast<double>(type.getNumElements());
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
      // The embedding table, when it is only looked up (an output of its own).
      if (embeddingFormat && hasOutput && name == "token_embd.weight")
        want = *embeddingFormat;
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
      if (!simulate)
        count(chosen);
      if (chosen == type.getFormat() && !simulate)
        continue;

      llvm::Expected<std::vector<float>> values = readWeightValues(ops.front());
      if (!values)
        return fail(ops.front().getLoc(), llvm::toString(values.takeError()));
      if (simulate) {
        // The embedding table is looked up, not multiplied: no statistics.
        const bool product = !name.ends_with("token_embd.weight");
        RoundingOptions o = rounding;
        if (!product)
          o.gptq = false;
        llvm::Expected<double> b = roundWeight(ops.front(), *values, o,
                                               product && stats ? &*stats : nullptr, 0.0, reportRows);
        if (!b)
          return fail(ops.front().getLoc(), llvm::toString(b.takeError()));
        // Stored in the scheme's own format where there is one (else as f32).
        if (std::optional<WeightFormat> real = storageFormatFor(*simulated, K)) {
          chosen = *real;
          ++stored;
          count(chosen);
        } else {
          ++simulatedF32;
          bits += *b * static_cast<double>(type.getNumElements());
        }
      }
      const int64_t rows = type.getNumElements() / K;
      std::vector<uint8_t> out;
      if (simulate && chosen != WeightFormat::f32) {
        llvm::Expected<std::vector<uint8_t>> enc =
            encodeRounded(name, *simulated, chosen, values->data(), rows, K);
        if (!enc)
          return fail(ops.front().getLoc(), llvm::toString(enc.takeError()));
        out = std::move(*enc);
      } else {
        const uint64_t outRow = *rowBytes(storage(chosen), uint64_t(K));
        out.resize(outRow * uint64_t(rows));
        for (int64_t r = 0; r < rows; ++r)
          quantizeRow(storage(chosen), values->data() + r * K, out.data() + uint64_t(r) * outRow,
                      K);
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
        << getArgument() << ": " << format
        << (!simulated || (stored == 0 && simulatedF32 == 0) ? std::string()
            : simulatedF32 == 0 ? " (" + std::to_string(stored) + " matrices in its storage format)"
            : stored == 0       ? std::string(" (simulated, stored as f32)")
                                : " (" + std::to_string(stored) + " matrices in its storage format, " +
                                     std::to_string(simulatedF32) + " simulated as f32)")
        << ": " << static_cast<int64_t>(weights) << " weights at "
        << llvm::formatv("{0:F3}", weights > 0 ? bits / weights : 0.0).str()
        << " bits per weight";
    if (!report.empty())
      if (llvm::Error e = writeRoundingReport(report, getArgument().str() + " " + format, reportRows))
        return fail(module.getLoc(), llvm::toString(std::move(e)));
    if (!fellBack.empty())
      mlir::emitWarning(module.getLoc())
          << getArgument() << ": rows that do not fit " << format << "'s blocks: "
          << llvm::join(fellBack, ", ");
  }
};

} // namespace

} // namespace milm
