/*===- cpu_features.h - ISA features a compiled model may need --------------===*
 *
 * One table per architecture of the instruction-set features that LLVM may
 * use in a model's code and that the runtime can test on the running CPU.
 * milmc records, in the model descriptor (milm_model_desc.cpu_features), every
 * feature of this table that the target it compiled for has; the runtime
 * refuses to run the model, with one line naming what is missing, on a CPU that
 * lacks any of them (instead of dying with SIGILL on the first such
 * instruction). Feature names are LLVM's.
 *
 * x86-64: X(name, cpuid leaf, subleaf, register 0..3 = eax ebx ecx edx, bit,
 *           XCR0 state the OS must enable: 0, MILM_XCR0_AVX, MILM_XCR0_AVX512).
 * AArch64: X(name, auxv word 1 = AT_HWCAP or 2 = AT_HWCAP2, bit).
 *===---------------------------------------------------------------------===*/
#ifndef MILM_CPU_FEATURES_H
#define MILM_CPU_FEATURES_H

#define MILM_XCR0_AVX 0x6u    /* SSE and AVX (ymm) state */
#define MILM_XCR0_AVX512 0xE6u /* and opmask, zmm0-15 upper halves, zmm16-31 */

#define MILM_X86_CPU_FEATURES(X)                                                   \
  X("sse3", 1, 0, 2, 0, 0)                                                         \
  X("pclmul", 1, 0, 2, 1, 0)                                                       \
  X("ssse3", 1, 0, 2, 9, 0)                                                        \
  X("fma", 1, 0, 2, 12, MILM_XCR0_AVX)                                             \
  X("sse4.1", 1, 0, 2, 19, 0)                                                      \
  X("sse4.2", 1, 0, 2, 20, 0)                                                      \
  X("movbe", 1, 0, 2, 22, 0)                                                       \
  X("popcnt", 1, 0, 2, 23, 0)                                                      \
  X("aes", 1, 0, 2, 25, 0)                                                         \
  X("avx", 1, 0, 2, 28, MILM_XCR0_AVX)                                             \
  X("f16c", 1, 0, 2, 29, MILM_XCR0_AVX)                                            \
  X("bmi", 7, 0, 1, 3, 0)                                                          \
  X("avx2", 7, 0, 1, 5, MILM_XCR0_AVX)                                             \
  X("bmi2", 7, 0, 1, 8, 0)                                                         \
  X("avx512f", 7, 0, 1, 16, MILM_XCR0_AVX512)                                      \
  X("avx512dq", 7, 0, 1, 17, MILM_XCR0_AVX512)                                     \
  X("avx512ifma", 7, 0, 1, 21, MILM_XCR0_AVX512)                                   \
  X("avx512cd", 7, 0, 1, 28, MILM_XCR0_AVX512)                                     \
  X("avx512bw", 7, 0, 1, 30, MILM_XCR0_AVX512)                                     \
  X("avx512vl", 7, 0, 1, 31, MILM_XCR0_AVX512)                                     \
  X("avx512vbmi", 7, 0, 2, 1, MILM_XCR0_AVX512)                                    \
  X("avx512vbmi2", 7, 0, 2, 6, MILM_XCR0_AVX512)                                   \
  X("gfni", 7, 0, 2, 8, 0)                                                         \
  X("vaes", 7, 0, 2, 9, MILM_XCR0_AVX)                                             \
  X("vpclmulqdq", 7, 0, 2, 10, MILM_XCR0_AVX)                                      \
  X("avx512vnni", 7, 0, 2, 11, MILM_XCR0_AVX512)                                   \
  X("avx512bitalg", 7, 0, 2, 12, MILM_XCR0_AVX512)                                 \
  X("avx512vpopcntdq", 7, 0, 2, 14, MILM_XCR0_AVX512)                              \
  X("avx512vp2intersect", 7, 0, 3, 8, MILM_XCR0_AVX512)                            \
  X("avx512fp16", 7, 0, 3, 23, MILM_XCR0_AVX512)                                   \
  X("avxvnni", 7, 1, 0, 4, MILM_XCR0_AVX)                                          \
  X("avx512bf16", 7, 1, 0, 5, MILM_XCR0_AVX512)                                    \
  X("avxifma", 7, 1, 0, 23, MILM_XCR0_AVX)                                         \
  X("avxvnniint8", 7, 1, 3, 4, MILM_XCR0_AVX)                                      \
  X("avxneconvert", 7, 1, 3, 5, MILM_XCR0_AVX)                                     \
  X("avxvnniint16", 7, 1, 3, 10, MILM_XCR0_AVX)                                    \
  X("lzcnt", 0x80000001u, 0, 2, 5, 0)

#define MILM_AARCH64_CPU_FEATURES(X)                                               \
  X("crc", 1, 7)                                                                   \
  X("lse", 1, 8)                                                                   \
  X("fullfp16", 1, 9)                                                              \
  X("rdm", 1, 12)                                                                  \
  X("rcpc", 1, 15)                                                                 \
  X("dotprod", 1, 20)                                                              \
  X("sve", 1, 22)                                                                  \
  X("fp16fml", 1, 23)                                                              \
  X("sve2", 2, 1)                                                                  \
  X("i8mm", 2, 13)                                                                 \
  X("bf16", 2, 14)

#ifdef __cplusplus
extern "C" {
#endif
/* Checks a comma-separated list of feature names (one architecture's table)
 * against the running CPU. Returns 1 when it has them all; otherwise 0 and
 * writes "a, b" (the missing ones, or the names the table does not know) into
 * `missing` (NUL-terminated, truncated to `capacity`). */
int milm_cpu_has_features(const char *list, char *missing, unsigned long capacity);
#ifdef __cplusplus
}
#endif
#endif /* MILM_CPU_FEATURES_H */
