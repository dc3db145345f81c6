/*===- milm.h - The milm runtime's C API -----------------------------------===*
 *
 * A model compiled by `milmc compile` is an executable (or an object a device
 * team links) plus its weight file, model.milm. This header is how an
 * application drives it: open the weights, tokenize, evaluate tokens, sample,
 * or run a whole generation with a callback per token.
 *
 *   milm_model *m = milm_model_open("model.milm", NULL);
 *   if (!m) { fprintf(stderr, "%s\n", milm_last_error()); return 1; }
 *   milm_context *ctx = milm_context_new(m, NULL);
 *   milm_sampler *s = milm_sampler_new(NULL);
 *   milm_generate(ctx, s, "Once upon a time", 128, on_token, NULL, &stats);
 *   milm_sampler_free(s); milm_context_free(ctx); milm_model_close(m);
 *
 * Speculative decoding (milm_generate_speculative): a draft model compiled into
 * the same executable (`milmc compile --draft`, milm_model_open_draft) or
 * prompt lookup proposes tokens; the model checks them all in one evaluation.
 *
 * One binary holds the code of one model: milm_model_open() accepts only the
 * model.milm written for that code (same model hash, target and dimensions).
 *
 * Errors: functions return NULL or -1 (0 for milm_model_hash and
 * milm_sampler_seed) and set a one-line message for the calling thread, read
 * with milm_last_error(). A NULL handle, a NULL buffer with a non-zero
 * capacity and out-of-range sampler parameters are such errors; the functions
 * that return nothing (close, free, accept, reset) ignore a NULL handle. Using
 * a handle after it was closed or freed is undefined. A model may be shared by threads; a
 * context and a sampler belong to one thread at a time.
 *
 * Applications need only this header; model_abi.h is the generated code's
 * contract (its descriptor is `milm_model_descriptor`), and the two can be
 * included together.
 *===----------------------------------------------------------------------===*/
#ifndef MILM_H
#define MILM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MILM_API_VERSION 2

typedef struct milm_model milm_model;     /* model.milm, mapped and checked */
typedef struct milm_context milm_context; /* one sequence: KV cache, threads, logits */
typedef struct milm_sampler milm_sampler;

/* The calling thread's last error message, "" when none. */
const char *milm_last_error(void);

/* ---- Model ------------------------------------------------------------- */

typedef struct milm_model_params {
  int32_t verify_checksums; /* recompute every tensor's checksum when opening (default 1) */
  int32_t n_threads;        /* threads for that (0: one per CPU) */
  int32_t use_mmap;         /* map the file rather than read it into memory (default 0):
                               faster start, slower decoding (artifact.h: Artifact::Load);
                               a file over 90% of the available memory is mapped anyway */
} milm_model_params;

milm_model_params milm_model_default_params(void);

/* The model.milm next to the running executable (what a NULL path opens,
 * unless the executable embeds its weights: `milmc compile --embed-weights`). */
const char *milm_default_model_path(void);

/* Maps `path` (NULL: the artifact embedded in the executable if there is one,
 * else milm_default_model_path()) and checks it: structure,
 * version, that it belongs to the compiled model, and (when asked) the tensor
 * checksums. NULL on error. `params` may be NULL (defaults). */
milm_model *milm_model_open(const char *path, const milm_model_params *params);
void milm_model_close(milm_model *model);

/* The model code of a package (`milmc compile --emit package`), by its
 * descriptor and entry point (model_abi.h): what milm_<name>_open() in the
 * package's milm_<name>.h calls, so that several packages' models open in one
 * program. The weights are at `path`. NULL on error. */
struct milm_model_desc;
struct milm_exec;
typedef int32_t (*milm_forward_function)(struct milm_exec *ex, const uint8_t *weights,
                                         uint16_t *kv, uint8_t *arena, const int32_t *tokens,
                                         const int32_t *positions, int64_t n_tokens,
                                         int32_t all_logits, float *logits);
milm_model *milm_model_open_code(const struct milm_model_desc *descriptor,
                                 milm_forward_function forward, const char *path,
                                 const milm_model_params *params);

/* As milm_model_open, for a model.milm already in memory (an asset of an APK,
 * a buffer the application read or mapped): `size` bytes at `data`, which must
 * be 64-byte aligned. By default the bytes are copied (the buffer may be freed
 * after the call); with params->use_mmap they are used where they are and
 * must outlive the model. NULL on error. */
milm_model *milm_model_open_memory(const void *data, size_t size,
                                   const milm_model_params *params);
/* The same for a package's model code (milm_<name>_open_memory). */
milm_model *milm_model_open_code_memory(const struct milm_model_desc *descriptor,
                                        milm_forward_function forward, const void *data,
                                        size_t size, const milm_model_params *params);

/* Non-zero when this executable holds a draft model's code (`milmc compile
 * --draft`). */
int32_t milm_has_draft(void);
/* draft.milm next to the running executable. */
const char *milm_default_draft_path(void);
/* The draft model: as milm_model_open, for the draft's code and its weights
 * (NULL: those embedded in the executable if there are any, else
 * milm_default_draft_path()). NULL on error, also when the executable has no
 * draft. Its contexts are made with milm_context_new like any model's. */
milm_model *milm_model_open_draft(const char *path, const milm_model_params *params);

int32_t milm_model_vocab_size(const milm_model *model);
int32_t milm_model_context_capacity(const milm_model *model); /* positions the KV cache holds */
int32_t milm_model_max_batch(const milm_model *model);        /* tokens per forward call */
const char *milm_model_name(const milm_model *model);
const char *milm_model_target(const milm_model *model);
uint64_t milm_model_hash(const milm_model *model);
int32_t milm_token_bos(const milm_model *model);              /* -1: none */
int32_t milm_token_eos(const milm_model *model);              /* -1: none */
int32_t milm_model_adds_bos(const milm_model *model);         /* prompts start with bos */
/* A few lines describing the model (file, version, target, hash, configuration,
 * tokenizer, weights, compile options). Writes at most `capacity` bytes
 * including the NUL; returns the full length. */
int32_t milm_model_info(const milm_model *model, char *buf, size_t capacity);

/* ---- Tokenizer --------------------------------------------------------- */

/* Encodes `text_len` bytes of `text`; writes at most `capacity` ids and returns
 * how many the text has (call again with a larger buffer when that exceeds
 * capacity), or -1 on error (the model's tokenizer is unsupported).
 * parse_special: control-token text such as "</s>" becomes that token. */
int32_t milm_tokenize(const milm_model *model, const char *text, size_t text_len,
                      int32_t add_bos, int32_t parse_special, int32_t *tokens, int32_t capacity);

/* The bytes of one token (not NUL-terminated, possibly part of a UTF-8
 * character): writes at most `capacity` and returns the full length, or -1. */
int32_t milm_token_to_piece(const milm_model *model, int32_t token, int32_t render_special,
                            char *buf, int32_t capacity);

/* ---- Context and evaluation --------------------------------------------- */

typedef struct milm_context_params {
  int32_t n_ctx;     /* positions to use, <= the model's capacity (0: all of it) */
  int32_t n_threads; /* threads for evaluation (0: one per CPU) */
  int32_t profile;   /* non-zero: time every op (milm_format_profile); default 0 */
} milm_context_params;

milm_context_params milm_context_default_params(void);
/* NULL on error. `params` may be NULL (defaults). */
milm_context *milm_context_new(milm_model *model, const milm_context_params *params);
void milm_context_free(milm_context *ctx);

int32_t milm_context_size(const milm_context *ctx);    /* n_ctx */
int32_t milm_context_threads(const milm_context *ctx);
int32_t milm_n_past(const milm_context *ctx);          /* tokens in the KV cache */
/* Forgets the positions from n_past on (0 <= n_past <= milm_n_past()): the next
 * evaluation continues from there. */
int32_t milm_kv_truncate(milm_context *ctx, int32_t n_past);

/* Evaluates n_tokens tokens at positions milm_n_past().. (in calls of at most
 * milm_model_max_batch() tokens) and appends them to the KV cache. all_logits:
 * keep the logits of every token, else only the last one's. 0, or -1 on error:
 * a bad token id or a full context (checked first: nothing is evaluated), or the
 * model code refusing a call (milm_n_past() then counts the chunks done). */
int32_t milm_eval(milm_context *ctx, const int32_t *tokens, int32_t n_tokens, int32_t all_logits);

/* Evaluates a tree of n_tokens candidate tokens after the context's
 * milm_n_past() tokens in one call (speculative decoding's tree
 * verification): parents[0] is -1 (token 0, the root, follows the context),
 * every other parents[i] is an earlier token (0 <= parents[i] < i). Each
 * token is evaluated as if its branch (root .. its parent, itself) had been
 * evaluated alone after the context, at position milm_n_past() + its depth;
 * the logits of every token are kept (milm_get_logits). The context's tokens
 * do not change until milm_tree_accept(). Needs n_tokens <=
 * milm_model_max_batch(), room in the context for the deepest depth + 1 +
 * n_tokens positions, and model code that takes trees (every model milmc
 * compiles). 0, or -1 on error. */
int32_t milm_eval_tree(milm_context *ctx, const int32_t *tokens, const int32_t *parents,
                       int32_t n_tokens);
/* After milm_eval_tree: appends the branch `path` (n_path node indices of the
 * tree, path[0] == 0 and each the parent of the next) to the context, moving
 * its keys and values into place: nothing is evaluated again. 0, or -1. */
int32_t milm_tree_accept(milm_context *ctx, const int32_t *path, int32_t n_path);

/* Logits (vocab_size floats) of token i of the last milm_eval(): any i in
 * [0, n_tokens) after an all_logits evaluation, else only the last; i = -1 is
 * always the last. NULL when there is no such row. Valid until the next eval. */
const float *milm_get_logits(milm_context *ctx, int32_t i);

/* ---- Sampling ----------------------------------------------------------- */

#define MILM_SEED_RANDOM UINT64_MAX

typedef struct milm_sampler_params {
  float temperature;    /* <= 0: greedy (default 0.8) */
  int32_t top_k;        /* <= 0: off (default 40) */
  float top_p;          /* >= 1: off (default 0.95) */
  float min_p;          /* <= 0: off (default 0.05) */
  float repeat_penalty; /* 1: off (default 1) */
  int32_t repeat_last_n;/* tokens the penalty looks back on (default 64) */
  uint64_t seed;        /* MILM_SEED_RANDOM (default): from the clock */
} milm_sampler_params;

milm_sampler_params milm_sampler_default_params(void);
/* The order of the steps is documented in runtime/include/milm/sampler.h. */
milm_sampler *milm_sampler_new(const milm_sampler_params *params);
void milm_sampler_free(milm_sampler *sampler);
uint64_t milm_sampler_seed(const milm_sampler *sampler); /* the seed in use */
/* Picks a token from n_vocab logits. -1 on error. */
int32_t milm_sample(milm_sampler *sampler, const float *logits, int32_t n_vocab);
/* Records a token for the repetition penalty. */
void milm_sampler_accept(milm_sampler *sampler, int32_t token);
void milm_sampler_reset(milm_sampler *sampler);

/* ---- Generation --------------------------------------------------------- */

/* Called for each generated token with its bytes; return non-zero to stop. */
typedef int32_t (*milm_token_callback)(void *user, int32_t token, const char *piece,
                                       size_t piece_len);

enum milm_stop_reason {
  MILM_STOP_EOS = 0,      /* the model produced its end-of-sequence token */
  MILM_STOP_LENGTH = 1,   /* n_predict tokens generated */
  MILM_STOP_CONTEXT = 2,  /* the context is full */
  MILM_STOP_CALLBACK = 3, /* the callback asked to stop */
  MILM_STOP_ERROR = 4
};

typedef struct milm_generate_stats {
  int32_t prompt_tokens;
  double prompt_seconds;    /* evaluating the prompt */
  int32_t generated_tokens; /* tokens passed to the callback (the final eos is not) */
  double generate_seconds;  /* from the end of the prompt to the last token */
  int32_t stop_reason;      /* enum milm_stop_reason */
  /* Speculative decoding only (0 otherwise): */
  int32_t draft_tokens;     /* tokens proposed by the draft model or prompt lookup */
  int32_t accepted_tokens;  /* of those, accepted by the model */
  int32_t target_forwards;  /* the model's evaluations during generation (each checks the
                               tokens proposed for it and yields one more) */
  int32_t draft_forwards;   /* the draft model's evaluations */
  int32_t speculative;      /* enum milm_spec_kind of the run, 0: plain decoding */
} milm_generate_stats;

/* Appends the prompt's tokens (with bos when the model adds one and the context
 * is empty) to the context, then samples up to n_predict tokens (n_predict < 0:
 * until eos or a full context), passing each to `cb` (may be NULL) and feeding
 * it back. Every prompt and generated token is accepted into the sampler's
 * repetition history. `stats` may be NULL. 0, or -1 on error. */
int32_t milm_generate(milm_context *ctx, milm_sampler *sampler, const char *prompt,
                      int32_t n_predict, milm_token_callback cb, void *user,
                      milm_generate_stats *stats);
/* The same from token ids (nothing is added to them). */
int32_t milm_generate_tokens(milm_context *ctx, milm_sampler *sampler, const int32_t *prompt,
                             int32_t n_prompt, int32_t n_predict, milm_token_callback cb,
                             void *user, milm_generate_stats *stats);

/* ---- Speculative decoding ----------------------------------------------- */

enum milm_spec_kind {
  MILM_SPEC_NONE = 0,
  MILM_SPEC_DRAFT = 1,  /* a draft model proposes */
  MILM_SPEC_LOOKUP = 2, /* prompt lookup proposes */
  MILM_SPEC_BOTH = 3    /* prompt lookup where it finds a match, else the draft model */
};

typedef struct milm_spec_params {
  int32_t n_draft;      /* most tokens proposed per step (default 8); capped by the
                           model's max batch - 1 */
  int32_t n_draft_min;  /* fewest, when adaptive (default 1) */
  int32_t adaptive;     /* non-zero (default): the length follows the acceptance
                           rate, between n_draft_min and n_draft */
  float p_min;          /* the draft model stops proposing at a token it gives less
                           than this probability (default 0.2; 0: never) */
  int32_t lookup;       /* non-zero: prompt lookup proposes (default 0) */
  int32_t ngram_min;    /* prompt lookup: shortest n-gram matched (default 1) */
  int32_t ngram_max;    /* prompt lookup: longest (default 4) */
  int32_t tree_width;   /* greedy only: check up to this many candidate continuations
                           at once as a token tree (milm_eval_tree): lookup's, the
                           draft model's and its runner-up first token (default 1:
                           one chain) */
} milm_spec_params;

milm_spec_params milm_spec_default_params(void);

/* milm_generate with speculation: each step proposes tokens with the draft
 * model (`draft`, a context of the draft model; NULL: none) and/or prompt
 * lookup (params->lookup: the longest n-gram at the end of the text so far
 * that occurred before, and what followed it), evaluates them in one
 * evaluation of the model, keeps the longest prefix the model agrees with and
 * the model's own next token, and discards the rest from both KV caches.
 * Greedy (temperature 0) output is the output of milm_generate, token for
 * token; with temperature > 0 a proposed token is accepted with probability
 * min(1, p/q) and a rejected one replaced by a draw from max(0, p - q)
 * (Leviathan et al. 2023, Chen et al. 2023), so each token follows the
 * model's distribution exactly. The draft context must be empty or hold a
 * prefix of `ctx`'s tokens (it is brought up to date). Needs a draft or
 * lookup. Statistics go into `stats` (may be NULL). 0, or -1 on error. */
int32_t milm_generate_speculative(milm_context *ctx, milm_context *draft, milm_sampler *sampler,
                                  const char *prompt, int32_t n_predict,
                                  const milm_spec_params *params, milm_token_callback cb,
                                  void *user, milm_generate_stats *stats);
/* The same from token ids (nothing is added to them). */
int32_t milm_generate_speculative_tokens(milm_context *ctx, milm_context *draft,
                                         milm_sampler *sampler, const int32_t *prompt,
                                         int32_t n_prompt, int32_t n_predict,
                                         const milm_spec_params *params,
                                         milm_token_callback cb, void *user,
                                         milm_generate_stats *stats);

/* The timing line the command line prints:
 * "milm: prompt 8 tokens in 0.012 s (666.7 tok/s), generated 128 tokens in 1.234 s (103.7 tok/s)"
 * and after a speculative run a second line:
 * "milm: speculative (draft model): drafted 150, accepted 120 (80.0%), mean accepted length
 *  2.86, 3.86 tokens per model evaluation (42 evaluations, 150 of the draft)"
 * Writes at most `capacity` bytes including the NUL; returns the full length. */
int32_t milm_format_timings(const milm_generate_stats *stats, char *buf, size_t capacity);

/* With milm_context_params.profile: a table, per phase (prompt: evaluations of
 * several tokens per model call; decode: of one), of the time in each op kind
 * and weight format (calls, seconds, share of the phase, weight bytes read and
 * GB/s) and the rest of the model calls, since the context was created. Writes
 * at most `capacity` bytes including the NUL; returns the full length (0 when
 * the context does not profile). */
int32_t milm_format_profile(const milm_context *ctx, char *buf, size_t capacity);

#ifdef __cplusplus
}
#endif

#endif /* MILM_H */
