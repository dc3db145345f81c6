//===- ApiInternal.h - The C API's handles, shared by its files -*- C++ -*-===//
//
// Api.cpp implements the model, context, sampler and plain generation;
// Speculative.cpp the speculative loop over the same handles.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_RUNTIME_SRC_APIINTERNAL_H
#define MILM_RUNTIME_SRC_APIINTERNAL_H

#include "milm/model_abi.h"
#include "milm/milm.h"

#include "milm/artifact.h"
#include "milm/profile.h"
#include "milm/sampler.h"
#include "milm/thread_pool.h"

#include <memory>
#include <string>
#include <vector>

/// The generated code's entry point (model_abi.h): milm_forward, or
/// milm_draft_forward for a draft model.
using milm_forward_fn = int32_t (*)(milm_exec *, const uint8_t *, uint16_t *, uint8_t *,
                                    const int32_t *, const int32_t *, int64_t, int32_t, float *);

struct milm_model {
  milm::rt::Artifact artifact;
  const milm_model_desc *desc = nullptr;
  milm_forward_fn forward = nullptr;
};

struct milm_context {
  milm_model *model = nullptr;
  milm::rt::ThreadPool pool;
  uint16_t *kv = nullptr;
  size_t kvBytes = 0;
  uint8_t *arena = nullptr;
  size_t arenaBytes = 0;
  std::vector<float> logits;
  int64_t logitsRows = 0; // rows of the last eval kept in `logits` (0: none)
  int32_t evalTokens = 0; // tokens of the last eval
  int32_t nCtx = 0;
  int32_t nPast = 0;
  std::vector<int32_t> tokens; // the nPast tokens in the KV cache
  // The last milm_eval_tree (until the next evaluation or truncation): its
  // tokens and parents, and S (deepest depth + 1; token i's keys and values
  // are at slot nPast + treeStack + i).
  std::vector<int32_t> treeTokens, treeParents;
  int32_t treeStack = 0;
  std::vector<uint8_t> treeMask;
  std::vector<int32_t> positions;
  std::unique_ptr<milm::rt::OpProfile> profile; // with milm_context_params.profile
  /// While a speculative run uses this context as its draft: the model
  /// context's threads, so that two pools never spin against each other.
  milm_exec *borrowedExec = nullptr;
};

struct milm_sampler {
  explicit milm_sampler(const milm::rt::SamplerParams &p) : sampler(p) {}
  milm::rt::Sampler sampler;
};

namespace milm {
namespace rt {

/// Sets the calling thread's error message (milm_last_error); returns -1.
int32_t setApiError(const std::string &msg);
__attribute__((format(printf, 1, 2))) int32_t setApiErrorf(const char *format, ...);
/// Monotonic seconds.
double monotonicSeconds();
/// The start of every generation: checks `prompt` against the context (an
/// empty one continues from the last logits), evaluates it, records it in
/// the sampler's history and st.prompt_tokens/prompt_seconds. 0, or -1.
int32_t evalPrompt(milm_context *ctx, Sampler &sampler, const int32_t *prompt, int32_t n_prompt,
                   milm_generate_stats &st);
/// A prompt text's tokens as the generate functions take it: bos first when
/// the model adds one and the context is empty. 0, or -1 (no tokenizer).
int32_t promptTokens(const milm_context *ctx, const char *prompt, std::vector<int32_t> &ids);

} // namespace rt
} // namespace milm

// A NULL handle or buffer is an error: the function returns its error value
// (-1, NULL or 0) with a one-line message naming the function and argument.
#define MILM_REQUIRE(cond, what, ret)                                                      \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      milm::rt::setApiErrorf("%s: %s", __func__, what);                                    \
      return ret;                                                                          \
    }                                                                                      \
  } while (0)
#define MILM_NONNULL(arg, ret) MILM_REQUIRE(arg, #arg " is NULL", ret)

#endif
