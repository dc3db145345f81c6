//===- HFPreTokenizerTest.cpp - tokenizer.json's pre_tokenizer -> `pre` ----===//
//
// A Hugging Face tokenizer.json names its pre-tokenizer by the regex itself
// (a Split before a ByteLevel without its own regex, Llama 3 and Qwen2) or by
// ByteLevel's built-in GPT-2 regex; parseHFTokenizer maps these to the
// runtime's `pre` names, checks model.ignore_merges against them, and refuses
// anything else with the regex or step named.
//
//===----------------------------------------------------------------------===//

#include "milm/tokenizer.h"

#include "frontends/common/ModelDescription.h"
#include "frontends/safetensors/HFTokenizer.h"

#include "llvm/Support/Error.h"

#include <gtest/gtest.h>

using milm::rt::Tokenizer;
using milm::rt::TokenizerConfig;

namespace {

const char kGpt2Regex[] =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const char kLlama3Regex[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|)"
    R"( ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char kQwen2Regex[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|)"
    R"( ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

/// `s` as a JSON string literal.
std::string jsonString(const std::string &s) {
  std::string r = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      r += '\\';
    r += c;
  }
  return r + "\"";
}

/// The Sequence that Llama 3's and Qwen2's tokenizer.json files have.
std::string splitThenByteLevel(const std::string &regex) {
  return R"({"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": )" +
         jsonString(regex) + R"(}, "behavior": "Isolated", "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true,
       "use_regex": false}]})";
}

const char kByteLevelGpt2[] =
    R"({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true})";

/// A byte-level BPE tokenizer.json: "abc" is in the vocabulary but no merge
/// makes it; "Ġa" is " a". `ignoreMerges` is the JSON value ("" leaves it out).
std::string tokenizerJson(const std::string &preTokenizer, const std::string &ignoreMerges,
                          bool byteFallback = false) {
  std::string model = R"({"type": "BPE", "byte_fallback": )" +
                      std::string(byteFallback ? "true" : "false");
  if (!ignoreMerges.empty())
    model += R"(, "ignore_merges": )" + ignoreMerges;
  model += R"(, "vocab": {"a": 0, "b": 1, "c": 2, "ab": 3, "abc": 4, "1": 5, "2": 6, "3": 7,
                          "12": 8, "123": 9, "\u0120": 10, "\u0120a": 11},
      "merges": ["a b", "1 2", "12 3", "\u0120 a"]})";
  return R"({"version": "1.0", "added_tokens": [], "normalizer": null, "pre_tokenizer": )" +
         (preTokenizer.empty() ? std::string("null") : preTokenizer) + R"(, "model": )" + model +
         "}";
}

/// parseHFTokenizer's `pre`, or "error: <message>".
std::string preOf(const std::string &json) {
  llvm::Expected<milm::TokenizerData> tok = milm::parseHFTokenizer("tokenizer.json", json);
  if (!tok)
    return "error: " + llvm::toString(tok.takeError());
  return tok->pre;
}

std::vector<int32_t> encodeWith(const std::string &json, const std::string &text) {
  llvm::Expected<milm::TokenizerData> d = milm::parseHFTokenizer("tokenizer.json", json);
  if (!d) {
    ADD_FAILURE() << llvm::toString(d.takeError());
    return {};
  }
  TokenizerConfig c;
  c.kind = d->model;
  c.pre = d->pre;
  c.tokens = d->tokens;
  c.types = d->types;
  c.merges = d->merges;
  Tokenizer tok;
  std::string error;
  if (!tok.init(c, &error)) {
    ADD_FAILURE() << error;
    return {};
  }
  return tok.encode(text, /*addBos=*/false);
}

TEST(HFPreTokenizer, KnownRegexes) {
  EXPECT_EQ(preOf(tokenizerJson(splitThenByteLevel(kLlama3Regex), "true")), "llama-bpe");
  EXPECT_EQ(preOf(tokenizerJson(splitThenByteLevel(kQwen2Regex), "false")), "qwen2");
  EXPECT_EQ(preOf(tokenizerJson(splitThenByteLevel(kGpt2Regex), "false")), "gpt-2");
  EXPECT_EQ(preOf(tokenizerJson(kByteLevelGpt2, "")), "gpt-2");
  EXPECT_EQ(preOf(tokenizerJson(R"({"type": "Sequence", "pretokenizers": [)" +
                                    std::string(kByteLevelGpt2) + "]}",
                                "false")),
            "gpt-2");
  // ByteLevel's use_regex defaults to true, add_prefix_space (here) to false.
  EXPECT_EQ(preOf(tokenizerJson(R"({"type": "ByteLevel"})", "")), "gpt-2");
  // Files written before ignore_merges existed take the pre-tokenizer's.
  EXPECT_EQ(preOf(tokenizerJson(splitThenByteLevel(kLlama3Regex), "")), "llama-bpe");
  EXPECT_EQ(preOf(tokenizerJson(splitThenByteLevel(kQwen2Regex), "null")), "qwen2");
  // No pre_tokenizer: nothing is named (the importer decides).
  EXPECT_EQ(preOf(tokenizerJson("", "")), "");
  // SentencePiece-style (byte_fallback) vocabularies have no byte-level regex.
  EXPECT_EQ(preOf(tokenizerJson(R"({"type": "Metaspace", "replacement": "\u2581"})", "true",
                                /*byteFallback=*/true)),
            "");
}

TEST(HFPreTokenizer, Refused) {
  auto error = [](const std::string &json) {
    std::string e = preOf(json);
    EXPECT_EQ(e.compare(0, 7, "error: "), 0) << "accepted: " << e;
    return e;
  };
  auto has = [](const std::string &text, const std::string &part) {
    return text.find(part) != std::string::npos;
  };
  // An unknown regex is named in full.
  std::string deepseek = R"(\p{N}{1,3})";
  std::string e = error(tokenizerJson(splitThenByteLevel(deepseek), "false"));
  EXPECT_TRUE(has(e, "tokenizer.json: key 'pre_tokenizer' at byte ")) << e;
  EXPECT_TRUE(has(e, "Split regex '\\p{N}{1,3}' is not supported (milm knows the GPT-2, "
                     "Llama 3 and Qwen2 regexes)"))
      << e;
  std::string almost = kLlama3Regex;
  almost.replace(almost.find("{1,3}"), 5, "{1,4}");
  e = error(tokenizerJson(splitThenByteLevel(almost), "true"));
  EXPECT_TRUE(has(e, "Split regex '" + almost + "' is not supported")) << e;

  e = error(tokenizerJson(R"({"type": "Sequence", "pretokenizers": [
      {"type": "Digits", "individual_digits": true}, )" + std::string(kByteLevelGpt2) + "]}",
                          ""));
  EXPECT_TRUE(has(e, "pre-tokenizer 'Digits' is not supported (milm reads ByteLevel")) << e;
  e = error(tokenizerJson(R"({"type": "Whitespace"})", ""));
  EXPECT_TRUE(has(e, "pre-tokenizer 'Whitespace' is not supported")) << e;
  e = error(tokenizerJson(
      R"({"type": "ByteLevel", "add_prefix_space": true, "use_regex": true})", ""));
  EXPECT_TRUE(has(e, "ByteLevel with add_prefix_space is not supported")) << e;
  e = error(tokenizerJson(R"({"type": "ByteLevel", "use_regex": false})", ""));
  EXPECT_TRUE(has(e, "ByteLevel with use_regex false and no Split")) << e;
  std::string twoRegexes = splitThenByteLevel(kLlama3Regex);
  twoRegexes.replace(twoRegexes.find("\"use_regex\": false"), 18, "\"use_regex\": true");
  e = error(tokenizerJson(twoRegexes, "true"));
  EXPECT_TRUE(has(e, "two regexes")) << e;
  std::string removed = splitThenByteLevel(kLlama3Regex);
  removed.replace(removed.find("Isolated"), 8, "Removed");
  e = error(tokenizerJson(removed, "true"));
  EXPECT_TRUE(has(e, "a Split with behavior 'Removed' is not supported")) << e;
  e = error(tokenizerJson(R"({"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"String": " "}, "behavior": "Isolated"},
      {"type": "ByteLevel", "use_regex": false}]})",
                          ""));
  EXPECT_TRUE(has(e, "a Split on the string ' ' is not supported")) << e;

  // ignore_merges must agree with the regex's pre-tokenizer.
  e = error(tokenizerJson(splitThenByteLevel(kQwen2Regex), "true"));
  EXPECT_TRUE(has(e, "key 'model.ignore_merges' at byte ")) << e;
  EXPECT_TRUE(has(e, "is true, but milm's pre-tokenizer 'qwen2' (the one of this regex) applies "
                     "merges"))
      << e;
  e = error(tokenizerJson(splitThenByteLevel(kLlama3Regex), "false"));
  EXPECT_TRUE(has(e, "is false, but milm's pre-tokenizer 'llama-bpe' (the one of this regex) "
                     "ignores merges"))
      << e;
  e = error(tokenizerJson(kByteLevelGpt2, "1"));
  EXPECT_TRUE(has(e, "key 'model.ignore_merges' at byte ")) << e;
  EXPECT_TRUE(has(e, "expected true or false, got 1")) << e;
}

// From tokenizer.json to ids: the imported `pre` selects the regex and, for
// Llama 3, ignore_merges.
TEST(HFPreTokenizer, EncodesAsNamed) {
  using Ids = std::vector<int32_t>;
  std::string llama3 = tokenizerJson(splitThenByteLevel(kLlama3Regex), "true");
  std::string qwen2 = tokenizerJson(splitThenByteLevel(kQwen2Regex), "false");
  std::string gpt2 = tokenizerJson(kByteLevelGpt2, "false");
  EXPECT_EQ(encodeWith(llama3, "abc"), (Ids{4}));  // whole: ignore_merges
  EXPECT_EQ(encodeWith(qwen2, "abc"), (Ids{3, 2})); // merged: "ab" "c"
  EXPECT_EQ(encodeWith(gpt2, "abc"), (Ids{3, 2}));
  EXPECT_EQ(encodeWith(llama3, "1231 a"), (Ids{9, 5, 11}));
  EXPECT_EQ(encodeWith(qwen2, "123"), (Ids{5, 6, 7}));
  EXPECT_EQ(encodeWith(gpt2, "123123"), (Ids{9, 9}));
}

} // namespace
