/*===- dsp.c - The DSP shared object's ABI (milm_dsp.h) --------------------===*
 *
 * Freestanding C: checks model.milm in memory the way the CPU runtime's
 * loader does (runtime/include/milm/artifact.h; layout in
 * runtime/schema/model.fbs), with its own bounds-checked FlatBuffers reader,
 * and drives the compiled model's milm_forward (model_abi.h) with memory the
 * caller gives. The model code's callbacks (milm_rt_*) are here too: one
 * thread, no profile, no token trees.
 *===----------------------------------------------------------------------===*/
#include "milm_dsp.h"

#include "milm/milm64.h"
#include "milm/model_abi.h"

#include <stddef.h>
#include <stdint.h>

#define MILM_DSP_SESSION_MAGIC 0x4D4C4D44u /* "DMLM" */

/*---- the model code's callbacks ------------------------------------------------*/

void milm_rt_parallel_for(milm_exec *ex, int64_t n, int64_t grain, milm_task_fn fn, void *arg) {
  (void)ex;
  (void)grain;
  if (n > 0)
    fn(arg, 0, n);
}
uint64_t milm_rt_op_begin(milm_exec *ex) {
  (void)ex;
  return 0;
}
void milm_rt_op_end(milm_exec *ex, uint64_t t0, int32_t op, uint32_t format, uint64_t bytes) {
  (void)ex, (void)t0, (void)op, (void)format, (void)bytes;
}
const uint8_t *milm_rt_tree_mask(milm_exec *ex) {
  (void)ex;
  return NULL;
}

/*---- messages ------------------------------------------------------------------*/

typedef struct {
  char *p;
  uint32_t cap, len;
} msg;

static void put(msg *m, const char *s) {
  for (; m->p && *s; ++s)
    if (m->len + 1 < m->cap)
      m->p[m->len++] = *s;
  if (m->p && m->cap)
    m->p[m->len] = 0;
}
static void putU(msg *m, uint64_t v) {
  char b[24];
  int i = 23;
  b[i] = 0;
  do {
    b[--i] = (char)('0' + (int)(v % 10));
    v /= 10;
  } while (v);
  put(m, b + i);
}
static void putI(msg *m, int64_t v) {
  if (v < 0) {
    put(m, "-");
    putU(m, -(uint64_t)v);
  } else {
    putU(m, (uint64_t)v);
  }
}
static void putHex(msg *m, uint64_t v) {
  char b[19] = "0x";
  for (int i = 0; i < 16; ++i)
    b[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 15];
  b[18] = 0;
  put(m, b);
}
/* Text from the file, printable and bounded: control bytes and quotes as '?'. */
static void putText(msg *m, const uint8_t *s, uint32_t n) {
  char c[2] = {0, 0};
  for (uint32_t i = 0; i < n && i < 80; ++i) {
    c[0] = (s[i] < 32 || s[i] > 126 || s[i] == '\'' || s[i] == '\\') ? '?' : (char)s[i];
    put(m, c);
  }
}
static msg msgOf(char *error, uint32_t size) {
  msg m = {error, size, 0};
  if (error && size)
    error[0] = 0;
  return m;
}

/*---- a bounds-checked FlatBuffers reader ----------------------------------------
 * Offsets are little-endian and relative: a table starts with an int32 back
 * to its vtable (uint16 vtable size, uint16 table size, then one uint16 field
 * offset per field id, 0 when absent); a string or vector field holds a
 * uint32 forward offset to a uint32 length and the elements (strings end in
 * 0); a vector of tables holds forward offsets. Every read is checked against
 * the buffer; a failed one makes the table or field absent. */

typedef struct {
  const uint8_t *b;
  uint64_t n;
} fbuf;
typedef struct {
  uint64_t pos, vt;
  uint32_t vsize, tsize;
  int ok;
} ftab;

static int rd(const fbuf *f, uint64_t at, uint64_t bytes, uint64_t *out) {
  if (at > f->n || bytes > f->n - at)
    return 0;
  uint64_t v = 0;
  for (int i = (int)bytes - 1; i >= 0; --i)
    v = (v << 8) | f->b[at + (uint64_t)i];
  *out = v;
  return 1;
}

static ftab table(const fbuf *f, uint64_t pos) {
  ftab t = {pos, 0, 0, 0, 0};
  uint64_t so, vs, ts;
  if (!rd(f, pos, 4, &so))
    return t;
  const int64_t vt = (int64_t)pos - (int64_t)(int32_t)(uint32_t)so;
  if (vt < 0 || !rd(f, (uint64_t)vt, 2, &vs) || !rd(f, (uint64_t)vt + 2, 2, &ts) || vs < 4 ||
      (vs & 1) || (uint64_t)vt + vs > f->n || pos + ts > f->n || ts < 4)
    return t;
  t.vt = (uint64_t)vt;
  t.vsize = (uint32_t)vs;
  t.tsize = (uint32_t)ts;
  t.ok = 1;
  return t;
}

/* The position of field `id` holding `bytes` bytes, or 0 when absent. */
static uint64_t field(const fbuf *f, const ftab *t, int id, uint64_t bytes) {
  uint64_t off;
  if (!t->ok || 4 + 2 * (uint64_t)id + 2 > t->vsize || !rd(f, t->vt + 4 + 2 * (uint64_t)id, 2, &off) ||
      off == 0 || off + bytes > t->tsize)
    return 0;
  return t->pos + off;
}
static uint64_t scalar(const fbuf *f, const ftab *t, int id, uint64_t bytes, uint64_t def) {
  uint64_t at = field(f, t, id, bytes), v;
  return at && rd(f, at, bytes, &v) ? v : def;
}
/* Follows the uint32 offset in field `id`: the position it points at, or 0. */
static uint64_t deref(const fbuf *f, const ftab *t, int id) {
  uint64_t at = field(f, t, id, 4), rel;
  if (!at || !rd(f, at, 4, &rel) || at + rel + 4 > f->n)
    return 0;
  return at + rel;
}
/* A string field: its bytes and length, or NULL. */
static const uint8_t *string(const fbuf *f, const ftab *t, int id, uint32_t *len) {
  uint64_t at = deref(f, t, id), n;
  if (!at || !rd(f, at, 4, &n) || at + 4 + n + 1 > f->n || f->b[at + 4 + n] != 0)
    return NULL;
  *len = (uint32_t)n;
  return f->b + at + 4;
}
/* A vector field: the position of element 0 and the count (elements of
 * `elem` bytes, all inside the buffer), or 0. */
static uint64_t vector(const fbuf *f, const ftab *t, int id, uint64_t elem, uint64_t *count) {
  uint64_t at = deref(f, t, id), n;
  if (!at || !rd(f, at, 4, &n) || n > (f->n - at - 4) / elem)
    return 0;
  *count = n;
  return at + 4;
}
static ftab subtable(const fbuf *f, uint64_t offsetAt) {
  uint64_t rel;
  ftab none = {0, 0, 0, 0, 0};
  if (!rd(f, offsetAt, 4, &rel) || offsetAt + rel >= f->n)
    return none;
  return table(f, offsetAt + rel);
}

/* Field ids of runtime/schema/model.fbs. */
enum {
  M_VERSION = 0, M_HASH = 1, M_TARGET = 2, M_CONFIG = 5, M_CHECKSUM_KIND = 7,
  M_WEIGHTS_OFFSET = 8, M_WEIGHTS_SIZE = 9, M_WEIGHTS_ALIGNMENT = 10, M_TENSORS = 11
};
enum { C_VOCAB = 2, C_HIDDEN = 4, C_LAYERS = 5, C_HEADS = 6, C_KV_HEADS = 7, C_HEAD_DIM = 8 };
enum { T_NAME = 0, T_OFFSET = 3, T_SIZE = 4, T_CHECKSUM = 5 };

/*---- the ABI ------------------------------------------------------------------------*/

static int64_t scratchBytes(void) {
  /* the model's arena, then the positions of one call */
  const uint64_t arena = (milm_model_descriptor.arena_bytes + 127) & ~(uint64_t)127;
  return (int64_t)(arena + (((uint64_t)milm_model_descriptor.max_tokens * 4 + 127) & ~(uint64_t)127));
}

void milm_dsp_get_info(milm_dsp_model_info *info) {
  const milm_model_desc *d = &milm_model_descriptor;
  uint64_t kv = 0;
  milm_model_kv_bytes(d, &kv);
  info->abi_version = MILM_DSP_ABI_VERSION;
  info->model_abi_version = d->abi_version;
  info->model_hash = d->model_hash;
  info->model_name = d->model_name;
  info->target = d->target;
  info->vocab_size = d->vocab_size;
  info->num_layers = d->num_layers;
  info->kv_capacity = d->kv_capacity;
  info->max_tokens = d->max_tokens;
  info->weights_bytes = d->weights_bytes;
  info->kv_bytes = kv;
  info->scratch_bytes = (uint64_t)scratchBytes();
}

static int same(const uint8_t *a, uint32_t n, const char *b) {
  uint32_t i = 0;
  for (; i < n; ++i)
    if (!b[i] || (char)a[i] != b[i])
      return 0;
  return b[i] == 0;
}

int32_t milm_dsp_check_artifact(const uint8_t *artifact, uint64_t size, int32_t verify,
                                const uint8_t **weights, char *error, uint32_t errorSize) {
  msg m = msgOf(error, errorSize);
  const milm_model_desc *d = &milm_model_descriptor;
  put(&m, "model.milm: ");
  if (!artifact || !weights)
    return put(&m, "no artifact bytes or no place for the weights pointer"), MILM_DSP_E_ARGUMENT;
  if ((uintptr_t)artifact & 63)
    return put(&m, "the bytes must start 64-byte aligned"), MILM_DSP_E_ARGUMENT;
  /* 1. the file */
  if (size < 12)
    return put(&m, "truncated: "), putU(&m, size), put(&m, " bytes"), MILM_DSP_E_ARTIFACT;
  if (!same(artifact + 8, 4, "MILM"))
    return put(&m, "not a milm model (no MILM identifier)"), MILM_DSP_E_ARTIFACT;
  const uint64_t h = (uint64_t)artifact[0] | (uint64_t)artifact[1] << 8 |
                     (uint64_t)artifact[2] << 16 | (uint64_t)artifact[3] << 24;
  if (h > size - 4)
    return put(&m, "truncated: the header needs "), putU(&m, 4 + h), put(&m, " bytes, the file has "),
           putU(&m, size), MILM_DSP_E_ARTIFACT;
  const fbuf f = {artifact + 4, h};
  uint64_t rootRel;
  if (!rd(&f, 0, 4, &rootRel))
    return put(&m, "corrupt header (no root table)"), MILM_DSP_E_ARTIFACT;
  const ftab model = table(&f, rootRel);
  if (!model.ok)
    return put(&m, "corrupt header (root table out of bounds)"), MILM_DSP_E_ARTIFACT;
  /* 2. the version */
  const uint64_t ver = field(&f, &model, M_VERSION, 4);
  uint64_t major = 0, minor = 0;
  if (!ver || !rd(&f, ver, 2, &major) || !rd(&f, ver + 2, 2, &minor))
    return put(&m, "corrupt header (no format version)"), MILM_DSP_E_ARTIFACT;
  if (major != 1)
    return put(&m, "format version "), putU(&m, major), put(&m, "."), putU(&m, minor),
           put(&m, major > 1 ? " is newer than this runtime (1.x)" : " is not one this runtime reads"),
           MILM_DSP_E_ARTIFACT;
  if (minor < 1)
    return put(&m, "format version 1.0 has no header checksum; recompile the model"),
           MILM_DSP_E_ARTIFACT;
  /* 3. the header's checksum */
  if (4 + h + 16 > size)
    return put(&m, "truncated: no header checksum"), MILM_DSP_E_ARTIFACT;
  if (!same(artifact + 4 + h, 8, "MILMHSUM"))
    return put(&m, "corrupt header (no MILMHSUM after it)"), MILM_DSP_E_ARTIFACT;
  const uint64_t hsum = milm64_load64(artifact + 4 + h + 8);
  if (milm64_of(artifact, 4 + h, 0) != hsum)
    return put(&m, "header checksum mismatch (the header is damaged)"), MILM_DSP_E_ARTIFACT;
  if (scalar(&f, &model, M_CHECKSUM_KIND, 1, 0) != 1)
    return put(&m, "checksum kind is not milm64"), MILM_DSP_E_ARTIFACT;
  /* 4. the weight section */
  const uint64_t wOff = scalar(&f, &model, M_WEIGHTS_OFFSET, 8, 0),
                 wSize = scalar(&f, &model, M_WEIGHTS_SIZE, 8, 0),
                 wAlign = scalar(&f, &model, M_WEIGHTS_ALIGNMENT, 8, 0);
  if (wAlign < 64 || (wAlign & (wAlign - 1)) || (wOff & (wAlign - 1)))
    return put(&m, "weight section at "), putU(&m, wOff), put(&m, " is not aligned to "),
           putU(&m, wAlign), MILM_DSP_E_ARTIFACT;
  if (wOff < 4 + h + 16 || wOff > size || wSize != size - wOff)
    return put(&m, "truncated or padded: the weight section ["), putU(&m, wOff), put(&m, ", +"),
           putU(&m, wSize), put(&m, ") does not end where the file does (byte "), putU(&m, size),
           put(&m, ")"), MILM_DSP_E_ARTIFACT;
  /* 5. the tensors */
  uint64_t count = 0;
  const uint64_t tensors = vector(&f, &model, M_TENSORS, 4, &count);
  if (!tensors)
    return put(&m, "corrupt header (no tensor table)"), MILM_DSP_E_ARTIFACT;
  uint64_t end = 0;
  for (uint64_t i = 0; i < count; ++i) {
    const ftab t = subtable(&f, tensors + 4 * i);
    uint32_t nameLen = 0;
    const uint8_t *name = t.ok ? string(&f, &t, T_NAME, &nameLen) : NULL;
    if (!name)
      return put(&m, "corrupt tensor table (entry "), putU(&m, i), put(&m, ")"), MILM_DSP_E_ARTIFACT;
    const uint64_t off = scalar(&f, &t, T_OFFSET, 8, 0), sz = scalar(&f, &t, T_SIZE, 8, 0);
    if ((off & 63) || off < end || off > wSize || sz > wSize - off) {
      put(&m, "tensor '");
      putText(&m, name, nameLen);
      put(&m, "': bytes [");
      putU(&m, off);
      put(&m, ", +");
      putU(&m, sz);
      put(&m, ") are not 64-byte aligned, sorted and inside the weight section");
      return MILM_DSP_E_ARTIFACT;
    }
    end = off + sz;
    if (verify && milm64_of(artifact + wOff + off, sz, 0) != scalar(&f, &t, T_CHECKSUM, 8, 0)) {
      put(&m, "tensor '");
      putText(&m, name, nameLen);
      put(&m, "': checksum mismatch");
      return MILM_DSP_E_ARTIFACT;
    }
  }
  /* against the compiled model */
  uint32_t targetLen = 0;
  const uint8_t *target = string(&f, &model, M_TARGET, &targetLen);
  if (d->abi_version != MILM_MODEL_ABI_VERSION)
    return put(&m, "the model code has ABI version "), putU(&m, d->abi_version),
           put(&m, ", this runtime expects "), putU(&m, MILM_MODEL_ABI_VERSION), MILM_DSP_E_MISMATCH;
  if (!target || !same(target, targetLen, d->target)) {
    put(&m, "built for ");
    if (target)
      putText(&m, target, targetLen);
    put(&m, ", this library is ");
    put(&m, d->target);
    return MILM_DSP_E_MISMATCH;
  }
  const uint64_t hash = scalar(&f, &model, M_HASH, 8, 0);
  if (hash != d->model_hash)
    return put(&m, "model hash "), putHex(&m, hash), put(&m, " does not match this library's "),
           putHex(&m, d->model_hash), put(&m, " (compiled from another model, or by another milmc)"),
           MILM_DSP_E_MISMATCH;
  if (wSize != d->weights_bytes)
    return put(&m, "weight section has "), putU(&m, wSize), put(&m, " bytes, this library's model reads "),
           putU(&m, d->weights_bytes), MILM_DSP_E_MISMATCH;
  const uint64_t cfgAt = deref(&f, &model, M_CONFIG);
  const ftab cfg = cfgAt ? table(&f, cfgAt) : (ftab){0, 0, 0, 0, 0};
  if (!cfg.ok)
    return put(&m, "corrupt header (no model config)"), MILM_DSP_E_ARTIFACT;
  struct {
    const char *name;
    int id;
    int64_t code;
  } dims[] = {{"vocab_size", C_VOCAB, d->vocab_size},       {"hidden_size", C_HIDDEN, d->hidden_size},
              {"num_layers", C_LAYERS, d->num_layers},      {"num_heads", C_HEADS, d->num_heads},
              {"num_kv_heads", C_KV_HEADS, d->num_kv_heads}, {"head_dim", C_HEAD_DIM, d->head_dim}};
  for (unsigned i = 0; i < sizeof dims / sizeof dims[0]; ++i) {
    const int64_t v = (int64_t)scalar(&f, &cfg, dims[i].id, 8, 0);
    if (v != dims[i].code)
      return put(&m, dims[i].name), put(&m, " "), putI(&m, v), put(&m, " does not match this library's "),
             putI(&m, dims[i].code), MILM_DSP_E_MISMATCH;
  }
  *weights = artifact + wOff;
  if (error && errorSize)
    error[0] = 0;
  return MILM_DSP_OK;
}

int32_t milm_dsp_init(milm_dsp_session *s, const uint8_t *weights, uint16_t *kv, uint64_t kvSize,
                      uint8_t *scratch, uint64_t scratchSize, char *error, uint32_t errorSize) {
  msg m = msgOf(error, errorSize);
  milm_dsp_model_info info;
  milm_dsp_get_info(&info);
  if (!s || !weights || !kv || !scratch)
    return put(&m, "milm_dsp_init: a null session, weights, KV cache or scratch"), MILM_DSP_E_ARGUMENT;
  if ((uintptr_t)weights & 63)
    return put(&m, "milm_dsp_init: the weights must be 64-byte aligned"), MILM_DSP_E_ARGUMENT;
  if (((uintptr_t)kv & 1) || ((uintptr_t)scratch & 127))
    return put(&m, "milm_dsp_init: the KV cache must be 2-byte aligned and the scratch 128-byte aligned"),
           MILM_DSP_E_ARGUMENT;
  if (kvSize < info.kv_bytes || scratchSize < info.scratch_bytes) {
    put(&m, "milm_dsp_init: the KV cache needs ");
    putU(&m, info.kv_bytes);
    put(&m, " bytes (given ");
    putU(&m, kvSize);
    put(&m, ") and the scratch ");
    putU(&m, info.scratch_bytes);
    put(&m, " (given ");
    putU(&m, scratchSize);
    put(&m, ")");
    return MILM_DSP_E_ARGUMENT;
  }
  s->magic = MILM_DSP_SESSION_MAGIC;
  s->reserved = 0;
  s->n_past = 0;
  s->weights = weights;
  s->kv = kv;
  s->scratch = scratch;
  return MILM_DSP_OK;
}

void milm_dsp_reset(milm_dsp_session *s) {
  if (s)
    s->n_past = 0;
}

int32_t milm_dsp_forward(milm_dsp_session *s, const int32_t *tokens, int32_t n, int32_t allLogits,
                         float *logits, char *error, uint32_t errorSize) {
  msg m = msgOf(error, errorSize);
  const milm_model_desc *d = &milm_model_descriptor;
  if (!s || s->magic != MILM_DSP_SESSION_MAGIC)
    return put(&m, "milm_dsp_forward: the session was not initialised (milm_dsp_init)"),
           MILM_DSP_E_ARGUMENT;
  if (!tokens || !logits || n < 1 || n > d->max_tokens) {
    put(&m, "milm_dsp_forward: ");
    put(&m, !tokens || !logits ? "null tokens or logits" : "n_tokens ");
    if (tokens && logits) {
      putI(&m, n);
      put(&m, " is not in [1, ");
      putI(&m, d->max_tokens);
      put(&m, "]");
    }
    return MILM_DSP_E_ARGUMENT;
  }
  for (int32_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= d->vocab_size)
      return put(&m, "milm_dsp_forward: token "), putI(&m, tokens[i]), put(&m, " is not below the vocabulary size "),
             putI(&m, d->vocab_size), MILM_DSP_E_ARGUMENT;
  if (s->n_past + n > d->kv_capacity)
    return put(&m, "milm_dsp_forward: the KV cache holds "), putI(&m, d->kv_capacity),
           put(&m, " positions, "), putI(&m, s->n_past), put(&m, " are used and "), putI(&m, n),
           put(&m, " more do not fit (reset first)"), MILM_DSP_E_FULL;
  const uint64_t arena = (d->arena_bytes + 127) & ~(uint64_t)127;
  int32_t *positions = (int32_t *)(s->scratch + arena);
  for (int32_t i = 0; i < n; ++i)
    positions[i] = (int32_t)(s->n_past + i);
  if (milm_forward(NULL, s->weights, s->kv, s->scratch, tokens, positions, n, allLogits, logits) != 0)
    return put(&m, "milm_dsp_forward: the model code refused the call"), MILM_DSP_E_ARGUMENT;
  s->n_past += n;
  return MILM_DSP_OK;
}

int32_t milm_dsp_argmax(const float *logits, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (logits[i] > logits[best])
      best = i;
  return (int32_t)best;
}
