//===- sampler.h - Choosing the next token from logits -----------*- C++ -*-===//
//
// The order of the steps follows llama.cpp's default chain:
//
//   1. repetition penalty: every distinct token among the last `repeatLastN`
//      accepted tokens gets its logit divided by `repeatPenalty` when positive,
//      multiplied when negative (1 = off);
//   2. temperature <= 0: greedy, the largest logit (ties: the smallest id);
//      otherwise
//   3. top-k: keep the k largest logits (k <= 0 or k >= vocab: all);
//   4. top-p: keep the smallest set of most likely tokens whose probabilities
//      (softmax of the logits as they are, before temperature) add up to at
//      least p (p >= 1: off);
//   5. min-p: keep tokens whose probability is at least min_p times the most
//      likely one's (min_p <= 0: off);
//   6. temperature: divide the kept logits by it, softmax, and draw one token
//      with the generator (xoshiro256**, seeded through splitmix64).
//
// With the same seed, parameters and logits the draws are identical on every
// platform (the draw uses a 53-bit uniform double and float64 sums).
//
//===----------------------------------------------------------------------===//
#ifndef MILM_RUNTIME_SAMPLER_H
#define MILM_RUNTIME_SAMPLER_H

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace milm {
namespace rt {

struct SamplerParams {
  float temperature = 0.8f;
  int32_t topK = 40;
  float topP = 0.95f;
  float minP = 0.05f;
  float repeatPenalty = 1.0f;
  int32_t repeatLastN = 64;
  uint64_t seed = 0;
};

/// xoshiro256** (Blackman and Vigna), seeded by expanding a 64-bit seed with
/// splitmix64.
class Rng {
public:
  explicit Rng(uint64_t seed = 0) { reseed(seed); }
  void reseed(uint64_t seed);
  uint64_t next();
  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }

private:
  uint64_t s_[4];
};

class Sampler {
public:
  explicit Sampler(const SamplerParams &params = SamplerParams());

  const SamplerParams &params() const { return params_; }
  /// Picks a token from `vocab` logits (not modified).
  int32_t sample(const float *logits, int32_t vocab);
  /// The distribution sample() draws from, over the whole vocabulary: 0 for
  /// the tokens steps 1-5 drop, the softmax at the temperature for the rest;
  /// greedy: 1 for the token sample() returns. False when vocab <= 0.
  /// Speculative sampling compares these for the model and its draft.
  bool probabilities(const float *logits, int32_t vocab, std::vector<double> &probs);
  /// Draws index i with probability w[i] / sum(w) (w >= 0) with this
  /// sampler's generator; -1 when every weight is 0.
  int32_t draw(const std::vector<double> &w);
  /// A uniform number in [0, 1) from this sampler's generator.
  double uniform() { return rng_.uniform(); }
  /// Records a token for the repetition penalty (prompt and generated tokens).
  void accept(int32_t token);
  /// Forgets the history and reseeds.
  void reset();

private:
  /// Steps 1-5 on cand_ (all `vocab` tokens); returns how many of its first
  /// entries are kept (greedy: 1, the best).
  size_t filter(const float *logits, int32_t vocab);
  /// Step 6's weights of the first n candidates into w; returns their sum.
  double weights(size_t n, std::vector<double> &w) const;

  SamplerParams params_;
  Rng rng_;
  std::vector<int32_t> history_;   ///< ring buffer of the last repeatLastN tokens
  size_t historyNext_ = 0;
  std::vector<std::pair<float, int32_t>> cand_;
  std::vector<int32_t> penalized_;
  std::vector<double> weights_;
};

} // namespace rt
} // namespace milm

#endif // MILM_RUNTIME_SAMPLER_H
