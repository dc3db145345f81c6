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
