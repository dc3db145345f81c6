/*===- model_abi.h - generated model code <-> runtime contract ----------===*
 *
 * `milmc compile` emits one object file per model. It defines the symbols
 * below; the runtime (runtime/src) defines the ones it calls back. Plain C so
 * that both sides agree whatever compiled them.
 *
 * Memory the generated code touches, all owned by the runtime:
 *   weights  the weight section of model.milm, mapped read-only; each weight
 *            sits at the offset the compiler chose (milm_model_desc lists none:
 *            the offsets are constants inside the code, and the artifact's
 *            tensor table records the same ones for checking).
 *   kv       the KV cache, f16, laid out [layers][2 (k, v)][capacity][kv_heads][head_dim];
 *            a pruned model's layers may have different kv_heads
 *            (milm_model_desc.layer_kv_heads): each layer's slice follows the
 *            slices of the layers before it.
 *   arena    scratch of milm_model_desc.arena_bytes bytes, 64-byte aligned.
 *===---------------------------------------------------------------------===*/
#ifndef MILM_MODEL_ABI_H
#define MILM_MODEL_ABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MILM_MODEL_ABI_VERSION 5 /* 5: milm_model_desc.layer_kv_heads */
/* The most KV-cache positions the runtime takes (token positions are int32). */
#define MILM_MODEL_MAX_KV_CAPACITY INT32_MAX

/* Bytes of a model's KV cache, f16 [layers][2][capacity][kv_heads][head_dim]
 * (see `kv` below): what milm_context_new allocates and milmc warns about.
 * Sets *bytes and returns 1, or returns 0 when a size is negative or the
 * product does not fit in 64 bits. */
static inline int milm_kv_cache_bytes(int64_t layers, int64_t capacity, int64_t kv_heads,
                                      int64_t head_dim, uint64_t *bytes) {
  uint64_t b = 2 * 2; /* k and v, 2 bytes each */
  if (layers < 0 || capacity < 0 || kv_heads < 0 || head_dim < 0 ||
      __builtin_mul_overflow(b, (uint64_t)layers, &b) ||
      __builtin_mul_overflow(b, (uint64_t)capacity, &b) ||
      __builtin_mul_overflow(b, (uint64_t)kv_heads, &b) ||
      __builtin_mul_overflow(b, (uint64_t)head_dim, &b))
    return 0;
  *bytes = b;
  return 1;
}

typedef struct milm_exec milm_exec; /* runtime-owned: thread pool and friends */

/* ---- provided by the runtime, called by generated code ------------------ */

/* Runs fn(arg, begin, end) over [0, n) split into chunks of at least `grain`
 * items across the runtime's threads, and returns when all are done. */
typedef void (*milm_task_fn)(void *arg, int64_t begin, int64_t end);
void milm_rt_parallel_for(milm_exec *ex, int64_t n, int64_t grain, milm_task_fn fn, void *arg);

/* Per-op profile (milm-run --profile). The op layer brackets each heavy op:
 * t0 = milm_rt_op_begin(ex) (0 when profiling is off: then nothing is
 * recorded), then milm_rt_op_end(ex, t0, op, format, bytes) with the weight
 * bytes the op read. An op called inside another (a MoE's expert products) is
 * recorded on its own and its time is taken off the outer op's. */
enum {
  MILM_OP_LINEAR = 0,
  MILM_OP_LOGITS = 1,
  MILM_OP_ATTENTION = 2,
  MILM_OP_MOE = 3,
  MILM_OP_KINDS = 4
};
uint64_t milm_rt_op_begin(milm_exec *ex);
void milm_rt_op_end(milm_exec *ex, uint64_t t0, int32_t op, uint32_t format, uint64_t bytes);

/* Token-tree evaluation (speculative decoding with several candidate
 * continuations; milm_eval_tree): NULL during an ordinary call. Otherwise the
 * call's n_tokens tokens form a tree: entry [i * n_tokens + j] of the mask is
 * non-zero when token j is token i or one of its ancestors (token 0 is the
 * root, ancestors come before their descendants), and positions[i] is
 * positions[0] + the depth of token i. Attention then lets each token see
 * the cache before positions[0] and its own ancestors, exactly as if its
 * branch had been evaluated alone. The cache afterwards: with S the deepest
 * depth + 1, slots positions[0] + S + i hold token i's keys and values (the
 * runtime moves the accepted branch's down to positions[0].. itself), and
 * slots positions[0] .. + S - 1 are scratch; the runtime guarantees
 * positions[0] + S + n_tokens <= kv_capacity. Only code whose descriptor has
 * MILM_MODEL_FLAG_TREE_ATTENTION reads it. */
const uint8_t *milm_rt_tree_mask(milm_exec *ex);

/* ---- defined by generated code ------------------------------------------ */

/* milm_model_desc.flags */
#define MILM_MODEL_FLAG_TREE_ATTENTION 1u /* attention honours milm_rt_tree_mask */

typedef struct milm_model_desc {
  uint32_t abi_version;      /* MILM_MODEL_ABI_VERSION */
  uint32_t flags;            /* MILM_MODEL_FLAG_* */
  uint64_t model_hash;       /* hash of the tensor table; model.milm carries the same */
  const char *model_name;
  const char *target;        /* "x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu" */
  int64_t vocab_size;
  int64_t hidden_size;
  int64_t num_layers;
  int64_t num_heads;
  int64_t num_kv_heads;
  int64_t head_dim;
  int64_t kv_capacity;       /* positions the KV cache holds */
  int64_t max_tokens;        /* most tokens one milm_forward call may take */
  uint64_t arena_bytes;      /* scratch milm_forward needs */
  uint64_t weights_bytes;    /* size of the weight section it reads */
  const char *cpu_features;  /* comma-separated ISA features the code needs (names of
                                cpu_features.h); the runtime refuses a CPU without them */
  const int64_t *layer_kv_heads; /* num_layers entries when layers differ (a pruned model),
                                    else NULL: num_kv_heads in every layer */
} milm_model_desc;

/* Layer `layer`'s KV heads. */
static inline int64_t milm_model_layer_kv_heads(const milm_model_desc *d, int64_t layer) {
  return d->layer_kv_heads ? d->layer_kv_heads[layer] : d->num_kv_heads;
}

/* Bytes of the model's KV cache, every layer's slice (milm_kv_cache_bytes
 * for each): sets *bytes and returns 1, or returns 0 on a negative size or
 * an overflow. */
static inline int milm_model_kv_bytes(const milm_model_desc *d, uint64_t *bytes) {
  uint64_t total = 0, layer;
  if (d->num_layers < 0)
    return 0;
  for (int64_t l = 0; l < d->num_layers; ++l)
    if (!milm_kv_cache_bytes(1, d->kv_capacity, milm_model_layer_kv_heads(d, l), d->head_dim,
                             &layer) ||
        __builtin_add_overflow(total, layer, &total))
      return 0;
  *bytes = total;
  return 1;
}

extern const milm_model_desc milm_model_descriptor;

/* Evaluates n_tokens tokens (1 <= n_tokens <= max_tokens) at the given
 * positions (each < kv_capacity), appends their keys and values to the cache,
 * and writes logits: all n_tokens rows of vocab_size floats when all_logits is
 * non-zero, else only the last token's row. Returns 0, or non-zero when the
 * arguments are out of range (nothing is written then). */
int32_t milm_forward(milm_exec *ex, const uint8_t *weights, uint16_t *kv, uint8_t *arena,
                     const int32_t *tokens, const int32_t *positions, int64_t n_tokens,
                     int32_t all_logits, float *logits);

#ifdef __cplusplus
}
#endif

#endif /* MILM_MODEL_ABI_H */
