/*===- milm_ukernels.h - C ABI of milm's CPU microkernels ------------------===*
 *
 * The heavy operations of generated model code (products with weights in one of
 * GGUF's storage formats, attention over the KV cache) and the small helpers
 * around them, as plain C99 functions. Every instruction set has its own
 * implementation of this same ABI (codegen/ukernels/<isa>/); the build compiles
 * each to LLVM bitcode and the model compiler links that bitcode into the model's
 * module, where the calls inline and the compile-time-constant shapes fold.
 *
 * Conventions
 *  - Shapes are int64_t element counts; strides (`ld*`) are in elements.
 *  - Matrices are row-major. A weight matrix W has N rows ("outputs") of K values;
 *    row o starts at byte o * milm_uk_weight_row_bytes(format, K) of `w`, with
 *    GGUF's exact block layout. K must be a multiple of the format's block size.
 *  - Products compute, for o in [o_begin, o_end) and t in [0, T):
 *        y[t * ldy + o] = sum_i x[t * ldx + i] * W[o, i]
 *    and write nothing else, so a thread pool splits [0, N) into row ranges and
 *    calls the same entry point from every thread (the output index is absolute).
 *  - Quantized formats quantize the activations to 8 bits (one call for all T
 *    tokens) and compute integer dot products, as ggml does:
 *      q4_0 q4_1 q5_0 q5_1 q8_0  ->  milm_uk_block_q8_32 (blocks of 32)
 *      q4_g64 q4_g128 q4_g256    ->  milm_uk_block_q8_32 (2, 4 or 8 per weight block)
 *      q4_k q5_k q6_k            ->  milm_uk_block_q8_k  (blocks of 256)
 *    The activation block's scale is d = max|x| / 127 and q = round-to-nearest-
 *    even(x / d), so q is in [-127, 127]. The error this adds to one output is at
 *    most sum_i |W[o,i]| * d(block of i) / 2 (see the unit tests).
 *    milm_uk_matmul_<fmt>() does both steps in `scratch`
 *    (milm_uk_matmul_scratch_bytes() bytes). A multi-threaded caller can instead
 *    quantize once with milm_uk_quantize_act() and call milm_uk_matmul_<fmt>_q8()
 *    from every thread on the shared quantized activations.
 *  - Float formats (f32, f16, bf16) take the activations as f32 and need no
 *    scratch (scratch may be NULL); accumulation is in f32.
 *  - Alignment: weights 2 bytes (GGUF aligns tensors to 32), scratch and the
 *    quantized activations 4 bytes, float and f16 arrays their element size;
 *    64 bytes is best for scratch and y. Nothing needs more.
 *  - Output buffers must not alias inputs unless a function says it may.
 *  - Symbol names: every function is declared through MILM_UK_FN(name), which
 *    pastes MILM_UK_PREFIX (default `milm_uk_`) before the name. The bitcode
 *    uses the default names; the host test libraries of different instruction
 *    sets are built with other prefixes (milm_uk_generic_, milm_uk_avx2_, ...)
 *    so they can be linked into one test. The prototypes below are outside the
 *    include guard: include this header again after redefining MILM_UK_PREFIX to
 *    declare another set.
 *
 * The header only needs <stddef.h> and <stdint.h>. The implementations include
 * no libc header: they call the few math.h/string.h functions they need as
 * compiler builtins, which become expf/pow/log/cos/sin/memcpy calls (or
 * instructions) in the final link.
 *===----------------------------------------------------------------------===*/
#ifndef MILM_UKERNELS_H
#define MILM_UKERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Storage formats (GGUF's ggml_type numbers) and milm's packed layouts (>= 0x100,
 * never in a GGUF file: written by the model compiler with
 * milm_uk_repack_<layout>() from the GGUF format in the low byte, same bytes per
 * row): MILM_UK_F32, ..., MILM_UK_Q4_0_X8, ..., from the one table in
 * common/milm/formats.h. */
#include "../../../common/milm/formats.h"
enum milm_uk_format {
#define MILM_X(ID, id, name, code, elems, bytes, act) MILM_UK_##ID = code,
  MILM_STORAGE_FORMATS(MILM_X)
#undef MILM_X
#define MILM_X(ID, id, name, code, base, group) MILM_UK_##ID = code,
  MILM_PACKED_LAYOUTS(MILM_X)
#undef MILM_X
};

/* Which 8-bit activation blocks a weight format's products use. */
enum milm_uk_act_kind {
  MILM_UK_ACT_F32 = 0,  /* float formats: activations stay f32 */
  MILM_UK_ACT_Q8_32 = 1,
  MILM_UK_ACT_Q8_K = 2
};

/* Activations of 32-value weight formats: x[i] ~= d * qs[i]; sum = sum(qs). */
typedef struct milm_uk_block_q8_32 {
  float d;
  int32_t sum;
  int8_t qs[32];
} milm_uk_block_q8_32; /* 40 bytes */

/* Activations of the K formats: x[i] ~= d * qs[i]; bsums[j] = sum(qs[16j..16j+15]). */
typedef struct milm_uk_block_q8_k {
  float d;
  int8_t qs[256];
  int16_t bsums[16];
} milm_uk_block_q8_k; /* 292 bytes */

/* Rotary embedding. */
enum milm_uk_rope_pairing {
  MILM_UK_ROPE_NORM = 0, /* rotates (x[2i], x[2i+1]): GGUF llama */
  MILM_UK_ROPE_NEOX = 1  /* rotates (x[i], x[i + rotary_dim/2]): GPT-NeoX, Qwen2 */
};
enum milm_uk_rope_scaling {
  MILM_UK_ROPE_SCALING_NONE = 0,
  MILM_UK_ROPE_SCALING_LINEAR = 1, /* position / factor */
  MILM_UK_ROPE_SCALING_NTK = 2,    /* base * factor^(rotary_dim / (rotary_dim - 2)) */
  MILM_UK_ROPE_SCALING_YARN = 3    /* YaRN (Peng et al. 2023), see milm_uk_rope() */
};
typedef struct milm_uk_rope_params {
  int32_t pairing;    /* enum milm_uk_rope_pairing */
  int32_t rotary_dim; /* even, <= head_dim; dimensions past it pass through */
  float base;         /* theta base, e.g. 10000 */
  int32_t scaling;    /* enum milm_uk_rope_scaling */
  float factor;       /* scaling factor (> 0); ignored for NONE */
  /* YaRN only: */
  int32_t orig_ctx;   /* context length the model was trained with */
  float ext_factor;   /* weight of the extrapolation ramp, 1 for YaRN */
  float attn_factor;  /* extra magnitude multiplier for cos/sin, 1 by default */
  float beta_fast;    /* 32 */
  float beta_slow;    /* 1 */
} milm_uk_rope_params;

/* MoE routing modes: named and numbered as the dialect's MoEWeighting (checked
 * by static_asserts in codegen/cpu/LowerToCPU.cpp). The dialect's third case,
 * softmax_topk_norm (softmax over all, the top-k renormalised), equals
 * topk_softmax mathematically and runs as it. */
enum milm_uk_moe_mode {
  MILM_UK_MOE_TOPK_SOFTMAX = 0, /* top-k logits, softmax over the k (Mixtral) */
  MILM_UK_MOE_SOFTMAX_TOPK = 1  /* softmax over all, keep the top-k probabilities
                                   unnormalised (Qwen2-MoE, norm_topk_prob=false) */
};

#ifndef MILM_UK_PREFIX
#define MILM_UK_PREFIX milm_uk_
#endif
#define MILM_UK_CAT_(a, b) a##b
#define MILM_UK_CAT(a, b) MILM_UK_CAT_(a, b)
#define MILM_UK_FN(name) MILM_UK_CAT(MILM_UK_PREFIX, name)

#endif /* MILM_UKERNELS_H */

/* ---- Prototypes (outside the guard: re-includable with another prefix) ---- */
#ifndef MILM_UK_PREFIX
#define MILM_UK_PREFIX milm_uk_
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* -- Packed layouts --------------------------------------------------------- */

/* q4_0x8: the N x K q4_0 matrix (N a multiple of 8) as N/8 groups of 8 rows;
 * group g holds K/32 blocks of 144 bytes, block b of the group being
 *   f16 d[8]      the scales of rows 8g .. 8g+7, block b
 *   u8  qs[128]   qs[32v + 4r + j] = byte 4v + j of row r's q4_0 qs (v < 4,
 *                 r < 8, j < 4): low nibble value 4v + j, high nibble value
 *                 16 + 4v + j
 * so a 32-byte vector holds, for all 8 rows, 4 consecutive values in its low
 * nibbles and the 4 values 16 further on in its high nibbles: with the
 * activations' 4 bytes broadcast, vpmaddubsw (or SDOT) gives the 8 rows'
 * partial dot products in row order, no horizontal sums. Products with it,
 * milm_uk_matmul_q4_0x8_q8(), need o_begin and o_end multiples of 8. */
void MILM_UK_FN(repack_q4_0x8)(const void *src, void *dst, int64_t N, int64_t K);

/* q8_0x8: the N x K q8_0 matrix (N a multiple of 8) as N/8 groups of 8 rows;
 * group g holds K/32 blocks of 272 bytes, block b of the group being
 *   f16 d[8]      the scales of rows 8g .. 8g+7, block b
 *   i8  qs[256]   qs[32v + 4r + j] = value 4v + j of row r (v < 8, r < 8, j < 4)
 * so each 32-byte vector holds 4 consecutive values of all 8 rows: with the
 * activations' 4 bytes broadcast, one vpmaddubsw/vpmaddwd pair (or SDOT) gives
 * the 8 rows' partial dot products in row order, no horizontal sums. Products
 * with it, milm_uk_matmul_q8_0x8_q8(), need o_begin and o_end multiples of 8. */
void MILM_UK_FN(repack_q8_0x8)(const void *src, void *dst, int64_t N, int64_t K);

/* q4_kx8: the N x K q4_k matrix (N a multiple of 8) as N/8 groups of 8 rows;
 * group g holds K/256 blocks of 1152 bytes, block b of the group being
 *   f16 d[8], dmin[8]  rows 8g .. 8g+7's super-block scales
 *   u8  scales[96]     scales[8i + r] = byte i of row r's 12 packed 6-bit
 *                      scales and mins (so byte i of the 8 rows is one u64)
 *   u8  qs[1024]       qs[256c + 32v + 4r + j] = byte 32c + 4v + j of row r's
 *                      qs (c < 4, v < 8, r < 8, j < 4)
 * so a 32-byte vector holds, for all 8 rows, 4 consecutive values of
 * sub-block 2c (low nibbles) and 4 of sub-block 2c + 1 (high nibbles). Products
 * with it, milm_uk_matmul_q4_kx8_q8(), need o_begin and o_end multiples of 8. */
void MILM_UK_FN(repack_q4_kx8)(const void *src, void *dst, int64_t N, int64_t K);

/* q6_kx8: the N x K q6_k matrix (N a multiple of 8) as N/8 groups of 8 rows;
 * group g holds K/256 blocks of 1680 bytes, block b of the group being
 *   f16 d[8]       rows 8g .. 8g+7's super-block scales
 *   i8  scales[128] scales[8s + r] = row r's scale of sub-block s (16 values)
 *   u8  q[1536]    for sub-block s, j < 3, row r and e < 4:
 *                  q[96s + 32j + 4r + e] = v(16s + 4j + e) | (bits 2j, 2j+1 of
 *                  v(16s + 12 + e)) << 6, v(i) being row r's 6-bit value i
 * so three 32-byte vectors give a sub-block's 16 values of the 8 rows as four
 * vectors of 4 values per row (three by a mask, the fourth from the top bits)
 * with the same bytes per row as q6_k. Products with it,
 * milm_uk_matmul_q6_kx8_q8(), need o_begin and o_end multiples of 8. */
void MILM_UK_FN(repack_q6_kx8)(const void *src, void *dst, int64_t N, int64_t K);

/* q8_0x32 / q4_0x32 (the Hexagon HVX kernels' layouts): the N x K q8_0 (q4_0)
 * matrix (N a multiple of 32) as N/32 groups of 32 rows; group g holds K/32
 * blocks of 1088 (576) bytes, block b of the group being
 *   q8_0x32: i8 qs[1024]  qs[128t + 4r + j] = value 4t + j of row r (t < 8,
 *                         r < 32, j < 4)
 *   q4_0x32: u8 qs[512]   qs[128t + 4r + j] = byte 4t + j of row r's q4_0 qs
 *                         (t < 4): low nibble value 4t + j, high 16 + 4t + j
 *   f16 d[32]             the scales of rows 32g .. 32g+31, block b
 * so one 128-byte HVX vector holds 4 consecutive values of all 32 rows and
 * vrmpy with the activations' 4 bytes gives the 32 rows' partial dot products
 * in row order, no horizontal sums; the same bytes per row as the base
 * format. Products with them need o_begin and o_end multiples of 32. */
void MILM_UK_FN(repack_q8_0x32)(const void *src, void *dst, int64_t N, int64_t K);
void MILM_UK_FN(repack_q4_0x32)(const void *src, void *dst, int64_t N, int64_t K);

/* q4_g128x8 / q4_g256x8 / q4_g64x8: the N x K q4_g128 (q4_g256, q4_g64)
 * matrix (N a multiple of 8) as N/8 groups of 8 rows; group g holds K/128
 * (K/256, K/64) blocks of 528 (1040, 272) bytes, block b of the group being
 *   f16 d[8]        the scales of rows 8g .. 8g+7, block b
 *   u8  qs[128 S]   sub-block v < S (S = 4, 8, 2) of the 8 rows as q4_0x8 lays
 *                   out a block: qs[128v + 32c + 4r + j] = byte 16v + 4c + j
 *                   of row r's qs (c < 4, r < 8, j < 4)
 * so each sub-block's integer sums are q4_0x8's, and one FMA per sub-block
 * (the activation's scale) plus one per block (the 8 weight scales) serve the
 * 8 rows. Products need o_begin and o_end multiples of 8. */
void MILM_UK_FN(repack_q4_g128x8)(const void *src, void *dst, int64_t N, int64_t K);
void MILM_UK_FN(repack_q4_g256x8)(const void *src, void *dst, int64_t N, int64_t K);
void MILM_UK_FN(repack_q4_g64x8)(const void *src, void *dst, int64_t N, int64_t K);

/* -- Sizes ---------------------------------------------------------------- */

/* Values per block (1 for f32/f16/bf16), bytes per block; 0 for an unknown format. */
int64_t MILM_UK_FN(block_elems)(uint32_t format);
int64_t MILM_UK_FN(block_bytes)(uint32_t format);
/* Bytes of one weight row of K values; 0 when K is not a multiple of the block. */
size_t MILM_UK_FN(weight_row_bytes)(uint32_t format, int64_t K);
/* enum milm_uk_act_kind of a weight format (-1 for an unknown format). */
int32_t MILM_UK_FN(act_kind)(uint32_t format);
/* Rows a product splits on: its o_begin and o_end must be multiples of this
 * (8 for the packed layouts of 8 rows, q4_0x8 ... q4_g64x8, 32 for q4_0x32 and
 * q8_0x32, 1 for every other format). */
int64_t MILM_UK_FN(row_group)(uint32_t format);
/* Bytes of one token's quantized activations for weight format `format`
 * (K/32 * 40 or K/256 * 292; 0 for the float formats). */
size_t MILM_UK_FN(act_row_bytes)(uint32_t format, int64_t K);
/* Scratch of milm_uk_matmul_<fmt>(): T * act_row_bytes(format, K). */
size_t MILM_UK_FN(matmul_scratch_bytes)(uint32_t format, int64_t T, int64_t K);

/* -- Activation quantization ---------------------------------------------- */

/* T rows of K floats (row stride ldx) -> T rows of K/32 (resp. K/256) blocks,
 * token t's blocks starting at byte t * act_row_bytes of xq. */
void MILM_UK_FN(quantize_q8_32)(const float *x, int64_t ldx, int64_t T, int64_t K, void *xq);
void MILM_UK_FN(quantize_q8_k)(const float *x, int64_t ldx, int64_t T, int64_t K, void *xq);
/* The one of the two that weight format `format` uses; nothing for float formats. */
void MILM_UK_FN(quantize_act)(uint32_t format, const float *x, int64_t ldx, int64_t T,
                              int64_t K, void *xq);

/* -- Products: y[t*ldy + o] = sum_i x[t*ldx + i] * W[o, i], o in [o_begin, o_end) -- */

#define MILM_UK_DECLARE_MATMUL(fmt)                                                  \
  void MILM_UK_FN(matmul_##fmt)(const void *w, const float *x, int64_t ldx, float *y, \
                                int64_t ldy, int64_t T, int64_t K, int64_t o_begin,   \
                                int64_t o_end, void *scratch);
#define MILM_UK_DECLARE_MATMUL_Q8(fmt)                                                \
  MILM_UK_DECLARE_MATMUL(fmt)                                                         \
  void MILM_UK_FN(matmul_##fmt##_q8)(const void *w, const void *xq, float *y,         \
                                     int64_t ldy, int64_t T, int64_t K,               \
                                     int64_t o_begin, int64_t o_end);

/* Float formats (scratch unused). */
MILM_UK_DECLARE_MATMUL(f32)
MILM_UK_DECLARE_MATMUL(f16)
MILM_UK_DECLARE_MATMUL(bf16)
/* Quantized formats: matmul_<fmt> quantizes x into scratch and calls
 * matmul_<fmt>_q8, which takes activations from quantize_act(). */
MILM_UK_DECLARE_MATMUL_Q8(q4_0)
MILM_UK_DECLARE_MATMUL_Q8(q4_0x8) /* o_begin, o_end: multiples of 8 */
MILM_UK_DECLARE_MATMUL_Q8(q4_1)
MILM_UK_DECLARE_MATMUL_Q8(q5_0)
MILM_UK_DECLARE_MATMUL_Q8(q5_1)
MILM_UK_DECLARE_MATMUL_Q8(q8_0)
MILM_UK_DECLARE_MATMUL_Q8(q8_0x8) /* o_begin, o_end: multiples of 8 */
MILM_UK_DECLARE_MATMUL_Q8(q4_k)
MILM_UK_DECLARE_MATMUL_Q8(q4_kx8) /* o_begin, o_end: multiples of 8 */
MILM_UK_DECLARE_MATMUL_Q8(q5_k)
MILM_UK_DECLARE_MATMUL_Q8(q6_k)
MILM_UK_DECLARE_MATMUL_Q8(q6_kx8) /* o_begin, o_end: multiples of 8 */
MILM_UK_DECLARE_MATMUL_Q8(q4_g128)
MILM_UK_DECLARE_MATMUL_Q8(q4_g128x8) /* o_begin, o_end: multiples of 8 */
MILM_UK_DECLARE_MATMUL_Q8(q4_g256)
MILM_UK_DECLARE_MATMUL_Q8(q4_g256x8) /* o_begin, o_end: multiples of 8 */
MILM_UK_DECLARE_MATMUL_Q8(q4_g64)
MILM_UK_DECLARE_MATMUL_Q8(q4_g64x8) /* o_begin, o_end: multiples of 8 */
MILM_UK_DECLARE_MATMUL_Q8(q4_0x32) /* o_begin, o_end: multiples of 32 */
MILM_UK_DECLARE_MATMUL_Q8(q8_0x32) /* o_begin, o_end: multiples of 32 */

/* Any format by number (dispatches to the entries above). */
void MILM_UK_FN(matmul)(uint32_t format, const void *w, const float *x, int64_t ldx,
                        float *y, int64_t ldy, int64_t T, int64_t K, int64_t o_begin,
                        int64_t o_end, void *scratch);

/* Reference path: dequantizes each weight block to f32 and accumulates
 * x * w in f32 (multiply-add), no activation quantization. */
void MILM_UK_FN(matmul_dequant)(uint32_t format, const void *w, const float *x,
                                int64_t ldx, float *y, int64_t ldy, int64_t T, int64_t K,
                                int64_t o_begin, int64_t o_end);

/* -- Rows ------------------------------------------------------------------ */

/* n values (a multiple of the block size) of `format` at src -> f32. */
void MILM_UK_FN(dequantize_row)(uint32_t format, const void *src, float *dst, int64_t n);
/* out[t*ldo + i] = table[tokens[t], i], i < dim; table rows are dim values of `format`. */
void MILM_UK_FN(embedding)(uint32_t format, const void *table, int64_t dim,
                           const int32_t *tokens, int64_t T, float *out, int64_t ldo);

/* -- Elementwise and normalisation ------------------------------------------- */

/* y[t, i] = x[t, i] / sqrt(mean_i(x[t, :]^2) + eps) * w[i]. y may equal x. */
void MILM_UK_FN(rms_norm)(const float *x, int64_t ldx, const float *w, float *y,
                          int64_t ldy, int64_t T, int64_t n, float eps);
/* out = silu(gate) * up = gate / (1 + exp(-gate)) * up. out may equal gate or up. */
void MILM_UK_FN(swiglu)(const float *gate, const float *up, float *out, int64_t n);
/* out = a + b. out may equal a or b. */
void MILM_UK_FN(add)(const float *a, const float *b, float *out, int64_t n);
/* In place, numerically stable (max subtracted). */
void MILM_UK_FN(softmax)(float *x, int64_t n);

/* Rotary embedding in place on T rows of n_heads * head_dim values (row stride
 * ldx): head h of token t rotated by position pos[t]. With r = rotary_dim,
 * pair i < r/2 (norm: x[2i], x[2i+1]; neox: x[i], x[i + r/2]) turns by
 *   theta_i = pos * base^(-2i / r)
 * modified by the scaling:
 *   LINEAR  theta_i = (pos / factor) * base^(-2i/r)
 *   NTK     base' = base * factor^(r / (r - 2))
 *   YARN    theta_i = (1 - m_i) * theta_i / factor + m_i * theta_i, with
 *           m_i = ext_factor * (1 - clamp((i - lo) / max(hi - lo, 0.001), 0, 1)),
 *           lo = floor(c(beta_fast)), hi = ceil(c(beta_slow)) clamped to [0, r-1],
 *           c(b) = r * ln(orig_ctx / (2 pi b)) / (2 ln base); cos and sin are
 *           multiplied by attn_factor * (1 + 0.1 ln factor) (when ext_factor != 0).
 * Angles are computed in double precision. */
void MILM_UK_FN(rope)(float *x, int64_t ldx, int64_t T, int64_t n_heads, int64_t head_dim,
                      const int32_t *pos, const milm_uk_rope_params *p);

/* -- Outlier columns ------------------------------------------------------------- */

/* y[t*ldy + o] += sum_{j < k} side[o*k + j] * x[t*ldx + cols[j]] for o in
 * [o_begin, o_end), t < T: the f16 columns of milm.outlier_columns (the input
 * channels milm-split-outliers keeps beside a 4-bit body). side is [N, k]
 * binary16; cols[j] < the row length of x (the caller checks). Accumulated in
 * f32; a token's columns are gathered once (64 at a time) for all the rows. */
void MILM_UK_FN(outlier_columns_f16)(const uint16_t *side, const int32_t *cols, int64_t k,
                                     const float *x, int64_t ldx, float *y, int64_t ldy,
                                     int64_t T, int64_t o_begin, int64_t o_end);

/* -- Walsh-Hadamard transform -------------------------------------------------- */

/* In place on rows t < T of x (row stride ldx, n values each): every run of
 * `block` values (a power of two dividing n) becomes itself times the
 * normalised Sylvester Hadamard matrix of that order, H_b / sqrt(b), with the
 * fast transform (log2(b) butterfly passes, then the scale). milm.hadamard. */
void MILM_UK_FN(hadamard)(float *x, int64_t ldx, int64_t T, int64_t n, int64_t block);

/* -- Attention over an f16 KV cache ------------------------------------------ */

/* k_cache and v_cache are binary16 arrays laid out [capacity][n_kv_heads][head_dim].
 * Stores the keys and values of T new tokens (k[t*ldk + g*head_dim + d], likewise v)
 * at positions pos[t], rounding to nearest even, for kv heads [kv_begin, kv_end). */
void MILM_UK_FN(kv_append_f16)(const float *k, int64_t ldk, const float *v, int64_t ldv,
                               uint16_t *k_cache, uint16_t *v_cache, const int32_t *pos,
                               int64_t T, int64_t n_kv_heads, int64_t head_dim,
                               int64_t kv_begin, int64_t kv_end);

/* Causal attention for query heads [h_begin, h_end) of T tokens:
 *   out[t*ldo + h*head_dim + d] = sum_{j <= pos[t]} softmax_j(scale * q_h . K[j, g]) V[j, g, d]
 * with g = h / (n_heads / n_kv_heads) (GQA). When k and v are not NULL the new
 * tokens' keys/values are first appended (as kv_append_f16) for the kv heads that
 * [h_begin, h_end) uses, so a thread pool that splits heads across threads must
 * split at multiples of n_heads / n_kv_heads (or append with kv_append_f16 first
 * and pass k = v = NULL). Cache positions 0..pos[t] must hold valid entries after
 * the append. pos[t] < capacity. out must not alias q. */
void MILM_UK_FN(attention_f16kv)(const float *q, int64_t ldq, const float *k, int64_t ldk,
                                 const float *v, int64_t ldv, uint16_t *k_cache,
                                 uint16_t *v_cache, float *out, int64_t ldo,
                                 const int32_t *pos, int64_t T, int64_t n_heads,
                                 int64_t n_kv_heads, int64_t head_dim, float scale,
                                 int64_t h_begin, int64_t h_end);

/* -- Mixture of experts ------------------------------------------------------ */

/* For each token t, the k experts with the largest logits (ties: lower index
 * first), in decreasing order, into ids[t*k + j], and their weights into
 * weights[t*k + j] per `mode` (enum milm_uk_moe_mode). logits row stride ldl. */
void MILM_UK_FN(moe_route)(const float *logits, int64_t ldl, int64_t T, int64_t n_experts,
                           int64_t k, int32_t mode, int32_t *ids, float *weights);

#ifdef __cplusplus
}
#endif
