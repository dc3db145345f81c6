//===- OneLineError.h - Errors that are always one line -------------------===//
//
// Frontend errors are one line: "<file>: <tensor or key> at byte N: <problem>".
// Names, dtypes and other strings in messages come from the input and may hold
// newlines or other control characters; oneLineError() escapes them (\n, \r, \t,
// \xNN) so that a message stays one line whatever the input.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_FRONTENDS_COMMON_ONELINEERROR_H
#define MILM_FRONTENDS_COMMON_ONELINEERROR_H

#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"

#include <string>

namespace milm {

inline std::string escapeControlChars(llvm::StringRef s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\t')
      out += "\\t";
    else if (u < 0x20 || u == 0x7f)
      out += {'\\', 'x', kHex[u >> 4], kHex[u & 15]};
    else
      out += c;
  }
  return out;
}

inline llvm::Error oneLineError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), escapeControlChars(msg.str()));
}

} // namespace milm

#endif
