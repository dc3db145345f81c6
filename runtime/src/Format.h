//===- Format.h - printf into std::string ----------------------------------===//
//
// Error messages are built with fmt() rather than chains of std::string
// operator+: one out-of-line call per message keeps the error paths, which are
// most of the loader's code, small.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_RUNTIME_SRC_FORMAT_H
#define MILM_RUNTIME_SRC_FORMAT_H

#include <string>

namespace milm {
namespace rt {

std::string fmt(const char *format, ...) __attribute__((format(printf, 1, 2)));

} // namespace rt
} // namespace milm

#endif
