/*===- milm_ops.h - the op layer's ABI: one list per op --------------------===*
 *
 * The one declaration of the functions generated model code calls
 * (milm_ops.c defines them; codegen/cpu/LowerToCPU.cpp calls them). Each op's
 * parameters are one list, in order:
 *
 *   MILM_OP_<NAME>(FIRST, NEXT): FIRST(C type, name, kind) for the first
 *   parameter, NEXT(C type, name, kind) for each other one
 *
 * where kind says how generated code passes the value: PTR (a pointer), I64,
 * I32 (int32_t or uint32_t) or F32. The prototypes below and the definitions
 * in milm_ops.c expand these lists (MILM_OP_PARAMS), so their parameter order
 * and types cannot drift apart; the lowering expands them into a table of
 * names and kinds and passes every argument by name, checked when it lowers
 * (OpLayer.h): a missing, unknown or repeated name or a value of the wrong
 * kind is an error, and a reordered list reorders the calls with it.
 *
 * Plain C with <stdint.h> only; C++ sees it as extern "C".
 *===---------------------------------------------------------------------===*/
#ifndef MILM_OPS_H
#define MILM_OPS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct milm_exec milm_exec;

/* Looks up row `tokens[t]` of the embedding table for each of T tokens. */
#define MILM_OP_EMBEDDING(FIRST, NEXT)                                                     \
  FIRST(uint32_t, format, I32) NEXT(const void *, table, PTR) NEXT(int64_t, dim, I64)      \
  NEXT(const int32_t *, tokens, PTR) NEXT(int64_t, T, I64) NEXT(float *, out, PTR)

/* y[T, N] = x[T, K] w[N, K]^T (+ bias) (+ x[:, cols] side^T when k > 0: the
 * milm.outlier_columns that follows the product, done by the same tasks on
 * their rows); xq_ready: xq_scratch already holds x quantized as this
 * format's products read it. */
#define MILM_OP_LINEAR(FIRST, NEXT)                                                        \
  FIRST(milm_exec *, ex, PTR) NEXT(uint32_t, format, I32) NEXT(const void *, w, PTR)       \
  NEXT(const float *, bias, PTR) NEXT(const float *, x, PTR) NEXT(int64_t, T, I64)         \
  NEXT(int64_t, K, I64) NEXT(int64_t, N, I64) NEXT(float *, y, PTR)                        \
  NEXT(void *, xq_scratch, PTR) NEXT(int32_t, xq_ready, I32)                               \
  NEXT(const uint16_t *, side, PTR) NEXT(const int32_t *, cols, PTR) NEXT(int64_t, k, I64)

/* The output product: every row when all_rows, else only the last one's. */
#define MILM_OP_LOGITS(FIRST, NEXT)                                                        \
  FIRST(milm_exec *, ex, PTR) NEXT(uint32_t, format, I32) NEXT(const void *, w, PTR)       \
  NEXT(const float *, x, PTR) NEXT(int64_t, T, I64) NEXT(int64_t, K, I64)                  \
  NEXT(int64_t, N, I64) NEXT(float *, y, PTR) NEXT(int32_t, all_rows, I32)                 \
  NEXT(void *, xq_scratch, PTR)

/* Rotary embedding in place on x[T, heads * head_dim] at positions pos. */
#define MILM_OP_ROPE(FIRST, NEXT)                                                          \
  FIRST(float *, x, PTR) NEXT(int64_t, T, I64) NEXT(int64_t, heads, I64)                   \
  NEXT(int64_t, head_dim, I64) NEXT(const int32_t *, pos, PTR) NEXT(int32_t, pairing, I32) \
  NEXT(int32_t, rotary_dim, I32) NEXT(float, base, F32) NEXT(int32_t, scaling, I32)        \
  NEXT(float, factor, F32) NEXT(int32_t, orig_ctx, I32)

/* Appends k, v to one layer of the f16 KV cache, then causal GQA attention. */
#define MILM_OP_ATTENTION(FIRST, NEXT)                                                     \
  FIRST(milm_exec *, ex, PTR) NEXT(const float *, q, PTR) NEXT(const float *, k, PTR)      \
  NEXT(const float *, v, PTR) NEXT(uint16_t *, kv_layer, PTR) NEXT(int64_t, capacity, I64) \
  NEXT(const int32_t *, pos, PTR) NEXT(int64_t, T, I64) NEXT(int64_t, H, I64)              \
  NEXT(int64_t, KV, I64) NEXT(int64_t, HD, I64) NEXT(float, scale, F32)                    \
  NEXT(float *, out, PTR)

/* A mixture of experts: routing (mode: enum milm_uk_moe_mode), the top_k
 * experts' SwiGLU products, the weighted sum. */
#define MILM_OP_MOE(FIRST, NEXT)                                                           \
  FIRST(milm_exec *, ex, PTR) NEXT(const float *, x, PTR) NEXT(int64_t, T, I64)            \
  NEXT(int64_t, D, I64) NEXT(int64_t, F, I64) NEXT(int64_t, E, I64)                        \
  NEXT(int64_t, top_k, I64) NEXT(int32_t, mode, I32) NEXT(uint32_t, router_format, I32)    \
  NEXT(const void *, router, PTR) NEXT(uint32_t, gate_format, I32)                         \
  NEXT(const void *, gate, PTR) NEXT(uint32_t, up_format, I32) NEXT(const void *, up, PTR) \
  NEXT(uint32_t, down_format, I32) NEXT(const void *, down, PTR) NEXT(float *, y, PTR)     \
  NEXT(uint8_t *, scratch, PTR) NEXT(void *, xq_scratch, PTR)

/* In place on x[T, n]: milm.hadamard. */
#define MILM_OP_HADAMARD(FIRST, NEXT)                                                      \
  FIRST(float *, x, PTR) NEXT(int64_t, T, I64) NEXT(int64_t, n, I64) NEXT(int64_t, block, I64)

/* In place on y[T, N]: y += x[:, cols] side^T (milm.outlier_columns; side
 * [N, k] f16, cols[k] below K, the input's row length). */
#define MILM_OP_OUTLIER_COLUMNS(FIRST, NEXT)                                               \
  FIRST(milm_exec *, ex, PTR) NEXT(const uint16_t *, side, PTR)                            \
  NEXT(const int32_t *, cols, PTR) NEXT(int64_t, k, I64) NEXT(const float *, x, PTR)       \
  NEXT(int64_t, T, I64) NEXT(int64_t, K, I64) NEXT(int64_t, N, I64) NEXT(float *, y, PTR)

/* Every op: OP(name, its list). */
#define MILM_OP_LAYER(OP)                                                                  \
  OP(embedding, MILM_OP_EMBEDDING)                                                         \
  OP(linear, MILM_OP_LINEAR)                                                               \
  OP(logits, MILM_OP_LOGITS)                                                               \
  OP(rope, MILM_OP_ROPE)                                                                   \
  OP(hadamard, MILM_OP_HADAMARD)                                                           \
  OP(outlier_columns, MILM_OP_OUTLIER_COLUMNS)                                             \
  OP(attention, MILM_OP_ATTENTION)                                                         \
  OP(moe, MILM_OP_MOE)

/* The parameter list of an op: void milm_op_linear(MILM_OP_PARAMS(MILM_OP_LINEAR)). */
#define MILM_OP_PARAM_FIRST_(type, name, kind) type name
#define MILM_OP_PARAM_NEXT_(type, name, kind) , type name
#define MILM_OP_PARAMS(LIST) LIST(MILM_OP_PARAM_FIRST_, MILM_OP_PARAM_NEXT_)

#define MILM_OP_DECLARE_(name, LIST) void milm_op_##name(MILM_OP_PARAMS(LIST));
MILM_OP_LAYER(MILM_OP_DECLARE_)
#undef MILM_OP_DECLARE_

#ifdef __cplusplus
}
#endif

#endif /* MILM_OPS_H */
