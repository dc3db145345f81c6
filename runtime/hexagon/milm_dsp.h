/*===- milm_dsp.h - The C ABI of a model's Hexagon DSP shared object -------===*
 *
 * `milmc compile MODEL --target hexagon -o OUT/` writes OUT/libmilm_model_dsp.so
 * (one model, compiled for Hexagon with 128-byte HVX) and this header. The
 * library allocates nothing, opens no file and makes no system call: the
 * caller (a device team's FastRPC skeleton, or milm-run-hexagon under qemu)
 * gives it memory, in this order:
 *
 *   1. milm_dsp_get_info(&info): the sizes to allocate;
 *   2. the model file OUT/model.milm in memory (mapped or read whole; its
 *      start 64-byte aligned, so that the weight section, at a multiple of
 *      65536 inside the file, is too), checked by milm_dsp_check_artifact,
 *      which returns the weight section;
 *   3. milm_dsp_init(&session, weights, KV cache, scratch): the KV cache
 *      (info.kv_bytes, 2-byte aligned, f16) and the scratch (info.scratch_bytes,
 *      128-byte aligned) are the caller's and must stay valid, unshared, for
 *      the session's life; the session struct too (any alignment of its type);
 *   4. milm_dsp_forward(&session, tokens, n, all_logits, logits) as often as
 *      wanted: appends n tokens (1 <= n <= info.max_tokens) at the next
 *      positions and writes info.vocab_size floats of logits per token
 *      (all_logits) or for the last one; milm_dsp_reset starts over.
 *
 * Every function returns MILM_DSP_OK or an error code and, given a buffer,
 * a one-line message that says what is wrong (never more than error_size
 * bytes with the terminating 0). Nothing is written to the caller's outputs
 * on an error. The code is single-threaded and re-entrant across sessions.
 * docs/HEXAGON.md has the buffer layouts and what a FastRPC skeleton wraps.
 *===----------------------------------------------------------------------===*/
#ifndef MILM_DSP_H
#define MILM_DSP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MILM_DSP_ABI_VERSION 1

enum {
  MILM_DSP_OK = 0,
  MILM_DSP_E_ARGUMENT = 1, /* a null pointer, a bad size or alignment, n out of range */
  MILM_DSP_E_ARTIFACT = 2, /* model.milm is truncated, corrupt or of another version */
  MILM_DSP_E_MISMATCH = 3, /* model.milm is not the one this library was compiled with */
  MILM_DSP_E_FULL = 4      /* the KV cache has no room for the tokens: reset first */
};

typedef struct milm_dsp_model_info {
  uint32_t abi_version;       /* MILM_DSP_ABI_VERSION */
  uint32_t model_abi_version; /* the generated code's (runtime/include/milm/model_abi.h) */
  uint64_t model_hash;        /* model.milm must carry the same */
  const char *model_name;
  const char *target;         /* "hexagon-unknown-linux-musl" */
  int64_t vocab_size;         /* floats of logits per token */
  int64_t num_layers;
  int64_t kv_capacity;        /* positions the KV cache holds */
  int64_t max_tokens;         /* most tokens one milm_dsp_forward call takes */
  uint64_t weights_bytes;     /* bytes of model.milm's weight section */
  uint64_t kv_bytes;          /* bytes of the KV cache the caller provides */
  uint64_t scratch_bytes;     /* bytes of the scratch the caller provides */
} milm_dsp_model_info;

/* The session: the caller allocates it; its fields are the library's. */
typedef struct milm_dsp_session {
  uint32_t magic;
  int32_t reserved;
  int64_t n_past;             /* positions in the KV cache (tokens evaluated) */
  const uint8_t *weights;
  uint16_t *kv;
  uint8_t *scratch;
} milm_dsp_session;

void milm_dsp_get_info(milm_dsp_model_info *info);

/* Checks the bytes of model.milm (the same checks as the CPU runtime's loader:
 * identifier, format version, header checksum, weight section, tensor table,
 * and that it is this library's model: ABI, target, model hash, sizes), and
 * with verify_checksums every tensor's checksum too. Sets *weights to the
 * weight section inside `artifact`. */
int32_t milm_dsp_check_artifact(const uint8_t *artifact, uint64_t size, int32_t verify_checksums,
                                const uint8_t **weights, char *error, uint32_t error_size);

int32_t milm_dsp_init(milm_dsp_session *session, const uint8_t *weights, uint16_t *kv,
                      uint64_t kv_size, uint8_t *scratch, uint64_t scratch_size, char *error,
                      uint32_t error_size);

int32_t milm_dsp_forward(milm_dsp_session *session, const int32_t *tokens, int32_t n_tokens,
                         int32_t all_logits, float *logits, char *error, uint32_t error_size);

/* Forgets the evaluated tokens (the KV cache is overwritten from position 0). */
void milm_dsp_reset(milm_dsp_session *session);

/* The index of the largest of n logits (the first of equal ones): greedy decoding. */
int32_t milm_dsp_argmax(const float *logits, int64_t n);

#ifdef __cplusplus
}
#endif

#endif /* MILM_DSP_H */
