/*===- quality.h - Perplexity and KL: the method, and the logits stream ----===*
 *
 * One definition of how milm measures a model's quality, shared by the model
 * executable (`milm-run --perplexity`) and the compiler (`milmc compare`):
 *
 *  - Windows. The text's tokens, with BOS in front when the model adds one,
 *    are cut into windows of W tokens (the first W*floor(n/W); the rest is
 *    not scored). Each window is evaluated from an empty KV cache with its
 *    first token replaced by BOS (when the model adds one), and scores the
 *    predictions of its second half: the logits at positions W/2 .. W-2
 *    against the tokens at W/2+1 .. W-1, W-1-W/2 tokens a window. This is
 *    llama.cpp's llama-perplexity method, so the numbers compare with its.
 *  - Perplexity is exp(mean NLL) over the scored tokens; its standard error
 *    is ppl * sqrt(var(NLL) / (n - 1)), the error of the mean carried
 *    through exp to first order.
 *  - KL(A || B) of one position is sum_i pA_i (log pA_i - log pB_i) over the
 *    whole vocabulary, in double precision from float logits.
 *
 * The logits stream (`milm-run --perplexity FILE --logits-out PATH`) carries
 * the scored rows to another program: a header, then per scored token an
 * int32 target id and the vocab float32 logits that predicted it, all in the
 * machine's byte order (both ends run on the same machine).
 *
 *===----------------------------------------------------------------------===*/
#ifndef MILM_COMMON_QUALITY_H
#define MILM_COMMON_QUALITY_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MILM_LOGITS_STREAM_MAGIC "MILMLGT1"

typedef struct milm_logits_stream_header {
  char magic[8];             /* MILM_LOGITS_STREAM_MAGIC, without its NUL */
  int32_t vocab;             /* floats a row */
  int32_t window;            /* W */
  int32_t windows;           /* windows scored */
  int32_t scored_per_window; /* W - 1 - W/2 */
} milm_logits_stream_header;

/* The first scored position of a window of W tokens, and how many it scores. */
static inline int32_t milm_ppl_first_scored(int32_t window) { return window / 2; }
static inline int32_t milm_ppl_scored_per_window(int32_t window) {
  return window - 1 - window / 2;
}

/* log(sum_i exp(logits[i])), in double; *argmax (if not NULL) gets the most
 * likely id (the lowest one on ties). A row's log softmax is logits - this. */
static inline double milm_log_sum_exp(const float *logits, int32_t vocab, int32_t *argmax) {
  int32_t best = 0;
  for (int32_t i = 1; i < vocab; ++i)
    if (logits[i] > logits[best])
      best = i;
  double m = logits[best], sum = 0.0;
  for (int32_t i = 0; i < vocab; ++i)
    sum += exp((double)logits[i] - m);
  if (argmax)
    *argmax = best;
  return m + log(sum);
}

/* log softmax(logits)[token], in double. */
static inline double milm_log_prob(const float *logits, int32_t vocab, int32_t token) {
  return (double)logits[token] - milm_log_sum_exp(logits, vocab, NULL);
}

/* KL(softmax(a) || softmax(b)) over the vocabulary, in double, given each row's
 * milm_log_sum_exp (a caller that already has them computes no exp twice);
 * never below 0. */
static inline double milm_kl_divergence(const float *a, double lse_a, const float *b,
                                        double lse_b, int32_t vocab) {
  double kl = 0.0;
  for (int32_t i = 0; i < vocab; ++i) {
    const double lpa = (double)a[i] - lse_a;
    kl += exp(lpa) * (lpa - ((double)b[i] - lse_b));
  }
  return kl > 0.0 ? kl : 0.0;
}

/* Running sums of the negative log-likelihoods of scored tokens. */
typedef struct milm_nll_stats {
  double sum, sum2;
  int64_t count;
} milm_nll_stats;

static inline void milm_nll_add(milm_nll_stats *s, double nll) {
  s->sum += nll;
  s->sum2 += nll * nll;
  s->count += 1;
}
static inline double milm_nll_perplexity(const milm_nll_stats *s) {
  return s->count ? exp(s->sum / (double)s->count) : NAN;
}
static inline double milm_nll_perplexity_error(const milm_nll_stats *s) {
  if (s->count < 2)
    return 0.0;
  const double mean = s->sum / (double)s->count;
  const double var = s->sum2 / (double)s->count - mean * mean;
  return var > 0.0 ? exp(mean) * sqrt(var / (double)(s->count - 1)) : 0.0;
}

#ifdef __cplusplus
}
#endif

#endif /* MILM_COMMON_QUALITY_H */
