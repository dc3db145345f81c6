// The rotations milm-rotate multiplies weights by (passes/Rotation.h): exactly
// orthogonal for powers of two and for 2^k * odd widths, deterministic, and
// what the construction says (a normalised Sylvester Hadamard matrix without
// signs).
#include "passes/Rotation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

using milm::Rotation;

namespace {

/// max |Q Q^T - I|
double orthogonalityError(const Rotation &r) {
  const int64_t n = r.size();
  std::vector<double> q = r.dense();
  double worst = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double d = 0;
      for (int64_t k = 0; k < n; ++k)
        d += q[i * n + k] * q[j * n + k];
      worst = std::max(worst, std::fabs(d - (i == j ? 1.0 : 0.0)));
    }
  return worst;
}

TEST(Rotation, FactorsTheWidth) {
  Rotation a(2816, 1); // 11 * 256, MiLM2's FFN width
  EXPECT_EQ(a.pow2(), 256);
  EXPECT_EQ(a.odd(), 11);
  Rotation b(512, 1);
  EXPECT_EQ(b.pow2(), 512);
  EXPECT_EQ(b.odd(), 1);
  Rotation c(7, 1);
  EXPECT_EQ(c.pow2(), 1);
  EXPECT_EQ(c.odd(), 7);
}

TEST(Rotation, IsOrthogonal) {
  for (int64_t n : {1, 2, 8, 64, 96, 176, 352, 512, 7, 33}) {
    SCOPED_TRACE(n);
    EXPECT_LT(orthogonalityError(Rotation(n, 3)), 1e-12);
    EXPECT_LT(orthogonalityError(Rotation(n, 3, /*randomSigns=*/false)), 1e-12);
  }
}

TEST(Rotation, LargeNonPowerOfTwoIsOrthogonal) {
  // 2816 = 11 * 256: check a sample of rows of Q Q^T through applyRight and
  // its transpose (the dense product would be 2816^3).
  Rotation r(2816, 5);
  std::vector<double> x(2816);
  for (int64_t i : {0, 1, 255, 256, 1407, 2815}) {
    std::fill(x.begin(), x.end(), 0.0);
    x[i] = 1.0;
    r.applyRight(x.data());
    double norm = 0;
    for (double v : x)
      norm += v * v;
    EXPECT_NEAR(norm, 1.0, 1e-12) << i;
    r.applyRightTransposed(x.data());
    for (int64_t j = 0; j < 2816; ++j)
      ASSERT_NEAR(x[j], i == j ? 1.0 : 0.0, 1e-12) << i << " " << j;
  }
}

TEST(Rotation, PlainHadamardIsSylvester) {
  // Without signs, order 8: H[i][j] = (-1)^popcount(i & j) / sqrt(8).
  std::vector<double> q = Rotation(8, 1, false).dense();
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 8; ++j)
      EXPECT_NEAR(q[i * 8 + j], (__builtin_popcount(i & j) % 2 ? -1.0 : 1.0) / std::sqrt(8.0),
                  1e-15);
}

TEST(Rotation, SpreadsAnOutlier) {
  // The point of the rotation: one large coordinate becomes many equal-sized
  // ones (|x Q|_inf = |x|_2 / sqrt(n) for a power of two).
  std::vector<double> x(512, 0.0);
  x[17] = 100.0;
  Rotation(512, 9).applyRight(x.data());
  for (double v : x)
    EXPECT_NEAR(std::fabs(v), 100.0 / std::sqrt(512.0), 1e-12);
}

TEST(Rotation, SameSeedSameMatrixOtherSeedOther) {
  std::vector<double> a = Rotation(96, 4).dense(), b = Rotation(96, 4).dense(),
                      c = Rotation(96, 5).dense();
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

} // namespace
