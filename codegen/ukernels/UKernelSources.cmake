# Sources and per-ISA compiler flags of the microkernels, shared by
# codegen/ukernels/CMakeLists.txt and test/unit/ukernels/CMakeLists.txt.
set(MILM_UK_DIR ${CMAKE_CURRENT_LIST_DIR})
set(MILM_UK_GENERIC_SRC ${MILM_UK_DIR}/generic/ukernels_generic.c)
set(MILM_UK_AVX2_SRC ${MILM_UK_DIR}/x86_64/ukernels_avx2.c)
set(MILM_UK_AVX512_SRC ${MILM_UK_DIR}/x86_64/ukernels_avx512.c)
set(MILM_UK_NEON_SRC ${MILM_UK_DIR}/aarch64/ukernels_neon.c)
set(MILM_UK_HVX_SRC ${MILM_UK_DIR}/hexagon/ukernels_hvx.c)
set(MILM_UK_INTERNAL_HDRS
  ${MILM_UK_DIR}/../../common/milm/formats.h
  ${MILM_UK_DIR}/include/milm_ukernels.h
  ${MILM_UK_DIR}/generic/uk_internal.h
  ${MILM_UK_DIR}/generic/ukernels_generic.inc)
set(MILM_UK_AVX2_FLAGS -mavx2 -mfma -mf16c)
set(MILM_UK_AVX512_FLAGS -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mfma -mf16c)
set(MILM_UK_DOTPROD_FLAGS -march=armv8.2-a+dotprod)
set(MILM_UK_I8MM_FLAGS -march=armv8.6-a+dotprod+i8mm)
# Hexagon v68 with 128-byte HVX vectors, integer HVX only (no -mhvx-ieee-fp or
# -mhvx-qfloat: qemu 7.2 cannot execute HVX floating point).
set(MILM_UK_HVX_FLAGS -mv68 -mhvx -mhvx-length=128b -ffreestanding)
# The same on v73 with HVX qfloat for the packed products' float part: runs on
# devices only (the hexagon-qfloat targets).
set(MILM_UK_HVX_QFLOAT_FLAGS -mv73 -mhvx -mhvx-length=128b -mhvx-qfloat -DMILM_UK_HVX_QFLOAT
    -ffreestanding)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  set(MILM_UK_HOST_X86_64 ON)
else()
  set(MILM_UK_HOST_X86_64 OFF)
endif()
