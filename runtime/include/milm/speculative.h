//===- speculative.h - The parts of speculative decoding -------*- C++ -*-===//
//
// milm_generate_speculative (runtime/src/Speculative.cpp) is a loop over the
// pieces below, kept apart so that tests can check each one alone:
//
//   - prompt lookup: proposes what followed the last earlier occurrence of the
//     longest n-gram that ends the text so far;
//   - the acceptance rule of speculative sampling (Leviathan et al. 2023,
//     "Fast Inference from Transformers via Speculative Decoding"; Chen et al.
//     2023, "Accelerating Large Language Model Decoding with Speculative
//     Sampling"): a token x proposed from the draft's distribution q is kept
//     with probability min(1, p(x)/q(x)), where p is the model's; when it is
//     not, the model's token is drawn from norm(max(0, p - q)). Every token
//     then follows p exactly, whatever q is;
//   - the adaptive draft length.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_RUNTIME_SPECULATIVE_H
#define MILM_RUNTIME_SPECULATIVE_H

#include <cstddef>
#include <cstdint>
#include <vector>

namespace milm {
namespace rt {

/// Prompt lookup: for n from ngramMax down to ngramMin, the last n tokens of
/// `seq` are looked for earlier in `seq` (the latest occurrence wins); at the
/// first n that occurs, up to `k` tokens that followed it go into `out`.
/// Returns the n matched (0: none, `out` empty).
int32_t lookupDraft(const std::vector<int32_t> &seq, int32_t ngramMin, int32_t ngramMax,
                    int32_t k, std::vector<int32_t> &out);

/// Prompt lookup for a token tree: up to `width` distinct continuations of
/// at most k tokens each, from the latest earlier occurrences of the longest
/// n-gram (ngramMax down to ngramMin) that ends `seq` and occurred before,
/// latest first; shorter n-grams add more only when the longer ones gave
/// fewer than `width`. Returns how many went into `out`.
int32_t lookupCandidates(const std::vector<int32_t> &seq, int32_t ngramMin, int32_t ngramMax,
                         int32_t k, int32_t width, std::vector<std::vector<int32_t>> &out);

/// A token tree of candidate continuations after `root`: one node per
/// distinct prefix (a trie), node 0 the root, parents before children.
struct TokenTree {
  std::vector<int32_t> tokens, parents;
  /// Adds `chain` under the root, sharing the nodes of earlier chains with
  /// the same prefix; stops before the tree would exceed `maxNodes`.
  void add(const std::vector<int32_t> &chain, int32_t maxNodes);
  /// The child of `node` holding `token`, or -1.
  int32_t child(int32_t node, int32_t token) const;
  int32_t size() const { return int32_t(tokens.size()); }
  /// Depth of the deepest node (the root: 0).
  int32_t depth() const;
  explicit TokenTree(int32_t root) : tokens{root}, parents{-1} {}
};

/// Speculative sampling's test for a proposed `token`: kept when
/// u < p[token] / q[token] (u uniform in [0, 1)). q[token] > 0 since the draft
/// proposed it; q[token] == 0 (a caller's error) rejects.
inline bool acceptProposal(const std::vector<double> &p, const std::vector<double> &q,
                           int32_t token, double u) {
  const double qt = q[size_t(token)];
  return qt > 0 && u * qt < p[size_t(token)];
}

/// The distribution a rejected proposal is replaced from: max(0, p - q),
/// unnormalised, into `out`. When it is all 0 (p == q, where a rejection
/// cannot happen but rounding may make it), p itself.
void residualDistribution(const std::vector<double> &p, const std::vector<double> &q,
                          std::vector<double> &out);

/// The draft length: starts at `max`; a step that accepts everything it
/// proposed lengthens it by one, a step that accepts less than half shortens
/// it by one, within [min, max].
class DraftLength {
public:
  DraftLength(int32_t min, int32_t max, bool adaptive)
      : min_(min < 1 ? 1 : min), max_(max < min_ ? min_ : max), adaptive_(adaptive),
        k_(max_) {}
  int32_t current() const { return k_; }
  void update(int32_t proposed, int32_t accepted) {
    if (!adaptive_ || proposed <= 0)
      return;
    if (accepted == proposed && proposed == k_ && k_ < max_)
      ++k_;
    else if (2 * accepted < proposed && k_ > min_)
      --k_;
  }

private:
  int32_t min_, max_;
  bool adaptive_;
  int32_t k_;
};

} // namespace rt
} // namespace milm

#endif
