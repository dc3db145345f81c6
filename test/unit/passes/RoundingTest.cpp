//===- RoundingTest.cpp - The 4-bit schemes' rounding and the calibration file ----===//
//
// passes/Rounding.h and passes/Calibration.h on synthetic matrices whose
// answers are known: every rounded row lies on its scheme's grid; clipping
// and GPTQ never lose to round-to-nearest on the objective they minimise;
// a planted outlier channel is found and kept exactly; the statistics file
// survives a round trip and refuses every truncation and a flipped byte.
//
//===----------------------------------------------------------------------===//
#include "passes/Calibration.h"
#include "passes/Rounding.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <set>

using namespace milm;

namespace {

std::vector<float> randomMatrix(int64_t rows, int64_t K, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> n(0.0f, 0.05f);
  std::vector<float> w(size_t(rows * K));
  for (float &v : w)
    v = n(g);
  return w;
}

/// A site with correlated inputs: x = z A with z Gaussian, one channel
/// (`loud`, if >= 0) 20 times louder than the others.
CalibrationSite correlatedSite(int64_t K, int64_t rows, int64_t loud, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<double> n(0.0, 1.0);
  std::vector<double> A(size_t(K * K));
  for (double &v : A)
    v = n(g) / std::sqrt(double(K));
  for (int64_t i = 0; i < K; ++i)
    A[size_t(i * K + i)] += 1.0;
  CalibrationSite s;
  s.weights = {"w"};
  s.fingerprints = {0};
  s.K = K;
  s.matrix.assign(size_t(K * K), 0.0);
  std::vector<double> x(static_cast<size_t>(rows * K)), z(static_cast<size_t>(K));
  for (int64_t t = 0; t < rows; ++t) {
    for (double &v : z)
      v = n(g);
    for (int64_t j = 0; j < K; ++j) {
      double v = 0;
      for (int64_t i = 0; i < K; ++i)
        v += z[size_t(i)] * A[size_t(i * K + j)];
      x[size_t(t * K + j)] = j == loud ? 20.0 * v : v;
    }
  }
  s.add(x.data(), rows, 2);
  return s;
}

/// The objective GPTQ minimises: sum_r dW_r H dW_r^T / n.
double objective(const std::vector<float> &a, const std::vector<float> &b, int64_t rows, int64_t K,
                 const CalibrationSite &s) {
  double e = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < K; ++i) {
      const double di = double(a[size_t(r * K + i)]) - b[size_t(r * K + i)];
      for (int64_t j = 0; j < K; ++j)
        e += di * s.matrix[size_t(i * K + j)] *
             (double(a[size_t(r * K + j)]) - b[size_t(r * K + j)]);
    }
  return e / double(s.rows);
}

TEST(Rounding, ParsesTheSchemes) {
  EXPECT_EQ(parseIntScheme("w4-channel")->group, 0);
  EXPECT_EQ(parseIntScheme("w4-g128")->group, 128);
  EXPECT_TRUE(parseIntScheme("w4-g32-asym")->asym);
  EXPECT_FALSE(parseIntScheme("w4-g48"));
  EXPECT_FALSE(parseIntScheme("q4_0"));
  EXPECT_DOUBLE_EQ(parseIntScheme("w4-g32")->bits(4096), 4.5);
  EXPECT_DOUBLE_EQ(parseIntScheme("w4-g32-asym")->bits(4096), 5.0);
  EXPECT_EQ(parseIntScheme("w4-g64-asym")->name(), "w4-g64-asym");
}

// Every row of every scheme: at most 16 values per group; symmetric groups
// hold q * d, q in -8..7.
TEST(Rounding, RowsLieOnTheirGrid) {
  const int64_t rows = 16, K = 256;
  for (const char *name : {"w4-channel", "w4-g32", "w4-g128", "w4-channel-asym", "w4-g64-asym"}) {
    for (bool gptq : {false, true}) {
      SCOPED_TRACE(std::string(name) + (gptq ? " gptq" : " rtn"));
      std::vector<float> w = randomMatrix(rows, K, 7);
      CalibrationSite s = correlatedSite(K, 512, -1, 3);
      RoundingOptions o;
      o.scheme = *parseIntScheme(name);
      o.gptq = gptq;
      o.site = &s;
      ASSERT_TRUE(bool(roundMatrix(w.data(), rows, K, o)));
      const int64_t G = o.scheme.group ? o.scheme.group : K;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t g0 = 0; g0 < K; g0 += G) {
          std::set<float> levels(w.begin() + r * K + g0, w.begin() + r * K + g0 + G);
          EXPECT_LE(levels.size(), 16u);
          if (!o.scheme.asym && levels.size() > 1) {
            // Symmetric: every value q * d with q an integer in -8..7, for a d
            // that divides the smallest magnitude present.
            float m = 0;
            for (float v : levels)
              if (v != 0 && (m == 0 || std::fabs(v) < m))
                m = std::fabs(v);
            bool found = false;
            for (int k = 1; k <= 8 && !found; ++k) {
              // d may be negative (ggml's convention: the extreme maps to
              // -8), so the codes are -8..7 of d or of -d.
              for (float d : {m / float(k), -m / float(k)}) {
                bool all = true;
                for (float v : levels) {
                  const float q = v / d;
                  all = all && std::fabs(q - std::nearbyint(q)) < 1e-3f && q >= -8.001f &&
                        q <= 7.001f;
                }
                found = found || all;
              }
            }
            EXPECT_TRUE(found) << "row " << r << " group at " << g0;
          }
        }
    }
  }
}

// Clipping picks among shrinks that include 1.0, by the weighted error it
// reports: never worse than RTN on that measure. GPTQ minimises the
// calibration objective, and must beat RTN on it clearly with correlated inputs.
TEST(Rounding, ClipAndGptqBeatRoundToNearest) {
  const int64_t rows = 32, K = 128;
  const std::vector<float> w0 = randomMatrix(rows, K, 11);
  CalibrationSite s = correlatedSite(K, 1024, -1, 5);
  for (const char *name : {"w4-channel", "w4-g32"}) {
    SCOPED_TRACE(name);
    RoundingOptions o;
    o.scheme = *parseIntScheme(name);
    o.site = &s;
    std::vector<float> rtn = w0, clip = w0, gptq = w0;
    auto r0 = roundMatrix(rtn.data(), rows, K, o);
    o.clip = true;
    auto r1 = roundMatrix(clip.data(), rows, K, o);
    o.clip = false;
    o.gptq = true;
    auto r2 = roundMatrix(gptq.data(), rows, K, o);
    ASSERT_TRUE(r0 && r1 && r2);
    // The reported error is the objective.
    EXPECT_NEAR(r0->error, objective(w0, rtn, rows, K, s), 1e-6 * r0->error);
    EXPECT_NEAR(r2->error, objective(w0, gptq, rows, K, s), 1e-6 * r2->error);
    // Clipping is chosen per group by the diagonal-weighted error; on the
    // full objective it should not be worse than RTN by much, and usually better.
    EXPECT_LT(r1->error, 1.05 * r0->error);
    EXPECT_LT(r2->error, 0.8 * r0->error) << "GPTQ " << r2->error << " vs RTN " << r0->error;
  }
}

// A channel whose inputs are 20 times louder is the first column kept; the
// kept columns hold their f16 values (RTN) and are out of the scales.
TEST(Rounding, KeepsTheLoudChannel) {
  const int64_t rows = 24, K = 96, loud = 37;
  std::vector<float> w = randomMatrix(rows, K, 13);
  const std::vector<float> w0 = w;
  CalibrationSite s = correlatedSite(K, 512, loud, 9);
  RoundingOptions o;
  o.scheme = *parseIntScheme("w4-channel");
  o.site = &s;
  o.outlierColumns = 3;
  auto r = roundMatrix(w.data(), rows, K, o);
  ASSERT_TRUE(bool(r));
  ASSERT_EQ(r->outliers.size(), 3u);
  EXPECT_TRUE(std::count(r->outliers.begin(), r->outliers.end(), loud));
  for (int64_t c : r->outliers)
    for (int64_t i = 0; i < rows; ++i)
      EXPECT_NEAR(w[size_t(i * K + c)], w0[size_t(i * K + c)], 1e-3 * std::fabs(w0[size_t(i * K + c)]) + 1e-7);
  // With the same columns kept, the error is far below plain RTN's.
  std::vector<float> plain = w0;
  o.outlierColumns = 0;
  auto p = roundMatrix(plain.data(), rows, K, o);
  ASSERT_TRUE(bool(p));
  EXPECT_LT(r->error, 0.5 * p->error);
  EXPECT_DOUBLE_EQ(outlierBits(o.scheme, rows, K, 3), 4.0 + 16.0 / K + (16.0 * rows * 3 + 96.0) / (rows * K));
}

TEST(Rounding, RefusesWhatItCannotDo) {
  std::vector<float> w = randomMatrix(4, 64, 1);
  RoundingOptions o;
  o.scheme = *parseIntScheme("w4-channel");
  o.gptq = true;
  auto r = roundMatrix(w.data(), 4, 64, o);
  ASSERT_FALSE(bool(r));
  EXPECT_NE(llvm::toString(r.takeError()).find("GPTQ needs the second-moment matrices"), std::string::npos);
  CalibrationSite s = correlatedSite(32, 64, -1, 1);
  o.gptq = false;
  o.site = &s;
  auto k = roundMatrix(w.data(), 4, 64, o);
  ASSERT_FALSE(bool(k));
  EXPECT_NE(llvm::toString(k.takeError()).find("32 input channels for a matrix of 64 columns"),
            std::string::npos);
}

class CalibrationFile : public ::testing::Test {
protected:
  void SetUp() override {
    llvm::SmallString<128> d;
    ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("milm-calib", d));
    dir = std::string(d);
    path = dir + "/s.stats";
  }
  void TearDown() override { llvm::sys::fs::remove_directories(dir); }
  std::string dir, path;
};

TEST_F(CalibrationFile, RoundTrips) {
  CalibrationStats st;
  st.tokens = 512;
  st.windows = 2;
  st.sites.push_back(correlatedSite(16, 40, 3, 2));
  st.sites.back().weights = {"blk.0.attn_q.weight", "blk.0.attn_k.weight"};
  st.sites.back().fingerprints = {11, 22};
  CalibrationSite e = correlatedSite(8, 10, -1, 4);
  e.weights = {"blk.0.ffn_down_exps.weight"};
  e.fingerprints = {33};
  e.expert = 2;
  e.matrix.clear();
  st.sites.push_back(e);
  ASSERT_FALSE(bool(st.write(path)));
  auto back = CalibrationStats::read(path);
  ASSERT_TRUE(bool(back)) << llvm::toString(back.takeError());
  EXPECT_EQ(back->tokens, 512u);
  ASSERT_EQ(back->sites.size(), 2u);
  const CalibrationSite *q = back->find("blk.0.attn_k.weight");
  ASSERT_TRUE(q);
  EXPECT_EQ(CalibrationStats::fingerprintOf(*q, "blk.0.attn_k.weight"), 22u);
  EXPECT_EQ(q->rows, 40u);
  EXPECT_EQ(q->sumSq, st.sites[0].sumSq);
  for (size_t i = 0; i < q->matrix.size(); ++i)
    EXPECT_NEAR(q->matrix[i], st.sites[0].matrix[i], 1e-6 * std::fabs(st.sites[0].matrix[i]) + 1e-9);
  EXPECT_FALSE(back->find("blk.0.ffn_down_exps.weight"));
  ASSERT_TRUE(back->find("blk.0.ffn_down_exps.weight", 2));
  EXPECT_TRUE(back->find("blk.0.ffn_down_exps.weight", 2)->matrix.empty());
}

TEST_F(CalibrationFile, RefusesDamage) {
  CalibrationStats st;
  st.sites.push_back(correlatedSite(8, 20, -1, 2));
  ASSERT_FALSE(bool(st.write(path)));
  std::string bytes;
  {
    std::ifstream f(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(f), {});
  }
  auto readBack = [&](const std::string &b) {
    {
      std::ofstream f(path, std::ios::binary | std::ios::trunc);
      f << b;
    }
    auto r = CalibrationStats::read(path);
    if (r)
      return std::string("accepted");
    return llvm::toString(r.takeError());
  };
  // Every truncation.
  for (size_t n = 0; n < bytes.size(); n += 7)
    EXPECT_NE(readBack(bytes.substr(0, n)).find("not valid calibration statistics"), std::string::npos)
        << n;
  // A flipped byte anywhere.
  for (size_t i = 8; i < bytes.size(); i += 13) {
    std::string b = bytes;
    b[i] ^= 0x40;
    EXPECT_NE(readBack(b).find("not valid calibration statistics"), std::string::npos) << i;
  }
  std::string other = bytes;
  other[0] = 'X';
  EXPECT_NE(readBack(other).find("no MILMCALI header"), std::string::npos);
  EXPECT_EQ(readBack(bytes), "accepted");
}

} // namespace
