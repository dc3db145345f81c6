/*===- ukernel_bench.c - Mat-vec weight bandwidth of the x86-64 kernels ----===*
 *
 * Single-threaded y = W x for a 4096 x 4096 weight matrix (T = 1, activations
 * quantized once beforehand, as a thread pool would) in q4_0, q8_0, q4_k, q6_k
 * and f16, reported as GB/s of weight bytes streamed, next to a plain AVX2
 * memory-read kernel (sums the same bytes) measured in the same run on the same
 * buffers. Two settings:
 *   hot   the same matrix again and again (it fits in a 32 MiB L3)
 *   cold  cycling through copies of the matrix totalling >= 512 MiB, so the
 *         weights come from DRAM
 * Kernels: AVX2; AVX-512 too when the CPU has F/BW/VL/DQ/VNNI; the portable C
 * with --generic. Each number is the best of several timed repetitions. The weights are random
 * bytes with sane scales: the kernels' speed does not depend on the values.
 * --prefill: instead, T = 64 tokens at once (prompt processing) on one hot
 * matrix in q4_0, q8_0, q4_k and q6_k, reported as GFLOP/s (2 N K T flops) and
 * as GB/s of weight bytes.
 * --threads N: both settings with N threads each taking its share of
 * every matrix's rows (and of the read's bytes), as decode does: what the
 * kernels keep of the bandwidth when several cores share it.
 * --only F[,F...]: only these formats (q4_0, q4_0x8, ..., f16).
 * --ab (built by `ukernels.sh --ab REV`): the working tree's AVX2 kernels
 * against REV's (prefix milm_uk_base_), cold, alternating the two for several
 * rounds (each side's weights repacked by its own repack functions), with a
 * check that both give the same outputs: median GB/s of each and the ratio;
 * then the same at T = 64 on one hot matrix (GFLOP/s).
 * Not part of the test suite; see ukernels.sh.
 *===----------------------------------------------------------------------===*/
#define _POSIX_C_SOURCE 200112L /* clock_gettime */
#define MILM_UK_PREFIX milm_uk_avx2_
#include "milm_ukernels.h"
#undef MILM_UK_PREFIX
#define MILM_UK_PREFIX milm_uk_generic_
#include "milm_ukernels.h"
#undef MILM_UK_PREFIX
#define MILM_UK_PREFIX milm_uk_avx512_
#include "milm_ukernels.h"
#undef MILM_UK_PREFIX

#ifdef UK_BENCH_AB
#define MILM_UK_PREFIX milm_uk_base_
#include "milm_ukernels.h"
#undef MILM_UK_PREFIX
#endif

#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { N = 4096, K = 4096 };

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* The packed layouts (rows repacked by 8, as the model compiler does) in the
 * q8[] tables after GGUF's own numbers, which stop at 30. */
#define BENCH_Q4_0_X8 31u
#define BENCH_Q8_0_X8 32u
#define BENCH_Q4_K_X8 33u
#define BENCH_Q6_K_X8 34u
static uint32_t base_format(uint32_t fmt) {
  switch (fmt) {
  case BENCH_Q4_0_X8: return MILM_UK_Q4_0;
  case BENCH_Q8_0_X8: return MILM_UK_Q8_0;
  case BENCH_Q4_K_X8: return MILM_UK_Q4_K;
  case BENCH_Q6_K_X8: return MILM_UK_Q6_K;
  default: return fmt;
  }
}

typedef void (*repack_fn)(const void *, void *, int64_t, int64_t);
struct repacks {
  repack_fn q4_0x8, q8_0x8, q4_kx8, q6_kx8;
};
static const struct repacks generic_repacks = {
    milm_uk_generic_repack_q4_0x8, milm_uk_generic_repack_q8_0x8,
    milm_uk_generic_repack_q4_kx8, milm_uk_generic_repack_q6_kx8};
#ifdef UK_BENCH_AB
static const struct repacks base_repacks = {milm_uk_base_repack_q4_0x8, milm_uk_base_repack_q8_0x8,
                                            milm_uk_base_repack_q4_kx8, milm_uk_base_repack_q6_kx8};
#endif
/* The repack functions of the packed layouts' weights being filled. */
static const struct repacks *fill_repacks = &generic_repacks;

static void fill_weights(uint32_t fmt, uint8_t *w, size_t bytes);
static void fill_weights_packed(uint32_t fmt, uint8_t *w, size_t bytes) {
  const uint32_t base = base_format(fmt);
  uint8_t *tmp = malloc(bytes);
  fill_weights(base, tmp, bytes);
  const int64_t rows = (int64_t)(bytes / milm_uk_avx2_weight_row_bytes(base, K));
  if (fmt == BENCH_Q4_0_X8)
    fill_repacks->q4_0x8(tmp, w, rows, K);
  else if (fmt == BENCH_Q8_0_X8)
    fill_repacks->q8_0x8(tmp, w, rows, K);
  else if (fmt == BENCH_Q4_K_X8)
    fill_repacks->q4_kx8(tmp, w, rows, K);
  else
    fill_repacks->q6_kx8(tmp, w, rows, K);
  free(tmp);
}

/* Random bytes, then every block's f16 scale fields set to small normal values. */
static void fill_weights(uint32_t fmt, uint8_t *w, size_t bytes) {
  if (base_format(fmt) != fmt) {
    fill_weights_packed(fmt, w, bytes);
    return;
  }
  for (size_t i = 0; i < bytes; ++i)
    w[i] = (uint8_t)rnd();
  const size_t bb = (size_t)milm_uk_avx2_block_bytes(fmt);
  for (size_t off = 0; off + bb <= bytes; off += bb) {
    uint16_t d = 0x2000; /* 2^-7 */
    switch (fmt) {
    case MILM_UK_Q4_0: case MILM_UK_Q8_0: memcpy(w + off, &d, 2); break;
    case MILM_UK_Q4_K: memcpy(w + off, &d, 2); memcpy(w + off + 2, &d, 2); break;
    case MILM_UK_Q6_K: memcpy(w + off + 208, &d, 2); break;
    case MILM_UK_F16:
      d = (uint16_t)(0x2000 | (rnd() & 0x3ff) | ((rnd() & 1) << 15));
      memcpy(w + off, &d, 2);
      break;
    default: break;
    }
  }
}

/* The reference: read every byte once (four independent 256-bit chains). */
static __attribute__((target("avx2"), noinline)) uint64_t read_bytes(const uint8_t *p, size_t n) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    a0 = _mm256_add_epi64(a0, _mm256_loadu_si256((const __m256i *)(p + i)));
    a1 = _mm256_add_epi64(a1, _mm256_loadu_si256((const __m256i *)(p + i + 32)));
    a2 = _mm256_add_epi64(a2, _mm256_loadu_si256((const __m256i *)(p + i + 64)));
    a3 = _mm256_add_epi64(a3, _mm256_loadu_si256((const __m256i *)(p + i + 96)));
  }
  __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
  uint64_t out[4];
  _mm256_storeu_si256((__m256i *)out, s);
  uint64_t r = out[0] + out[1] + out[2] + out[3];
  for (; i < n; ++i)
    r += p[i];
  return r;
}

typedef void (*q8_fn)(const void *, const void *, float *, int64_t, int64_t, int64_t, int64_t,
                      int64_t);
typedef void (*float_fn)(const void *, const float *, int64_t, float *, int64_t, int64_t,
                         int64_t, int64_t, int64_t, void *);

struct impl {
  const char *name;
  q8_fn q8[40]; /* by format number; BENCH_*_X8 for the packed layouts */
  float_fn f16;
};

/* struct impl VAR named NAME: the product entry points of prefix P. */
#define BENCH_IMPL(VAR, NAME, P)                                                        \
  struct impl VAR = {NAME, {0}, P##matmul_f16};                                         \
  VAR.q8[MILM_UK_Q4_0] = P##matmul_q4_0_q8;                                             \
  VAR.q8[BENCH_Q4_0_X8] = P##matmul_q4_0x8_q8;                                          \
  VAR.q8[BENCH_Q8_0_X8] = P##matmul_q8_0x8_q8;                                          \
  VAR.q8[BENCH_Q4_K_X8] = P##matmul_q4_kx8_q8;                                          \
  VAR.q8[BENCH_Q6_K_X8] = P##matmul_q6_kx8_q8;                                          \
  VAR.q8[MILM_UK_Q8_0] = P##matmul_q8_0_q8;                                             \
  VAR.q8[MILM_UK_Q4_K] = P##matmul_q4_k_q8;                                             \
  VAR.q8[MILM_UK_Q6_K] = P##matmul_q6_k_q8

static volatile uint64_t sink;

/* y[t, o] for rows [r0, r1) and one token: the product of weight format fmt
 * (x in f32 for f16, its 8-bit activations xq for the others). */
static void product1(const struct impl *im, uint32_t fmt, const void *w, const void *xq,
                     const float *x, float *y, int64_t r0, int64_t r1) {
  if (fmt == MILM_UK_F16)
    im->f16(w, x, K, y, N, 1, K, r0, r1, NULL);
  else
    im->q8[fmt](w, xq, y, N, 1, K, r0, r1);
}
/* Seconds of the fastest of `calls` T-token products over the whole matrix. */
static double best_call_s(const struct impl *im, uint32_t fmt, const void *w, const void *xq,
                          float *y, int64_t T, int calls) {
  double best = 1e30;
  for (int c = 0; c < calls; ++c) {
    const double t0 = now();
    im->q8[fmt](w, xq, y, N, T, K, 0, N);
    const double dt = now() - t0;
    best = dt < best ? dt : best;
  }
  sink += (uint64_t)y[7];
  return best;
}
/* n activations uniform in [-1, 1] (steps of 1/1000). */
static void random_acts(float *x, size_t n) {
  for (size_t i = 0; i < n; ++i)
    x[i] = (float)((int)(rnd() % 2001) - 1000) / 1000.0f;
}
/* `copies` filled matrices of `bytes` each (the cold setting's set), and back. */
static uint8_t **alloc_mats(uint32_t fmt, size_t bytes, int copies) {
  uint8_t **mats = malloc(sizeof(uint8_t *) * copies);
  for (int c = 0; c < copies; ++c) {
    mats[c] = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    fill_weights(fmt, mats[c], bytes);
  }
  return mats;
}
static void free_mats(uint8_t **mats, int copies) {
  for (int c = 0; c < copies; ++c)
    free(mats[c]);
  free(mats);
}

/* One pass over `copies` matrices, rows (bytes) split among the threads (one:
 * all of them, on the calling thread); the pass ends when every thread is
 * done. */
struct share {
  const struct impl *im;
  uint32_t fmt;
  uint8_t **mats;
  int copies, part, parts;
  size_t bytes;
  const void *xq;
  const float *x;
  float *y;
  uint64_t sum;
};
static void *run_share(void *arg) {
  struct share *s = arg;
  /* Rows in multiples of 8 (a packed group), and the same share of the bytes. */
  const int64_t r0 = (int64_t)N * s->part / s->parts / 8 * 8;
  const int64_t r1 = s->part + 1 == s->parts ? N : (int64_t)N * (s->part + 1) / s->parts / 8 * 8;
  const size_t b0 = s->bytes / N * (size_t)r0, b1 = s->bytes / N * (size_t)r1;
  for (int c = 0; c < s->copies; ++c) {
    if (!s->im)
      s->sum += read_bytes(s->mats[c] + b0, b1 - b0);
    else
      product1(s->im, s->fmt, s->mats[c], s->xq, s->x, s->y, r0, r1);
  }
  return NULL;
}
/* Best GB/s over `reps` passes with `threads` threads; im NULL: the read. */
static double time_threads(const struct impl *im, uint32_t fmt, uint8_t **mats, int copies,
                           size_t bytes, const void *xq, const float *x, float *y, int reps,
                           int threads) {
  double best = 1e30;
  struct share sh[64];
  pthread_t tid[64];
  for (int r = 0; r < reps; ++r) {
    const double t0 = now();
    for (int i = 0; i < threads; ++i) {
      sh[i] = (struct share){im, fmt, mats, copies, i, threads, bytes, xq, x, y, 0};
      if (i > 0 && pthread_create(&tid[i], NULL, run_share, &sh[i]) != 0) {
        fprintf(stderr, "ukernel-bench: pthread_create failed\n");
        exit(1);
      }
    }
    run_share(&sh[0]);
    for (int i = 1; i < threads; ++i)
      pthread_join(tid[i], NULL);
    const double dt = now() - t0;
    for (int i = 0; i < threads; ++i)
      sink += sh[i].sum;
    best = dt < best ? dt : best;
  }
  sink += (uint64_t)y[7];
  return (double)bytes * copies / best * 1e-9;
}

/* T = 64 on one hot matrix: best of `reps` calls, GFLOP/s. */
enum { TP = 64 };
static int prefill(const struct impl *im) {
  const uint32_t fmts[] = {MILM_UK_Q4_0,  BENCH_Q4_0_X8, MILM_UK_Q8_0, BENCH_Q8_0_X8,
                           MILM_UK_Q4_K,  BENCH_Q4_K_X8, MILM_UK_Q6_K, BENCH_Q6_K_X8};
  const char *names[] = {"q4_0", "q4_0x8", "q8_0", "q8_0x8", "q4_k", "q4_kx8", "q6_k", "q6_kx8"};
  float *x = malloc(sizeof(float) * K * TP), *y = malloc(sizeof(float) * N * TP);
  random_acts(x, (size_t)K * TP);
  void *xq = malloc(milm_uk_avx2_matmul_scratch_bytes(MILM_UK_Q4_K, TP, K) +
                    milm_uk_avx2_matmul_scratch_bytes(MILM_UK_Q4_0, TP, K));
  printf("single thread, %d x %d weights (hot), T = %d; %s kernels, best of 7 calls\n", N, K,
         TP, im->name);
  printf("%-6s %9s %9s %9s\n", "format", "ms", "GFLOP/s", "GB/s");
  for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; ++f) {
    const uint32_t fmt = fmts[f];
    const size_t bytes = milm_uk_avx2_weight_row_bytes(base_format(fmt), K) * N;
    uint8_t *w = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    fill_weights(fmt, w, bytes);
    milm_uk_avx2_quantize_act(base_format(fmt), x, K, TP, K, xq);
    const double best = best_call_s(im, fmt, w, xq, y, TP, 7);
    printf("%-6s %9.2f %9.2f %9.2f\n", names[f], best * 1e3, 2.0 * N * K * TP / best * 1e-9,
           (double)bytes / best * 1e-9);
    free(w);
  }
  free(x);
  free(y);
  free(xq);
  return (int)(sink & 0);
}

/* Whether name is a whole entry of the comma-separated list (all when NULL). */
static int selected(const char *name, const char *list) {
  if (!list)
    return 1;
  const size_t n = strlen(name);
  for (const char *p = list; (p = strstr(p, name)); ++p)
    if ((p == list || p[-1] == ',') && (!p[n] || p[n] == ','))
      return 1;
  return 0;
}

#ifdef UK_BENCH_AB
static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
/* Cold T = 1 with `threads` threads: this tree's kernel (im) against the base
 * (bm), alternating, `rounds` passes each over the same weights (each side
 * repacked by its own functions; the generator restarts from the same seed). */
static void ab(const struct impl *im, const struct impl *bm, uint32_t fmt, const char *name,
               int threads, int rounds) {
  const size_t bytes = milm_uk_avx2_weight_row_bytes(base_format(fmt), K) * N;
  const int copies = (int)((512ull << 20) / bytes) + 1;
  uint8_t **mats[2];
  const uint64_t seed = rng_state;
  for (int side = 0; side < 2; ++side) {
    rng_state = seed;
    fill_repacks = side ? &base_repacks : &generic_repacks;
    mats[side] = alloc_mats(fmt, bytes, copies);
  }
  fill_repacks = &generic_repacks;
  float *x = malloc(sizeof(float) * K);
  float *y[2] = {malloc(sizeof(float) * N), malloc(sizeof(float) * N)};
  random_acts(x, K);
  void *xq = malloc(milm_uk_avx2_matmul_scratch_bytes(base_format(fmt), 1, K));
  milm_uk_avx2_quantize_act(base_format(fmt), x, K, 1, K, xq);
  /* Same outputs? (the last copy of each side) */
  product1(im, fmt, mats[0][copies - 1], xq, x, y[0], 0, N);
  product1(bm, fmt, mats[1][copies - 1], xq, x, y[1], 0, N);
  double maxd = 0, maxy = 0;
  for (int o = 0; o < N; ++o) {
    const double d = y[0][o] > y[1][o] ? y[0][o] - y[1][o] : y[1][o] - y[0][o];
    maxd = d > maxd ? d : maxd;
    maxy = y[1][o] > maxy ? y[1][o] : -y[1][o] > maxy ? -y[1][o] : maxy;
  }
  double g[2][64];
  for (int r = 0; r < rounds; ++r)
    for (int side = 0; side < 2; ++side) {
      const int first = r % 2 ? 1 - side : side; /* alternate which side goes first */
      g[first][r] = time_threads(first ? bm : im, fmt, mats[first], copies, bytes, xq, x,
                                 y[first], 1, threads);
    }
  const double gn = median(g[0], rounds), gb = median(g[1], rounds);
  /* Prefill: T = 64 on one hot matrix, best of 3 calls per round. */
  double pf[2][64];
  if (fmt != MILM_UK_F16) {
    float *xp = malloc(sizeof(float) * K * TP), *yp = malloc(sizeof(float) * N * TP);
    random_acts(xp, (size_t)K * TP);
    void *xqp = malloc(milm_uk_avx2_matmul_scratch_bytes(base_format(fmt), TP, K));
    milm_uk_avx2_quantize_act(base_format(fmt), xp, K, TP, K, xqp);
    for (int r = 0; r < rounds; ++r)
      for (int side = 0; side < 2; ++side) {
        const int first = r % 2 ? 1 - side : side;
        const double best = best_call_s(first ? bm : im, fmt, mats[first][0], xqp, yp, TP, 3);
        pf[first][r] = 2.0 * N * K * TP / best * 1e-9;
      }
    free(xp);
    free(yp);
    free(xqp);
  }
  const double pn = fmt != MILM_UK_F16 ? median(pf[0], rounds) : 0,
               pb = fmt != MILM_UK_F16 ? median(pf[1], rounds) : 1;
  printf("%-6s %9.2f %9.2f %7.3f %9.1f %9.1f %7.3f   max |y - y_base| %.3g (max |y| %.3g)\n",
         name, gn, gb, gn / gb, pn, pb, pn / pb, maxd, maxy);
  for (int side = 0; side < 2; ++side)
    free_mats(mats[side], copies);
  free(x);
  free(y[0]);
  free(y[1]);
  free(xq);
}
#endif

int main(int argc, char **argv) {
  int with_generic = 0, with_prefill = 0, threads = 0, with_ab = 0;
  const char *only = NULL;
  for (int a = 1; a < argc; ++a) {
    if (strcmp(argv[a], "--generic") == 0)
      with_generic = 1;
    else if (strcmp(argv[a], "--prefill") == 0)
      with_prefill = 1;
    else if (strcmp(argv[a], "--threads") == 0 && a + 1 < argc)
      threads = atoi(argv[++a]);
    else if (strcmp(argv[a], "--only") == 0 && a + 1 < argc)
      only = argv[++a];
#ifdef UK_BENCH_AB
    else if (strcmp(argv[a], "--ab") == 0)
      with_ab = 1;
#endif
    else {
      fprintf(stderr, "ukernel-bench: unknown argument '%s' (--generic, --prefill, --threads N, "
                      "--only F[,F...])\n", argv[a]);
      return 2;
    }
  }
  if (threads < 0 || threads > 64) {
    fprintf(stderr, "ukernel-bench: --threads takes 1 to 64\n");
    return 2;
  }
  BENCH_IMPL(avx2, "avx2", milm_uk_avx2_);
  BENCH_IMPL(gen, "generic", milm_uk_generic_);
  BENCH_IMPL(z, "avx512", milm_uk_avx512_);
  __builtin_cpu_init();
  const int with_avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512dq") &&
                          __builtin_cpu_supports("avx512vnni");
  if (with_prefill)
    return prefill(&avx2);
  const struct impl *impls[3];
  int nimpl = 0;
  impls[nimpl++] = &avx2;
  if (with_avx512)
    impls[nimpl++] = &z;
  if (with_generic)
    impls[nimpl++] = &gen;

  const uint32_t fmts[] = {MILM_UK_Q4_0, BENCH_Q4_0_X8, MILM_UK_Q8_0, BENCH_Q8_0_X8,
                           MILM_UK_Q4_K, BENCH_Q4_K_X8, MILM_UK_Q6_K, BENCH_Q6_K_X8, MILM_UK_F16};
  const char *names[] = {"q4_0", "q4_0x8", "q8_0", "q8_0x8", "q4_k",
                         "q4_kx8", "q6_k", "q6_kx8", "f16"};
#ifdef UK_BENCH_AB
  if (with_ab) {
    BENCH_IMPL(base, "base", milm_uk_base_);
    const int abt = threads ? threads : 1, rounds = 7;
    printf("AVX2 kernels, this tree against the base, %d x %d weights, medians of %d alternating "
           "rounds:\n  T = 1 cold with %d thread(s), GB/s; T = %d hot (one thread, best of 3 "
           "calls per round), GFLOP/s\n",
           N, K, rounds, abt, TP);
    printf("%-6s %9s %9s %7s %9s %9s %7s\n", "format", "T1 tree", "T1 base", "ratio", "T64 tree",
           "T64 base", "ratio");
    for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; ++f)
      if (selected(names[f], only))
        ab(&avx2, &base, fmts[f], names[f], abt, rounds);
    return (int)(sink & 0);
  }
#endif
  float *x = malloc(sizeof(float) * K), *y = malloc(sizeof(float) * N);
  random_acts(x, K);
  void *xq = malloc(milm_uk_avx2_matmul_scratch_bytes(MILM_UK_Q4_K, 1, K) +
                    milm_uk_avx2_matmul_scratch_bytes(MILM_UK_Q4_0, 1, K));

  if (threads)
    printf("%d threads, %d x %d weights, T = 1; GB/s of weight bytes (1e9 B/s), best "
           "of several passes\n",
           threads, N, K);
  else
    printf("single thread, %d x %d weights, T = 1; GB/s of weight bytes (1e9 B/s), best of "
           "several passes\n",
           N, K);
  printf("%-6s %-8s %5s %9s %9s %9s %7s\n", "format", "kernel", "set", "MiB", "kernel",
         "read", "ratio");
  for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; ++f) {
    const uint32_t fmt = fmts[f];
    if (!selected(names[f], only))
      continue;
    const size_t bytes = milm_uk_avx2_weight_row_bytes(base_format(fmt), K) * N;
    int copies = (int)((512ull << 20) / bytes) + 1;
    uint8_t **mats = alloc_mats(fmt, bytes, copies);
    milm_uk_avx2_quantize_act(base_format(fmt), x, K, 1, K, xq);
    const int nt = threads ? threads : 1;
    for (int i = 0; i < nimpl; ++i)
      for (int cold = 0; cold < 2; ++cold) {
        /* hot: one matrix, repeated; cold: all copies in turn. */
        const int n = cold ? copies : 1, reps = cold ? 3 : 20;
        const double k = time_threads(impls[i], fmt, mats, n, bytes, xq, x, y, reps, nt);
        const double r = time_threads(NULL, fmt, mats, n, bytes, xq, x, y, reps, nt);
        printf("%-6s %-8s %5s %9.1f %9.2f %9.2f %7.2f\n", names[f], impls[i]->name,
               cold ? "cold" : "hot", bytes * (double)n / 1048576.0, k, r, k / r);
      }
    free_mats(mats, copies);
  }
  return (int)(sink & 0);
}
