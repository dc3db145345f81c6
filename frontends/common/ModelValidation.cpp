//===- ModelValidation.cpp - Checks a ModelDescription --------------------===//

#include "frontends/common/ModelValidation.h"
#include "frontends/common/OneLineError.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace milm {

namespace {

llvm::Error fail(const llvm::Twine &msg) { return oneLineError(msg); }

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i)
    os << (i ? ", " : "") << shape[i];
  os << ']';
  return s;
}

/// "tensor 'blk.0.attn_q.weight' (source 'model.layers.0...')"
std::string tensorLabel(const TensorRef &t) {
  std::string s = "tensor '" + t.name + "'";
  if (!t.sourceName.empty() && t.sourceName != t.name)
    s += " (source '" + t.sourceName + "')";
  return s;
}

std::string where(const TensorRef &t) { return t.file + ": " + tensorLabel(t); }

std::string formatName(StorageFormat f) {
  const StorageFormatInfo *fi = lookupStorageFormat(static_cast<uint32_t>(f));
  return fi ? std::string(fi->name) : "unknown (" + std::to_string(static_cast<uint32_t>(f)) + ")";
}

/// Shortest readable form of a double: 1e-05, 10000, -2.
std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

bool mulOverflows(int64_t a, int64_t b, int64_t &out) { return __builtin_mul_overflow(a, b, &out); }

/// Bytes of `shape` in `format`, or an error naming the problem.
llvm::Error checkBytes(const TensorRef &t, const std::vector<int64_t> &shape, StorageFormat format,
                       uint64_t nbytes) {
  const StorageFormatInfo *fi = lookupStorageFormat(static_cast<uint32_t>(format));
  if (!fi)
    return fail(where(t) + ": unknown storage format " +
                llvm::Twine(static_cast<uint32_t>(format)) + " at byte " + llvm::Twine(t.offset));
  if (shape.empty())
    return fail(where(t) + ": shape [] at byte " + llvm::Twine(t.offset) +
                " is a scalar; expected at least one dimension");
  for (int64_t d : shape)
    if (d <= 0)
      return fail(where(t) + ": shape " + shapeString(shape) + " at byte " + llvm::Twine(t.offset) +
                  " has a non-positive dimension");
  uint64_t inner = static_cast<uint64_t>(shape.back());
  if (inner % fi->blockElems != 0)
    return fail(where(t) + ": innermost dimension " + llvm::Twine(inner) +
                " is not a multiple of the " + std::string(fi->name) + " block size " +
                llvm::Twine(fi->blockElems) + " (shape " + shapeString(shape) + " at byte " +
                llvm::Twine(t.offset) + ")");
  std::optional<uint64_t> row = rowBytes(format, inner);
  uint64_t total = row ? *row : 0;
  bool overflow = !row;
  for (size_t i = 0; i + 1 < shape.size() && !overflow; ++i)
    overflow = __builtin_mul_overflow(total, static_cast<uint64_t>(shape[i]), &total);
  if (overflow)
    return fail(where(t) + ": shape " + shapeString(shape) + " of " + std::string(fi->name) +
                " at byte " + llvm::Twine(t.offset) + " needs more than 2^64 bytes");
  if (total != nbytes)
    return fail(where(t) + ": holds " + llvm::Twine(nbytes) + " bytes at byte " +
                llvm::Twine(t.offset) + ", but shape " + shapeString(shape) + " of " +
                std::string(fi->name) + " needs " + llvm::Twine(total));
  return llvm::Error::success();
}

/// Checks one tensor present in the model against its implied shape (or, for a
/// surplus tensor, not at all: that is reported separately).
llvm::Error checkTensor(const TensorRef &t, const ImpliedTensor &implied) {
  if (t.shape != implied.shape)
    return fail(where(t) + ": expected shape " + shapeString(implied.shape) + " (" + implied.dims +
                "), got " + shapeString(t.shape) + " at byte " + llvm::Twine(t.offset));
  if (t.parts.empty())
    return checkBytes(t, t.shape, t.format, t.nbytes);

  // A stacked tensor: consistent with its parts, each of which is checked as a
  // tensor of shape shape[1:].
  if (static_cast<uint64_t>(t.shape[0]) != t.parts.size())
    return fail(where(t) + ": stacked from " + llvm::Twine(t.parts.size()) +
                " parts, but its shape " + shapeString(t.shape) + " needs " +
                llvm::Twine(t.shape[0]));
  std::vector<int64_t> partShape(t.shape.begin() + 1, t.shape.end());
  uint64_t sum = 0;
  for (const TensorRef &p : t.parts) {
    if (!p.parts.empty())
      return fail(where(p) + ": a part of '" + t.name + "' has parts of its own at byte " +
                  llvm::Twine(p.offset));
    if (p.format != t.format)
      return fail(where(p) + ": format " + formatName(p.format) + " at byte " +
                  llvm::Twine(p.offset) + " differs from the format " + formatName(t.format) +
                  " of '" + t.name + "'");
    if (p.shape != partShape)
      return fail(where(p) + ": expected shape " + shapeString(partShape) + " (a slice of '" +
                  t.name + "' " + shapeString(t.shape) + "), got " + shapeString(p.shape) +
                  " at byte " + llvm::Twine(p.offset));
    if (llvm::Error e = checkBytes(p, p.shape, p.format, p.nbytes))
      return e;
    sum += p.nbytes; // cannot overflow: each part fits its shape, and the
                     // stacked shape is checked below
  }
  if (llvm::Error e = checkBytes(t, t.shape, t.format, sum))
    return e;
  if (sum != t.nbytes)
    return fail(where(t) + ": holds " + llvm::Twine(t.nbytes) + " bytes at byte " +
                llvm::Twine(t.offset) + ", but its parts hold " + llvm::Twine(sum));
  return llvm::Error::success();
}

} // namespace

std::string formatShape(const std::vector<int64_t> &shape) { return shapeString(shape); }

llvm::Error validateConfig(const ModelConfig &c, llvm::StringRef file) {
  auto bad = [&](const llvm::Twine &msg) { return fail(file + ": config: " + msg); };
  if (c.arch.empty())
    return bad("arch is empty");
  struct Positive {
    const char *name;
    int64_t value;
  } positives[] = {
      {"vocabSize", c.vocabSize},   {"contextLength", c.contextLength},
      {"hiddenSize", c.hiddenSize}, {"numLayers", c.numLayers},
      {"numHeads", c.numHeads},     {"numKVHeads", c.numKVHeads},
      {"headDim", c.headDim},       {"ffnSize", c.ffnSize},
      {"rotaryDim", c.rotaryDim},
  };
  for (const Positive &p : positives)
    if (p.value <= 0)
      return bad(llvm::Twine(p.name) + " must be positive, got " + llvm::Twine(p.value));
  if (c.numHeads % c.numKVHeads != 0)
    return bad("numHeads " + llvm::Twine(c.numHeads) + " is not a multiple of numKVHeads " +
               llvm::Twine(c.numKVHeads));
  struct Layered {
    const char *name, *scalar;
    const std::vector<int64_t> &values;
    int64_t max;
  } layered[] = {{"layerHeads", "numHeads", c.layerHeads, c.numHeads},
                 {"layerKVHeads", "numKVHeads", c.layerKVHeads, c.numKVHeads},
                 {"layerFfn", "ffnSize", c.layerFfn, c.ffnSize}};
  for (const Layered &a : layered) {
    if (a.values.empty())
      continue;
    if (static_cast<int64_t>(a.values.size()) != c.numLayers)
      return bad(llvm::Twine(a.name) + " has " + llvm::Twine(a.values.size()) +
                 " entries for " + llvm::Twine(c.numLayers) + " layers");
    int64_t largest = 0;
    for (size_t l = 0; l < a.values.size(); ++l) {
      if (a.values[l] <= 0)
        return bad(llvm::Twine(a.name) + "[" + llvm::Twine(l) + "] must be positive, got " +
                   llvm::Twine(a.values[l]));
      largest = std::max(largest, a.values[l]);
    }
    if (largest != a.max)
      return bad(llvm::Twine(a.scalar) + " " + llvm::Twine(a.max) +
                 " is not the largest entry of " + a.name + " (" + llvm::Twine(largest) + ")");
  }
  for (int64_t l = 0; l < c.numLayers; ++l)
    if (c.headsAt(l) % c.kvHeadsAt(l) != 0)
      return bad("layer " + llvm::Twine(l) + " has " + llvm::Twine(c.headsAt(l)) +
                 " heads, not a multiple of its " + llvm::Twine(c.kvHeadsAt(l)) + " kv heads");
  if (c.rotaryDim > c.headDim)
    return bad("rotaryDim " + llvm::Twine(c.rotaryDim) + " exceeds headDim " +
               llvm::Twine(c.headDim));
  if (c.rotaryDim % 2 != 0)
    return bad("rotaryDim " + llvm::Twine(c.rotaryDim) + " is odd");
  int64_t product;
  if (mulOverflows(c.numHeads, c.headDim, product))
    return bad("numHeads " + llvm::Twine(c.numHeads) + " * headDim " + llvm::Twine(c.headDim) +
               " overflows");
  if (c.numExperts < 0)
    return bad("numExperts must not be negative, got " + llvm::Twine(c.numExperts));
  if (c.numExperts == 0 && c.numExpertsUsed != 0)
    return bad("numExpertsUsed is " + llvm::Twine(c.numExpertsUsed) +
               " but the model has no experts");
  if (c.numExperts > 0 && (c.numExpertsUsed <= 0 || c.numExpertsUsed > c.numExperts))
    return bad("numExpertsUsed " + llvm::Twine(c.numExpertsUsed) +
               " must be between 1 and numExperts " + llvm::Twine(c.numExperts));
  if (!(c.rmsEps > 0) || !std::isfinite(c.rmsEps))
    return bad("rmsEps must be positive and finite, got " + num(c.rmsEps));
  if (!(c.ropeBase > 0) || !std::isfinite(c.ropeBase))
    return bad("ropeBase must be positive and finite, got " + num(c.ropeBase));
  if (c.ropeScaling != RopeScaling::None &&
      (!(c.ropeScalingFactor > 0) || !std::isfinite(c.ropeScalingFactor)))
    return bad("ropeScalingFactor must be positive and finite, got " + num(c.ropeScalingFactor));
  if (c.ropeOrigContext < 0)
    return bad("ropeOrigContext must not be negative, got " + llvm::Twine(c.ropeOrigContext));
  return llvm::Error::success();
}

void forEachImpliedTensor(const ModelConfig &c,
                          llvm::function_ref<bool(const ImpliedTensor &)> fn) {
  const int64_t H = c.hiddenSize, V = c.vocabSize, E = c.numExperts;
  auto emit = [&](std::string name, std::vector<int64_t> shape, const char *dims) {
    return fn(ImpliedTensor{std::move(name), std::move(shape), dims});
  };
  if (!emit("token_embd.weight", {V, H}, "vocab, hidden"))
    return;
  for (int64_t l = 0; l < c.numLayers; ++l) {
    std::string b = "blk." + std::to_string(l) + ".";
    const int64_t F = c.ffnAt(l);
    const int64_t Q = c.headsAt(l) * c.headDim, KV = c.kvHeadsAt(l) * c.headDim;
    if (!emit(b + "attn_norm.weight", {H}, "hidden") ||
        !emit(b + "attn_q.weight", {Q, H}, "heads*head_dim, hidden") ||
        !emit(b + "attn_k.weight", {KV, H}, "kv_heads*head_dim, hidden") ||
        !emit(b + "attn_v.weight", {KV, H}, "kv_heads*head_dim, hidden"))
      return;
    if (c.qkvBias && (!emit(b + "attn_q.bias", {Q}, "heads*head_dim") ||
                      !emit(b + "attn_k.bias", {KV}, "kv_heads*head_dim") ||
                      !emit(b + "attn_v.bias", {KV}, "kv_heads*head_dim")))
      return;
    if (!emit(b + "attn_output.weight", {H, Q}, "hidden, heads*head_dim") ||
        !emit(b + "ffn_norm.weight", {H}, "hidden"))
      return;
    if (E == 0) {
      if (!emit(b + "ffn_gate.weight", {F, H}, "ff, hidden") ||
          !emit(b + "ffn_up.weight", {F, H}, "ff, hidden") ||
          !emit(b + "ffn_down.weight", {H, F}, "hidden, ff"))
        return;
    } else {
      if (!emit(b + "ffn_gate_inp.weight", {E, H}, "experts, hidden") ||
          !emit(b + "ffn_gate_exps.weight", {E, F, H}, "experts, ff, hidden") ||
          !emit(b + "ffn_up_exps.weight", {E, F, H}, "experts, ff, hidden") ||
          !emit(b + "ffn_down_exps.weight", {E, H, F}, "experts, hidden, ff"))
        return;
    }
  }
  if (!emit("output_norm.weight", {H}, "hidden"))
    return;
  if (!c.tiedEmbeddings)
    emit("output.weight", {V, H}, "vocab, hidden");
}

llvm::Error validateModel(const ModelDescription &m) {
  if (llvm::Error e = validateConfig(m.config, m.sourcePath))
    return e;

  llvm::StringMap<size_t> byName;
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    const TensorRef &t = m.tensors[i];
    auto [it, inserted] = byName.try_emplace(t.name, i);
    if (!inserted) {
      const TensorRef &first = m.tensors[it->second];
      return fail(where(t) + ": duplicate at byte " + llvm::Twine(t.offset) + "; first at byte " +
                  llvm::Twine(first.offset) + " of " + first.file);
    }
  }

  // Each implied name is distinct, so at most tensors.size() of them can be found
  // before one is missing: the walk stops early however many layers are claimed.
  std::vector<bool> used(m.tensors.size(), false);
  std::string problem;
  forEachImpliedTensor(m.config, [&](const ImpliedTensor &implied) {
    auto it = byName.find(implied.name);
    if (it == byName.end()) {
      problem = m.sourcePath + ": tensor '" + implied.name +
                "': missing; the config implies shape " + shapeString(implied.shape) + " (" +
                implied.dims + ")";
      return false;
    }
    used[it->second] = true;
    if (llvm::Error e = checkTensor(m.tensors[it->second], implied)) {
      problem = llvm::toString(std::move(e));
      return false;
    }
    return true;
  });
  if (!problem.empty())
    return fail(problem);

  for (size_t i = 0; i < m.tensors.size(); ++i)
    if (!used[i]) {
      const TensorRef &t = m.tensors[i];
      return fail(where(t) + ": unexpected at byte " + llvm::Twine(t.offset) +
                  "; the config implies no such tensor");
    }
  return llvm::Error::success();
}

} // namespace milm
