//===- JsonDocument.cpp - LLVM's JSON parser, guarded for untrusted input --===//

#include "frontends/safetensors/JsonDocument.h"
#include "frontends/common/OneLineError.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/raw_ostream.h"

#include <memory>
#include <vector>

namespace milm {

namespace {

llvm::Error fail(const llvm::Twine &msg) { return oneLineError(msg); }

/// Deepest nesting of '[' and '{' outside strings, and where it first passes
/// `limit`. Tolerates invalid text: it never stops early, so it bounds the
/// recursion of any parser that reads the same text left to right.
std::optional<size_t> firstTooDeep(llvm::StringRef text, unsigned limit) {
  unsigned depth = 0;
  for (size_t i = 0, n = text.size(); i < n; ++i) {
    char c = text[i];
    if (c == '"') {
      for (++i; i < n && text[i] != '"'; ++i)
        if (text[i] == '\\')
          ++i;
    } else if (c == '[' || c == '{') {
      if (++depth > limit)
        return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::nullopt;
}

/// Decodes the JSON string literal text[begin..end] (quotes included).
std::optional<std::string> decodeString(llvm::StringRef literal) {
  if (!literal.drop_front().drop_back().contains('\\'))
    return literal.drop_front().drop_back().str();
  llvm::Expected<llvm::json::Value> v = llvm::json::parse(literal);
  if (!v) {
    llvm::consumeError(v.takeError());
    return std::nullopt;
  }
  if (auto s = v->getAsString())
    return s->str();
  return std::nullopt;
}

struct Frame {
  bool isObject = false;
  bool expectKey = false;
  std::string outerKey; ///< for an object at depth 2: its key in the root
  std::unique_ptr<llvm::StringSet<>> keys;
  std::string lastKey;
};

} // namespace

std::string previewJson(const llvm::json::Value &v) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << v;
  if (s.size() > 40)
    s = s.substr(0, 37) + "...";
  return s;
}

uint64_t JsonDocument::offsetOf(llvm::StringRef key, uint64_t fallback) const {
  auto it = keyOffsets.find(key);
  return it == keyOffsets.end() ? fallback : it->second;
}

uint64_t JsonDocument::offsetOf(llvm::StringRef outer, llvm::StringRef inner,
                                uint64_t fallback) const {
  auto it = innerKeyOffsets.find((outer + llvm::Twine('\0') + inner).str());
  return it == innerKeyOffsets.end() ? offsetOf(outer, fallback) : it->second;
}

llvm::Expected<JsonDocument> parseJsonDocument(llvm::StringRef file, llvm::StringRef text,
                                               uint64_t baseOffset) {
  if (std::optional<size_t> at = firstTooDeep(text, kMaxJsonDepth))
    return fail(file + ": invalid JSON at byte " + llvm::Twine(baseOffset + *at) +
                ": nesting deeper than " + llvm::Twine(kMaxJsonDepth) + " levels");

  JsonDocument doc;
  llvm::Expected<llvm::json::Value> parsed = llvm::json::parse(text);
  if (!parsed) {
    // ParseError logs "[line:col, byte=N]: message", N counted from 0 in `text`.
    std::string msg = llvm::toString(parsed.takeError());
    llvm::StringRef rest(msg);
    uint64_t at = 0;
    size_t pos = rest.find("byte=");
    size_t close = rest.find("]: ");
    if (pos != llvm::StringRef::npos && close != llvm::StringRef::npos && pos < close &&
        !rest.slice(pos + 5, close).getAsInteger(10, at))
      return fail(file + ": invalid JSON at byte " + llvm::Twine(baseOffset + at) + ": " +
                  rest.substr(close + 3));
    return fail(file + ": invalid JSON: " + msg);
  }
  doc.root = std::move(*parsed);

  // The text is valid JSON of bounded depth: walk it once more to find the keys'
  // positions and any duplicate key.
  std::vector<Frame> stack;
  for (size_t i = 0, n = text.size(); i < n; ++i) {
    char c = text[i];
    if (c == '"') {
      size_t begin = i;
      for (++i; i < n && text[i] != '"'; ++i)
        if (text[i] == '\\')
          ++i;
      if (stack.empty() || !stack.back().isObject || !stack.back().expectKey)
        continue;
      Frame &f = stack.back();
      f.expectKey = false;
      std::optional<std::string> key = decodeString(text.slice(begin, i + 1));
      if (!key)
        continue; // cannot happen for text llvm::json accepted
      uint64_t at = baseOffset + begin;
      if (!f.keys->insert(*key).second)
        return fail(file + ": key '" + *key + "' at byte " + llvm::Twine(at) + ": duplicate key");
      f.lastKey = *key;
      if (stack.size() == 1)
        doc.keyOffsets.try_emplace(*key, at);
      else if (stack.size() == 2 && !f.outerKey.empty())
        doc.innerKeyOffsets.try_emplace(f.outerKey + '\0' + *key, at);
    } else if (c == '{' || c == '[') {
      Frame f;
      f.isObject = c == '{';
      f.expectKey = f.isObject;
      if (f.isObject)
        f.keys = std::make_unique<llvm::StringSet<>>();
      if (stack.size() == 1 && stack.back().isObject)
        f.outerKey = stack.back().lastKey;
      stack.push_back(std::move(f));
    } else if (c == '}' || c == ']') {
      if (!stack.empty())
        stack.pop_back();
    } else if (c == ',') {
      if (!stack.empty() && stack.back().isObject)
        stack.back().expectKey = true;
    }
  }
  return std::move(doc);
}

} // namespace milm
