//===- Format.cpp - printf into std::string --------------------------------===//

#include "Format.h"

#include <cstdarg>
#include <cstdio>

std::string milm::rt::fmt(const char *format, ...) {
  char small[256];
  va_list ap;
  va_start(ap, format);
  int n = vsnprintf(small, sizeof small, format, ap);
  va_end(ap);
  if (n < 0)
    return std::string();
  if (size_t(n) < sizeof small)
    return std::string(small, size_t(n));
  std::string out(size_t(n) + 1, '\0');
  va_start(ap, format);
  vsnprintf(&out[0], out.size(), format, ap);
  va_end(ap);
  out.resize(size_t(n));
  return out;
}
