//===- Rotation.cpp - Orthogonal Hadamard-type rotations ------------------===//
#include "passes/Rotation.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace milm {

namespace {

/// xorshift64*: a fixed generator, the same numbers everywhere.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull) {
    if (s == 0)
      s = 1;
  }
  uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
  }
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }
  double gaussian() { // Box-Muller
    double u = uniform(), v = uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
  }
};

} // namespace

Rotation::Rotation(int64_t n, uint64_t seed, bool randomSigns) : n_(n), p_(1), m_(n) {
  assert(n >= 1);
  while (m_ % 2 == 0) {
    m_ /= 2;
    p_ *= 2;
  }
  Rng rng(seed ^ static_cast<uint64_t>(n));
  signs_.assign(static_cast<size_t>(n), 1.0);
  if (randomSigns)
    for (double &s : signs_)
      s = (rng.next() >> 63) ? -1.0 : 1.0;
  // R_m: modified Gram-Schmidt on the rows of a Gaussian matrix, twice for
  // orthogonality to rounding.
  r_.assign(static_cast<size_t>(m_ * m_), 0.0);
  if (m_ == 1) {
    r_[0] = 1.0;
    return;
  }
  for (double &v : r_)
    v = rng.gaussian();
  for (int pass = 0; pass < 2; ++pass)
    for (int64_t i = 0; i < m_; ++i) {
      double *ri = &r_[static_cast<size_t>(i * m_)];
      for (int64_t j = 0; j < i; ++j) {
        const double *rj = &r_[static_cast<size_t>(j * m_)];
        double d = 0;
        for (int64_t c = 0; c < m_; ++c)
          d += ri[c] * rj[c];
        for (int64_t c = 0; c < m_; ++c)
          ri[c] -= d * rj[c];
      }
      double norm = 0;
      for (int64_t c = 0; c < m_; ++c)
        norm += ri[c] * ri[c];
      norm = std::sqrt(norm);
      for (int64_t c = 0; c < m_; ++c)
        ri[c] /= norm;
    }
}

void Rotation::hadamard(double *x) const {
  // Index i = a * m + b: the Walsh-Hadamard butterflies run over a for each b.
  for (int64_t h = 1; h < p_; h *= 2)
    for (int64_t a = 0; a < p_; a += 2 * h)
      for (int64_t j = a; j < a + h; ++j)
        for (int64_t b = 0; b < m_; ++b) {
          double u = x[j * m_ + b], v = x[(j + h) * m_ + b];
          x[j * m_ + b] = u + v;
          x[(j + h) * m_ + b] = u - v;
        }
  const double scale = 1.0 / std::sqrt(static_cast<double>(p_));
  for (int64_t i = 0; i < n_; ++i)
    x[i] *= scale;
}

void Rotation::mixBlocks(double *x, bool transposed) const {
  // Each block x[a*m .. a*m+m) <- block R (or block R^T).
  if (m_ == 1)
    return;
  std::vector<double> t(static_cast<size_t>(m_));
  for (int64_t a = 0; a < p_; ++a) {
    double *xa = x + a * m_;
    for (int64_t d = 0; d < m_; ++d) {
      double s = 0;
      for (int64_t b = 0; b < m_; ++b)
        s += xa[b] * (transposed ? r_[static_cast<size_t>(d * m_ + b)]
                                 : r_[static_cast<size_t>(b * m_ + d)]);
      t[static_cast<size_t>(d)] = s;
    }
    std::copy(t.begin(), t.end(), xa);
  }
}

void Rotation::applyRight(double *x) const {
  // x Q = ((x D_s) (H (x) I)) (I (x) R): H and R act on different indices
  // and commute.
  for (int64_t i = 0; i < n_; ++i)
    x[i] *= signs_[static_cast<size_t>(i)];
  hadamard(x);
  mixBlocks(x, /*transposed=*/false);
}

void Rotation::applyRightTransposed(double *x) const {
  // x Q^T = x (I (x) R^T) (H (x) I) D_s (H symmetric).
  mixBlocks(x, /*transposed=*/true);
  hadamard(x);
  for (int64_t i = 0; i < n_; ++i)
    x[i] *= signs_[static_cast<size_t>(i)];
}

std::vector<double> Rotation::dense() const {
  std::vector<double> q(static_cast<size_t>(n_ * n_), 0.0);
  for (int64_t i = 0; i < n_; ++i) {
    double *row = &q[static_cast<size_t>(i * n_)];
    row[i] = 1.0; // e_i Q is row i of Q
    applyRight(row);
  }
  return q;
}

// x <- x (H_b / sqrt(b)) on every run of b values of x[0..n): the
// normalised Sylvester Hadamard matrix, symmetric and orthogonal.
void hadamardBlocks(double *x, int64_t n, int64_t b) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(b));
  for (int64_t b0 = 0; b0 < n; b0 += b) {
    double *v = x + b0;
    for (int64_t h = 1; h < b; h *= 2)
      for (int64_t i = 0; i < b; i += 2 * h)
        for (int64_t j = i; j < i + h; ++j) {
          const double p = v[j], q = v[j + h];
          v[j] = p + q;
          v[j + h] = p - q;
        }
    for (int64_t j = 0; j < b; ++j)
      v[j] *= scale;
  }
}

} // namespace milm
