/*===- HexagonDriver.c - HVX microkernels against the generic C ones -----===*
 *
 * Freestanding (no Hexagon libc is packaged): its own _start, system calls
 * from runtime/hexagon/hx_sys.h, libm and memcpy from the Hexagon runtime's
 * freestanding.c, a fixed-seed generator; the kernels are the hexagon-hvx set
 * as milmc links it (ukernels_hvx.c with the generic C included). For random rows
 * of q8_0, q4_0, q4_1, q5_0, q5_1 blocks (lengths 1 to 37 blocks, so every
 * tail of the 4-block HVX step occurs) and of q4_k, q5_k, q6_k blocks (1 to
 * 5), and random 8-bit activation blocks, the HVX row
 * dot product must equal the generic kernels' sum of uk_dot_<fmt> bit for
 * bit: the integer arithmetic is the same, and so is the float order. Run
 * under `qemu-hexagon -cpu v67` (qemu 7.2 executes integer HVX). The products
 * on the packed layouts q8_0x32 / q4_0x32 (generic repack, HVX product) must
 * give the same bits as the plain blocks' dots, for a row range and two
 * tokens, without writing outside the range. Prints one
 * PASS/FAIL line per format; exits non-zero on a failure.
 *===----------------------------------------------------------------------===*/
#include "hx_sys.h"
#include "uk_internal.h"

float milm_uk_hvx_dot_q8_0(const uk_block_q8_0 *w, const milm_uk_block_q8_32 *a, int64_t nb);
float milm_uk_hvx_dot_q4_0(const uk_block_q4_0 *w, const milm_uk_block_q8_32 *a, int64_t nb);
float milm_uk_hvx_dot_q4_1(const uk_block_q4_1 *w, const milm_uk_block_q8_32 *a, int64_t nb);
float milm_uk_hvx_dot_q5_0(const uk_block_q5_0 *w, const milm_uk_block_q8_32 *a, int64_t nb);
float milm_uk_hvx_dot_q5_1(const uk_block_q5_1 *w, const milm_uk_block_q8_32 *a, int64_t nb);
float milm_uk_hvx_dot_q4_k(const uk_block_q4_k *w, const milm_uk_block_q8_k *a, int64_t nb);
float milm_uk_hvx_dot_q5_k(const uk_block_q5_k *w, const milm_uk_block_q8_k *a, int64_t nb);
float milm_uk_hvx_dot_q6_k(const uk_block_q6_k *w, const milm_uk_block_q8_k *a, int64_t nb);
void milm_uk_hvx_fp16x32_to_f32(const uint16_t *d, float *out);
static void say(const char *s) {
  long n = 0;
  while (s[n])
    ++n;
  sys6(SYS_write, 1, (long)s, n, 0, 0, 0);
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

/* Products on the packed layouts (the generic repack, the HVX product): n =
 * 96 rows (three groups of 32), k from 1 to 37 blocks, 2 tokens, rows [32, 96)
 * computed; every row equals the generic row sum bit for bit and the rows
 * outside the range are not written. */
#define ROWS 96
static uk_block_q8_0 m8[ROWS * MAXB];
static uk_block_q4_0 m4[ROWS * MAXB];
static uint8_t packed[ROWS * MAXB * 34];
static milm_uk_block_q8_32 act2[2 * MAXB];
static float yv[2 * ROWS];

static int checkPacked(const char *fmt, int q4) {
  int bad = 0, cases = 0;
  for (int nb = 1; nb <= MAXB; nb += 3) {
    const int64_t k = 32 * nb;
    for (int t = 0; t < 2; ++t) {
      randomActivations(nb);
      for (int b = 0; b < nb; ++b)
        act2[t * nb + b] = act[b];
    }
    if (q4)
      randomBlocks(m4, ROWS * nb, sizeof m4[0], offsetof(uk_block_q4_0, d), -1);
    else
      randomBlocks(m8, ROWS * nb, sizeof m8[0], offsetof(uk_block_q8_0, d), -1);
    for (int i = 0; i < 2 * ROWS; ++i)
      yv[i] = -1.0f;
    if (q4) {
      milm_uk_repack_q4_0x32(m4, packed, ROWS, k);
      milm_uk_matmul_q4_0x32_q8(packed, act2, yv, ROWS, 2, k, 32, ROWS);
    } else {
      milm_uk_repack_q8_0x32(m8, packed, ROWS, k);
      milm_uk_matmul_q8_0x32_q8(packed, act2, yv, ROWS, 2, k, 32, ROWS);
    }
    for (int t = 0; t < 2; ++t)
      for (int r = 0; r < ROWS; ++r) {
        float ref = -1.0f;
        if (r >= 32) {
          ref = 0.0f;
          for (int b = 0; b < nb; ++b)
            ref += q4 ? uk_dot_q4_0(&m4[r * nb + b], &act2[t * nb + b])
                      : uk_dot_q8_0(&m8[r * nb + b], &act2[t * nb + b]);
        }
        ++cases;
        if (uk_f32_bits(ref) != uk_f32_bits(yv[t * ROWS + r])) {
          if (bad < 3) {
            say("  ");
            say(fmt);
            say(": token ");
            sayInt(t);
            say(" row ");
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
  say(" HVX product on the packed layout == generic, bit for bit: ");
  sayInt(cases - bad);
  say(" of ");
  sayInt(cases);
  say(" rows\n");
  return bad;
}

/* Every binary16 value (zeros, subnormals, normals, infinities, NaNs of
 * both signs), 32 at a time through the HVX conversion, against the scalar
 * one bit for bit. */
static int checkScales(void) {
  static uint16_t h[64];
  static float f[32] __attribute__((aligned(128)));
  int bad = 0;
  for (uint32_t v0 = 0; v0 < 65536; v0 += 32) {
    for (int r = 0; r < 32; ++r)
      h[r] = (uint16_t)(v0 + r);
    milm_uk_hvx_fp16x32_to_f32(h, f);
    for (int r = 0; r < 32; ++r)
      if (uk_f32_bits(f[r]) != uk_f32_bits(uk_fp16_to_fp32(h[r]))) {
        if (bad < 3) {
          say("  binary16 ");
          sayInt(h[r]);
          say(": HVX ");
          sayInt((long)uk_f32_bits(f[r]));
          say(", scalar ");
          sayInt((long)uk_f32_bits(uk_fp16_to_fp32(h[r])));
          say("\n");
        }
        ++bad;
      }
  }
  say(bad ? "FAIL: " : "PASS: ");
  say("HVX binary16 -> f32 of the packed scales == scalar, bit for bit: ");
  sayInt(65536 - bad);
  say(" of 65536 values\n");
  return bad;
}

void _start(void) {
  int bad = check("q8_0", F_Q8_0) + check("q4_0", F_Q4_0) + check("q4_1", F_Q4_1) +
            check("q5_0", F_Q5_0) + check("q5_1", F_Q5_1) + check("q4_k", F_Q4_K) +
            check("q5_k", F_Q5_K) + check("q6_k", F_Q6_K) + checkPacked("q8_0x32", 0) +
            checkPacked("q4_0x32", 1) + checkScales();
  sys6(SYS_exit_group, bad ? 1 : 0, 0, 0, 0, 0, 0);
  for (;;)
    ;
}
