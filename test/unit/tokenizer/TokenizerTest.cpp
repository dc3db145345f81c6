//===- TokenizerTest.cpp - milm::rt::Tokenizer against llama.cpp's vectors -===//
//
// The vocab-only GGUF files in fixtures/tokenizer come with llama.cpp's test
// strings (<vocab>.inp, separated by lines "__ggml_vocab_test__") and the ids
// they must encode to (<vocab>.out, one line per string, no BOS, special-token
// text not parsed). Every string must match exactly, and decoding our ids must
// give the same text as decoding the expected ids.
//
//===----------------------------------------------------------------------===//

#include "milm/tokenizer.h"

#include "frontends/common/ModelDescription.h"
#include "frontends/gguf/GGUF.h"
#include "frontends/gguf/GGUFImport.h"

#include "llvm/Support/Error.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

using milm::rt::Tokenizer;
using milm::rt::TokenizerConfig;

namespace {

std::string fixture(const std::string &rel) {
  return std::string(MILM_FIXTURES_DIR) + "/" + rel;
}

bool readFile(const std::string &path, std::string &out) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

/// TokenizerData (what the frontends import) -> the runtime's config.
TokenizerConfig toConfig(const milm::TokenizerData &d, bool addSpacePrefix) {
  TokenizerConfig c;
  c.kind = d.model;
  c.pre = d.pre;
  c.tokens = d.tokens;
  c.scores = d.scores;
  c.types = d.types;
  c.merges = d.merges;
  c.bos = d.bos ? int32_t(*d.bos) : -1;
  c.eos = d.eos ? int32_t(*d.eos) : -1;
  c.unk = d.unk ? int32_t(*d.unk) : -1;
  c.addSpacePrefix = addSpacePrefix;
  return c;
}

/// Loads the tokenizer of a GGUF file (vocab-only files included). Fails the
/// test and returns false on any error.
bool loadTokenizer(const std::string &path, Tokenizer &tok) {
  auto file = milm::gguf::GGUFFile::open(path);
  if (!file) {
    ADD_FAILURE() << llvm::toString(file.takeError());
    return false;
  }
  auto data = milm::gguf::importTokenizer(**file);
  if (!data) {
    ADD_FAILURE() << llvm::toString(data.takeError());
    return false;
  }
  if (!*data) {
    ADD_FAILURE() << path << ": no tokenizer.ggml.model";
    return false;
  }
  // tokenizer.ggml.add_space_prefix defaults to true for SentencePiece vocabs.
  bool addSpacePrefix = true;
  if ((*file)->contains("tokenizer.ggml.add_space_prefix")) {
    auto v = (*file)->getBool("tokenizer.ggml.add_space_prefix");
    if (!v) {
      ADD_FAILURE() << llvm::toString(v.takeError());
      return false;
    }
    addSpacePrefix = *v;
  }
  std::string error;
  if (!tok.init(toConfig(**data, addSpacePrefix), &error)) {
    ADD_FAILURE() << path << ": " << error;
    return false;
  }
  return true;
}

/// Printable form of a test string for failure messages.
std::string quoted(const std::string &s) {
  std::string r = "\"";
  for (unsigned char c : s) {
    if (c == '\n')
      r += "\\n";
    else if (c == '\t')
      r += "\\t";
    else if (c == '"' || c == '\\')
      r += std::string("\\") + char(c);
    else if (c < 0x20) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\x%02X", c);
      r += buf;
    } else
      r += char(c);
  }
  return r + "\"";
}

std::string idsToString(const std::vector<int32_t> &ids) {
  std::string r = "[";
  for (size_t k = 0; k < ids.size(); ++k)
    r += (k ? " " : "") + std::to_string(ids[k]);
  return r + "]";
}

struct Case {
  std::string text;
  std::vector<int32_t> ids;
};

/// <vocab>.inp: each test string is followed by "\n__ggml_vocab_test__\n" (the
/// newline before the marker belongs to the separator, not to the string).
/// <vocab>.out: one line of space-separated ids per string.
bool readCases(const std::string &vocab, std::vector<Case> &cases) {
  std::string inp, out;
  if (!readFile(vocab + ".inp", inp) || !readFile(vocab + ".out", out)) {
    ADD_FAILURE() << "cannot read " << vocab << ".inp/.out";
    return false;
  }
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  size_t pos = 0;
  for (size_t next; (next = inp.find(sep, pos)) != std::string::npos; pos = next + sep.size())
    texts.push_back(inp.substr(pos, next - pos));
  if (pos != inp.size()) {
    ADD_FAILURE() << vocab << ".inp: trailing text after the last separator";
    return false;
  }
  std::vector<std::vector<int32_t>> expected;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream ids(line);
    std::vector<int32_t> v;
    for (long id; ids >> id;)
      v.push_back(int32_t(id));
    expected.push_back(std::move(v));
  }
  if (texts.size() != expected.size()) {
    ADD_FAILURE() << vocab << ": " << texts.size() << " strings but " << expected.size()
                  << " id lines";
    return false;
  }
  for (size_t k = 0; k < texts.size(); ++k)
    cases.push_back({texts[k], expected[k]});
  return true;
}

void checkFixtureVocab(const std::string &name, size_t expectedCases) {
  std::string vocab = fixture("tokenizer/" + name);
  Tokenizer tok;
  ASSERT_TRUE(loadTokenizer(vocab, tok));
  std::vector<Case> cases;
  ASSERT_TRUE(readCases(vocab, cases));
  EXPECT_EQ(cases.size(), expectedCases);
  size_t passed = 0;
  for (size_t k = 0; k < cases.size(); ++k) {
    const Case &c = cases[k];
    std::vector<int32_t> ids = tok.encode(c.text, /*addBos=*/false);
    bool ok = true;
    if (ids != c.ids) {
      ok = false;
      ADD_FAILURE() << name << " string " << k << " " << quoted(c.text)
                    << "\n  expected " << idsToString(c.ids) << "\n  actual   "
                    << idsToString(ids);
    }
    std::string want = tok.decode(c.ids), got = tok.decode(ids);
    if (want != got) {
      ok = false;
      ADD_FAILURE() << name << " string " << k << " " << quoted(c.text)
                    << ": decode(actual) " << quoted(got) << " != decode(expected) "
                    << quoted(want);
    }
    passed += ok;
  }
  EXPECT_EQ(passed, cases.size());
  std::printf("%s: %zu/%zu strings pass\n", name.c_str(), passed, cases.size());
}

TEST(Tokenizer, LlamaSpmFixture) { checkFixtureVocab("ggml-vocab-llama-spm.gguf", 46); }

TEST(Tokenizer, Gpt2Fixture) { checkFixtureVocab("ggml-vocab-gpt-2.gguf", 46); }

// Decoding gives back the text for the fixtures' strings (SentencePiece drops
// the prefix space it added; byte-level BPE is lossless).
TEST(Tokenizer, FixtureStringsRoundTrip) {
  for (const char *name : {"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"}) {
    std::string vocab = fixture(std::string("tokenizer/") + name);
    Tokenizer tok;
    ASSERT_TRUE(loadTokenizer(vocab, tok));
    std::vector<Case> cases;
    ASSERT_TRUE(readCases(vocab, cases));
    for (const Case &c : cases)
      EXPECT_EQ(tok.decode(tok.encode(c.text, false)), c.text) << name << " " << quoted(c.text);
  }
}

// Arbitrary bytes, invalid UTF-8 included, survive encode/decode: byte fallback
// (SentencePiece) and the byte-level alphabet (GPT-2) cover every byte.
TEST(Tokenizer, RandomBytesRoundTrip) {
  std::mt19937 rng(1234);
  for (const char *name : {"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"}) {
    Tokenizer tok;
    ASSERT_TRUE(loadTokenizer(fixture(std::string("tokenizer/") + name), tok));
    for (int iter = 0; iter < 200; ++iter) {
      std::string s(rng() % 40, '\0');
      for (char &c : s)
        c = char(rng() % 4 == 0 ? ' ' : rng() % 256);
      std::vector<int32_t> ids = tok.encode(s, false);
      for (int32_t id : ids)
        ASSERT_TRUE(tok.isValidId(id));
      EXPECT_EQ(tok.decode(ids), s) << name << " " << quoted(s);
      std::string streamed;
      for (int32_t id : ids)
        streamed += tok.tokenPiece(id);
      if (std::string(name) == "ggml-vocab-gpt-2.gguf")
        EXPECT_EQ(streamed, s);
      else if (!s.empty())
        EXPECT_EQ(streamed, " " + s); // the prefix space is the caller's to drop
    }
  }
}

TEST(Tokenizer, Gpt2PreTokenizer) {
  auto split = [](const std::string &s) {
    std::vector<std::string> parts;
    for (auto [off, len] : Tokenizer::gpt2PreTokenize(s))
      parts.push_back(s.substr(off, len));
    return parts;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(split("Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(split("I've been 'told he's"), (V{"I", "'ve", " been", " '", "told", " he", "'s"}));
  EXPECT_EQ(split("'RE"), (V{"'", "RE"}));
  EXPECT_EQ(split("   Hello"), (V{"  ", " Hello"}));
  EXPECT_EQ(split("a   "), (V{"a", "   "}));
  EXPECT_EQ(split("\n \n"), (V{"\n \n"}));
  EXPECT_EQ(split("\n \nx"), (V{"\n ", "\n", "x"}));
  EXPECT_EQ(split("x\t\ty"), (V{"x", "\t", "\t", "y"}));
  EXPECT_EQ(split("3.14 ab12"), (V{"3", ".", "14", " ab", "12"}));
  EXPECT_EQ(split(" ... !?"), (V{" ...", " !?"}));
  EXPECT_EQ(split("нещо на"), (V{"нещо", " на"}));
  EXPECT_EQ(split("天～"), (V{"天", "～"}));
  EXPECT_EQ(split("\xff\xfe a"), (V{"\xff\xfe", " a"}));
  EXPECT_EQ(split(""), V{});
}

// The fixtures' model vocabulary: 512 SentencePiece pieces, no merges list.
TEST(Tokenizer, FixtureModelVocab) {
  auto desc = milm::importGGUF(fixture("gguf/llama-dense-f32.gguf"));
  ASSERT_TRUE(bool(desc)) << llvm::toString(desc.takeError());
  ASSERT_TRUE(desc->tokenizer.has_value());
  EXPECT_EQ(desc->tokenizer->model, "llama");
  Tokenizer tok;
  std::string error;
  ASSERT_TRUE(tok.init(toConfig(*desc->tokenizer, true), &error)) << error;
  EXPECT_EQ(tok.size(), 512);
  EXPECT_EQ(tok.bos(), 1);
  EXPECT_EQ(tok.eos(), 2);
  EXPECT_EQ(tok.unk(), 0);

  const std::string text =
      "Once upon a time, there was a little girl named Lily. She loved to play "
      "outside in the park with her friends.\nOne day, she saw a big red ball!";
  std::vector<int32_t> ids = tok.encode(text, /*addBos=*/true);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids[0], 1);
  for (int32_t id : ids) {
    ASSERT_TRUE(tok.isValidId(id));
    EXPECT_NE(id, tok.unk()) << "no byte fallback to unk expected";
  }
  // A 512-piece vocab still merges: fewer tokens than bytes.
  EXPECT_LT(ids.size(), text.size() * 2 / 3);
  std::string pieces;
  for (int32_t id : ids)
    pieces += "[" + tok.tokenText(id) + "]";
  std::printf("%zu bytes -> %zu tokens: %s\n", text.size(), ids.size(), pieces.c_str());
  EXPECT_EQ(tok.decode(ids), text);
  // The first piece starts a word: "▁Once" or a prefix of it.
  EXPECT_EQ(tok.tokenText(ids[1]).compare(0, 3, "\xE2\x96\x81"), 0);
  // The reference prompt of the fixtures decodes to something non-empty.
  std::string prompt = tok.decode({1, 72, 301, 15, 260, 9, 411, 33});
  EXPECT_FALSE(prompt.empty());
}

TEST(Tokenizer, SpecialTokens) {
  Tokenizer tok;
  ASSERT_TRUE(loadTokenizer(fixture("tokenizer/ggml-vocab-llama-spm.gguf"), tok));
  // Not parsed: "</s>" is plain text.
  std::vector<int32_t> plain = tok.encode("a</s>", false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 2), 0);
  EXPECT_EQ(tok.decode(plain), "a</s>");
  // Parsed: it is the eos token; text after it gets its own space prefix.
  std::vector<int32_t> parsed = tok.encode("a</s>b", true, /*parseSpecial=*/true);
  ASSERT_GE(parsed.size(), 4u);
  EXPECT_EQ(parsed[0], 1);
  EXPECT_NE(std::find(parsed.begin(), parsed.end(), 2), parsed.end());
  EXPECT_EQ(tok.decode(parsed), "a b");
  EXPECT_EQ(tok.decode(parsed, /*renderSpecial=*/true), "<s>a</s> b");
  EXPECT_EQ(tok.tokenPiece(2), "");
  EXPECT_EQ(tok.tokenPiece(2, true), "</s>");
  EXPECT_EQ(tok.tokenPiece(13), "\n");              // <0x0A>
  EXPECT_EQ(tok.tokenPiece(15043), " Hello");       // ▁Hello

  Tokenizer gpt2;
  ASSERT_TRUE(loadTokenizer(fixture("tokenizer/ggml-vocab-gpt-2.gguf"), gpt2));
  EXPECT_EQ(gpt2.encode("<|endoftext|>", false, true), std::vector<int32_t>{50256});
  EXPECT_GT(gpt2.encode("<|endoftext|>", false, false).size(), 1u);
  EXPECT_EQ(gpt2.tokenPiece(18435), " Hello");      // ĠHello
  EXPECT_EQ(gpt2.encode("hi", true), (std::vector<int32_t>{50256, 5303}));
}

TEST(Tokenizer, InvalidIdsDoNotCrash) {
  Tokenizer tok;
  ASSERT_TRUE(loadTokenizer(fixture("tokenizer/ggml-vocab-gpt-2.gguf"), tok));
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(tok.tokenPiece(-1), fffd);
  EXPECT_EQ(tok.tokenPiece(tok.size()), fffd);
  EXPECT_EQ(tok.tokenText(1 << 30), "");
  EXPECT_EQ(tok.tokenType(-5), 0);
  EXPECT_EQ(tok.decode({15496, -7, 995, 1 << 30}), "Hello" + fffd + " world" + fffd);

  Tokenizer empty; // never initialised
  EXPECT_FALSE(empty.valid());
  EXPECT_TRUE(empty.encode("text", true).empty());
  EXPECT_EQ(empty.decode({1, 2}), fffd + fffd);
}

TEST(Tokenizer, InitErrors) {
  auto initError = [](TokenizerConfig c) {
    Tokenizer tok;
    std::string error;
    bool ok = tok.init(std::move(c), &error);
    EXPECT_FALSE(tok.valid() && !ok);
    return ok ? std::string("(ok)") : error;
  };
  TokenizerConfig base;
  base.kind = "gpt2";
  base.tokens = {"a", "b", "ab"};
  base.merges = {"a b"};
  EXPECT_EQ(initError(base), "(ok)");

  TokenizerConfig c = base;
  c.kind = "wordpiece";
  EXPECT_EQ(initError(c), "tokenizer: unsupported model 'wordpiece' (supported: llama, gpt2)");
  c = base;
  c.pre = "llama-bpe"; // the pre names are PreTokenizerTest's
  EXPECT_EQ(initError(c), "(ok)");
  c.pre = "deepseek-llm";
  EXPECT_NE(initError(c).find("pre-tokenizer 'deepseek-llm' is not supported"), std::string::npos);
  c.pre = "default"; // llama.cpp's "default" BPE regex is not GPT-2's
  EXPECT_NE(initError(c).find("pre-tokenizer 'default' is not supported"), std::string::npos);
  c = base;
  c.tokens.clear();
  EXPECT_EQ(initError(c), "tokenizer: the vocabulary is empty");
  c = base;
  c.scores = {1.0f};
  EXPECT_EQ(initError(c), "tokenizer: 1 scores for 3 tokens");
  c = base;
  c.types = {1, 1, 9};
  EXPECT_EQ(initError(c), "tokenizer: token 2 has unknown type 9 (expected 1..6)");
  c = base;
  c.eos = 3;
  EXPECT_EQ(initError(c), "tokenizer: eos id 3 is outside the 3-token vocabulary");
  c = base;
  c.merges = {"ab"};
  EXPECT_EQ(initError(c), "tokenizer: merge 0 ('ab') is not of the form 'left right'");

  // A failed init leaves a previously good tokenizer empty, not half-built.
  Tokenizer tok;
  ASSERT_TRUE(tok.init(base, nullptr));
  EXPECT_EQ(tok.encode("ab", false), std::vector<int32_t>{2});
  c = base;
  c.kind = "?";
  EXPECT_FALSE(tok.init(c, nullptr));
  EXPECT_FALSE(tok.valid());
}

// Small hand-made vocabularies pin the merge order rules.
TEST(Tokenizer, MergeOrder) {
  // SentencePiece: the highest score merges first; ties go to the leftmost pair.
  TokenizerConfig spm;
  spm.kind = "llama";
  spm.addSpacePrefix = false;
  spm.tokens = {"<unk>", "a", "b", "c", "ab", "bc"};
  spm.types = {2, 1, 1, 1, 1, 1};
  spm.scores = {0, 0, 0, 0, -2, -1};
  spm.unk = 0;
  Tokenizer t;
  ASSERT_TRUE(t.init(spm, nullptr));
  EXPECT_EQ(t.encode("abc", false), (std::vector<int32_t>{1, 5})); // "bc" beats "ab"
  spm.scores = {0, 0, 0, 0, -1, -1};
  ASSERT_TRUE(t.init(spm, nullptr));
  EXPECT_EQ(t.encode("abc", false), (std::vector<int32_t>{4, 3})); // a tie: the left pair
  // No byte tokens: an unknown character becomes one unk.
  EXPECT_EQ(t.encode("a\xC3\xA9", false), (std::vector<int32_t>{1, 0}));

  // GPT-2: the lowest rank merges first.
  TokenizerConfig bpe;
  bpe.kind = "gpt2";
  bpe.tokens = {"a", "b", "c", "ab", "bc", "abc"};
  bpe.merges = {"b c", "a b", "a bc"};
  ASSERT_TRUE(t.init(bpe, nullptr));
  EXPECT_EQ(t.encode("abc", false), (std::vector<int32_t>{5}));
  bpe.merges = {"a b", "b c", "a bc"};
  ASSERT_TRUE(t.init(bpe, nullptr));
  EXPECT_EQ(t.encode("abc", false), (std::vector<int32_t>{3, 2}));
  // A byte with no token and no unk is dropped.
  EXPECT_EQ(t.encode("ad", false), (std::vector<int32_t>{0}));
}

} // namespace
