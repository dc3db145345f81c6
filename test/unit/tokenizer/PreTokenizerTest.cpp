//===- PreTokenizerTest.cpp - the byte-level BPE pre-tokenizers vs `regex` -===//
//
// pretokenizer-vectors.json (written by gen_pretokenizer_vectors.py with
// Python's `regex` module) holds, for the test strings of the tokenizer
// fixtures and a few hundred generated ones, how the published GPT-2, Llama 3
// and Qwen2 regexes split them. milm's hand-written pre-tokenizers must split
// every string the same way. Also here: which `pre` names are accepted, and
// Llama 3's ignore_merges.
//
//===----------------------------------------------------------------------===//

#include "milm/tokenizer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>

#ifndef MILM_PRETOKENIZER_VECTORS
#define MILM_PRETOKENIZER_VECTORS MILM_SOURCE_DIR "/test/unit/tokenizer/pretokenizer-vectors.json"
#endif

using milm::rt::Tokenizer;
using milm::rt::TokenizerConfig;
using PreTokenizer = Tokenizer::PreTokenizer;

namespace {

//===-- A small JSON reader: enough for the vector file ---------------------===//

struct Json {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  double number = 0;
  std::string str;
  std::vector<Json> items;                       // Array
  std::vector<std::pair<std::string, Json>> members; // Object, in file order

  const Json *get(const std::string &key) const {
    for (const auto &m : members)
      if (m.first == key)
        return &m.second;
    return nullptr;
  }
};

class JsonReader {
public:
  explicit JsonReader(const std::string &text) : s_(text) {}

  /// Parses the whole text; on failure returns false and sets error().
  bool parse(Json &out) {
    if (!value(out))
      return false;
    skipSpace();
    return pos_ == s_.size() || fail("trailing text");
  }
  const std::string &error() const { return error_; }

private:
  bool fail(const std::string &what) {
    if (error_.empty())
      error_ = what + " at byte " + std::to_string(pos_);
    return false;
  }
  void skipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' ||
                                s_[pos_] == '\t'))
      ++pos_;
  }
  bool literal(const char *word) {
    size_t n = std::char_traits<char>::length(word);
    if (s_.compare(pos_, n, word) != 0)
      return fail("unexpected text");
    pos_ += n;
    return true;
  }
  bool hex4(uint32_t &v) {
    if (pos_ + 4 > s_.size())
      return fail("truncated \\u escape");
    v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s_[pos_++];
      int d = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : -1;
      if (d < 0)
        return fail("bad \\u escape");
      v = v * 16 + uint32_t(d);
    }
    return true;
  }
  static void appendUtf8(std::string &out, uint32_t cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }
  bool string(std::string &out) {
    ++pos_; // the opening quote
    while (true) {
      if (pos_ >= s_.size())
        return fail("unterminated string");
      char c = s_[pos_++];
      if (c == '"')
        return true;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size())
        return fail("unterminated string");
      char e = s_[pos_++];
      switch (e) {
      case '"': case '\\': case '/': out += e; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        uint32_t cp = 0;
        if (!hex4(cp))
          return false;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          uint32_t lo = 0;
          if (s_.compare(pos_, 2, "\\u") != 0)
            return fail("lone high surrogate");
          pos_ += 2;
          if (!hex4(lo))
            return false;
          if (lo < 0xDC00 || lo > 0xDFFF)
            return fail("bad low surrogate");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return fail("lone low surrogate");
        }
        appendUtf8(out, cp);
        break;
      }
      default:
        return fail("bad escape");
      }
    }
  }
  bool value(Json &out) {
    skipSpace();
    if (pos_ >= s_.size())
      return fail("unexpected end");
    char c = s_[pos_];
    if (c == '"') {
      out.kind = Json::String;
      return string(out.str);
    }
    if (c == '[' || c == '{') {
      bool object = c == '{';
      out.kind = object ? Json::Object : Json::Array;
      ++pos_;
      skipSpace();
      if (pos_ < s_.size() && s_[pos_] == (object ? '}' : ']')) {
        ++pos_;
        return true;
      }
      while (true) {
        if (object) {
          skipSpace();
          if (pos_ >= s_.size() || s_[pos_] != '"')
            return fail("expected a key");
          out.members.emplace_back();
          if (!string(out.members.back().first))
            return false;
          skipSpace();
          if (pos_ >= s_.size() || s_[pos_] != ':')
            return fail("expected ':'");
          ++pos_;
          if (!value(out.members.back().second))
            return false;
        } else {
          out.items.emplace_back();
          if (!value(out.items.back()))
            return false;
        }
        skipSpace();
        if (pos_ < s_.size() && s_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < s_.size() && s_[pos_] == (object ? '}' : ']')) {
          ++pos_;
          return true;
        }
        return fail("expected ',' or a closing bracket");
      }
    }
    if (c == 't' || c == 'f') {
      out.kind = Json::Bool;
      out.number = c == 't';
      return literal(c == 't' ? "true" : "false");
    }
    if (c == 'n')
      return literal("null");
    size_t end = pos_;
    while (end < s_.size() && std::string("+-0123456789.eE").find(s_[end]) != std::string::npos)
      ++end;
    if (end == pos_)
      return fail("unexpected character");
    out.kind = Json::Number;
    out.number = std::stod(s_.substr(pos_, end - pos_));
    pos_ = end;
    return true;
  }

  const std::string &s_;
  size_t pos_ = 0;
  std::string error_;
};

//===-- The vectors ---------------------------------------------------------===//

struct PatternInfo {
  const char *name;    // the key in the vector file; also an accepted `pre`
  PreTokenizer kind;
  const char *regex;   // the published pattern the vectors must come from
};

const PatternInfo kPatterns[] = {
    {"gpt-2", PreTokenizer::Gpt2,
     R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)"},
    {"llama3", PreTokenizer::Llama3,
     R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|)"
     R"( ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
    {"qwen2", PreTokenizer::Qwen2,
     R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|)"
     R"( ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
};

/// Printable form of a string for failure messages: printable ASCII as is,
/// the rest escaped (\n, \t, \r, \xNN for other controls, \u{...} beyond ASCII).
std::string printable(const std::string &s) {
  std::string r = "\"";
  for (size_t k = 0; k < s.size();) {
    unsigned char c = s[k];
    char buf[16];
    if (c < 0x80) {
      if (c == '\n')
        r += "\\n";
      else if (c == '\r')
        r += "\\r";
      else if (c == '\t')
        r += "\\t";
      else if (c == '"' || c == '\\')
        r += std::string("\\") + char(c);
      else if (c < 0x20 || c == 0x7F) {
        snprintf(buf, sizeof buf, "\\x%02X", c);
        r += buf;
      } else
        r += char(c);
      ++k;
      continue;
    }
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    uint32_t cp = len == 1 ? c : c & (0x3F >> (len - 1));
    for (size_t j = 1; j < len && k + j < s.size(); ++j)
      cp = (cp << 6) | (static_cast<unsigned char>(s[k + j]) & 0x3F);
    snprintf(buf, sizeof buf, "\\u{%X}", unsigned(cp));
    r += buf;
    k += len;
  }
  return r + "\"";
}

std::string listed(const std::vector<std::string> &pieces) {
  std::string r = "[";
  for (size_t k = 0; k < pieces.size(); ++k)
    r += (k ? ", " : "") + printable(pieces[k]);
  return r + "]";
}

std::vector<std::string> split(PreTokenizer kind, const std::string &text) {
  std::vector<std::string> pieces;
  for (auto [off, len] : Tokenizer::preTokenize(kind, text))
    pieces.push_back(text.substr(off, len));
  return pieces;
}

const Json *loadVectors() {
  static std::unique_ptr<Json> doc;
  static std::string error;
  if (!doc && error.empty()) {
    std::ifstream in(MILM_PRETOKENIZER_VECTORS, std::ios::binary);
    if (!in) {
      error = std::string("cannot read ") + MILM_PRETOKENIZER_VECTORS;
    } else {
      std::ostringstream ss;
      ss << in.rdbuf();
      std::string text = ss.str();
      auto json = std::make_unique<Json>();
      JsonReader reader(text);
      if (reader.parse(*json))
        doc = std::move(json);
      else
        error = std::string(MILM_PRETOKENIZER_VECTORS) + ": " + reader.error();
    }
  }
  if (!doc)
    ADD_FAILURE() << error;
  return doc.get();
}

TEST(PreTokenizer, VectorsFromPublishedPatterns) {
  const Json *doc = loadVectors();
  ASSERT_NE(doc, nullptr);
  const Json *patterns = doc->get("patterns");
  ASSERT_TRUE(patterns && patterns->kind == Json::Object);
  ASSERT_EQ(patterns->members.size(), std::size(kPatterns));
  for (const PatternInfo &p : kPatterns) {
    const Json *regex = patterns->get(p.name);
    ASSERT_TRUE(regex && regex->kind == Json::String) << p.name;
    EXPECT_EQ(regex->str, p.regex) << "the vectors of " << p.name
                                   << " were not made from the published regex";
  }
}

// Every vector, every pattern: the same pieces as `regex`. Reports the first
// string that differs per pattern, with the first piece that differs.
TEST(PreTokenizer, MatchesRegexVectors) {
  const Json *doc = loadVectors();
  ASSERT_NE(doc, nullptr);
  const Json *cases = doc->get("cases");
  ASSERT_TRUE(cases && cases->kind == Json::Array);
  // 46 fixture strings and about 400 generated ones.
  EXPECT_GE(cases->items.size(), 400u);
  for (const PatternInfo &p : kPatterns) {
    size_t checked = 0, passed = 0;
    bool reported = false;
    for (size_t k = 0; k < cases->items.size(); ++k) {
      const Json &c = cases->items[k];
      const Json *text = c.get("text");
      const Json *want = c.get(p.name);
      ASSERT_TRUE(text && text->kind == Json::String && want && want->kind == Json::Array)
          << "case " << k << " lacks \"text\" or \"" << p.name << "\"";
      std::vector<std::string> expected;
      for (const Json &piece : want->items) {
        ASSERT_EQ(piece.kind, Json::String) << "case " << k;
        expected.push_back(piece.str);
      }
      std::vector<std::string> actual = split(p.kind, text->str);
      ++checked;
      if (actual == expected) {
        ++passed;
        continue;
      }
      if (reported)
        continue;
      reported = true;
      size_t d = 0;
      while (d < actual.size() && d < expected.size() && actual[d] == expected[d])
        ++d;
      ADD_FAILURE() << p.name << ": case " << k << " " << printable(text->str)
                    << "\n  first difference at piece " << d << ": expected "
                    << (d < expected.size() ? printable(expected[d]) : "(none)") << ", got "
                    << (d < actual.size() ? printable(actual[d]) : "(none)")
                    << "\n  expected " << listed(expected) << "\n  actual   " << listed(actual);
    }
    EXPECT_EQ(passed, checked) << p.name;
    std::printf("%s: %zu/%zu vectors match\n", p.name, passed, checked);
  }
}

// A few splits spelled out, for the reader (all are in the vectors' spirit).
TEST(PreTokenizer, Examples) {
  using V = std::vector<std::string>;
  auto l3 = [](const std::string &s) { return split(PreTokenizer::Llama3, s); };
  auto qw = [](const std::string &s) { return split(PreTokenizer::Qwen2, s); };
  EXPECT_EQ(l3("1234567 x"), (V{"123", "456", "7", " x"}));
  EXPECT_EQ(qw("123 x"), (V{"1", "2", "3", " x"}));
  EXPECT_EQ(l3("I'VE 'Ll 'ſ"), (V{"I", "'VE", " '", "Ll", " '", "ſ"}));
  EXPECT_EQ(l3("X'LL"), (V{"X", "'LL"}));
  EXPECT_EQ(l3("\tword (x)"), (V{"\tword", " (", "x", ")"}));
  EXPECT_EQ(l3("a!!\n\nb"), (V{"a", "!!\n\n", "b"}));
  EXPECT_EQ(l3("a \n  b"), (V{"a", " \n", " ", " b"}));
  EXPECT_EQ(l3("  \n\n "), (V{"  \n\n", " "}));
  EXPECT_EQ(l3("\nword"), (V{"\n", "word"}));
  EXPECT_EQ(l3(" 42"), (V{" ", "42"}));
  // Malformed UTF-8: each bad byte is one character that is not a letter.
  EXPECT_EQ(l3("\xff\xfe"
               "a"),
            (V{"\xff\xfe", "a"}));
  EXPECT_EQ(l3(""), V{});
  // The GPT-2 regex is case-sensitive and keeps digit runs whole.
  EXPECT_EQ(split(PreTokenizer::Gpt2, "I'VE 12345"), (V{"I", "'", "VE", " 12345"}));
}

//===-- Names, ignore_merges ------------------------------------------------===//

std::string initError(const TokenizerConfig &c) {
  Tokenizer tok;
  std::string error;
  return tok.init(c, &error) ? std::string("(ok)") : error;
}

TokenizerConfig smallBpe(const std::string &pre) {
  TokenizerConfig c;
  c.kind = "gpt2";
  c.pre = pre;
  c.tokens = {"a", "b", "c", "ab", "abc", "1", "2", "3", "12", "123", "\xC4\xA0", "\xC4\xA0" "a"};
  c.merges = {"a b", "1 2", "12 3", "\xC4\xA0 a"}; // no merge makes "abc"
  return c;
}

TEST(PreTokenizer, AcceptedNames) {
  struct {
    const char *pre;
    PreTokenizer kind;
    bool ignoreMerges;
  } names[] = {{"", PreTokenizer::Gpt2, false},         {"gpt-2", PreTokenizer::Gpt2, false},
               {"llama3", PreTokenizer::Llama3, true},   {"llama-bpe", PreTokenizer::Llama3, true},
               {"llama-v3", PreTokenizer::Llama3, true}, {"qwen2", PreTokenizer::Qwen2, false}};
  for (const auto &n : names) {
    PreTokenizer kind = PreTokenizer::Qwen2;
    bool ignore = !n.ignoreMerges;
    ASSERT_TRUE(Tokenizer::lookupPreTokenizer(n.pre, &kind, &ignore)) << n.pre;
    EXPECT_EQ(kind, n.kind) << n.pre;
    EXPECT_EQ(ignore, n.ignoreMerges) << n.pre;
    Tokenizer tok;
    std::string error;
    ASSERT_TRUE(tok.init(smallBpe(n.pre), &error)) << n.pre << ": " << error;
    EXPECT_EQ(tok.preTokenizer(), n.kind) << n.pre;
    EXPECT_EQ(tok.ignoresMerges(), n.ignoreMerges) << n.pre;
  }
}

TEST(PreTokenizer, UnknownNameIsAnInitError) {
  for (const char *pre : {"default", "deepseek-llm", "Qwen2", "llama", "gpt2"}) {
    PreTokenizer kind;
    bool ignore;
    EXPECT_FALSE(Tokenizer::lookupPreTokenizer(pre, &kind, &ignore)) << pre;
    EXPECT_EQ(initError(smallBpe(pre)),
              std::string("tokenizer: pre-tokenizer '") + pre +
                  "' is not supported (gpt2 vocabularies accept: gpt-2 (or none), llama3, "
                  "llama-bpe, llama-v3, qwen2)");
  }
  // SentencePiece vocabularies have no pre-tokenizer: `pre` is not looked at.
  TokenizerConfig spm;
  spm.kind = "llama";
  spm.pre = "default";
  spm.tokens = {"<unk>", "a"};
  EXPECT_EQ(initError(spm), "(ok)");
}

TEST(PreTokenizer, IgnoreMerges) {
  auto encode = [](const TokenizerConfig &c, const std::string &text) {
    Tokenizer tok;
    std::string error;
    EXPECT_TRUE(tok.init(c, &error)) << error;
    return tok.encode(text, /*addBos=*/false);
  };
  using Ids = std::vector<int32_t>;
  // "abc" is a vocabulary entry that no merge reaches: llama3 takes it whole,
  // qwen2 and gpt-2 merge "a b" and stop.
  EXPECT_EQ(encode(smallBpe("llama-bpe"), "abc"), (Ids{4}));
  EXPECT_EQ(encode(smallBpe("qwen2"), "abc"), (Ids{3, 2}));
  EXPECT_EQ(encode(smallBpe("gpt-2"), "abc"), (Ids{3, 2}));
  // The whole pre-token is looked up in byte-level characters: " a" is "Ġa".
  EXPECT_EQ(encode(smallBpe("llama3"), " a"), (Ids{11}));
  // A pre-token that is not an entry still merges; "abcab" is split by no
  // regex, so it is one pre-token of two pieces.
  EXPECT_EQ(encode(smallBpe("llama3"), "abcab"), (Ids{3, 2, 3}));
  // The config's explicit ignoreMerges wins over the name's.
  TokenizerConfig c = smallBpe("llama3");
  c.ignoreMerges = false;
  EXPECT_EQ(encode(c, "abc"), (Ids{3, 2}));
  c = smallBpe("qwen2");
  c.ignoreMerges = true;
  EXPECT_EQ(encode(c, "abc"), (Ids{4}));
  // Only tokens that BPE may produce count: a control token's text does not.
  c = smallBpe("llama3");
  c.types.assign(c.tokens.size(), milm::rt::kTokenNormal);
  c.types[4] = milm::rt::kTokenControl;
  EXPECT_EQ(encode(c, "abc"), (Ids{3, 2}));
}

// The pre-tokenizer decides what the merges see: digits in threes (llama3),
// one by one (qwen2), whole runs (gpt-2).
TEST(PreTokenizer, EncodeUsesThePreTokenizer) {
  auto encode = [](const std::string &pre, const std::string &text) {
    Tokenizer tok;
    std::string error;
    EXPECT_TRUE(tok.init(smallBpe(pre), &error)) << error;
    return tok.encode(text, /*addBos=*/false);
  };
  using Ids = std::vector<int32_t>;
  EXPECT_EQ(encode("gpt-2", "123123"), (Ids{9, 9}));     // one pre-token, merged twice
  EXPECT_EQ(encode("llama3", "1231231"), (Ids{9, 9, 5})); // 123 | 123 | 1
  EXPECT_EQ(encode("qwen2", "123"), (Ids{5, 6, 7}));
}

} // namespace
