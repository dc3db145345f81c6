/*===- PacketDriver.c - One product of the Hexagon kernel set, for counting ===*
 *
 *   packet-driver FORMAT ROWS
 *
 * Calls the hexagon-hvx kernel set's product of one token with ROWS rows of
 * K = 1024 values in FORMAT once (q8_0 ... q6_k: milm_uk_matmul_<fmt>_q8 on
 * GGUF's layout; f16, f32: the generic float products; q8_0x32, q4_0x32: the
 * HVX products on the packed layouts). bench/hexagon-packets.sh
 * runs it under qemu-hexagon with execution tracing for two ROWS and counts
 * the packets executed: the difference is the cost of the extra rows.
 * Freestanding; weights and activations are a fixed pseudo-random pattern.
 *===----------------------------------------------------------------------===*/
#include "hx_sys.h"
#include "uk_internal.h"

#define K 1024
#define MAXROWS 64
static uint8_t w[MAXROWS * K * 4] __attribute__((aligned(128)));
static uint8_t xq[K * 4 + 4096] __attribute__((aligned(128)));
static float x[K], y[MAXROWS];


static int eq(const char *a, const char *b) {
  while (*a && *a == *b)
    ++a, ++b;
  return *a == *b;
}

static int run(int argc, char **argv) {
  if (argc != 3)
    return 2;
  int rows = 0;
  for (const char *p = argv[2]; *p; ++p)
    rows = rows * 10 + (*p - '0');
  if (rows < 32 || rows > MAXROWS || rows % 32)
    return 2;
  uint32_t r = 12345;
  for (unsigned i = 0; i < sizeof w; ++i) {
    r = r * 1664525u + 1013904223u;
    w[i] = (uint8_t)(r >> 24) & 0x3F; /* keeps f16 scales finite */
  }
  for (int i = 0; i < K; ++i)
    x[i] = (float)((i * 37) % 101 - 50) / 64.0f;
  const char *f = argv[1];
#define Q8(fmt, QUANT)                                                                     \
  if (eq(f, #fmt)) {                                                                       \
    milm_uk_##QUANT(x, K, 1, K, xq);                                                       \
    milm_uk_matmul_##fmt##_q8(w, xq, y, rows, 1, K, 0, rows);                              \
    return 0;                                                                              \
  }
  Q8(q8_0, quantize_q8_32)
  Q8(q4_0, quantize_q8_32)
  Q8(q4_1, quantize_q8_32)
  Q8(q5_0, quantize_q8_32)
  Q8(q5_1, quantize_q8_32)
  Q8(q4_k, quantize_q8_k)
  Q8(q5_k, quantize_q8_k)
  Q8(q6_k, quantize_q8_k)
  Q8(q8_0x32, quantize_q8_32)
  Q8(q4_0x32, quantize_q8_32)
  if (eq(f, "f16")) {
    milm_uk_matmul_f16(w, x, K, y, rows, 1, K, 0, rows, NULL);
    return 0;
  }
  if (eq(f, "f32")) {
    milm_uk_matmul_f32(w, x, K, y, rows, 1, K, 0, rows, NULL);
    return 0;
  }
  return 2;
}

__attribute__((used)) static void startC(long *sp) {
  sys6(SYS_exit_group, run((int)sp[0], (char **)(sp + 1)), 0, 0, 0, 0, 0);
  for (;;)
    ;
}
MILM_HX_START(startC);
