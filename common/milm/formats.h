/*===- formats.h - every weight storage format and packed layout, once -----===*
 *
 * The one definition of milm's weight storage formats (GGUF's ggml_type
 * numbering, GGUF's exact block layouts) and of milm's packed layouts (the same
 * bytes rearranged for a target's kernels, codes 0x100 + the base format's).
 * Plain C with no includes, so that every layer reads it: the dialect's
 * WeightFormat (checked against it in MilmDialect.cpp), the frontends'
 * StorageFormat, the kernels' milm_uk_format, the runtime's loader and the CPU
 * lowering all expand these lists. Where a copy cannot be avoided (the ODS enum,
 * the kernels' block structs), a static check compares it with this table.
 *
 *   MILM_STORAGE_FORMATS(X): X(ID, id, name, code, block_elems, block_bytes, act)
 *     ID           upper-case identifier (F32, Q4_K, ...)
 *     id           lower-case identifier (the dialect's WeightFormat case, the
 *                  kernels' uk_block_<id>)
 *     name         the lower-case name of IR and command lines ("q4_k")
 *     code         GGUF's ggml_type number; milm's own formats, never in a GGUF
 *                  file, are numbered from MILM_OWN_FORMAT_BASE (0x80) on
 *     block_elems  values per block (1 for the float formats)
 *     block_bytes  bytes per block
 *     act          what products quantize the activations to: F32 (stay
 *                  float), Q8_32 (blocks of 32 int8 with a float scale and their
 *                  sum) or Q8_K (blocks of 256 with 16-value sums)
 *
 *   MILM_PACKED_LAYOUTS(X): X(ID, id, name, code, base ID, row_group)
 *     id is the lower-case identifier of the kernels' functions and structs
 *     (milm_uk_repack_<id>, uk_block_<id>);
 *     the layout keeps the base format's bytes per row; row_group rows are
 *     rearranged together (the row count must be a multiple); the byte order
 *     is documented with milm_uk_repack_<name> in milm_ukernels.h.
 *
 *   Activation blocks: MILM_ACT_Q8_32_BYTES, MILM_ACT_Q8_K_BYTES (their structs
 *   are in milm_ukernels.h, which checks their sizes against these).
 *===----------------------------------------------------------------------===*/
#ifndef MILM_COMMON_FORMATS_H
#define MILM_COMMON_FORMATS_H

#define MILM_STORAGE_FORMATS(X)                                                          \
  X(F32, f32, "f32", 0, 1, 4, F32)                                                       \
  X(F16, f16, "f16", 1, 1, 2, F32)                                                       \
  X(Q4_0, q4_0, "q4_0", 2, 32, 18, Q8_32)                                                \
  X(Q4_1, q4_1, "q4_1", 3, 32, 20, Q8_32)                                                \
  X(Q5_0, q5_0, "q5_0", 6, 32, 22, Q8_32)                                                \
  X(Q5_1, q5_1, "q5_1", 7, 32, 24, Q8_32)                                                \
  X(Q8_0, q8_0, "q8_0", 8, 32, 34, Q8_32)                                                \
  X(Q4_K, q4_k, "q4_k", 12, 256, 144, Q8_K)                                              \
  X(Q5_K, q5_k, "q5_k", 13, 256, 176, Q8_K)                                              \
  X(Q6_K, q6_k, "q6_k", 14, 256, 210, Q8_K)                                              \
  X(BF16, bf16, "bf16", 30, 1, 2, F32)                                                   \
  X(Q4_G128, q4_g128, "q4_g128", 0x80, 128, 66, Q8_32)                                   \
  X(Q4_G256, q4_g256, "q4_g256", 0x81, 256, 130, Q8_32)                                   \
  X(Q4_G64, q4_g64, "q4_g64", 0x82, 64, 34, Q8_32)

#define MILM_PACKED_LAYOUTS(X)                                                           \
  X(Q4_0_X8, q4_0x8, "q4_0x8", 0x102, Q4_0, 8)                                           \
  X(Q8_0_X8, q8_0x8, "q8_0x8", 0x108, Q8_0, 8)                                           \
  X(Q4_K_X8, q4_kx8, "q4_kx8", 0x10C, Q4_K, 8)                                           \
  X(Q6_K_X8, q6_kx8, "q6_kx8", 0x10E, Q6_K, 8)                                           \
  X(Q4_G128_X8, q4_g128x8, "q4_g128x8", 0x180, Q4_G128, 8)                               \
  X(Q4_G256_X8, q4_g256x8, "q4_g256x8", 0x181, Q4_G256, 8)                               \
  X(Q4_G64_X8, q4_g64x8, "q4_g64x8", 0x182, Q4_G64, 8)                                   \
  X(Q4_0_X32, q4_0x32, "q4_0x32", 0x202, Q4_0, 32)                                       \
  X(Q8_0_X32, q8_0x32, "q8_0x32", 0x208, Q8_0, 32)

/* Values and bytes per block of each storage format as named constants, for
 * the packed layouts' rows and the static checks of the kernels' block structs. */
enum milm_block_elems {
#define MILM_X(ID, id, name, code, elems, bytes, act) MILM_BLOCK_ELEMS_##ID = elems,
  MILM_STORAGE_FORMATS(MILM_X)
#undef MILM_X
};
enum milm_block_bytes {
#define MILM_X(ID, id, name, code, elems, bytes, act) MILM_BLOCK_BYTES_##ID = bytes,
  MILM_STORAGE_FORMATS(MILM_X)
#undef MILM_X
};

/* milm's own storage formats (codes 0x80..0xFF: no GGUF reader or writer
 * accepts them; the weight store and model.milm carry them):
 *   q4_g128 (128)  f16 d; u8 qs[64]    x = d * (q - 8)
 *   q4_g256 (256)  f16 d; u8 qs[128]   x = d * (q - 8)
 *   q4_g64  (64)   f16 d; u8 qs[32]    x = d * (q - 8)
 * Sub-block s (32 values) of a block is q4_0's nibble layout at qs[16s..]:
 * value 32s + j (j < 16) is the low nibble of qs[16s + j], value 32s + 16 + j
 * the high one. They store the 4-bit schemes w4-g128 (4.125 bits a weight),
 * w4-g64 (4.25) and w4-channel (one scale per row, repeated in each
 * 256-block: 4.0625 bits). */
#define MILM_OWN_FORMAT_BASE 0x80

/* Packed layout codes start here: 0x100 + the base format's code for the
 * layouts of 8 rows (the x86-64 kernels'), 0x200 + it for those of 32 rows
 * (the Hexagon HVX kernels': one 128-byte vector holds 4 values of 32 rows). */
#define MILM_PACKED_LAYOUT_BASE 0x100

/* Bytes of one activation block: float d, int32 sum, 32 int8 values; and
 * float d, 256 int8 values, 16 int16 sums. */
#define MILM_ACT_Q8_32_VALUES 32
#define MILM_ACT_Q8_32_BYTES 40
#define MILM_ACT_Q8_K_VALUES 256
#define MILM_ACT_Q8_K_BYTES 292

#endif /* MILM_COMMON_FORMATS_H */
