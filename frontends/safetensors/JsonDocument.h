//===- JsonDocument.h - LLVM's JSON parser, guarded for untrusted input ----===//
//
// llvm::json::parse recurses once per nesting level (a header of a million '['
// overflows the stack), silently keeps one of two duplicate keys, and reports
// positions relative to the text it was given. parseJsonDocument() runs a
// non-recursive scan first that bounds the nesting depth and rejects duplicate
// keys, then parses with llvm::json, and keeps the byte position of every key of
// the top-level object and of the objects directly inside it, so that errors can
// name a byte offset in the file.
//
// Errors are one line: "<file>: <what> at byte <N>: <problem>", N counted from the
// start of the file (the text starts at `baseOffset` in the file).
//
//===----------------------------------------------------------------------===//
#ifndef MILM_FRONTENDS_SAFETENSORS_JSONDOCUMENT_H
#define MILM_FRONTENDS_SAFETENSORS_JSONDOCUMENT_H

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <cstdint>
#include <string>

namespace milm {

struct JsonDocument {
  llvm::json::Value root = nullptr;
  /// File offset of each key of the top-level object ("hidden_size" -> 17).
  llvm::StringMap<uint64_t> keyOffsets;
  /// File offset of each key of the objects that are values of the top-level
  /// object, keyed "outer\0inner".
  llvm::StringMap<uint64_t> innerKeyOffsets;

  /// Offset of top-level key `key`, or `fallback` when unknown.
  uint64_t offsetOf(llvm::StringRef key, uint64_t fallback) const;
  /// Offset of key `inner` of the object at top-level key `outer`, or the
  /// offset of `outer`, or `fallback`.
  uint64_t offsetOf(llvm::StringRef outer, llvm::StringRef inner, uint64_t fallback) const;
};

/// A short rendering of a JSON value for messages (at most 40 characters).
std::string previewJson(const llvm::json::Value &v);

/// Maximum nesting of arrays and objects accepted.
constexpr unsigned kMaxJsonDepth = 64;

/// Parses `text`, which starts at byte `baseOffset` of `file`.
llvm::Expected<JsonDocument> parseJsonDocument(llvm::StringRef file, llvm::StringRef text,
                                               uint64_t baseOffset);

} // namespace milm

#endif
