//===- Interpreter.h - Run a milm.model's forward on the host, op by op -*- C++ -*-===//
//
// A reference executor of the milm dialect: it runs the `forward` function of
// a module's milm.model on one window of tokens (positions 0..T-1, an empty
// KV cache), op by op, with activations in double precision and the weights
// decoded to f32 from whatever storage format they have (readWeightValues).
// It is what calibration runs (milm-calibrate records what every linear
// reads) and the float64 reference that tests compare compiled models with.
// It is not fast and is never part of a compiled model: the runtime never
// interprets a graph.
//
// What it supports is what the CPU lowering supports, except rope scaling
// `ntk` and `yarn` and attention with a tree mask, which are errors naming the
// op.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_PASSES_INTERPRETER_H
#define MILM_PASSES_INTERPRETER_H

#include "dialects/milm/MilmDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace milm {

/// What one matrix product reads: `rows` rows of `cols` values (row-major),
/// the input of every weight in `weights` (q, k and v share one input; so do
/// gate and up), or of expert `expert` of those weights (a milm.moe's
/// gate/up/down experts; -1 for a dense weight). For a MoE block, the router's
/// input is reported as a dense input of the router weight.
struct ProductInput {
  llvm::ArrayRef<std::string> weights;
  int64_t expert = -1;
  const double *values = nullptr;
  int64_t rows = 0, cols = 0;
};

class ModelInterpreter {
public:
  /// Prepares to run the module's milm.model (its `forward` function). Every
  /// op is checked here: an op the interpreter cannot run is an error that
  /// names it. Weights are read when first used and kept.
  static llvm::Expected<std::unique_ptr<ModelInterpreter>> create(mlir::ModuleOp module);
  ~ModelInterpreter();

  /// Runs `tokens` (at positions 0..T-1) and returns the logits, T rows of
  /// the vocabulary size. `observe` (may be empty) sees every product's input.
  /// `threads` splits the products' rows (0: one per hardware thread).
  llvm::Expected<std::vector<double>>
  forward(llvm::ArrayRef<int32_t> tokens,
          const std::function<void(const ProductInput &)> &observe = {}, unsigned threads = 0);

  int64_t vocabSize() const { return vocab_; }
  int64_t contextLength() const { return context_; }
  int64_t bosToken() const { return bos_; }

private:
  struct Impl;
  explicit ModelInterpreter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  int64_t vocab_ = 0, context_ = 0, bos_ = -1;
};

} // namespace milm

#endif
