//===- SpeculativeTest.cpp - Speculative decoding: rule, lookup, loop -----===//
//
// The pieces of runtime/include/milm/speculative.h alone, the acceptance rule
// against the distribution it must preserve (a chi-square test on a toy
// Markov model, which a wrong rule fails), and milm_generate_speculative over
// FakeModel.c with FakeDraft.c as its draft: greedy output equals plain
// greedy decoding's for every scheme, with proposals both kept and refused.
//
//===----------------------------------------------------------------------===//

#include "RuntimeTestUtil.h"

#include "milm/milm.h"
#include "milm/sampler.h"
#include "milm/speculative.h"

#include "llvm/Support/FileSystem.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

using namespace milm;
using milm::rt::DraftLength;
using milm::rt::lookupDraft;

namespace {

//===---- prompt lookup and the draft length -------------------------------===//

TEST(Speculative, LookupTakesTheLongestLatestMatch) {
  std::vector<int32_t> out;
  // "1 2 3 4 9 | 2 3 4 7 | 2 3 4": the 3-gram 2 3 4 occurs twice; the latest
  // occurrence (followed by 7 2 3 4) wins.
  std::vector<int32_t> seq = {1, 2, 3, 4, 9, 2, 3, 4, 7, 2, 3, 4};
  EXPECT_EQ(lookupDraft(seq, 1, 4, 3, out), 3);
  EXPECT_EQ(out, (std::vector<int32_t>{7, 2, 3}));
  // k caps the proposal; what follows may run into the matched suffix itself.
  EXPECT_EQ(lookupDraft(seq, 1, 4, 1, out), 3);
  EXPECT_EQ(out, (std::vector<int32_t>{7}));
  // The longest n-gram first: "9 2 3 4" is not there again, "4 7"... only
  // 1-grams: the last token 5 appeared after 6 before.
  seq = {6, 5, 8, 1, 5};
  EXPECT_EQ(lookupDraft(seq, 1, 4, 4, out), 1);
  EXPECT_EQ(out, (std::vector<int32_t>{8, 1, 5}));
  EXPECT_EQ(lookupDraft(seq, 2, 4, 4, out), 0);
  EXPECT_TRUE(out.empty());
  // Nothing to look in.
  EXPECT_EQ(lookupDraft({3}, 1, 4, 4, out), 0);
  EXPECT_EQ(lookupDraft({}, 1, 4, 4, out), 0);
  EXPECT_EQ(lookupDraft({3, 3}, 1, 4, 0, out), 0);
}

TEST(Speculative, DraftLengthFollowsAcceptance) {
  DraftLength len(2, 6, true);
  EXPECT_EQ(len.current(), 6);
  len.update(6, 1); // less than half: shorter
  EXPECT_EQ(len.current(), 5);
  len.update(5, 3); // more than half, not all: unchanged
  EXPECT_EQ(len.current(), 5);
  len.update(5, 5); // all: longer
  EXPECT_EQ(len.current(), 6);
  len.update(6, 6); // at the most already
  EXPECT_EQ(len.current(), 6);
  for (int i = 0; i < 10; ++i)
    len.update(len.current(), 0);
  EXPECT_EQ(len.current(), 2); // never below the least
  len.update(0, 0);             // nothing proposed: no evidence
  EXPECT_EQ(len.current(), 2);
  DraftLength fixed(1, 4, false);
  fixed.update(4, 0);
  EXPECT_EQ(fixed.current(), 4);
}

TEST(Speculative, LookupCandidatesAreDistinctLatestFirst) {
  std::vector<std::vector<int32_t>> out;
  // "5 6" occurred three times before the end, followed by 7 8, 9 9 and 7 8
  // again: two distinct continuations, the latest first; the 1-gram "6"
  // finds the same ones.
  std::vector<int32_t> seq = {5, 6, 7, 8, 5, 6, 9, 9, 5, 6, 7, 8, 1, 5, 6};
  EXPECT_EQ(milm::rt::lookupCandidates(seq, 1, 4, 2, 4, out), 2);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], (std::vector<int32_t>{7, 8}));
  EXPECT_EQ(out[1], (std::vector<int32_t>{9, 9}));
  EXPECT_EQ(milm::rt::lookupCandidates(seq, 1, 4, 2, 1, out), 1);
  EXPECT_EQ(out[0], (std::vector<int32_t>{7, 8}));
  // Shorter n-grams add what the longer ones lacked: "5 6" gives 7 8, then
  // "6" alone also occurred before 2 2.
  seq = {5, 6, 7, 8, 3, 6, 2, 2, 5, 6};
  EXPECT_EQ(milm::rt::lookupCandidates(seq, 1, 4, 3, 4, out), 2);
  EXPECT_EQ(out[0], (std::vector<int32_t>{7, 8, 3}));
  EXPECT_EQ(out[1], (std::vector<int32_t>{2, 2, 5}));
  EXPECT_EQ(milm::rt::lookupCandidates(seq, 2, 4, 3, 4, out), 1); // no 1-grams
  EXPECT_EQ(milm::rt::lookupCandidates({1, 2, 3}, 1, 4, 2, 4, out), 0);
}

TEST(Speculative, TokenTreeSharesPrefixes) {
  milm::rt::TokenTree t(100);
  t.add({1, 2, 3}, 16);
  t.add({1, 2, 4}, 16);
  t.add({5}, 16);
  t.add({1, 2, 3}, 16); // already there
  EXPECT_EQ(t.tokens, (std::vector<int32_t>{100, 1, 2, 3, 4, 5}));
  EXPECT_EQ(t.parents, (std::vector<int32_t>{-1, 0, 1, 2, 2, 0}));
  EXPECT_EQ(t.depth(), 3);
  EXPECT_EQ(t.child(2, 4), 4);
  EXPECT_EQ(t.child(0, 2), -1);
  t.add({7, 8, 9}, 7); // room for one more node only
  EXPECT_EQ(t.size(), 7);
  EXPECT_EQ(t.tokens.back(), 7);
}

//===---- the acceptance rule keeps the model's distribution ---------------===//

constexpr int kToyVocab = 4;
using Dist = std::vector<double>;

/// A toy "model": next-token distributions that depend on the previous token.
struct Toy {
  std::vector<Dist> rows; // rows[prev]
  const Dist &next(int32_t prev) const { return rows[size_t(prev)]; }
};

Toy makeToy(uint64_t seed, double sharpness) {
  rt::Rng rng(seed);
  Toy t;
  for (int a = 0; a < kToyVocab; ++a) {
    Dist d(kToyVocab);
    double sum = 0;
    for (double &x : d)
      sum += x = std::pow(rng.uniform() + 0.05, sharpness);
    for (double &x : d)
      x /= sum;
    t.rows.push_back(d);
  }
  return t;
}

enum class Rule { Correct, ResampleFromTarget, AcceptAlways };

/// Two tokens after `start` by one speculative step of k = 2 proposals from
/// `draft` checked against `target` with `rule` (and, when the step yields
/// fewer than two, the model's own next draw). Draws come from `s`.
std::pair<int32_t, int32_t> speculativePair(const Toy &target, const Toy &draft, int32_t start,
                                            Rule rule, rt::Sampler &s) {
  int32_t d1 = s.draw(draft.next(start));
  int32_t d2 = s.draw(draft.next(d1));
  std::vector<int32_t> out;
  std::vector<double> w;
  int32_t prev = start;
  for (int32_t d : {d1, d2}) {
    const Dist &p = target.next(prev), &q = draft.next(prev);
    bool keep = rule == Rule::AcceptAlways || rt::acceptProposal(p, q, d, s.uniform());
    if (keep) {
      out.push_back(d);
      prev = d;
      continue;
    }
    if (rule == Rule::ResampleFromTarget)
      w = p;
    else
      rt::residualDistribution(p, q, w);
    out.push_back(s.draw(w));
    break;
  }
  if (out.size() < 2)
    out.push_back(s.draw(target.next(out.back())));
  return {out[0], out[1]};
}

/// Pearson's chi-square of `n` speculative pairs against the exact
/// distribution of two tokens from `target`.
double chiSquare(const Toy &target, const Toy &draft, Rule rule, int n, uint64_t seed) {
  rt::SamplerParams sp;
  sp.seed = seed;
  rt::Sampler s(sp);
  std::vector<int> counts(kToyVocab * kToyVocab, 0);
  const int32_t start = 0;
  for (int i = 0; i < n; ++i) {
    auto [a, b] = speculativePair(target, draft, start, rule, s);
    ++counts[size_t(a * kToyVocab + b)];
  }
  double chi = 0;
  for (int a = 0; a < kToyVocab; ++a)
    for (int b = 0; b < kToyVocab; ++b) {
      double expected = n * target.next(start)[size_t(a)] * target.next(a)[size_t(b)];
      double diff = counts[size_t(a * kToyVocab + b)] - expected;
      chi += diff * diff / expected;
    }
  return chi;
}

// 16 cells, 15 degrees of freedom: P(chi2 > 37.70) = 0.001. With the seeds
// fixed the outcome is fixed; the bound says how unlikely a failure of the
// correct rule would be by chance.
constexpr double kChi2Df15P001 = 37.70;

TEST(Speculative, SamplingRuleKeepsTheModelsDistribution) {
  const Toy target = makeToy(11, 2.0), draft = makeToy(29, 2.0);
  const int n = 40000;
  const double correct = chiSquare(target, draft, Rule::Correct, n, 7);
  EXPECT_LT(correct, kChi2Df15P001);
  // A draft equal to the model: every proposal kept, the same distribution.
  EXPECT_LT(chiSquare(target, target, Rule::Correct, n, 8), kChi2Df15P001);
  // The wrong rules the test exists to catch.
  const double resample = chiSquare(target, draft, Rule::ResampleFromTarget, n, 7);
  const double always = chiSquare(target, draft, Rule::AcceptAlways, n, 7);
  EXPECT_GT(resample, kChi2Df15P001) << "resampling from p after a rejection went unnoticed";
  EXPECT_GT(always, kChi2Df15P001) << "accepting every proposal went unnoticed";
  printf("chi-square (15 df, %d samples): correct rule %.1f, resample from p %.1f, accept "
         "always %.1f; 0.1%% bound %.2f\n",
         n, correct, resample, always, kChi2Df15P001);
}

TEST(Speculative, SamplerProbabilitiesAreWhatItDraws) {
  // probabilities() is the distribution sample() draws from: top-k keeps 3,
  // temperature 0.5 sharpens; sampling agrees with it.
  rt::SamplerParams sp;
  sp.temperature = 0.5f;
  sp.topK = 3;
  sp.topP = 1.0f;
  sp.minP = 0.0f;
  sp.seed = 5;
  rt::Sampler s(sp);
  const float logits[6] = {1.0f, 0.5f, 2.0f, -1.0f, 1.5f, 0.0f};
  std::vector<double> p;
  ASSERT_TRUE(s.probabilities(logits, 6, p));
  ASSERT_EQ(p.size(), 6u);
  EXPECT_EQ(p[1], 0.0);
  EXPECT_EQ(p[3], 0.0);
  EXPECT_EQ(p[5], 0.0);
  const double z = std::exp(0.0) + std::exp(-1.0) + std::exp(-2.0); // (l - 2) / 0.5
  EXPECT_NEAR(p[2], 1.0 / z, 1e-12);
  EXPECT_NEAR(p[4], std::exp(-1.0) / z, 1e-12);
  EXPECT_NEAR(p[0], std::exp(-2.0) / z, 1e-12);
  std::vector<int> counts(6, 0);
  const int n = 30000;
  for (int i = 0; i < n; ++i)
    ++counts[size_t(s.sample(logits, 6))];
  for (int t = 0; t < 6; ++t)
    EXPECT_NEAR(counts[size_t(t)] / double(n), p[size_t(t)], 0.015) << "token " << t;
  // Greedy: all the mass on sample()'s choice.
  rt::SamplerParams g;
  g.temperature = 0;
  rt::Sampler gs(g);
  ASSERT_TRUE(gs.probabilities(logits, 6, p));
  EXPECT_EQ(p, (std::vector<double>{0, 0, 1, 0, 0, 0}));
  // Draws follow weights; none: -1.
  EXPECT_EQ(s.draw({0, 0, 2.5, 0}), 2);
  EXPECT_EQ(s.draw({0, 0}), -1);
}

//===---- the loop, over the fake model and its fake draft -----------------===//

#if defined(__x86_64__)
const char *const kHostTriple = "x86_64-unknown-linux-gnu";
#else
const char *const kHostTriple = "aarch64-unknown-linux-gnu";
#endif

struct Tokens {
  std::vector<int32_t> ids;
};

int32_t collectIds(void *user, int32_t token, const char *, size_t) {
  static_cast<Tokens *>(user)->ids.push_back(token);
  return 0;
}

class SpeculativeApiTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir = fake::makeTempDir("milm-spec-test");
    ASSERT_FALSE(dir.empty());
    f = fake::makeFakeArtifact(dir, kHostTriple);
    // No eos: runs go on until n_predict or a full context.
    for (int32_t t = 0; t < fake::kVocab; ++t)
      f->table[size_t(t) * fake::kVocab + size_t(fake::kEos)] = -10.0f;
    if (spread())
      fake::spreadFakeTable(*f);
    path = dir + "/model.milm";
    llvm::Error e = artifact::writeArtifact(path, f->spec);
    ASSERT_FALSE(bool(e)) << llvm::toString(std::move(e));
    model = milm_model_open(path.c_str(), nullptr);
    ASSERT_NE(model, nullptr) << milm_last_error();
    // FakeDraft.c reads the fake model's weights: the same file.
    draftModel = milm_model_open_draft(path.c_str(), nullptr);
    ASSERT_NE(draftModel, nullptr) << milm_last_error();
  }
  void TearDown() override {
    milm_model_close(draftModel);
    milm_model_close(model);
    llvm::sys::fs::remove_directories(dir);
  }
  static milm_sampler *sampler(float temperature, uint64_t seed = 1) {
    milm_sampler_params p = milm_sampler_default_params();
    p.temperature = temperature;
    p.seed = seed;
    return milm_sampler_new(&p);
  }
  milm_context *context(milm_model *m) {
    milm_context_params p = milm_context_default_params();
    p.n_threads = 2;
    return milm_context_new(m, &p);
  }
  /// Plain greedy tokens after `prompt`.
  std::vector<int32_t> plain(const std::vector<int32_t> &prompt, int32_t n) {
    milm_context *ctx = context(model);
    milm_sampler *s = sampler(0);
    Tokens t;
    EXPECT_EQ(milm_generate_tokens(ctx, s, prompt.data(), int32_t(prompt.size()), n, collectIds,
                                   &t, nullptr),
              0)
        << milm_last_error();
    milm_sampler_free(s);
    milm_context_free(ctx);
    return t.ids;
  }

  /// Sampling tests: the story's successors only slightly preferred.
  virtual bool spread() const { return false; }

  std::string dir, path;
  std::unique_ptr<fake::FakeArtifact> f;
  milm_model *model = nullptr, *draftModel = nullptr;
};

/// The story's successors only slightly preferred: sampled text spreads.
class SpeculativeSamplingTest : public SpeculativeApiTest {
protected:
  bool spread() const override { return true; }
  void checkDistribution(bool useDraft, const std::vector<int32_t> &prompt);
};

TEST_F(SpeculativeApiTest, TheDraftIsLinkedIn) {
  EXPECT_EQ(milm_has_draft(), 1);
  EXPECT_EQ(milm_model_vocab_size(draftModel), fake::kVocab);
  EXPECT_STREQ(milm_model_name(draftModel), "fake");
}

// Prompts of token ids that make the fake model run on (few hit eos early).
std::vector<std::vector<int32_t>> testPrompts() {
  std::vector<std::vector<int32_t>> prompts;
  rt::Rng rng(3);
  for (int i = 0; i < 12; ++i) {
    std::vector<int32_t> p(size_t(2 + i % 5));
    for (int32_t &t : p)
      t = int32_t(3 + rng.next() % uint64_t(fake::kVocab - 3));
    prompts.push_back(p);
  }
  // A prompt that repeats, for prompt lookup to find.
  prompts.push_back({40, 41, 42, 43, 40, 41, 42, 43, 40, 41});
  return prompts;
}

TEST_F(SpeculativeApiTest, GreedyOutputIsPlainGreedyOutput) {
  int64_t drafted = 0, accepted = 0, forwards = 0, generated = 0;
  for (int mode = 0; mode < 3; ++mode) // draft, lookup, both
    for (int32_t nDraft : {1, 3, 7})
      for (int adaptive : {0, 1}) {
        milm_spec_params sp = milm_spec_default_params();
        sp.n_draft = nDraft;
        sp.adaptive = adaptive;
        sp.p_min = 0;
        sp.lookup = mode >= 1;
        for (const std::vector<int32_t> &prompt : testPrompts()) {
          const int32_t n = 40;
          std::vector<int32_t> want = plain(prompt, n);
          milm_context *ctx = context(model);
          milm_context *dctx = mode == 1 ? nullptr : context(draftModel);
          milm_sampler *s = sampler(0);
          Tokens got;
          milm_generate_stats st;
          ASSERT_EQ(milm_generate_speculative_tokens(ctx, dctx, s, prompt.data(),
                                                     int32_t(prompt.size()), n, &sp, collectIds,
                                                     &got, &st),
                    0)
              << milm_last_error();
          EXPECT_EQ(got.ids, want) << "mode " << mode << ", n_draft " << nDraft << ", adaptive "
                                   << adaptive;
          EXPECT_EQ(st.generated_tokens, int32_t(want.size()));
          EXPECT_LE(st.accepted_tokens, st.draft_tokens);
          EXPECT_EQ(st.speculative, mode == 0   ? MILM_SPEC_DRAFT
                                    : mode == 1 ? MILM_SPEC_LOOKUP
                                                : MILM_SPEC_BOTH);
          // The KV caches hold the text but its last token, as plain decoding leaves it.
          EXPECT_EQ(milm_n_past(ctx), int32_t(prompt.size() + want.size()) - 1 +
                                          (st.stop_reason == MILM_STOP_EOS ? 1 : 0));
          drafted += st.draft_tokens;
          accepted += st.accepted_tokens;
          forwards += st.target_forwards;
          generated += st.generated_tokens;
          milm_sampler_free(s);
          milm_context_free(dctx);
          milm_context_free(ctx);
        }
      }
  // Both paths ran: proposals kept and proposals refused, and fewer model
  // evaluations than tokens.
  EXPECT_GT(accepted, 0);
  EXPECT_LT(accepted, drafted);
  EXPECT_LT(forwards, generated);
}

TEST_F(SpeculativeApiTest, LongRunsWithManyRejectionsKeepTheCache) {
  // Until eos or the whole context, n_draft 7, p_min 0: many refusals and
  // rollbacks; the fake model's logits depend on every cache entry, so a
  // stale or misplaced one would change the tokens that follow.
  milm_spec_params sp = milm_spec_default_params();
  sp.n_draft = 7;
  sp.adaptive = 0;
  sp.p_min = 0;
  int64_t refused = 0, longest = 0;
  for (const std::vector<int32_t> &prompt : testPrompts()) {
    std::vector<int32_t> want = plain(prompt, -1);
    milm_context *ctx = context(model);
    milm_context *dctx = context(draftModel);
    milm_sampler *s = sampler(0);
    Tokens got;
    milm_generate_stats st;
    ASSERT_EQ(milm_generate_speculative_tokens(ctx, dctx, s, prompt.data(),
                                               int32_t(prompt.size()), -1, &sp, collectIds, &got,
                                               &st),
              0)
        << milm_last_error();
    EXPECT_EQ(got.ids, want);
    refused += st.draft_tokens - st.accepted_tokens;
    longest = std::max<int64_t>(longest, int64_t(got.ids.size()));
    milm_sampler_free(s);
    milm_context_free(dctx);
    milm_context_free(ctx);
  }
  EXPECT_GT(refused, 40) << "too few rejections to test rollback";
  EXPECT_GT(longest, 50) << "no run long enough to fill the context";
}

TEST_F(SpeculativeApiTest, SamplingRunsAndCounts) {
  milm_spec_params sp = milm_spec_default_params();
  sp.p_min = 0;
  const std::vector<int32_t> prompt = {17, 250, 33};
  for (uint64_t seed : {1u, 2u, 3u}) {
    milm_context *ctx = context(model);
    milm_context *dctx = context(draftModel);
    milm_sampler *s = sampler(0.8f, seed);
    Tokens got;
    milm_generate_stats st;
    ASSERT_EQ(milm_generate_speculative_tokens(ctx, dctx, s, prompt.data(), 3, 30, &sp,
                                               collectIds, &got, &st),
              0)
        << milm_last_error();
    EXPECT_EQ(st.generated_tokens, int32_t(got.ids.size()));
    for (int32_t t : got.ids)
      EXPECT_TRUE(t >= 0 && t < fake::kVocab);
    EXPECT_LE(st.accepted_tokens, st.draft_tokens);
    EXPECT_GT(st.draft_forwards, 0);
    milm_sampler_free(s);
    milm_context_free(dctx);
    milm_context_free(ctx);
  }
}

/// The loop itself, not just the rule: three tokens sampled (temperature 1,
/// top-k 3) after `prompt`, the second and third through one speculative step
/// (proposals from the perturbed draft, or from prompt lookup), 20,000 times;
/// Pearson's chi-square of the triples against the model's exact
/// distribution, the product of three next-token distributions of
/// FakeModel.c's logits.
void SpeculativeSamplingTest::checkDistribution(bool useDraft, const std::vector<int32_t> &prompt) {
  milm_sampler_params p = milm_sampler_default_params();
  p.temperature = 1.0f;
  p.top_k = 3;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = 99;
  milm_sampler *s = milm_sampler_new(&p);
  milm_spec_params sp = milm_spec_default_params();
  sp.n_draft = 2;
  sp.adaptive = 0;
  sp.p_min = 0;
  sp.lookup = useDraft ? 0 : 1;
  const int32_t np = int32_t(prompt.size());
  milm_context *ctx = context(model);
  milm_context *dctx = useDraft ? context(draftModel) : nullptr;
  const int n = 20000;
  std::map<std::vector<int32_t>, int> counts;
  int64_t drafted = 0, accepted = 0;
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(milm_kv_truncate(ctx, 0), 0);
    if (dctx)
      ASSERT_EQ(milm_kv_truncate(dctx, 0), 0);
    Tokens got;
    milm_generate_stats st;
    ASSERT_EQ(milm_generate_speculative_tokens(ctx, dctx, s, prompt.data(), np, 3, &sp, collectIds,
                                               &got, &st),
              0)
        << milm_last_error();
    ASSERT_EQ(got.ids.size(), 3u);
    ++counts[got.ids];
    drafted += st.draft_tokens;
    accepted += st.accepted_tokens;
  }
  // The exact distribution, with the sampler's own filtering (top-k 3).
  int cells = 0, unexpected = 0;
  const double chi =
      fake::tripleChiSquare(counts, fake::exactTriples(*f, prompt), n, &cells, &unexpected);
  EXPECT_EQ(unexpected, 0) << "triples the model cannot produce";
  ASSERT_GE(cells, 10);
  const double bound = fake::chiSquareBound001(cells - 1);
  printf("speculative sampling (%s) over the fake model: %d triples in %d cells, chi-square "
         "%.1f (p = 0.001 bound %.1f); drafted %lld, accepted %lld\n",
         useDraft ? "draft model" : "prompt lookup", n, cells, chi, bound, (long long)drafted,
         (long long)accepted);
  EXPECT_LT(chi, bound);
  // Both ways through the rule were taken, often.
  EXPECT_GT(accepted, n / 10);
  EXPECT_GT(drafted - accepted, n / 10);
  milm_sampler_free(s);
  milm_context_free(dctx);
  milm_context_free(ctx);
}

TEST_F(SpeculativeSamplingTest, DraftModelSamplesFollowTheModelsDistribution) {
  checkDistribution(true, {17, 250, 33});
}

TEST_F(SpeculativeSamplingTest, PromptLookupSamplesFollowTheModelsDistribution) {
  // After 299 the model picks 219, 259 or 299; each of them occurred after
  // 299 in the prompt, so lookup proposes what followed it there.
  checkDistribution(false, {299, 219, 114, 299, 259, 24, 299, 299, 219, 299});
}

TEST_F(SpeculativeApiTest, TreesNeedModelCodeThatTakesThem) {
  // FakeModel.c's descriptor does not claim tree attention: refused, not run.
  milm_context *ctx = context(model);
  const int32_t tokens[3] = {5, 6, 7}, parents[3] = {-1, 0, 0};
  EXPECT_EQ(milm_eval_tree(ctx, tokens, parents, 3), -1);
  EXPECT_NE(std::string(milm_last_error()).find("does not take token trees"), std::string::npos)
      << milm_last_error();
  const int32_t path[1] = {0};
  EXPECT_EQ(milm_tree_accept(ctx, path, 1), -1);
  EXPECT_NE(std::string(milm_last_error()).find("no tree evaluated"), std::string::npos)
      << milm_last_error();
  EXPECT_EQ(milm_n_past(ctx), 0);
  // Greedy speculation with a tree width asks for trees and says why it
  // cannot have them.
  milm_spec_params sp = milm_spec_default_params();
  sp.tree_width = 3;
  sp.lookup = 1;
  milm_sampler *s = sampler(0);
  const int32_t prompt[6] = {40, 41, 42, 40, 41, 42};
  EXPECT_EQ(milm_generate_speculative_tokens(ctx, nullptr, s, prompt, 6, 8, &sp, nullptr,
                                             nullptr, nullptr),
            -1);
  EXPECT_NE(std::string(milm_last_error()).find("does not take token trees"), std::string::npos)
      << milm_last_error();
  sp.tree_width = 0;
  milm_context_free(ctx);
  ctx = context(model);
  EXPECT_EQ(milm_generate_speculative_tokens(ctx, nullptr, s, prompt, 6, 8, &sp, nullptr,
                                             nullptr, nullptr),
            -1);
  EXPECT_NE(std::string(milm_last_error()).find("tree_width must be >= 1"), std::string::npos)
      << milm_last_error();
  milm_sampler_free(s);
  milm_context_free(ctx);
}

TEST_F(SpeculativeApiTest, Errors) {
  milm_context *ctx = context(model);
  milm_context *dctx = context(draftModel);
  milm_sampler *s = sampler(0);
  const int32_t prompt[2] = {5, 6};
  milm_spec_params sp = milm_spec_default_params();
  auto expectError = [&](milm_context *c, milm_context *d, const milm_spec_params *p,
                         const char *what) {
    milm_generate_stats st;
    EXPECT_EQ(milm_generate_speculative_tokens(c, d, s, prompt, 2, 4, p, nullptr, nullptr, &st),
              -1);
    EXPECT_NE(std::string(milm_last_error()).find(what), std::string::npos) << milm_last_error();
    EXPECT_EQ(st.stop_reason, MILM_STOP_ERROR);
  };
  expectError(ctx, nullptr, &sp, "needs a draft model's context or prompt lookup");
  expectError(ctx, ctx, &sp, "the draft context is the model's own");
  milm_spec_params bad = sp;
  bad.n_draft_min = 9;
  expectError(ctx, dctx, &bad, "1 <= n_draft_min (9) <= n_draft (8)");
  bad = sp;
  bad.p_min = 1.5f;
  expectError(ctx, dctx, &bad, "p_min must be in [0, 1]");
  bad = sp;
  bad.lookup = 1;
  bad.ngram_min = 3;
  bad.ngram_max = 2;
  expectError(ctx, nullptr, &bad, "1 <= ngram_min (3) <= ngram_max (2)");
  // A draft context that holds other tokens than the model's.
  const int32_t other[1] = {9};
  ASSERT_EQ(milm_eval(dctx, other, 1, 0), 0);
  expectError(ctx, dctx, &sp, "not the model context's");
  expectError(nullptr, dctx, &sp, "ctx is NULL");
  milm_sampler_free(s);
  milm_context_free(dctx);
  milm_context_free(ctx);
}

} // namespace
