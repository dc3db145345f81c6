/*===- loops.c - fingerprints of the microkernels' per-block loops ----------===*
 *
 * bench/mca.sh only; never part of the build. Includes the AArch64 kernels and
 * instantiates each per-block loop helper alone, with its token count fixed, in a
 * function `mca_<name>`: the one innermost loop of such a function is the loop
 * that the real entry point (milm_uk_matmul_*) runs for that case, and mca.sh
 * uses its instruction mix to find that loop in the real function's assembly
 * (compiled separately, exactly as the build compiles it), which is what it
 * measures.
 *===----------------------------------------------------------------------===*/
#include "ukernels_neon.c"

#define MCA_ROWS(fmt, WBLK, ABLK, NT)                                                   \
  void mca_##fmt##_t##NT(const WBLK *w, const ABLK *x, int64_t nb, float *y) {          \
    neon_rows_##fmt(w, x, nb, y, 1, 0, 0, NT);                                           \
  }
#define MCA_FORMAT(fmt, WBLK, ABLK)                                                     \
  MCA_ROWS(fmt, WBLK, ABLK, 1)                                                          \
  MCA_ROWS(fmt, WBLK, ABLK, 4)

MCA_FORMAT(q4_0, uk_block_q4_0, milm_uk_block_q8_32)
MCA_FORMAT(q4_1, uk_block_q4_1, milm_uk_block_q8_32)
MCA_FORMAT(q5_0, uk_block_q5_0, milm_uk_block_q8_32)
MCA_FORMAT(q5_1, uk_block_q5_1, milm_uk_block_q8_32)
MCA_FORMAT(q8_0, uk_block_q8_0, milm_uk_block_q8_32)
MCA_FORMAT(q4_k, uk_block_q4_k, milm_uk_block_q8_k)
MCA_FORMAT(q5_k, uk_block_q5_k, milm_uk_block_q8_k)
MCA_FORMAT(q6_k, uk_block_q6_k, milm_uk_block_q8_k)

#if defined(__ARM_FEATURE_MATMUL_INT8)
/* 2 weight rows x NP pairs of tokens with SMMLA. */
#define MCA_MMLA(fmt, WBLK, NP)                                                         \
  void mca_##fmt##_mmla_p##NP(const WBLK *w, const milm_uk_block_q8_32 *x, int64_t nb,   \
                              float *y) {                                              \
    neon_mmla_##fmt(w, w + nb, x, nb, y, 4, 0, 0, NP);                                   \
  }
MCA_MMLA(q4_0, uk_block_q4_0, 1)
MCA_MMLA(q4_0, uk_block_q4_0, 2)
MCA_MMLA(q8_0, uk_block_q8_0, 1)
MCA_MMLA(q8_0, uk_block_q8_0, 2)
#endif
