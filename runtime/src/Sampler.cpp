//===- Sampler.cpp - Repetition penalty, top-k/p, min-p, temperature ------===//

#include "milm/sampler.h"

#include <algorithm>
#include <cmath>

namespace milm {
namespace rt {

namespace {

uint64_t splitmix64(uint64_t &x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

bool greaterLogit(const std::pair<float, int32_t> &a, const std::pair<float, int32_t> &b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

} // namespace

void Rng::reseed(uint64_t seed) {
  uint64_t x = seed;
  for (uint64_t &s : s_)
    s = splitmix64(x);
}

uint64_t Rng::next() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

Sampler::Sampler(const SamplerParams &params) : params_(params), rng_(params.seed) {}

void Sampler::reset() {
  history_.clear();
  historyNext_ = 0;
  rng_.reseed(params_.seed);
}

void Sampler::accept(int32_t token) {
  if (params_.repeatLastN <= 0)
    return;
  size_t cap = size_t(params_.repeatLastN);
  if (history_.size() < cap) {
    history_.push_back(token);
  } else {
    history_[historyNext_] = token;
    historyNext_ = (historyNext_ + 1) % cap;
  }
}

size_t Sampler::filter(const float *logits, int32_t vocab) {
  cand_.resize(size_t(vocab));
  for (int32_t i = 0; i < vocab; ++i) // NaN would break the orderings below
    cand_[size_t(i)] = {std::isnan(logits[i]) ? -INFINITY : logits[i], i};

  // 1. Repetition penalty, once per distinct token.
  if (params_.repeatPenalty != 1.0f && !history_.empty()) {
    penalized_.assign(history_.begin(), history_.end());
    std::sort(penalized_.begin(), penalized_.end());
    penalized_.erase(std::unique(penalized_.begin(), penalized_.end()), penalized_.end());
    for (int32_t t : penalized_) {
      if (t < 0 || t >= vocab)
        continue;
      float &l = cand_[size_t(t)].first;
      l = l > 0 ? l / params_.repeatPenalty : l * params_.repeatPenalty;
    }
  }

  // 2. Greedy: the best candidate alone, first.
  if (params_.temperature <= 0.0f) {
    size_t best = 0;
    for (size_t i = 1; i < cand_.size(); ++i)
      if (cand_[i].first > cand_[best].first)
        best = i;
    std::swap(cand_[0], cand_[best]);
    return 1;
  }

  // 3. Top-k (sorted from here on when anything needs the order).
  size_t n = cand_.size();
  bool sorted = false;
  if (params_.topK > 0 && size_t(params_.topK) < n) {
    std::partial_sort(cand_.begin(), cand_.begin() + params_.topK, cand_.end(), greaterLogit);
    n = size_t(params_.topK);
    sorted = true;
  }
  if (!sorted && (params_.topP < 1.0f || params_.minP > 0.0f)) {
    std::sort(cand_.begin(), cand_.end(), greaterLogit);
    sorted = true;
  }

  // 4./5. Top-p and min-p on the softmax at temperature 1.
  if (sorted && std::isfinite(cand_[0].first) && (params_.topP < 1.0f || params_.minP > 0.0f)) {
    const double maxLogit = cand_[0].first;
    double sum = 0;
    for (size_t i = 0; i < n; ++i)
      sum += std::exp(double(cand_[i].first) - maxLogit);
    if (params_.topP < 1.0f) {
      double cum = 0;
      size_t keep = n;
      for (size_t i = 0; i < n; ++i) {
        cum += std::exp(double(cand_[i].first) - maxLogit) / sum;
        if (cum >= double(params_.topP)) {
          keep = i + 1;
          break;
        }
      }
      n = keep;
    }
    if (params_.minP > 0.0f) {
      // p_i >= minP * p_max  <=>  logit_i >= max + log(minP)
      const double cut = maxLogit + std::log(double(params_.minP));
      size_t keep = 1;
      while (keep < n && double(cand_[keep].first) >= cut)
        ++keep;
      n = keep;
    }
  }
  return n;
}

// 6. Temperature: the weights exp((logit - max) / T) of the kept candidates,
// or, when the largest is infinite, 1 for the first candidate at that value
// (all -inf, or +inf present: no distribution to draw from). Returns the sum.
double Sampler::weights(size_t n, std::vector<double> &w) const {
  w.resize(n);
  double maxLogit = cand_[0].first;
  for (size_t i = 1; i < n; ++i)
    maxLogit = std::max(maxLogit, double(cand_[i].first));
  if (std::isinf(maxLogit) || params_.temperature <= 0.0f) {
    bool found = false;
    for (size_t i = 0; i < n; ++i) {
      w[i] = !found && double(cand_[i].first) == maxLogit ? 1.0 : 0.0;
      found = found || w[i] > 0;
    }
    return 1.0;
  }
  const double invT = 1.0 / double(params_.temperature);
  double sum = 0;
  for (size_t i = 0; i < n; ++i)
    sum += w[i] = std::exp((double(cand_[i].first) - maxLogit) * invT);
  return sum;
}

int32_t Sampler::sample(const float *logits, int32_t vocab) {
  if (vocab <= 0)
    return -1;
  const size_t n = filter(logits, vocab);
  if (params_.temperature <= 0.0f)
    return cand_[0].second;
  const double sum = weights(n, weights_);
  double r = rng_.uniform() * sum;
  for (size_t i = 0; i < n; ++i) {
    r -= weights_[i];
    if (r < 0)
      return cand_[i].second;
  }
  return cand_[n - 1].second;
}

bool Sampler::probabilities(const float *logits, int32_t vocab, std::vector<double> &probs) {
  probs.assign(vocab > 0 ? size_t(vocab) : 0, 0.0);
  if (vocab <= 0)
    return false;
  const size_t n = filter(logits, vocab);
  const double sum = weights(n, weights_);
  for (size_t i = 0; i < n; ++i)
    probs[size_t(cand_[i].second)] = weights_[i] / sum;
  return true;
}

int32_t Sampler::draw(const std::vector<double> &w) {
  double sum = 0;
  int32_t last = -1;
  for (size_t i = 0; i < w.size(); ++i)
    if (w[i] > 0) {
      sum += w[i];
      last = int32_t(i);
    }
  if (last < 0)
    return -1;
  double r = rng_.uniform() * sum;
  for (size_t i = 0; i < w.size(); ++i) {
    if (w[i] <= 0)
      continue;
    r -= w[i];
    if (r < 0)
      return int32_t(i);
  }
  return last;
}

} // namespace rt
} // namespace milm
