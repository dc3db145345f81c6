//===- RuntimeTestUtil.cpp - The fake model's weights and vocabulary -------===//

#include "RuntimeTestUtil.h"

#include "milm/sampler.h"

#include <cmath>

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

namespace milm {
namespace fake {

namespace {

const char *const kWords[] = {"▁Once", "▁upon",  "▁a",     "▁time",  "▁there",
                              "▁lived", "▁one",  "▁little", "▁robot", "."};

/// UTF-8 characters of `s`.
std::vector<std::string> chars(const std::string &s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

} // namespace

std::string makeTempDir(const char *prefix) {
  llvm::SmallString<128> path;
  if (llvm::sys::fs::createUniqueDirectory(prefix, path))
    return "";
  return std::string(path);
}

std::string readFileBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void writeFileBytes(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

int32_t FakeArtifact::id(const std::string &piece) const {
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] == piece)
      return int32_t(i);
  return -1;
}

std::vector<float> FakeArtifact::expectedLogits(const std::vector<int32_t> &history) const {
  uint32_t h = 0;
  for (size_t q = 0; q < history.size(); ++q)
    h += uint32_t(uint16_t(history[q])) * uint32_t(q + 1);
  h %= 1000u;
  const int32_t t = history.back();
  const float scale = 0.001f * float(h);
  std::vector<float> out(kVocab);
  for (int32_t v = 0; v < kVocab; ++v) {
    float a = scale * float(int(v % 5) - 2);
    float b = table[size_t(t) * kVocab + size_t(v)] + a;
    out[size_t(v)] = b + emb[size_t(t) * kHidden + size_t(v % kHidden)];
  }
  return out;
}

void spreadFakeTable(FakeArtifact &f) {
  for (int32_t t = 0; t < kVocab; ++t)
    f.table[size_t(t) * kVocab + size_t(kEos)] = -10.0f;
  for (float &x : f.table)
    if (x == 10.0f)
      x = 1.0f;
}

std::map<std::vector<int32_t>, double> exactTriples(const FakeArtifact &f,
                                                    const std::vector<int32_t> &prompt) {
  rt::SamplerParams sp;
  sp.temperature = 1.0f;
  sp.topK = 3;
  sp.topP = 1.0f;
  sp.minP = 0.0f;
  rt::Sampler ref(sp);
  std::map<std::vector<int32_t>, double> out;
  std::vector<double> p1, p2, p3;
  ref.probabilities(f.expectedLogits(prompt).data(), kVocab, p1);
  for (int32_t a = 0; a < kVocab; ++a) {
    if (p1[size_t(a)] == 0)
      continue;
    std::vector<int32_t> ha = prompt;
    ha.push_back(a);
    ref.probabilities(f.expectedLogits(ha).data(), kVocab, p2);
    for (int32_t b = 0; b < kVocab; ++b) {
      if (p2[size_t(b)] == 0)
        continue;
      std::vector<int32_t> hb = ha;
      hb.push_back(b);
      ref.probabilities(f.expectedLogits(hb).data(), kVocab, p3);
      for (int32_t c = 0; c < kVocab; ++c)
        if (p3[size_t(c)] > 0)
          out[{a, b, c}] = p1[size_t(a)] * p2[size_t(b)] * p3[size_t(c)];
    }
  }
  return out;
}

double tripleChiSquare(const std::map<std::vector<int32_t>, int> &counts,
                       const std::map<std::vector<int32_t>, double> &prob, int n, int *cells,
                       int *unexpected) {
  *unexpected = 0;
  for (const auto &[triple, count] : counts)
    if (!prob.count(triple))
      *unexpected += count;
  double chi = 0, pooledExp = 0, pooledObs = 0;
  *cells = 0;
  for (const auto &[triple, pr] : prob) {
    const double e = n * pr;
    const auto it = counts.find(triple);
    const double o = it == counts.end() ? 0 : it->second;
    if (e < 5) {
      pooledExp += e;
      pooledObs += o;
      continue;
    }
    chi += (o - e) * (o - e) / e;
    ++*cells;
  }
  if (pooledExp >= 5) {
    chi += (pooledObs - pooledExp) * (pooledObs - pooledExp) / pooledExp;
    ++*cells;
  }
  return chi;
}

double chiSquareBound001(int df) {
  const double z = 3.0902, a = 2.0 / (9.0 * df);
  return df * std::pow(1.0 - a + z * std::sqrt(a), 3.0);
}

std::unique_ptr<FakeArtifact> makeFakeArtifact(const std::string &dir, const std::string &target,
                                               uint64_t hash) {
  auto f = std::make_unique<FakeArtifact>();
  f->dir = dir;

  // Vocabulary: specials, bytes, every prefix of the words (so that BPE can
  // merge them left to right), then unused padding up to kVocab.
  std::vector<int32_t> types;
  auto add = [&](const std::string &t, int32_t type) {
    for (const std::string &e : f->tokens)
      if (e == t)
        return;
    f->tokens.push_back(t);
    types.push_back(type);
  };
  add("<unk>", 2);
  add("<s>", 3);
  add("</s>", 3);
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    snprintf(buf, sizeof buf, "<0x%02X>", b);
    add(buf, 6);
  }
  for (const char *w : kWords) {
    std::vector<std::string> cs = chars(w);
    std::string prefix;
    for (size_t i = 0; i < cs.size(); ++i) {
      prefix += cs[i];
      if (i >= 1 || cs.size() == 1)
        add(prefix, 1);
    }
  }
  for (int k = 0; f->tokens.size() < size_t(kVocab); ++k)
    add("<unused" + std::to_string(k) + ">", 5);

  // The story: each word's successor.
  std::vector<int32_t> next(kVocab, f->id("."));
  next[size_t(kBos)] = f->id("▁Once");
  for (size_t i = 0; i + 1 < sizeof(kWords) / sizeof(kWords[0]); ++i)
    next[size_t(f->id(kWords[i]))] = f->id(kWords[i + 1]);
  next[size_t(f->id("."))] = kEos;

  f->table.resize(size_t(kVocab) * kVocab);
  for (int32_t t = 0; t < kVocab; ++t)
    for (int32_t v = 0; v < kVocab; ++v)
      f->table[size_t(t) * kVocab + size_t(v)] =
          v == next[size_t(t)] ? 10.0f : float((t * 31 + v * 17) % 97) * 0.01f;
  f->emb.resize(size_t(kVocab) * kHidden);
  for (int32_t t = 0; t < kVocab; ++t)
    for (int32_t d = 0; d < kHidden; ++d)
      f->emb[size_t(t) * kHidden + size_t(d)] = float((t * 7 + d * 3) % 11 - 5) * 0.01f;
  f->exps.resize(2 * 4 * kHidden);
  for (size_t i = 0; i < f->exps.size(); ++i)
    f->exps[i] = float(i) * 0.5f;

  // Source files: the embedding after 100 bytes of junk, the two experts 512
  // bytes apart.
  const std::string embFile = dir + "/emb.bin", expsFile = dir + "/exps.bin";
  std::string junk(100, 'j');
  writeFileBytes(embFile, junk + std::string(reinterpret_cast<const char *>(f->emb.data()),
                                             f->emb.size() * 4));
  const size_t half = f->exps.size() * 2; // bytes of one expert
  std::string exps(512 + half, 'x');
  memcpy(&exps[0], f->exps.data(), half);
  memcpy(&exps[512], reinterpret_cast<const char *>(f->exps.data()) + half, half);
  writeFileBytes(expsFile, exps);

  artifact::ArtifactSpec &s = f->spec;
  s.config.arch = "llama";
  s.config.name = "fake";
  s.config.vocabSize = kVocab;
  s.config.contextLength = 64;
  s.config.hiddenSize = kHidden;
  s.config.numLayers = 2;
  s.config.numHeads = 2;
  s.config.numKVHeads = 1;
  s.config.headDim = 4;
  s.config.ffnSize = 4;
  s.config.numExperts = 2;
  s.config.numExpertsUsed = 1;
  s.tokenizer.model = "llama";
  s.tokenizer.tokens = f->tokens;
  s.tokenizer.scores.assign(f->tokens.size(), 0.0f);
  s.tokenizer.types = types;
  s.tokenizer.bos = kBos;
  s.tokenizer.eos = kEos;
  s.tokenizer.unk = 0;
  s.tokenizer.addBos = true;
  s.target = target;
  s.producer = "RuntimeTest";
  s.options = {{"target", target}, {"opt-level", "2"}};
  s.modelHash = hash;

  artifact::WeightLayout layout = artifact::planWeightLayout({
      {"output.weight", f->table.size() * 4},
      {"token_embd.weight", f->emb.size() * 4},
      {"blk.0.ffn_up_exps.weight", f->exps.size() * 4},
  });
  artifact::ArtifactWeight out;
  out.name = "output.weight";
  out.format = 0;
  out.shape = {kVocab, kVocab};
  out.size = f->table.size() * 4;
  out.offset = layout.offsets[0];
  out.memory = llvm::ArrayRef<uint8_t>(reinterpret_cast<const uint8_t *>(f->table.data()),
                                       f->table.size() * 4);
  artifact::ArtifactWeight emb;
  emb.name = "token_embd.weight";
  emb.format = 0;
  emb.shape = {kVocab, kHidden};
  emb.size = f->emb.size() * 4;
  emb.offset = layout.offsets[1];
  emb.parts = {{embFile, 100, emb.size}};
  artifact::ArtifactWeight ex;
  ex.name = "blk.0.ffn_up_exps.weight";
  ex.format = 0;
  ex.shape = {2, 4, kHidden};
  ex.size = f->exps.size() * 4;
  ex.offset = layout.offsets[2];
  ex.parts = {{expsFile, 0, half}, {expsFile, 512, half}};
  // Deliberately not in offset order: the writer sorts.
  s.weights.push_back(std::move(emb));
  s.weights.push_back(std::move(out));
  s.weights.push_back(std::move(ex));
  s.weightsSize = layout.totalBytes;
  return f;
}

} // namespace fake
} // namespace milm
