//===- Rotation.h - Orthogonal Hadamard-type rotations --------*- C++ -*-===//
//
// The orthogonal matrices milm-rotate multiplies weights by, for any
// dimension n. n = 2^k * m with m odd:
//
//   Q = D_s (H_{2^k} / sqrt(2^k)) (x) R_m
//
// D_s a diagonal of random signs (the "randomized Hadamard" of QuaRot: the
// signs decorrelate the rotation from the weights' own structure), H_{2^k}
// Sylvester's Hadamard matrix, R_m a random orthogonal matrix of order m
// (Gram-Schmidt of a Gaussian matrix; R_1 = 1), (x) the Kronecker product.
// Why this construction: a Hadamard matrix exists only for orders 1, 2 and
// multiples of 4, and a known one of every such order would be a table per
// order; MiLM2's FFN sizes (2816 = 11 * 256, 5632 = 11 * 512) are 2^k times a
// small odd m, so the Kronecker product keeps the Hadamard part that spreads
// outliers over 2^k coordinates (a fast O(n log n) transform) and mixes the m
// blocks with a dense m x m orthogonal matrix (O(n m) to apply). Every
// construction is exactly orthogonal in exact arithmetic; in double precision
// Q Q^T = I to about 1e-15 (test/unit/RotationTest.cpp).
//
// Everything is computed in double; the same (n, seed) gives the same Q on
// every machine (the generator is a fixed xorshift, not std::random).
//
//===----------------------------------------------------------------------===//
#ifndef MILM_PASSES_ROTATION_H
#define MILM_PASSES_ROTATION_H

#include <cstdint>
#include <vector>

namespace milm {

class Rotation {
public:
  /// The rotation of order n >= 1 drawn with `seed`. With `randomSigns`
  /// false, D_s = I (a plain normalised Hadamard matrix when n = 2^k).
  Rotation(int64_t n, uint64_t seed, bool randomSigns = true);

  int64_t size() const { return n_; }
  /// The power of two and the odd factor of n = pow2 * odd.
  int64_t pow2() const { return p_; }
  int64_t odd() const { return m_; }

  /// x <- x Q for a row vector x of size() values.
  void applyRight(double *x) const;
  /// x <- x Q^T (the inverse).
  void applyRightTransposed(double *x) const;
  /// Q as a dense row-major matrix (tests, small n).
  std::vector<double> dense() const;

private:
  void hadamard(double *x) const;  // x <- x (H (x) I_m) / sqrt(p), in place
  void mixBlocks(double *x, bool transposed) const; // x <- x (I_p (x) R), or R^T
  int64_t n_, p_, m_;
  std::vector<double> signs_; // n
  std::vector<double> r_;     // m x m, row-major
};

/// x <- x (H_b / sqrt(b)) on every run of b values of x[0..n) (b a power of
/// two dividing n): the normalised Sylvester Hadamard matrix, symmetric and
/// orthogonal, by the fast transform. milm.hadamard's function, in double
/// (milm-rotate's weights, the interpreter); the kernel is milm_uk_hadamard.
void hadamardBlocks(double *x, int64_t n, int64_t b);

} // namespace milm

#endif
