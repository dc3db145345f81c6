/*===- HexagonLibmDriver.c - The Hexagon runtime's helpers against vectors -===*
 *
 *   libm-driver VECTORS.bin
 *
 * Runs every record of gen_hexagon_libm_vectors.py's file through the
 * function of runtime/hexagon/freestanding.c it names (the compiler's
 * division helpers, correctly rounded double division and float sqrt, the
 * libm subset) and compares with the host's result: exactly, or within the
 * record's tolerance in units in the last place. Prints one PASS/FAIL line
 * per function and exits non-zero on a failure. Freestanding, under
 * qemu-hexagon -cpu v67.
 *===----------------------------------------------------------------------===*/
#include "hx_sys.h"

#include <stddef.h>
#include <stdint.h>

uint64_t __hexagon_udivdi3(uint64_t, uint64_t);
int64_t __hexagon_divdi3(int64_t, int64_t);
uint64_t __hexagon_umoddi3(uint64_t, uint64_t);
int64_t __hexagon_moddi3(int64_t, int64_t);
uint32_t __hexagon_udivsi3(uint32_t, uint32_t);
int32_t __hexagon_divsi3(int32_t, int32_t);
uint32_t __hexagon_umodsi3(uint32_t, uint32_t);
int32_t __hexagon_modsi3(int32_t, int32_t);
double __hexagon_divdf3(double, double);
float __hexagon_sqrtf(float);
double exp(double), log(double), pow(double, double), sin(double), cos(double);
double floor(double), ceil(double), sqrt(double);
float expf(float);

static const char *const kNames[] = {"", "udivdi3", "divdi3", "umoddi3", "moddi3", "udivsi3",
                                     "divsi3", "umodsi3", "modsi3", "divdf3", "sqrtf", "exp",
                                     "log", "pow", "sin", "cos", "expf", "floor", "ceil", "sqrt"};
enum { NOPS = 20 };

static double d(uint64_t u) {
  double x;
  __builtin_memcpy(&x, &u, 8);
  return x;
}
static uint64_t db(double x) {
  uint64_t u;
  __builtin_memcpy(&u, &x, 8);
  return u;
}
static float f(uint64_t u) {
  uint32_t w = (uint32_t)u;
  float x;
  __builtin_memcpy(&x, &w, 4);
  return x;
}
static uint64_t fb(float x) {
  uint32_t u;
  __builtin_memcpy(&u, &x, 4);
  return u;
}
/* Distance in ulps between two doubles (or floats, as 32-bit patterns) of one
 * sign; different signs or NaNs count as far apart unless the bits agree. */
static uint64_t ulps(uint64_t a, uint64_t b, int is32) {
  if (a == b)
    return 0;
  const uint64_t sign = is32 ? 0x80000000ull : 0x8000000000000000ull;
  if ((a & sign) != (b & sign))
    return ~0ull;
  return a > b ? a - b : b - a;
}

static void say(const char *s) {
  uint32_t n = 0;
  while (s[n])
    ++n;
  sys6(SYS_write, 1, (long)s, n, 0, 0, 0);
}

static int run(int argc, char **argv) {
  if (argc != 2)
    return say("usage: libm-driver VECTORS.bin\n"), 2;
  uint64_t size = 0;
  const char *why = "";
  const uint8_t *v = mapFile(argv[1], &size, &why);
  if (!v || size % 32)
    return say("cannot read the vectors\n"), 1;
  uint64_t count[NOPS] = {0}, bad[NOPS] = {0};
  for (uint64_t i = 0; i < size; i += 32) {
    uint32_t op, tol;
    uint64_t a, b, want, got = 0;
    __builtin_memcpy(&op, v + i, 4);
    __builtin_memcpy(&tol, v + i + 4, 4);
    __builtin_memcpy(&a, v + i + 8, 8);
    __builtin_memcpy(&b, v + i + 16, 8);
    __builtin_memcpy(&want, v + i + 24, 8);
    int is32 = 0;
    switch (op) {
    case 1: got = __hexagon_udivdi3(a, b); break;
    case 2: got = (uint64_t)__hexagon_divdi3((int64_t)a, (int64_t)b); break;
    case 3: got = __hexagon_umoddi3(a, b); break;
    case 4: got = (uint64_t)__hexagon_moddi3((int64_t)a, (int64_t)b); break;
    case 5: got = __hexagon_udivsi3((uint32_t)a, (uint32_t)b); want &= 0xFFFFFFFFu; break;
    case 6: got = (uint64_t)(int64_t)__hexagon_divsi3((int32_t)a, (int32_t)b); break;
    case 7: got = __hexagon_umodsi3((uint32_t)a, (uint32_t)b); want &= 0xFFFFFFFFu; break;
    case 8: got = (uint64_t)(int64_t)__hexagon_modsi3((int32_t)a, (int32_t)b); break;
    case 9: got = db(__hexagon_divdf3(d(a), d(b))); break;
    case 10: got = fb(__hexagon_sqrtf(f(a))); is32 = 1; break;
    case 11: got = db(exp(d(a))); break;
    case 12: got = db(log(d(a))); break;
    case 13: got = db(pow(d(a), d(b))); break;
    case 14: got = db(sin(d(a))); break;
    case 15: got = db(cos(d(a))); break;
    case 16: got = fb(expf(f(a))); is32 = 1; break;
    case 17: got = db(floor(d(a))); break;
    case 18: got = db(ceil(d(a))); break;
    case 19: got = db(sqrt(d(a))); break;
    default: return say("unknown op in the vectors\n"), 1;
    }
    ++count[op];
    if (op <= 8 ? got != want : ulps(got, want, is32) > tol) {
      if (bad[op] < 2) {
        char ba[24], bb[24];
        say("  ");
        say(kNames[op]);
        say(": record ");
        say(hxFormatInt((int64_t)(i / 32), ba));
        say(" is off by ");
        say(hxFormatInt((int64_t)(op <= 8 ? 1 : (int64_t)ulps(got, want, is32)), bb));
        say(op <= 8 ? " (wrong)\n" : " ulps\n");
      }
      ++bad[op];
    }
  }
  int failed = 0;
  for (int op = 1; op < NOPS; ++op) {
    if (!count[op])
      continue;
    char b1[24], b2[24];
    say(bad[op] ? "FAIL: " : "PASS: ");
    say(kNames[op]);
    say(": ");
    say(hxFormatInt((int64_t)(count[op] - bad[op]), b1));
    say(" of ");
    say(hxFormatInt((int64_t)count[op], b2));
    say(" vectors\n");
    failed |= bad[op] != 0;
  }
  return failed;
}

__attribute__((used)) static void startC(long *sp) {
  sys6(SYS_exit_group, run((int)sp[0], (char **)(sp + 1)), 0, 0, 0, 0, 0);
  for (;;)
    ;
}
MILM_HX_START(startC);
