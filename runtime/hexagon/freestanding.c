/*===- freestanding.c - What compiled Hexagon code needs without a libc ----===*
 *
 * Debian packages no Hexagon libc or compiler runtime, and a DSP shared
 * object should not depend on the device's, so the Hexagon runtime brings
 * the few functions that compiled model code calls:
 *   - memcpy, memmove, memset, memcmp;
 *   - the compiler's helpers LLVM's Hexagon back end calls (no hardware
 *     divide): __hexagon_{u,}{div,mod}{si,di}3, __hexagon_divdf3 (double
 *     division, correctly rounded) and __hexagon_sqrtf (correctly rounded);
 *   - the libm functions the kernels and the lowered model call: exp, expf,
 *     log, pow, sin, cos, floor, ceil, sqrt: range reduction plus
 *     polynomials, within 4 units in the last place of a double (sqrt 1, the
 *     float functions round a double result to within 1), except pow, which
 *     is exp(y log x) in double and loses |y log x| ulps or so (78 at
 *     |y log x| = 110: 2e-14, far below the floats it feeds).
 * test/unit/runtime/HexagonLibmDriver.c checks all of them against the
 * host's results under qemu-hexagon (HexagonLibmQemu).
 * Built with -ffreestanding (so no loop here becomes a call to itself) and
 * linked into both the DSP shared object (hidden there) and milm-run-hexagon.
 *===----------------------------------------------------------------------===*/
#include <stddef.h>
#include <stdint.h>

/*---- memory ------------------------------------------------------------------*/

void *memcpy(void *restrict dst, const void *restrict src, size_t n) {
  unsigned char *d = dst;
  const unsigned char *s = src;
  if ((((uintptr_t)d | (uintptr_t)s) & 7) == 0) {
    for (; n >= 8; n -= 8, d += 8, s += 8)
      *(uint64_t *)d = *(const uint64_t *)s;
  }
  while (n--)
    *d++ = *s++;
  return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
  unsigned char *d = dst;
  const unsigned char *s = src;
  if (d == s || n == 0)
    return dst;
  if (d < s || d >= s + n)
    return memcpy(dst, src, n);
  while (n--)
    d[n] = s[n];
  return dst;
}

void *memset(void *dst, int c, size_t n) {
  unsigned char *d = dst;
  if (((uintptr_t)d & 7) == 0) {
    uint64_t w = (unsigned char)c;
    w |= w << 8;
    w |= w << 16;
    w |= w << 32;
    for (; n >= 8; n -= 8, d += 8)
      *(uint64_t *)d = w;
  }
  while (n--)
    *d++ = (unsigned char)c;
  return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
  const unsigned char *x = a, *y = b;
  for (size_t i = 0; i < n; ++i)
    if (x[i] != y[i])
      return x[i] < y[i] ? -1 : 1;
  return 0;
}

/*---- integer division (shift and subtract; no `/` here) -------------------------*/

static uint64_t udivmod64(uint64_t n, uint64_t d, uint64_t *rem) {
  if (d == 0) { /* undefined in C; a defined answer rather than a loop */
    *rem = n;
    return ~(uint64_t)0;
  }
  if (n < d) {
    *rem = n;
    return 0;
  }
  const int shift = __builtin_clzll(d) - __builtin_clzll(n);
  uint64_t q = 0;
  d <<= shift;
  for (int i = 0; i <= shift; ++i) {
    q <<= 1;
    if (n >= d) {
      n -= d;
      q |= 1;
    }
    d >>= 1;
  }
  *rem = n;
  return q;
}

/* 32-bit division through the 64-bit one (no caller divides in a hot loop:
 * divisions by constants become multiplications). */
uint32_t __hexagon_udivsi3(uint32_t a, uint32_t b) {
  uint64_t r;
  return (uint32_t)udivmod64(a, b, &r);
}
uint32_t __hexagon_umodsi3(uint32_t a, uint32_t b) {
  uint64_t r;
  udivmod64(a, b, &r);
  return (uint32_t)r;
}
int32_t __hexagon_divsi3(int32_t a, int32_t b) {
  uint64_t r;
  const uint32_t q = (uint32_t)udivmod64(a < 0 ? -(uint32_t)a : (uint32_t)a,
                                         b < 0 ? -(uint32_t)b : (uint32_t)b, &r);
  return (int32_t)((a < 0) != (b < 0) ? -q : q);
}
int32_t __hexagon_modsi3(int32_t a, int32_t b) {
  uint64_t r;
  udivmod64(a < 0 ? -(uint32_t)a : (uint32_t)a, b < 0 ? -(uint32_t)b : (uint32_t)b, &r);
  return (int32_t)(a < 0 ? -(uint32_t)r : (uint32_t)r);
}
uint64_t __hexagon_udivdi3(uint64_t a, uint64_t b) {
  uint64_t r;
  return udivmod64(a, b, &r);
}
uint64_t __hexagon_umoddi3(uint64_t a, uint64_t b) {
  uint64_t r;
  udivmod64(a, b, &r);
  return r;
}
int64_t __hexagon_divdi3(int64_t a, int64_t b) {
  uint64_t r;
  const uint64_t q = udivmod64(a < 0 ? -(uint64_t)a : (uint64_t)a,
                               b < 0 ? -(uint64_t)b : (uint64_t)b, &r);
  return (int64_t)((a < 0) != (b < 0) ? -q : q);
}
int64_t __hexagon_moddi3(int64_t a, int64_t b) {
  uint64_t r;
  udivmod64(a < 0 ? -(uint64_t)a : (uint64_t)a, b < 0 ? -(uint64_t)b : (uint64_t)b, &r);
  return (int64_t)(a < 0 ? -r : r);
}

/*---- floating point: bits ------------------------------------------------------*/

static inline uint64_t dbits(double x) {
  uint64_t u;
  __builtin_memcpy(&u, &x, 8);
  return u;
}
static inline double dfrom(uint64_t u) {
  double x;
  __builtin_memcpy(&x, &u, 8);
  return x;
}
static inline uint32_t fbits(float x) {
  uint32_t u;
  __builtin_memcpy(&u, &x, 4);
  return u;
}
static inline float ffrom(uint32_t u) {
  float x;
  __builtin_memcpy(&x, &u, 4);
  return x;
}

#define D_SIGN 0x8000000000000000ull
#define D_FRAC 0x000FFFFFFFFFFFFFull
#define D_ONE_BIT 0x0010000000000000ull
#define D_QNAN 0x7FF8000000000000ull
#define D_INF 0x7FF0000000000000ull

/* A finite non-zero double's fraction `*m` and biased exponent `*e` as the
 * significand with its leading one bit (D_ONE_BIT) and the matching exponent:
 * a subnormal is normalised (its exponent then goes below 1). */
static inline void withOneBit(uint64_t *m, int *e) {
  if (*e != 0) {
    *m |= D_ONE_BIT;
    return;
  }
  *e = 1;
  while (!(*m & D_ONE_BIT)) {
    *m <<= 1;
    --*e;
  }
}

/* a / b, rounded to nearest even: long division of the significands. */
double __hexagon_divdf3(double a, double b) {
  const uint64_t ua = dbits(a), ub = dbits(b), sign = (ua ^ ub) & D_SIGN;
  int ea = (int)((ua >> 52) & 0x7FF), eb = (int)((ub >> 52) & 0x7FF);
  uint64_t ma = ua & D_FRAC, mb = ub & D_FRAC;
  if (ea == 0x7FF && ma)
    return dfrom(ua | D_QNAN);
  if (eb == 0x7FF && mb)
    return dfrom(ub | D_QNAN);
  if (ea == 0x7FF)
    return eb == 0x7FF ? dfrom(D_QNAN) : dfrom(sign | D_INF);
  if (eb == 0x7FF)
    return dfrom(sign);
  if ((ua & ~D_SIGN) == 0)
    return (ub & ~D_SIGN) == 0 ? dfrom(D_QNAN) : dfrom(sign);
  if ((ub & ~D_SIGN) == 0)
    return dfrom(sign | D_INF);
  withOneBit(&ma, &ea);
  withOneBit(&mb, &eb);
  int e = ea - eb + 1023;
  if (ma < mb) {
    ma <<= 1;
    --e;
  }
  /* ma / mb in [1, 2): 55 quotient bits (q in [2^54, 2^55)), the rest sticky. */
  uint64_t q = 0, r = ma;
  for (int i = 0; i < 55; ++i) {
    q <<= 1;
    if (r >= mb) {
      r -= mb;
      q |= 1;
    }
    r <<= 1;
  }
  int sticky = r != 0;
  if (e >= 0x7FF)
    return dfrom(sign | D_INF);
  if (e <= 0) { /* subnormal result: value = q 2^(e - 1077) = m 2^-1074 */
    const int sh = 1 - e > 60 ? 60 : 1 - e;
    sticky |= (q & ((1ull << sh) - 1)) != 0;
    q >>= sh;
    e = 0;
  }
  uint64_t mant = q >> 2;
  const int round = (int)((q >> 1) & 1);
  sticky |= (int)(q & 1);
  if (round && (sticky || (mant & 1)))
    ++mant;
  if (e == 0) /* mant reaching 2^52 encodes the smallest normal by itself */
    return dfrom(sign | mant);
  if (mant == (1ull << 53)) {
    mant >>= 1;
    ++e;
    if (e >= 0x7FF)
      return dfrom(sign | D_INF);
  }
  return dfrom(sign | ((uint64_t)e << 52) | (mant & D_FRAC));
}

/* The square root of x, rounded to nearest even, from an integer root. */
static uint64_t isqrt64(uint64_t x, uint64_t *rem) {
  uint64_t r = 0, bit = 1ull << 62;
  while (bit > x)
    bit >>= 2;
  while (bit) {
    if (x >= r + bit) {
      x -= r + bit;
      r = (r >> 1) + bit;
    } else {
      r >>= 1;
    }
    bit >>= 2;
  }
  *rem = x;
  return r;
}

float __hexagon_sqrtf(float x) {
  const uint32_t u = fbits(x);
  if ((u & 0x7FFFFFFF) == 0 || u == 0x7F800000 || (u & 0x7FFFFFFF) > 0x7F800000)
    return x; /* +-0, +inf, NaN */
  if (u & 0x80000000)
    return ffrom(0x7FC00000);
  int e = (int)((u >> 23) & 0xFF);
  uint32_t m = u & 0x7FFFFF;
  if (e == 0) {
    e = 1;
    while (!(m & 0x800000)) {
      m <<= 1;
      --e;
    }
  } else {
    m |= 0x800000;
  }
  int k = e - 127 - 23; /* x = m 2^k */
  if (k & 1) {
    m <<= 1;
    --k;
  }
  uint64_t rem;
  const uint64_t s = isqrt64((uint64_t)m << 26, &rem); /* sqrt(x) ~ s 2^(k/2 - 13) */
  const int bitsOf = 64 - __builtin_clzll(s), drop = bitsOf - 24;
  uint32_t mant = (uint32_t)(s >> drop);
  const int round = (int)((s >> (drop - 1)) & 1);
  const int sticky = (s & ((1ull << (drop - 1)) - 1)) != 0 || rem != 0;
  int exp2 = drop + k / 2 - 13 + 23; /* of the leading bit */
  if (round && (sticky || (mant & 1)))
    ++mant;
  if (mant == (1u << 24)) {
    mant >>= 1;
    ++exp2;
  }
  return ffrom((uint32_t)(exp2 + 127) << 23 | (mant & 0x7FFFFF));
}

/*---- libm ----------------------------------------------------------------------*/

double floor(double x) {
  const uint64_t u = dbits(x);
  const int e = (int)((u >> 52) & 0x7FF) - 1023;
  if (e >= 52)
    return x; /* integral, inf or NaN */
  if (e < 0)
    return (u & D_SIGN) ? ((u & ~D_SIGN) ? -1.0 : x) : 0.0;
  const uint64_t frac = D_FRAC >> e;
  if ((u & frac) == 0)
    return x;
  const double t = dfrom(u & ~frac); /* toward zero */
  return (u & D_SIGN) ? t - 1.0 : t;
}

double ceil(double x) { return -floor(-x); }

/* 2^k for k in [-1074, 1023]. */
static double pow2i(int k);

double sqrt(double x) {
  if (!(x > 0.0) || x == dfrom(D_INF))
    return x < 0.0 ? dfrom(D_QNAN) : x; /* NaN, +-0, +inf as they are; x < 0: NaN */
  /* x = m 2^(2k), m in [1, 4): sqrt(x) = sqrt(m) 2^k; sqrt(m) from the float
   * root refined by two Newton steps (24 correct bits to more than 53). */
  int e = 0;
  uint64_t u = dbits(x);
  if (((u >> 52) & 0x7FF) == 0) { /* subnormal */
    x *= pow2i(54);
    u = dbits(x);
    e = -54;
  }
  e += (int)((u >> 52) & 0x7FF) - 1023;
  const int k = e >= 0 ? e / 2 : -((1 - e) / 2); /* floor(e / 2) */
  const double m = dfrom((u & D_FRAC) | ((uint64_t)(1023 + e - 2 * k) << 52));
  double r = (double)__hexagon_sqrtf((float)m);
  r = 0.5 * (r + m / r);
  r = 0.5 * (r + m / r);
  return r * pow2i(k);
}

static const double kLn2Hi = 6.93147180369123816490e-01; /* trailing zeros: k * hi exact */
static const double kLn2Lo = 1.90821492927058770002e-10;
static const double kInvLn2 = 1.44269504088896338700e+00;

/* 2^k for k in [-1074, 1023]. */
static double pow2i(int k) {
  if (k >= -1022)
    return dfrom((uint64_t)(k + 1023) << 52);
  return dfrom(1ull << (k + 1074));
}

double exp(double x) {
  if (x != x)
    return x;
  if (x > 709.782712893384)
    return dfrom(D_INF);
  if (x < -745.1332191019412)
    return 0.0;
  const double kd = x * kInvLn2;
  const int k = (int)(kd + (kd >= 0 ? 0.5 : -0.5));
  const double r = (x - k * kLn2Hi) - k * kLn2Lo; /* |r| <= ln2 / 2 */
  /* e^r = sum r^i / i!, i <= 13: the remainder is below 2^-60 relative. */
  static const double inv_fact[] = {1.0 / 13, 1.0 / 12, 1.0 / 11, 1.0 / 10, 1.0 / 9,
                                    1.0 / 8,  1.0 / 7,  1.0 / 6,  1.0 / 5,  1.0 / 4,
                                    1.0 / 3,  1.0 / 2,  1.0};
  double p = 1.0;
  for (int i = 0; i < 13; ++i)
    p = 1.0 + r * inv_fact[i] * p;
  /* 2^k in two steps where it alone would leave the normal range. */
  if (k > 1023)
    return p * pow2i(1023) * pow2i(k - 1023);
  if (k < -1021)
    return p * pow2i(k + 600) * pow2i(-600);
  return p * pow2i(k);
}

float expf(float x) { return (float)exp((double)x); }

double log(double x) {
  uint64_t u = dbits(x);
  if (x != x)
    return x;
  if (x < 0.0)
    return dfrom(D_QNAN);
  if (x == 0.0)
    return -dfrom(D_INF);
  if (u == D_INF)
    return x;
  int e = 0;
  if (((u >> 52) & 0x7FF) == 0) { /* subnormal */
    x *= pow2i(54);
    u = dbits(x);
    e = -54;
  }
  e += (int)((u >> 52) & 0x7FF) - 1023;
  double m = dfrom((u & D_FRAC) | 0x3FF0000000000000ull); /* [1, 2) */
  if (m > 1.4142135623730951) {
    m *= 0.5;
    ++e;
  }
  /* log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716 */
  const double s = (m - 1.0) / (m + 1.0), s2 = s * s;
  static const double kInvOdd[] = {1.0 / 23, 1.0 / 21, 1.0 / 19, 1.0 / 17, 1.0 / 15, 1.0 / 13,
                                   1.0 / 11, 1.0 / 9,  1.0 / 7,  1.0 / 5,  1.0 / 3};
  double p = 0.0;
  for (int i = 0; i < 11; ++i)
    p = (p + kInvOdd[i]) * s2;
  const double lm = 2.0 * s * (1.0 + p);
  return e * kLn2Hi + (lm + e * kLn2Lo);
}

static int isOddInteger(double y) {
  const double t = floor(y);
  if (t != y || y > 9007199254740992.0 || y < -9007199254740992.0)
    return 0;
  const double h = floor(y * 0.5);
  return h * 2.0 != y;
}

double pow(double x, double y) {
  if (y == 0.0 || x == 1.0)
    return 1.0;
  if (x != x || y != y)
    return x + y;
  const double inf = dfrom(D_INF);
  if (x == 0.0) {
    const int odd = isOddInteger(y);
    if (y > 0)
      return odd ? x : 0.0;
    return odd && dbits(x) & D_SIGN ? -inf : inf;
  }
  if (y == inf || y == -inf) {
    const double ax = x < 0 ? -x : x;
    if (ax == 1.0)
      return 1.0;
    return (ax > 1.0) == (y > 0) ? inf : 0.0;
  }
  if (x < 0.0) {
    if (floor(y) != y)
      return dfrom(D_QNAN);
    const double r = pow(-x, y);
    return isOddInteger(y) ? -r : r;
  }
  if (x == inf)
    return y > 0 ? inf : 0.0;
  return exp(y * log(x));
}

/* sin and cos of r in [-pi/4, pi/4]: Taylor series to r^15 and r^16, as nested
 * products 1 - r^2/(i(i-1)) (1 - ...). */
/* 1 / (i (i - 1)) for i = 16 down to 2. */
static const double kInvPair[17] = {
    0, 0, 1.0 / 2, 1.0 / 6, 1.0 / 12, 1.0 / 20, 1.0 / 30, 1.0 / 42, 1.0 / 56, 1.0 / 72,
    1.0 / 90, 1.0 / 110, 1.0 / 132, 1.0 / 156, 1.0 / 182, 1.0 / 210, 1.0 / 240};

static double sinSmall(double r) {
  const double r2 = r * r;
  double t = 1.0;
  for (int i = 15; i >= 3; i -= 2)
    t = 1.0 - r2 * kInvPair[i] * t;
  return r * t;
}
static double cosSmall(double r) {
  const double r2 = r * r;
  double t = 1.0;
  for (int i = 16; i >= 2; i -= 2)
    t = 1.0 - r2 * kInvPair[i] * t;
  return t;
}

/* x = n pi/2 + r with |r| <= pi/4 (Cody-Waite, pi/2 in three parts: good to
 * |x| ~ 2^40, far beyond any rotary angle). */
static double reduce(double x, int *quadrant) {
  static const double kInvPio2 = 6.36619772367581382433e-01;
  static const double kPio2_1 = 1.57079632673412561417e+00;
  static const double kPio2_2 = 6.07710050630396597660e-11;
  static const double kPio2_3 = 2.02226624879595063154e-21;
  const double nd = floor(x * kInvPio2 + 0.5);
  *quadrant = (int)(nd - 4.0 * floor(nd * 0.25));
  return ((x - nd * kPio2_1) - nd * kPio2_2) - nd * kPio2_3;
}

double sin(double x) {
  if (x != x || x == dfrom(D_INF) || x == -dfrom(D_INF))
    return dfrom(D_QNAN);
  int q;
  const double r = reduce(x, &q);
  switch (q) {
  case 0: return sinSmall(r);
  case 1: return cosSmall(r);
  case 2: return -sinSmall(r);
  default: return -cosSmall(r);
  }
}

double cos(double x) {
  if (x != x || x == dfrom(D_INF) || x == -dfrom(D_INF))
    return dfrom(D_QNAN);
  int q;
  const double r = reduce(x, &q);
  switch (q) {
  case 0: return cosSmall(r);
  case 1: return -sinSmall(r);
  case 2: return -cosSmall(r);
  default: return sinSmall(r);
  }
}

float sqrtf(float x) { return __hexagon_sqrtf(x); }
float logf(float x) { return (float)log((double)x); }
float powf(float x, float y) { return (float)pow((double)x, (double)y); }
float sinf(float x) { return (float)sin((double)x); }
float cosf(float x) { return (float)cos((double)x); }
float floorf(float x) { return (float)floor((double)x); }
float ceilf(float x) { return (float)ceil((double)x); }
float tanhf(float x) {
  if (x > 20.0f)
    return 1.0f;
  if (x < -20.0f)
    return -1.0f;
  const double e = exp(2.0 * (double)x);
  return (float)((e - 1.0) / (e + 1.0));
}
