//===- Cholesky.h - Dense symmetric positive definite factorization -*- C++ -*-===//
//
// The Cholesky factorization the passes' least-squares steps share: GPTQ's
// inverse factor (Rounding.cpp) and milm-prune-transact's reconstruction.
// Double precision, row-major K x K matrices.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_PASSES_CHOLESKY_H
#define MILM_PASSES_CHOLESKY_H

#include <cmath>
#include <cstdint>
#include <vector>

namespace milm {

/// Lower Cholesky factor of the K x K matrix A in place; false if A is not
/// positive definite.
inline bool cholesky(std::vector<double> &A, int64_t K) {
  for (int64_t j = 0; j < K; ++j) {
    double *aj = A.data() + j * K;
    double d = aj[j];
    for (int64_t k = 0; k < j; ++k)
      d -= aj[k] * aj[k];
    if (!(d > 0))
      return false;
    d = std::sqrt(d);
    aj[j] = d;
    for (int64_t i = j + 1; i < K; ++i) {
      double *ai = A.data() + i * K;
      double s = ai[j];
      for (int64_t k = 0; k < j; ++k)
        s -= ai[k] * aj[k];
      ai[j] = s / d;
    }
  }
  for (int64_t i = 0; i < K; ++i)
    for (int64_t j = i + 1; j < K; ++j)
      A[size_t(i * K + j)] = 0;
  return true;
}

/// Solves A X = B for X (K x M, row-major) in place of B, given the lower
/// Cholesky factor L of A (cholesky()'s result): forward then backward
/// substitution, column by column of B.
inline void choleskySolve(const std::vector<double> &L, int64_t K, std::vector<double> &B,
                          int64_t M) {
  for (int64_t i = 0; i < K; ++i) { // L Y = B
    const double *li = L.data() + i * K;
    double *bi = B.data() + i * M;
    for (int64_t k = 0; k < i; ++k) {
      const double l = li[k];
      const double *bk = B.data() + k * M;
      for (int64_t m = 0; m < M; ++m)
        bi[m] -= l * bk[m];
    }
    for (int64_t m = 0; m < M; ++m)
      bi[m] /= li[i];
  }
  for (int64_t i = K - 1; i >= 0; --i) { // L^T X = Y
    double *bi = B.data() + i * M;
    for (int64_t k = i + 1; k < K; ++k) {
      const double l = L[size_t(k * K + i)];
      const double *bk = B.data() + k * M;
      for (int64_t m = 0; m < M; ++m)
        bi[m] -= l * bk[m];
    }
    for (int64_t m = 0; m < M; ++m)
      bi[m] /= L[size_t(i * K + i)];
  }
}

} // namespace milm

#endif
