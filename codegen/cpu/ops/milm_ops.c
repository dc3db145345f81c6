/*===- milm_ops.c - the op layer generated model code calls ---------------===*
 *
 * One function per heavy milm op (products, attention, rope, embedding
 * lookup, MoE); norms and elementwise ops are linalg in the generated code
 * (codegen/cpu/LowerToCPU.cpp). Generated code calls them with compile-time
 * constant shapes, formats and offsets; they split the work across the
 * runtime's threads (milm_rt_parallel_for) and call the microkernels of
 * codegen/ukernels. This file is compiled to LLVM bitcode with the
 * microkernels and linked into every model's module, where the calls inline
 * and the constant format switches fold: there is no interpreter here, only
 * the loops around one kernel each.
 *===---------------------------------------------------------------------===*/
#include "milm_ops.h"
#include "milm_ukernels.h"

#include <stddef.h>
#include <stdint.h>

typedef void (*milm_task_fn)(void *arg, int64_t begin, int64_t end);
void milm_rt_parallel_for(milm_exec *ex, int64_t n, int64_t grain, milm_task_fn fn, void *arg);
/* The per-op profile (runtime/include/milm/model_abi.h; op kinds as there). */
uint64_t milm_rt_op_begin(milm_exec *ex);
/* Token-tree evaluation: the mask, NULL for ordinary calls (model_abi.h). */
const uint8_t *milm_rt_tree_mask(milm_exec *ex);
void milm_rt_op_end(milm_exec *ex, uint64_t t0, int32_t op, uint32_t format, uint64_t bytes);
enum { OP_LINEAR = 0, OP_LOGITS = 1, OP_ATTENTION = 2, OP_MOE = 3 };

/* ---- linear / logits ------------------------------------------------------ */

typedef struct {
  uint32_t format;
  const void *w;
  const void *xq; /* quantized activations, or the f32 x for float formats */
  const float *x;
  int64_t K, T;
  float *y;
  int64_t ldy;
  int64_t group; /* milm_uk_row_group(format): the task range counts groups of rows */
  const uint16_t *side; /* outlier columns added to the rows (k > 0), else NULL */
  const int32_t *cols;
  int64_t k;
} matmul_task;

static void matmul_rows(void *arg, int64_t begin, int64_t end) {
  const matmul_task *m = (const matmul_task *)arg;
  begin *= m->group;
  end *= m->group;
  switch (m->format) {
  case MILM_UK_F32: milm_uk_matmul_f32(m->w, m->x, m->K, m->y, m->ldy, m->T, m->K, begin, end, NULL); break;
  case MILM_UK_F16: milm_uk_matmul_f16(m->w, m->x, m->K, m->y, m->ldy, m->T, m->K, begin, end, NULL); break;
  case MILM_UK_BF16: milm_uk_matmul_bf16(m->w, m->x, m->K, m->y, m->ldy, m->T, m->K, begin, end, NULL); break;
  case MILM_UK_Q4_0: milm_uk_matmul_q4_0_q8(m->w, m->xq, m->y, m->ldy, m->T, m->K, begin, end); break;
  case MILM_UK_Q4_0_X8: milm_uk_matmul_q4_0x8_q8(m->w, m->xq, m->y, m->ldy, m->T, m->K, begin, end); break;
  case MILM_UK_Q4_1: milm_uk_matmul_q4_1_q8(m->w, m->xq, m->y, m->ldy, m->T, m->K, begin, end); break;
  case MILM_UK_Q5_0: milm_uk_matmul_q5_0_q8(m->w, m->xq, m->y, m->ldy, m->T, m->K, begin, end); break;
  case MILM_UK_Q5_1: milm_uk_matmul_q5_1_q8(m->w, m->xq, m->y, m->ldy, m->T, m->K, begin, end); break;
  case MILM_UK_Q8_0: milm_uk_matmul_q8_0_q8(m->w, m->xq, m->y, m->ldy, m->T, m->K, begin, end); break;
  case MILM_UK_Q8_0_X8: milm_uk_matmul_q8_0x8_q8(m->w, m->xq, m->y, m->ldy, m->T, m->K, begin, end); break;
  case MILM_UK_Q4_K_X8: milm_uk_matmul_q4_kx8_q8(m->w, m->xq, m->y, m->ldy, m->T, m->K, begin, end); break;
  case MILM_UK_Q4_K: milm_uk_matmul_q4_k_q8(m->w, m->xq, m->y, m->ldy, m->T, m->K, begin, end); break;
  case MILM_UK_Q5_K: milm_uk_matmul_q5_k_q8(m->w, m->xq, m->y, m->ldy, m->T, m->K, begin, end); break;
  case MILM_UK_Q6_K_X8: milm_uk_matmul_q6_kx8_q8(m->w, m->xq, m->y, m->ldy, m->T, m->K, begin, end); break;
  case MILM_UK_Q6_K: milm_uk_matmul_q6_k_q8(m->w, m->xq, m->y, m->ldy, m->T, m->K, begin, end); break;
  case MILM_UK_Q4_G128: milm_uk_matmul_q4_g128_q8(m->w, m->xq, m->y, m->ldy, m->T, m->K, begin, end); break;
  case MILM_UK_Q4_G128_X8: milm_uk_matmul_q4_g128x8_q8(m->w, m->xq, m->y, m->ldy, m->T, m->K, begin, end); break;
  case MILM_UK_Q4_G256: milm_uk_matmul_q4_g256_q8(m->w, m->xq, m->y, m->ldy, m->T, m->K, begin, end); break;
  case MILM_UK_Q4_G256_X8: milm_uk_matmul_q4_g256x8_q8(m->w, m->xq, m->y, m->ldy, m->T, m->K, begin, end); break;
  case MILM_UK_Q4_G64: milm_uk_matmul_q4_g64_q8(m->w, m->xq, m->y, m->ldy, m->T, m->K, begin, end); break;
  case MILM_UK_Q4_G64_X8: milm_uk_matmul_q4_g64x8_q8(m->w, m->xq, m->y, m->ldy, m->T, m->K, begin, end); break;
  case MILM_UK_Q4_0_X32: milm_uk_matmul_q4_0x32_q8(m->w, m->xq, m->y, m->ldy, m->T, m->K, begin, end); break;
  case MILM_UK_Q8_0_X32: milm_uk_matmul_q8_0x32_q8(m->w, m->xq, m->y, m->ldy, m->T, m->K, begin, end); break;
  default: break;
  }
  if (m->k > 0)
    milm_uk_outlier_columns_f16(m->side, m->cols, m->k, m->x, m->K, m->y, m->ldy, m->T, begin,
                                end);
}

/* Rows per task at least: enough work per chunk (about 64K multiply-adds) that
 * scheduling costs little, and no more, so that the pool's last chunks are
 * small (a prompt's T tokens make each row T times the work). */
static int64_t row_grain(int64_t K, int64_t T) {
  const int64_t work = (K > 0 ? K : 1) * (T > 0 ? T : 1);
  const int64_t g = 65536 / work;
  return g < 1 ? 1 : g;
}

typedef struct {
  uint32_t format;
  const float *x;
  int64_t K;
  char *xq;
  size_t row_bytes;
} quantize_task;

static void quantize_rows(void *arg, int64_t begin, int64_t end) {
  const quantize_task *q = (const quantize_task *)arg;
  milm_uk_quantize_act(q->format, q->x + begin * q->K, q->K, end - begin, q->K,
                       q->xq + (size_t)begin * q->row_bytes);
}

/* x[T, K] -> its 8-bit activations for `format` in xq, the tokens split across
 * the pool (a prompt's quantization is otherwise a serial stretch that leaves
 * the other threads waiting). */
static void quantize_act(milm_exec *ex, uint32_t format, const float *x, int64_t T, int64_t K,
                         void *xq) {
  quantize_task q = {format, x, K, (char *)xq, milm_uk_act_row_bytes(format, K)};
  const int64_t grain = 16384 / (K > 0 ? K : 1);
  milm_rt_parallel_for(ex, T, grain < 1 ? 1 : grain, quantize_rows, &q);
}

/* y[T, N] = x[T, K] * W[N, K]^T (+ bias), W in `format`; xq_scratch holds
 * T * act_row_bytes(format, K) bytes. With xq_ready, it already holds x's
 * activations for this format's kind (the previous linear had the same input:
 * q/k/v, gate/up) and x is not quantized again. */
static void linear(milm_exec *ex, uint32_t format, const void *w, const float *bias,
                   const float *x, int64_t T, int64_t K, int64_t N, float *y, void *xq_scratch,
                   int32_t xq_ready, const uint16_t *side, const int32_t *cols, int64_t k) {
  const int64_t group = milm_uk_row_group(format);
  matmul_task m = {format, w, x, x, K, T, y, N, group, side, cols, k};
  if (milm_uk_act_kind(format) != MILM_UK_ACT_F32) {
    if (!xq_ready)
      quantize_act(ex, format, x, T, K, xq_scratch);
    m.xq = xq_scratch;
  }
  milm_rt_parallel_for(ex, N / group, (row_grain(K, T) + group - 1) / group, matmul_rows, &m);
  if (bias)
    for (int64_t t = 0; t < T; ++t)
      milm_uk_add(y + t * N, bias, y + t * N, N);
}

void milm_op_linear(MILM_OP_PARAMS(MILM_OP_LINEAR)) {
  const uint64_t t0 = milm_rt_op_begin(ex);
  linear(ex, format, w, bias, x, T, K, N, y, xq_scratch, xq_ready, side, cols, k);
  milm_rt_op_end(ex, t0, OP_LINEAR, format,
                 (uint64_t)N * (milm_uk_weight_row_bytes(format, K) + 2 * (uint64_t)k));
}

/* Logits of all T rows, or of the last row only (written at y[0..N)). */
void milm_op_logits(MILM_OP_PARAMS(MILM_OP_LOGITS)) {
  const uint64_t t0 = milm_rt_op_begin(ex);
  if (!all_rows) {
    x += (T - 1) * K;
    T = 1;
  }
  linear(ex, format, w, NULL, x, T, K, N, y, xq_scratch, 0, NULL, NULL, 0);
  milm_rt_op_end(ex, t0, OP_LOGITS, format, (uint64_t)N * milm_uk_weight_row_bytes(format, K));
}

/* ---- small ops ---------------------------------------------------------- */

void milm_op_embedding(MILM_OP_PARAMS(MILM_OP_EMBEDDING)) {
  milm_uk_embedding(format, table, dim, tokens, T, out, dim);
}

/* In place on x[T, heads * head_dim]. */
void milm_op_rope(MILM_OP_PARAMS(MILM_OP_ROPE)) {
  milm_uk_rope_params p;
  p.pairing = pairing;
  p.rotary_dim = rotary_dim;
  p.base = base;
  p.scaling = scaling;
  p.factor = factor;
  p.orig_ctx = orig_ctx;
  p.ext_factor = 1.0f;
  p.attn_factor = 1.0f;
  p.beta_fast = 32.0f;
  p.beta_slow = 1.0f;
  milm_uk_rope(x, heads * head_dim, T, heads, head_dim, pos, &p);
}

/* In place on x[T, n]. */
void milm_op_hadamard(MILM_OP_PARAMS(MILM_OP_HADAMARD)) { milm_uk_hadamard(x, n, T, n, block); }

/* y += x[:, cols] side^T, rows split across the pool. */
typedef struct {
  const uint16_t *side;
  const int32_t *cols;
  int64_t k;
  const float *x;
  int64_t T, K, N;
  float *y;
} outlier_task;

static void outlier_rows(void *arg, int64_t begin, int64_t end) {
  const outlier_task *m = (const outlier_task *)arg;
  milm_uk_outlier_columns_f16(m->side, m->cols, m->k, m->x, m->K, m->y, m->N, m->T, begin, end);
}

void milm_op_outlier_columns(MILM_OP_PARAMS(MILM_OP_OUTLIER_COLUMNS)) {
  outlier_task m = {side, cols, k, x, T, K, N, y};
  milm_rt_parallel_for(ex, N, row_grain(k, T), outlier_rows, &m);
}

/* ---- attention ------------------------------------------------------------ */

typedef struct {
  const float *q, *k, *v;
  uint16_t *kc, *vc;
  float *out;
  const int32_t *pos;
  int64_t T, H, KV, HD;
  float scale;
} attn_task;

static void attn_groups(void *arg, int64_t begin, int64_t end) {
  const attn_task *a = (const attn_task *)arg;
  int64_t group = a->H / a->KV;
  milm_uk_attention_f16kv(a->q, a->H * a->HD, NULL, 0, NULL, 0, a->kc, a->vc, a->out,
                          a->H * a->HD, a->pos, a->T, a->H, a->KV, a->HD, a->scale,
                          begin * group, end * group);
}

/* A token tree (milm_rt_tree_mask, model_abi.h): token i sees the cache
 * before base = pos[0] and its ancestors. Every token's keys and values go
 * to its own slot base + S + i (S: the deepest depth + 1), kept for the
 * runtime to move the accepted branch into place; then, one token at a time,
 * its ancestors' rows and its own are written at base + depth (the branch
 * laid out as if evaluated alone) and it attends causally over base + its
 * depth: the same keys in the same order through the same kernel as its
 * branch alone, so the same outputs, bit for bit. */
static void attention_tree(milm_exec *ex, const uint8_t *tree, const float *q, const float *k,
                           const float *v, uint16_t *kc, uint16_t *vc, int64_t capacity,
                           const int32_t *pos, int64_t T, int64_t H, int64_t KV, int64_t HD,
                           float scale, float *out) {
  const int32_t base = pos[0];
  int32_t S = 0;
  for (int64_t i = 0; i < T; ++i)
    S = pos[i] - base + 1 > S ? pos[i] - base + 1 : S;
  if (base + (int64_t)S + T > capacity)
    return; /* the runtime guarantees the room (model_abi.h) */
  const int64_t ld = KV * HD;
  for (int64_t i = 0; i < T; ++i) {
    const int32_t slot = base + S + (int32_t)i;
    milm_uk_kv_append_f16(k + i * ld, ld, v + i * ld, ld, kc, vc, &slot, 1, KV, HD, 0, KV);
  }
  for (int64_t i = 0; i < T; ++i) {
    for (int64_t j = 0; j <= i; ++j)
      if (tree[i * T + j])
        milm_uk_kv_append_f16(k + j * ld, ld, v + j * ld, ld, kc, vc, &pos[j], 1, KV, HD, 0, KV);
    attn_task a = {q + i * H * HD, NULL, NULL, kc, vc, out + i * H * HD, &pos[i], 1, H, KV, HD,
                   scale};
    milm_rt_parallel_for(ex, KV, 1, attn_groups, &a);
  }
}

/* kv_layer points at this layer's K cache; its V cache follows `capacity`
 * positions later. Appends the new keys/values, then attends, kv-head groups
 * split across threads. */
void milm_op_attention(MILM_OP_PARAMS(MILM_OP_ATTENTION)) {
  const uint64_t t0 = milm_rt_op_begin(ex);
  uint16_t *kc = kv_layer, *vc = kv_layer + capacity * KV * HD;
  const uint8_t *tree = milm_rt_tree_mask(ex);
  if (tree) {
    attention_tree(ex, tree, q, k, v, kc, vc, capacity, pos, T, H, KV, HD, scale, out);
  } else {
    milm_uk_kv_append_f16(k, KV * HD, v, KV * HD, kc, vc, pos, T, KV, HD, 0, KV);
    attn_task a = {q, k, v, kc, vc, out, pos, T, H, KV, HD, scale};
    milm_rt_parallel_for(ex, KV, 1, attn_groups, &a);
  }
  milm_rt_op_end(ex, t0, OP_ATTENTION, 0, 0);
}

/* ---- mixture of experts ----------------------------------------------------- */

/* y[T, D] = sum over the top_k experts e of token t of
 *   weight * down_e(silu(gate_e x) * up_e x).
 * Only the selected experts' weights are read, each once per call: the tokens
 * routed to expert e are gathered and go through its three products together
 * (multi-token kernels), then each token's top_k results are summed in its own
 * slot order, so a token's output does not depend on the other tokens of the
 * call (prefill == decode). scratch (milm_moe_scratch_bytes): router logits
 * [T, E], ids and weights [T, k], gathered inputs [T, D], gate and up [T, F],
 * expert outputs [T, D], per-slot results [T, k, D], and the gathered tokens'
 * (token, slot) pairs [T] x 2; xq_scratch: the quantized activations of T rows. */
void milm_op_moe(MILM_OP_PARAMS(MILM_OP_MOE)) {
  /* Its products are recorded as linears; the op's own time is the rest. */
  const uint64_t t0 = milm_rt_op_begin(ex);
  float *logits = (float *)scratch;
  int32_t *ids = (int32_t *)(logits + T * E);
  float *wts = (float *)(ids + T * top_k);
  float *xg = wts + T * top_k;
  float *g = xg + T * D;
  float *u = g + T * F;
  float *o = u + T * F;
  float *parts = o + T * D;
  int32_t *rows = (int32_t *)(parts + T * top_k * D);
  int32_t *slots = rows + T;
  milm_op_linear(ex, router_format, router, NULL, x, T, D, E, logits, xq_scratch, 0, NULL, NULL,
                 0);
  milm_uk_moe_route(logits, E, T, E, top_k, mode, ids, wts);
  size_t gateBytes = milm_uk_weight_row_bytes(gate_format, D) * (size_t)F;
  size_t upBytes = milm_uk_weight_row_bytes(up_format, D) * (size_t)F;
  size_t downBytes = milm_uk_weight_row_bytes(down_format, F) * (size_t)D;
  /* up reads the gathered inputs gate has just quantized, when both use the
   * same activation blocks. */
  const int32_t up_reuses_xq =
      milm_uk_act_kind(gate_format) == milm_uk_act_kind(up_format) &&
      milm_uk_act_kind(up_format) != MILM_UK_ACT_F32;
  for (int64_t e = 0; e < E; ++e) {
    int64_t n = 0;
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < top_k; ++j)
        if (ids[t * top_k + j] == e) {
          rows[n] = (int32_t)t;
          slots[n] = (int32_t)j;
          for (int64_t i = 0; i < D; ++i)
            xg[n * D + i] = x[t * D + i];
          ++n;
        }
    if (n == 0)
      continue;
    milm_op_linear(ex, gate_format, (const uint8_t *)gate + e * gateBytes, NULL, xg, n, D, F, g,
                   xq_scratch, 0, NULL, NULL, 0);
    milm_op_linear(ex, up_format, (const uint8_t *)up + e * upBytes, NULL, xg, n, D, F, u,
                   xq_scratch, up_reuses_xq, NULL, NULL, 0);
    milm_uk_swiglu(g, u, g, n * F);
    milm_op_linear(ex, down_format, (const uint8_t *)down + e * downBytes, NULL, g, n, F, D, o,
                   xq_scratch, 0, NULL, NULL, 0);
    for (int64_t r = 0; r < n; ++r) {
      float *dst = parts + ((int64_t)rows[r] * top_k + slots[r]) * D;
      for (int64_t i = 0; i < D; ++i)
        dst[i] = o[r * D + i];
    }
  }
  for (int64_t t = 0; t < T; ++t) {
    float *yt = y + t * D;
    for (int64_t i = 0; i < D; ++i)
      yt[i] = 0.0f;
    for (int64_t j = 0; j < top_k; ++j) {
      const float wt = wts[t * top_k + j];
      const float *pj = parts + (t * top_k + j) * D;
      for (int64_t i = 0; i < D; ++i)
        yt[i] += wt * pj[i];
    }
  }
  milm_rt_op_end(ex, t0, OP_MOE, 0, 0);
}
