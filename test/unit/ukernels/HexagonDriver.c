/*===- HexagonDriver.c - HVX microkernels against the generic C ones -----===*
 *
 * Freestanding (no Hexagon libc is packaged): its own _start, write and
 * exit_group (trap0, number in r6), a fixed-seed generator. For random rows
 * of q8_0, q4_0, q4_1, q5_0, q5_1 blocks (lengths 1 to 37 blocks, so every
 * tail of the 4-block HVX step occurs) and of q4_k, q5_k, q6_k blocks (1 to
 * 5), and random 8-bit activation blocks, the HVX row
 * dot product must equal the generic kernels' sum of uk_dot_<fmt> bit for
 * bit: the integer arithmetic is the same, and so is the float order. Run
 * under `qemu-hexagon -cpu v67` (qemu 7.2 executes integer HVX). Prints one
 * PASS/FAIL line per format; exits non-zero on a failure.
 *===----------------------------------------------------------------------===*/
#include "uk_internal.h"

float milm_uk_hvx_dot_q8_0(const uk_block_q8_0 *w, const milm_uk_block_q8_32 *a, int64_t nb);
float milm_uk_hvx_dot_q4_0(const uk_block_q4_0 *w, const milm_uk_block_q8_32 *a, int64_t nb);
float milm_uk_hvx_dot_q4_1(const uk_block_q4_1 *w, const milm_uk_block_q8_32 *a, int64_t nb);
float milm_uk_hvx_dot_q5_0(const uk_block_q5_0 *w, const milm_uk_block_q8_32 *a, int64_t nb);
float milm_uk_hvx_dot_q5_1(const uk_block_q5_1 *w, const milm_uk_block_q8_32 *a, int64_t nb);
float milm_uk_hvx_dot_q4_k(const uk_block_q4_k *w, const milm_uk_block_q8_k *a, int64_t nb);
float milm_uk_hvx_dot_q5_k(const uk_block_q5_k *w, const milm_uk_block_q8_k *a, int64_t nb);
float milm_uk_hvx_dot_q6_k(const uk_block_q6_k *w, const milm_uk_block_q8_k *a, int64_t nb);
int64_t milm_uk_hvx_packed_bytes_q8_0x32(int64_t n, int64_t k);
int64_t milm_uk_hvx_packed_bytes_q4_0x32(int64_t n, int64_t k);
void milm_uk_hvx_repack_q8_0x32(const uk_block_q8_0 *src, int64_t n, int64_t k, uint8_t *dst);
void milm_uk_hvx_repack_q4_0x32(const uk_block_q4_0 *src, int64_t n, int64_t k, uint8_t *dst);
void milm_uk_hvx_matvec_q8_0x32(const uint8_t *w, const milm_uk_block_q8_32 *a, int64_t n,
                                int64_t k, float *y);
void milm_uk_hvx_matvec_q4_0x32(const uint8_t *w, const milm_uk_block_q8_32 *a, int64_t n,
                                int64_t k, float *y);

/* What the compiler may call in a freestanding program. */
void *memcpy(void *d, const void *s, unsigned long n) {
  unsigned char *o = d;
  const unsigned char *i = s;
  while (n--)
    *o++ = *i++;
  return d;
}
void *memset(void *d, int c, unsigned long n) {
  unsigned char *o = d;
  while (n--)
    *o++ = (unsigned char)c;
  return d;
}

static long sys3(long nr, long a, long b, long c) {
  register long r0 __asm__("r0") = a;
  register long r1 __asm__("r1") = b;
  register long r2 __asm__("r2") = c;
  register long r6 __asm__("r6") = nr;
  __asm__ volatile("trap0(#1)" : "+r"(r0) : "r"(r1), "r"(r2), "r"(r6) : "memory");
  return r0;
}
static void say(const char *s) {
  long n = 0;
  while (s[n])
    ++n;
  sys3(64 /* write */, 1, (long)s, n);
}
static void sayInt(long v) {
  char b[24];
  int i = 23;
  b[i] = 0;
  int neg = v < 0;
  unsigned long u = neg ? -(unsigned long)v : (unsigned long)v;
  do {
    b[--i] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (neg)
    b[--i] = '-';
  say(b + i);
}

static uint32_t rng = 12345u;
static uint32_t next(void) {
  rng = rng * 1664525u + 1013904223u;
  return rng >> 8;
}
/* A binary16 scale in [2^-8, 2^-4). */
static uint16_t scale16(void) { return (uint16_t)((0x1C00u + (next() & 0x3FF)) + ((next() % 4) << 10)); }

#define MAXB 37
static uk_block_q8_0 w8[MAXB];
static uk_block_q4_0 w4[MAXB];
static milm_uk_block_q8_32 act[MAXB];

static void randomActivations(int nb) {
  for (int b = 0; b < nb; ++b) {
    int32_t s = 0;
    act[b].d = (float)(1 + next() % 1000) / 65536.0f;
    for (int j = 0; j < 32; ++j) {
      act[b].qs[j] = (int8_t)((int)(next() % 255) - 127);
      s += act[b].qs[j];
    }
    act[b].sum = s;
  }
}

/* Random weight bytes with sane binary16 scales at the given offsets (-1: none). */
static void randomBlocks(void *blocks, int nb, int bytes, int d, int m) {
  uint8_t *p = blocks;
  for (int i = 0; i < nb * bytes; ++i)
    p[i] = (uint8_t)next();
  for (int b = 0; b < nb; ++b) {
    uint16_t v = scale16();
    __builtin_memcpy(p + b * bytes + d, &v, 2);
    if (m >= 0) {
      v = scale16();
      __builtin_memcpy(p + b * bytes + m, &v, 2);
    }
  }
}

static milm_uk_block_q8_k actk[MAXB / 8 + 1];
static void randomActivationsK(int nb) {
  for (int b = 0; b < nb; ++b) {
    actk[b].d = (float)(1 + next() % 1000) / 65536.0f;
    for (int g = 0; g < 16; ++g) {
      int32_t s = 0;
      for (int j = 0; j < 16; ++j) {
        actk[b].qs[16 * g + j] = (int8_t)((int)(next() % 255) - 127);
        s += actk[b].qs[16 * g + j];
      }
      actk[b].bsums[g] = (int16_t)s;
    }
  }
}

enum { F_Q8_0, F_Q4_0, F_Q4_1, F_Q5_0, F_Q5_1, F_Q4_K, F_Q5_K, F_Q6_K };
static uk_block_q4_1 w41[MAXB];
static uk_block_q5_0 w50[MAXB];
static uk_block_q5_1 w51[MAXB];
static uk_block_q4_k w4k[MAXB / 8 + 1];
static uk_block_q5_k w5k[MAXB / 8 + 1];
static uk_block_q6_k w6k[MAXB / 8 + 1];

/* The HVX row dot against the sum of the generic kernel's block dots. */
#define ROW(blocks, hvxdot, ukdot, acts)                                                   \
  do {                                                                                     \
    for (int b = 0; b < nb; ++b)                                                           \
      ref += ukdot(&blocks[b], &acts[b]);                                                  \
    got = hvxdot(blocks, acts, nb);                                                        \
  } while (0)

static int check(const char *fmt, int f) {
  int bad = 0, cases = 0;
  const int kfmt = f >= F_Q4_K;
  for (int round = 0; round < 40; ++round)
    for (int nb = 1; nb <= (kfmt ? MAXB / 8 + 1 : MAXB); nb += kfmt ? 1 : 4 + round % 3) {
      float ref = 0.0f, got = 0.0f;
      if (kfmt)
        randomActivationsK(nb);
      else
        randomActivations(nb);
      switch (f) {
      case F_Q8_0:
        for (int b = 0; b < nb; ++b) {
          w8[b].d = scale16();
          for (int j = 0; j < 32; ++j)
            w8[b].qs[j] = (int8_t)((int)(next() % 255) - 127);
        }
        ROW(w8, milm_uk_hvx_dot_q8_0, uk_dot_q8_0, act);
        break;
      case F_Q4_0:
        randomBlocks(w4, nb, sizeof w4[0], offsetof(uk_block_q4_0, d), -1);
        ROW(w4, milm_uk_hvx_dot_q4_0, uk_dot_q4_0, act);
        break;
      case F_Q4_1:
        randomBlocks(w41, nb, sizeof w41[0], offsetof(uk_block_q4_1, d), offsetof(uk_block_q4_1, m));
        ROW(w41, milm_uk_hvx_dot_q4_1, uk_dot_q4_1, act);
        break;
      case F_Q5_0:
        randomBlocks(w50, nb, sizeof w50[0], offsetof(uk_block_q5_0, d), -1);
        ROW(w50, milm_uk_hvx_dot_q5_0, uk_dot_q5_0, act);
        break;
      case F_Q5_1:
        randomBlocks(w51, nb, sizeof w51[0], offsetof(uk_block_q5_1, d), offsetof(uk_block_q5_1, m));
        ROW(w51, milm_uk_hvx_dot_q5_1, uk_dot_q5_1, act);
        break;
      case F_Q4_K:
        randomBlocks(w4k, nb, sizeof w4k[0], offsetof(uk_block_q4_k, d), offsetof(uk_block_q4_k, dmin));
        ROW(w4k, milm_uk_hvx_dot_q4_k, uk_dot_q4_k, actk);
        break;
      case F_Q5_K:
        randomBlocks(w5k, nb, sizeof w5k[0], offsetof(uk_block_q5_k, d), offsetof(uk_block_q5_k, dmin));
        ROW(w5k, milm_uk_hvx_dot_q5_k, uk_dot_q5_k, actk);
        break;
      default:
        randomBlocks(w6k, nb, sizeof w6k[0], offsetof(uk_block_q6_k, d), -1);
        ROW(w6k, milm_uk_hvx_dot_q6_k, uk_dot_q6_k, actk);
        break;
      }
      ++cases;
      if (uk_f32_bits(ref) != uk_f32_bits(got)) {
        if (bad < 3) {
          say("  ");
          say(fmt);
          say(": row of ");
          sayInt(nb);
          say(" blocks differs from the generic kernels (bits ");
          sayInt((long)uk_f32_bits(got));
          say(" vs ");
          sayInt((long)uk_f32_bits(ref));
          say(")\n");
        }
        ++bad;
      }
    }
  say(bad ? "FAIL: " : "PASS: ");
  say(fmt);
  say(" HVX row dot == generic, bit for bit: ");
  sayInt(cases - bad);
  say(" of ");
  sayInt(cases);
  say(" rows\n");
  return bad;
}

/* Matrix-vector products on the packed layouts: n = 64 rows (two groups of
 * 32), k from 1 to 37 blocks; every row equals the generic row sum bit for bit. */
#define ROWS 64
static uk_block_q8_0 m8[ROWS * MAXB];
static uk_block_q4_0 m4[ROWS * MAXB];
static uint8_t packed[2 * MAXB * (64 + 8 * 128)] __attribute__((aligned(128)));
static float yv[ROWS];

static int checkMatvec(const char *fmt, int q4) {
  int bad = 0, cases = 0;
  for (int nb = 1; nb <= MAXB; nb += 3) {
    randomActivations(nb);
    const int64_t k = 32 * nb;
    for (int i = 0; i < ROWS * nb; ++i) {
      if (q4) {
        m4[i].d = scale16();
        for (int j = 0; j < 16; ++j)
          m4[i].qs[j] = (uint8_t)next();
      } else {
        m8[i].d = scale16();
        for (int j = 0; j < 32; ++j)
          m8[i].qs[j] = (int8_t)((int)(next() % 255) - 127);
      }
    }
    if (q4) {
      milm_uk_hvx_repack_q4_0x32(m4, ROWS, k, packed);
      milm_uk_hvx_matvec_q4_0x32(packed, act, ROWS, k, yv);
    } else {
      milm_uk_hvx_repack_q8_0x32(m8, ROWS, k, packed);
      milm_uk_hvx_matvec_q8_0x32(packed, act, ROWS, k, yv);
    }
    for (int r = 0; r < ROWS; ++r) {
      float ref = 0.0f;
      for (int b = 0; b < nb; ++b)
        ref += q4 ? uk_dot_q4_0(&m4[r * nb + b], &act[b]) : uk_dot_q8_0(&m8[r * nb + b], &act[b]);
      ++cases;
      if (uk_f32_bits(ref) != uk_f32_bits(yv[r])) {
        if (bad < 3) {
          say("  ");
          say(fmt);
          say(": row ");
          sayInt(r);
          say(" of a ");
          sayInt(nb);
          say("-block matrix differs from the generic kernels\n");
        }
        ++bad;
      }
    }
  }
  say(bad ? "FAIL: " : "PASS: ");
  say(fmt);
  say(" HVX matvec on the packed layout == generic, bit for bit: ");
  sayInt(cases - bad);
  say(" of ");
  sayInt(cases);
  say(" rows\n");
  return bad;
}

void _start(void) {
  if (milm_uk_hvx_packed_bytes_q8_0x32(ROWS, 32 * MAXB) > (int64_t)sizeof packed ||
      milm_uk_hvx_packed_bytes_q4_0x32(ROWS, 32 * MAXB) > (int64_t)sizeof packed) {
    say("FAIL: the packed buffer is too small\n");
    sys3(94, 2, 0, 0);
  }
  int bad = check("q8_0", F_Q8_0) + check("q4_0", F_Q4_0) + check("q4_1", F_Q4_1) +
            check("q5_0", F_Q5_0) + check("q5_1", F_Q5_1) + check("q4_k", F_Q4_K) +
            check("q5_k", F_Q5_K) + check("q6_k", F_Q6_K) + checkMatvec("q8_0x32", 0) +
            checkMatvec("q4_0x32", 1);
  sys3(94 /* exit_group */, bad ? 1 : 0, 0, 0);
  for (;;)
    ;
}
