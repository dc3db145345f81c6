//===- Speculative.cpp - Speculative decoding: draft, verify, roll back ---===//
//
// One step of milm_generate_speculative, with `pending` the last token chosen
// and not yet evaluated by the model:
//
//   1. propose up to k tokens after it: prompt lookup (lookupDraft) and/or
//      the draft model, brought up to date with the text first (its KV cache
//      keeps the longest prefix it shares with the model's, the rest is
//      evaluated in one call), then one evaluation per proposed token;
//   2. evaluate [pending, proposals...] in one call of the model, with the
//      logits of every position;
//   3. walk the rows: row i is the model's distribution after proposal i-1;
//      greedy keeps proposal i when it is the model's choice, sampling keeps
//      it with probability min(1, p/q); at the first refusal the model's own
//      token (greedy: its choice; sampling: a draw from max(0, p - q)) ends
//      the step, and after all were kept the last row gives one more;
//   4. roll back: the model's KV cache drops the refused proposals (they were
//      written after the kept ones, so truncating is enough); the draft's
//      is trimmed at the next step's catch-up.
//
// So every step yields at least one token for one evaluation of the model,
// and greedy output is plain greedy decoding's, token for token.
//
//===----------------------------------------------------------------------===//

#include "ApiInternal.h"
#include "milm/speculative.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>

using milm::rt::monotonicSeconds;
using milm::rt::Sampler;
using milm::rt::SamplerParams;
using milm::rt::setApiError;
using milm::rt::setApiErrorf;

namespace milm {
namespace rt {

int32_t lookupDraft(const std::vector<int32_t> &seq, int32_t ngramMin, int32_t ngramMax,
                    int32_t k, std::vector<int32_t> &out) {
  out.clear();
  const int64_t len = int64_t(seq.size());
  if (k <= 0 || ngramMin < 1)
    return 0;
  for (int64_t n = std::min<int64_t>(ngramMax, len - 1); n >= ngramMin; --n) {
    const int32_t *tail = seq.data() + (len - n);
    // The latest earlier occurrence: start positions from len - n - 1 down.
    for (int64_t start = len - n - 1; start >= 0; --start) {
      if (!std::equal(tail, tail + n, seq.data() + start))
        continue;
      for (int64_t i = start + n; i < len && int32_t(out.size()) < k; ++i)
        out.push_back(seq[size_t(i)]);
      return int32_t(n);
    }
  }
  return 0;
}

int32_t lookupCandidates(const std::vector<int32_t> &seq, int32_t ngramMin, int32_t ngramMax,
                         int32_t k, int32_t width, std::vector<std::vector<int32_t>> &out) {
  out.clear();
  const int64_t len = int64_t(seq.size());
  if (k <= 0 || width <= 0 || ngramMin < 1)
    return 0;
  for (int64_t n = std::min<int64_t>(ngramMax, len - 1); n >= ngramMin; --n) {
    const int32_t *tail = seq.data() + (len - n);
    for (int64_t start = len - n - 1; start >= 0 && int32_t(out.size()) < width; --start) {
      if (!std::equal(tail, tail + n, seq.data() + start))
        continue;
      std::vector<int32_t> c;
      for (int64_t i = start + n; i < len && int32_t(c.size()) < k; ++i)
        c.push_back(seq[size_t(i)]);
      if (!c.empty() && std::find(out.begin(), out.end(), c) == out.end())
        out.push_back(std::move(c));
    }
    if (int32_t(out.size()) >= width)
      break;
  }
  return int32_t(out.size());
}

void TokenTree::add(const std::vector<int32_t> &chain, int32_t maxNodes) {
  int32_t node = 0;
  for (int32_t t : chain) {
    int32_t c = child(node, t);
    if (c < 0) {
      if (size() >= maxNodes)
        return;
      tokens.push_back(t);
      parents.push_back(node);
      c = size() - 1;
    }
    node = c;
  }
}

int32_t TokenTree::child(int32_t node, int32_t token) const {
  for (int32_t i = node + 1; i < size(); ++i)
    if (parents[size_t(i)] == node && tokens[size_t(i)] == token)
      return i;
  return -1;
}

int32_t TokenTree::depth() const {
  std::vector<int32_t> d(tokens.size(), 0);
  int32_t deepest = 0;
  for (int32_t i = 1; i < size(); ++i)
    deepest = std::max(deepest, d[size_t(i)] = d[size_t(parents[size_t(i)])] + 1);
  return deepest;
}

void residualDistribution(const std::vector<double> &p, const std::vector<double> &q,
                          std::vector<double> &out) {
  out.resize(p.size());
  double sum = 0;
  for (size_t i = 0; i < p.size(); ++i)
    sum += out[i] = std::max(0.0, p[i] - (i < q.size() ? q[i] : 0.0));
  if (!(sum > 0))
    out = p;
}

} // namespace rt
} // namespace milm

namespace {

/// The state of one speculative generation.
struct SpecRun {
  milm_context *ctx;
  milm_context *draft; // may be null
  Sampler &sampler;
  const milm_spec_params &params;
  milm_generate_stats &st;
  milm_token_callback cb;
  void *user;
  int32_t vocab, eos, nPredict;
  bool greedy;
  const milm::rt::Tokenizer *tok;
  Sampler draftSampler; // computes the draft's q (greedy: its choice); never draws
  std::string piece;
  std::vector<int32_t> seq; // the text so far, the pending token included
  milm::rt::DraftLength length;

  SpecRun(milm_context *ctx, milm_context *draft, Sampler &sampler,
          const milm_spec_params &params, milm_generate_stats &st, milm_token_callback cb,
          void *user, int32_t nPredict)
      : ctx(ctx), draft(draft), sampler(sampler), params(params), st(st), cb(cb), user(user),
        nPredict(nPredict), draftSampler(draftParams(sampler.params())),
        length(params.n_draft_min, params.n_draft, params.adaptive != 0) {
    vocab = int32_t(ctx->model->desc->vocab_size);
    tok = &ctx->model->artifact.tokenizer();
    eos = tok->valid() ? tok->eos() : -1;
    greedy = sampler.params().temperature <= 0.0f;
  }

  /// The draft's q: the model's sampling steps without the repetition
  /// penalty (its draws are made with the model's sampler).
  static SamplerParams draftParams(SamplerParams p) {
    p.repeatPenalty = 1.0f;
    return p;
  }

  /// Hands a chosen token out. False when generation stops here (eos, the
  /// callback, n_predict).
  bool emit(int32_t token) {
    sampler.accept(token);
    if (token == eos) {
      st.stop_reason = MILM_STOP_EOS;
      return false;
    }
    ++st.generated_tokens;
    if (cb) {
      piece = tok->valid() ? tok->tokenPiece(token) : std::string();
      if (cb(user, token, piece.data(), piece.size()) != 0) {
        st.stop_reason = MILM_STOP_CALLBACK;
        return false;
      }
    }
    if (nPredict >= 0 && st.generated_tokens >= nPredict) {
      st.stop_reason = MILM_STOP_LENGTH;
      return false;
    }
    return true;
  }

  /// Brings the draft's KV cache to `seq` but its last token, and evaluates
  /// that one (with what was missing before it): its logits are then the
  /// draft's next-token distribution. False when the draft's context is too
  /// small for `extra` more tokens after it, or on error (err set).
  bool syncDraft(int32_t extra, bool *err) {
    const std::vector<int32_t> &have = draft->tokens;
    size_t common = 0;
    while (common < have.size() && common < seq.size() && have[common] == seq[common])
      ++common;
    if (common == seq.size()) // the logits of the last token are needed again
      --common;
    if (int64_t(seq.size()) + extra > draft->nCtx)
      return false;
    if (milm_kv_truncate(draft, int32_t(common)) != 0 ||
        milm_eval(draft, seq.data() + common, int32_t(seq.size() - common), 0) != 0) {
      *err = true;
      return false;
    }
    ++st.draft_forwards;
    return true;
  }

  /// Up to k proposals from the draft model into `out`, their distributions
  /// (sampling) into q.
  bool draftPropose(int32_t k, std::vector<int32_t> &out, std::vector<std::vector<double>> &q,
                    int32_t *second = nullptr) {
    bool err = false;
    if (!syncDraft(k - 1, &err))
      return !err;
    for (int32_t i = 0; i < k; ++i) {
      const float *row = milm_get_logits(draft, -1);
      if (!row)
        return false;
      int32_t d;
      double pd;
      if (greedy) {
        d = draftSampler.sample(row, vocab);
        if (second && i == 0) { // the runner-up for the first token (token trees)
          *second = -1;
          for (int32_t v = 0; v < vocab; ++v)
            if (v != d && (*second < 0 || row[v] > row[*second]))
              *second = v;
        }
        if (params.p_min > 0) { // the draft's confidence in its choice
          double sum = 0;
          for (int32_t v = 0; v < vocab; ++v)
            sum += std::exp(double(row[v]) - double(row[d]));
          pd = 1.0 / sum;
        } else {
          pd = 1.0;
        }
      } else {
        q.emplace_back();
        draftSampler.probabilities(row, vocab, q.back());
        // Drawn with the model's sampler: one generator whose stream goes on
        // from call to call (a draft generator seeded anew at each call
        // repeated its draws, and the text's distribution was off).
        d = sampler.draw(q.back());
        pd = d >= 0 ? q.back()[size_t(d)] : 0.0;
        if (d < 0 || pd < double(params.p_min)) {
          q.pop_back();
          break;
        }
      }
      if (pd < double(params.p_min))
        break;
      out.push_back(d);
      if (i + 1 < k) {
        if (milm_eval(draft, &d, 1, 0) != 0)
          return false;
        ++st.draft_forwards;
      }
    }
    return true;
  }

  /// One greedy step over a token tree (params.tree_width > 1): lookup's
  /// candidate continuations, and the draft model's chain plus its second
  /// choice for the first token, merged into a trie after `pending`, checked
  /// in one milm_eval_tree; the longest branch the model agrees with is
  /// accepted (milm_tree_accept moves its KV rows into place). Returns the
  /// next pending token + 1, 0 when generation stopped, -1 on error.
  int32_t treeStep(int32_t pending, int32_t k, int32_t maxBatch) {
    const int32_t room = ctx->nCtx - ctx->nPast;
    // Nodes + depth + 1 positions are needed (milm_eval_tree); depth <= k.
    const int32_t maxNodes = std::min(maxBatch, room - (k + 1));
    milm::rt::TokenTree tree(pending);
    std::vector<std::vector<int32_t>> cands;
    if (params.lookup)
      milm::rt::lookupCandidates(seq, params.ngram_min, params.ngram_max, k, params.tree_width,
                                 cands);
    if (draft && int32_t(cands.size()) < params.tree_width) {
      std::vector<int32_t> chain;
      int32_t second = -1;
      std::vector<std::vector<double>> unusedQ;
      if (!draftPropose(k, chain, unusedQ, &second))
        return -1;
      if (!chain.empty())
        cands.push_back(chain);
      if (second >= 0 && int32_t(cands.size()) < params.tree_width)
        cands.push_back({second});
    }
    for (const std::vector<int32_t> &c : cands)
      tree.add(c, std::max(1, maxNodes));
    const int32_t n = tree.size();
    if (milm_eval_tree(ctx, tree.tokens.data(), tree.parents.data(), n) != 0)
      return -1;
    ++st.target_forwards;
    st.draft_tokens += n - 1;
    std::vector<int32_t> path = {0};
    int32_t node = 0, next = -1;
    bool stop = false;
    for (;;) {
      const float *row = milm_get_logits(ctx, node);
      if (!row)
        return -1;
      const int32_t y = sampler.sample(row, vocab);
      const int32_t c = tree.child(node, y);
      if (c < 0) {
        next = y;
        break;
      }
      ++st.accepted_tokens;
      if (!emit(y)) {
        stop = true;
        break;
      }
      node = c;
      path.push_back(c);
    }
    const int32_t accepted = int32_t(path.size()) - 1;
    length.update(std::min(k, n - 1), accepted);
    if (stop) // the KV cache keeps every token before the last one handed out
      return milm_tree_accept(ctx, path.data(), int32_t(path.size())) == 0 ? 0 : -1;
    if (next < 0)
      return setApiError("speculative decoding: no token chosen");
    if (milm_tree_accept(ctx, path.data(), int32_t(path.size())) != 0)
      return -1;
    if (!emit(next))
      return 0;
    return next + 1;
  }

  /// Runs the steps; 0, or -1 on error.
  int32_t run(int32_t first) {
    const int32_t maxBatch = int32_t(ctx->model->desc->max_tokens);
    std::vector<int32_t> proposals, batch;
    std::vector<std::vector<double>> q;
    std::vector<double> p, w;
    int32_t pending = first;
    for (;;) {
      if (ctx->nPast >= ctx->nCtx) {
        st.stop_reason = MILM_STOP_CONTEXT;
        return 0;
      }
      seq.assign(ctx->tokens.begin(), ctx->tokens.end());
      seq.push_back(pending);
      const int64_t remaining =
          nPredict < 0 ? INT32_MAX : int64_t(nPredict) - st.generated_tokens;
      const int32_t k = int32_t(std::min<int64_t>(
          {length.current(), remaining - 1, int64_t(ctx->nCtx) - ctx->nPast - 1,
           int64_t(maxBatch) - 1}));
      if (k > 0 && greedy && params.tree_width > 1 && ctx->nCtx - ctx->nPast >= 2 * (k + 1)) {
        int32_t r = treeStep(pending, k, maxBatch);
        if (r < 0)
          return -1;
        if (r == 0)
          return 0; // stopped
        pending = r - 1;
        continue;
      }
      proposals.clear();
      q.clear();
      if (k > 0 && params.lookup)
        milm::rt::lookupDraft(seq, params.ngram_min, params.ngram_max, k, proposals);
      if (k > 0 && proposals.empty() && draft && !draftPropose(k, proposals, q))
        return -1;
      const bool lookedUp = q.empty(); // lookup proposals are certain: q is one-hot
      const int32_t nd = int32_t(proposals.size());

      batch.assign(1, pending);
      batch.insert(batch.end(), proposals.begin(), proposals.end());
      const int32_t base = ctx->nPast;
      if (milm_eval(ctx, batch.data(), int32_t(batch.size()), 1) != 0)
        return -1;
      ++st.target_forwards;
      st.draft_tokens += nd;

      int32_t accepted = 0, next = -1;
      bool stop = false;
      for (int32_t i = 0; i <= nd; ++i) {
        const float *row = milm_get_logits(ctx, i);
        if (!row)
          return -1;
        if (greedy) {
          const int32_t y = sampler.sample(row, vocab);
          if (i < nd && y == proposals[size_t(i)]) {
            ++accepted;
            if (!emit(y)) {
              stop = true;
              break;
            }
            continue;
          }
          next = y;
          break;
        }
        sampler.probabilities(row, vocab, p);
        if (i < nd) {
          const int32_t d = proposals[size_t(i)];
          bool keep;
          if (lookedUp) { // q = 1 at d: keep with probability p(d); else p without d
            keep = sampler.uniform() < p[size_t(d)];
            if (!keep) {
              w = p;
              w[size_t(d)] = 0;
            }
          } else {
            keep = milm::rt::acceptProposal(p, q[size_t(i)], d, sampler.uniform());
            if (!keep)
              milm::rt::residualDistribution(p, q[size_t(i)], w);
          }
          if (keep) {
            ++accepted;
            if (!emit(d)) {
              stop = true;
              break;
            }
            continue;
          }
          next = sampler.draw(w);
        } else {
          next = sampler.draw(p);
        }
        break;
      }
      st.accepted_tokens += accepted;
      length.update(nd, accepted);
      if (stop) {
        // The KV cache keeps every token before the last one handed out.
        return milm_kv_truncate(ctx, base + accepted) == 0 ? 0 : -1;
      }
      if (next < 0)
        return setApiError("speculative decoding: no token to draw (all probabilities 0)");
      // Roll back: the refused proposals were written after the kept ones.
      if (milm_kv_truncate(ctx, base + 1 + accepted) != 0)
        return -1;
      if (!emit(next))
        return 0;
      pending = next;
    }
  }
};

} // namespace

extern "C" {

milm_spec_params milm_spec_default_params(void) {
  milm_spec_params p;
  p.n_draft = 8;
  p.n_draft_min = 1;
  p.adaptive = 1;
  p.p_min = 0.2f;
  p.lookup = 0;
  p.ngram_min = 1;
  p.ngram_max = 4;
  p.tree_width = 1;
  return p;
}

int32_t milm_generate_speculative_tokens(milm_context *ctx, milm_context *draft,
                                         milm_sampler *sampler, const int32_t *prompt,
                                         int32_t n_prompt, int32_t n_predict,
                                         const milm_spec_params *params,
                                         milm_token_callback cb, void *user,
                                         milm_generate_stats *stats) {
  milm_generate_stats local;
  milm_generate_stats &st = stats ? *stats : local;
  st = milm_generate_stats{};
  st.stop_reason = MILM_STOP_ERROR;
  MILM_NONNULL(ctx, -1);
  MILM_NONNULL(sampler, -1);
  MILM_REQUIRE(prompt || n_prompt <= 0, "prompt is NULL", -1);
  const milm_spec_params sp = params ? *params : milm_spec_default_params();
  if (sp.n_draft < 1 || sp.n_draft_min < 1 || sp.n_draft_min > sp.n_draft)
    return setApiErrorf("speculative decoding: the draft length must satisfy 1 <= n_draft_min "
                        "(%d) <= n_draft (%d)",
                        int(sp.n_draft_min), int(sp.n_draft));
  if (!(sp.p_min >= 0.0f && sp.p_min <= 1.0f))
    return setApiError("speculative decoding: p_min must be in [0, 1]");
  if (sp.lookup && (sp.ngram_min < 1 || sp.ngram_max < sp.ngram_min))
    return setApiErrorf("prompt lookup: the n-gram lengths must satisfy 1 <= ngram_min (%d) <= "
                        "ngram_max (%d)",
                        int(sp.ngram_min), int(sp.ngram_max));
  if (sp.tree_width < 1)
    return setApiErrorf("speculative decoding: tree_width must be >= 1 (1: one chain), got %d",
                        int(sp.tree_width));
  if (!draft && !sp.lookup)
    return setApiError("speculative decoding needs a draft model's context or prompt lookup");
  if (draft == ctx)
    return setApiError("speculative decoding: the draft context is the model's own");
  if (draft && draft->model->desc->vocab_size != ctx->model->desc->vocab_size)
    return setApiErrorf("the draft model has %lld logits a token, the model %lld: not a draft "
                        "for it",
                        (long long)draft->model->desc->vocab_size,
                        (long long)ctx->model->desc->vocab_size);
  if (draft && (draft->nPast > ctx->nPast ||
                !std::equal(draft->tokens.begin(), draft->tokens.end(), ctx->tokens.begin())))
    return setApiError("the draft context holds tokens that are not the model context's");
  st.speculative = draft ? (sp.lookup ? MILM_SPEC_BOTH : MILM_SPEC_DRAFT) : MILM_SPEC_LOOKUP;

  // The draft runs on the model context's threads (one pool busy at a time;
  // two pools' idle workers would spin against each other), unless the model
  // context profiles its ops: its table stays the model's alone.
  struct BorrowThreads {
    milm_context *draft;
    BorrowThreads(milm_context *d, milm_context *ctx) : draft(d) {
      if (draft && !ctx->profile)
        draft->borrowedExec = ctx->pool.exec();
    }
    ~BorrowThreads() {
      if (draft)
        draft->borrowedExec = nullptr;
    }
  } borrow(draft, ctx);

  const double t0 = monotonicSeconds();
  if (milm::rt::evalPrompt(ctx, sampler->sampler, prompt, n_prompt, st) != 0)
    return -1;
  // The draft reads the prompt too (all but what it already holds), now.
  if (draft && draft->nPast < ctx->nPast && int64_t(ctx->nPast) <= draft->nCtx) {
    if (milm_eval(draft, ctx->tokens.data() + draft->nPast, ctx->nPast - draft->nPast, 0) != 0)
      return -1;
  }
  const double t1 = monotonicSeconds();
  st.prompt_seconds = t1 - t0;

  SpecRun run(ctx, draft, sampler->sampler, sp, st, cb, user, n_predict);
  int32_t result = 0;
  if (n_predict == 0) {
    st.stop_reason = MILM_STOP_LENGTH;
  } else {
    const float *logits = milm_get_logits(ctx, -1);
    const int32_t first = logits ? sampler->sampler.sample(logits, run.vocab) : -1;
    if (first < 0)
      result = -1;
    else if (run.emit(first))
      result = run.run(first);
  }
  st.generate_seconds = monotonicSeconds() - t1;
  return result;
}

int32_t milm_generate_speculative(milm_context *ctx, milm_context *draft, milm_sampler *sampler,
                                  const char *prompt, int32_t n_predict,
                                  const milm_spec_params *params, milm_token_callback cb,
                                  void *user, milm_generate_stats *stats) {
  if (stats) {
    *stats = milm_generate_stats{};
    stats->stop_reason = MILM_STOP_ERROR;
  }
  MILM_NONNULL(ctx, -1);
  MILM_NONNULL(sampler, -1);
  std::vector<int32_t> ids;
  if (milm::rt::promptTokens(ctx, prompt, ids) != 0)
    return -1;
  return milm_generate_speculative_tokens(ctx, draft, sampler, ids.data(), int32_t(ids.size()),
                                          n_predict, params, cb, user, stats);
}

} // extern "C"
