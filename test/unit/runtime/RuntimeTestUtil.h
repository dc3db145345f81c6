//===- RuntimeTestUtil.h - The fake model's weights and vocabulary ---------===//
//
// FakeModel.c (the stand-in for generated code) reads weights this file
// creates. makeFakeArtifact() builds an ArtifactSpec for it with all three
// kinds of byte sources: the table from memory, the embedding from a file at an
// offset, the experts from two parts of another file.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_TEST_UNIT_RUNTIME_RUNTIMETESTUTIL_H
#define MILM_TEST_UNIT_RUNTIME_RUNTIMETESTUTIL_H

#include "codegen/artifact/ArtifactWriter.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace milm {
namespace fake {

constexpr int32_t kVocab = 320;
constexpr int32_t kHidden = 8;
constexpr uint64_t kHash = 0x6d696c6d66616b65ull; // FakeModel.c's default
constexpr int32_t kBos = 1, kEos = 2;

struct FakeArtifact {
  std::string dir;
  std::vector<std::string> tokens;
  std::vector<float> table; // [V, V]
  std::vector<float> emb;   // [V, H]
  std::vector<float> exps;  // [2, 4, H]
  artifact::ArtifactSpec spec;

  int32_t id(const std::string &piece) const;
  /// The logits FakeModel.c computes for `token` when the tokens so far
  /// (including it) are `history`.
  std::vector<float> expectedLogits(const std::vector<int32_t> &history) const;
};

/// For sampling tests: eos never likely (-10), and each token's successor in
/// the story only slightly preferred (10 -> 1), so sampled text spreads.
void spreadFakeTable(FakeArtifact &f);

/// Three tokens after `prompt`: their exact probability under the fake model
/// with temperature 1 and top-k 3 (the sampler's own filtering), for every
/// triple the model can produce.
std::map<std::vector<int32_t>, double> exactTriples(const FakeArtifact &f,
                                                    const std::vector<int32_t> &prompt);

/// Pearson's chi-square of `counts` (n triples) against `prob`; cells
/// expecting fewer than 5 are pooled into one. Sets *cells; *unexpected counts
/// triples outside prob's support.
double tripleChiSquare(const std::map<std::vector<int32_t>, int> &counts,
                       const std::map<std::vector<int32_t>, double> &prob, int n, int *cells,
                       int *unexpected);

/// The p = 0.001 quantile of chi-square with df degrees of freedom
/// (Wilson-Hilferty; within 1% of the tables for df >= 3).
double chiSquareBound001(int df);

/// Writes the source files into `dir` and returns the spec (not yet written).
std::unique_ptr<FakeArtifact> makeFakeArtifact(const std::string &dir, const std::string &target,
                                               uint64_t hash = kHash);

/// A fresh directory under the system's temporary directory.
std::string makeTempDir(const char *prefix);

std::string readFileBytes(const std::string &path);
void writeFileBytes(const std::string &path, const std::string &bytes);

} // namespace fake
} // namespace milm

#endif
