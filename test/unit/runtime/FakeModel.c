/*===- FakeModel.c - A stand-in for milmc's generated model code (TESTS ONLY) -===*
 *
 * Implements the model_abi.h contract with a trivial deterministic "model" so
 * that the runtime can be tested without the compiler: it is linked into
 * RuntimeApiTest, and RuntimeLinkTest compiles it with clang for x86-64 and
 * AArch64 and links it into static executables with libmilm_runtime.a.
 *
 * Weights (f32, at the offsets planWeightLayout() gives this order):
 *   output.weight             [V, V]  table: row t holds the logits after token t
 *   token_embd.weight         [V, H]
 *   blk.0.ffn_up_exps.weight  [2, 4, H]  (stacked from two parts; only checksummed)
 * For a token t at position p, the KV cache gets, for each layer l,
 *   k[l][p][0][d] = t + d + l and v[l][p][0][d] = p   (raw uint16, not f16)
 * and its logits are, for every v (float arithmetic, one operation at a time):
 *   h = (sum over q <= p of k[0][q][0][0] * (q + 1)) % 1000
 *   logit[v] = table[t][v] + (0.001f * h) * ((v % 5) - 2) + emb[t][v % H]
 * so they depend on every earlier position's cache entry: prefill and decode
 * must agree, and a cache the runtime failed to keep would show.
 *
 * FakeDraft.c includes this file with FAKE_DRAFT defined: the same model under
 * the draft's symbols (milm_draft_forward, milm_draft_model_descriptor), its
 * logits changed by +0.5 where (7 t + 3 p + v) % 11 == 0, so that it proposes
 * what the model would not at some positions, a draft that speculative
 * decoding partly accepts.
 *===----------------------------------------------------------------------===*/
#include "milm/model_abi.h"

#ifndef FAKE_HASH
#define FAKE_HASH 0x6d696c6d66616b65ull /* "milmfake" */
#endif
#ifndef FAKE_TARGET
#if defined(__x86_64__)
#define FAKE_TARGET "x86_64-unknown-linux-gnu"
#elif defined(__aarch64__)
#define FAKE_TARGET "aarch64-unknown-linux-gnu"
#else
#define FAKE_TARGET "unknown"
#endif
#endif

#define V 320
#define H 8
#define LAYERS 2
#define KV_HEADS 1
#define HEAD_DIM 4
#define CAPACITY 64
#define MAX_TOKENS 8
#define ALIGN64(x) (((x) + 63u) / 64u * 64u)
#define TABLE_OFFSET 0u
#define EMB_OFFSET ALIGN64(TABLE_OFFSET + V * V * 4u)
#define EXPS_OFFSET ALIGN64(EMB_OFFSET + V * H * 4u)
#define WEIGHTS_BYTES ALIGN64(EXPS_OFFSET + 2u * 4u * H * 4u)

const milm_model_desc milm_model_descriptor = {
    MILM_MODEL_ABI_VERSION, 0, FAKE_HASH, "fake", FAKE_TARGET,
    V, H, LAYERS, 2 /* heads */, KV_HEADS, HEAD_DIM, CAPACITY, MAX_TOKENS,
    256 /* arena bytes */, WEIGHTS_BYTES, "" /* CPU features */};

/* For the tests: the offsets above, in the order output, token_embd, ffn_up_exps. */
const unsigned long long fake_model_offsets[3] = {TABLE_OFFSET, EMB_OFFSET, EXPS_OFFSET};

struct row_task {
  int32_t token, pos;
  const float *table; /* row t */
  const float *emb;   /* row t */
  float scale;        /* 0.001f * h */
  float *out;
};

static void row_fn(void *arg, int64_t begin, int64_t end) {
  const struct row_task *r = (const struct row_task *)arg;
  for (int64_t v = begin; v < end; ++v) {
    float a = r->scale * (float)((int)(v % 5) - 2);
    float b = r->table[v] + a;
    r->out[v] = b + r->emb[v % H];
#ifdef FAKE_DRAFT
    if ((7 * (int64_t)r->token + 3 * (int64_t)r->pos + v) % 11 == 0)
      r->out[v] += 0.5f;
#endif
  }
}

static uint16_t *kv_at(uint16_t *kv, int l, int kind, int64_t pos) {
  return kv + ((((int64_t)l * 2 + kind) * CAPACITY + pos) * KV_HEADS) * HEAD_DIM;
}

int32_t milm_forward(milm_exec *ex, const uint8_t *weights, uint16_t *kv, uint8_t *arena,
                     const int32_t *tokens, const int32_t *positions, int64_t n_tokens,
                     int32_t all_logits, float *logits) {
  if (n_tokens < 1 || n_tokens > MAX_TOKENS)
    return 1;
  for (int64_t i = 0; i < n_tokens; ++i) {
    if (positions[i] < 0 || positions[i] >= CAPACITY)
      return 2;
    if (tokens[i] < 0 || tokens[i] >= V)
      return 4;
  }
  if (((uintptr_t)arena & 63) != 0 || ((uintptr_t)weights & 63) != 0)
    return 3;
  const float *table = (const float *)(weights + TABLE_OFFSET);
  const float *emb = (const float *)(weights + EMB_OFFSET);
  uint32_t *hist = (uint32_t *)arena; /* scratch: one value per token */
  for (int64_t i = 0; i < n_tokens; ++i) {
    int32_t t = tokens[i], p = positions[i];
    for (int l = 0; l < LAYERS; ++l)
      for (int d = 0; d < HEAD_DIM; ++d) {
        kv_at(kv, l, 0, p)[d] = (uint16_t)(t + d + l);
        kv_at(kv, l, 1, p)[d] = (uint16_t)p;
      }
    uint32_t h = 0;
    for (int32_t q = 0; q <= p; ++q)
      h += (uint32_t)kv_at(kv, 0, 0, q)[0] * (uint32_t)(q + 1);
    hist[i] = h % 1000u;
  }
  for (int64_t i = 0; i < n_tokens; ++i) {
    if (!all_logits && i != n_tokens - 1)
      continue;
    struct row_task r;
    r.token = tokens[i];
    r.pos = positions[i];
    r.table = table + (int64_t)tokens[i] * V;
    r.emb = emb + (int64_t)tokens[i] * H;
    r.scale = 0.001f * (float)hist[i];
    r.out = logits + (all_logits ? i * V : 0);
    milm_rt_parallel_for(ex, V, 16, row_fn, &r);
  }
  return 0;
}
