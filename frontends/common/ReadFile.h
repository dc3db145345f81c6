//===- ReadFile.h - Reading a model file: regular files only ---------------===//
//
// Every frontend reads its input files through readModelFile(): a FIFO, a
// character device such as /dev/zero, a socket or a directory is refused with
// one line instead of being read until memory runs out or blocking forever.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_FRONTENDS_COMMON_READFILE_H
#define MILM_FRONTENDS_COMMON_READFILE_H

#include "frontends/common/OneLineError.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"

#include <memory>

namespace milm {

/// What kind of file `path` is, for messages ("a FIFO", ...); nullptr for a
/// regular file.
inline const char *nonRegularKind(llvm::sys::fs::file_type t) {
  using llvm::sys::fs::file_type;
  switch (t) {
  case file_type::regular_file: return nullptr;
  case file_type::directory_file: return "a directory";
  case file_type::fifo_file: return "a FIFO";
  case file_type::character_file: return "a character device";
  case file_type::block_file: return "a block device";
  case file_type::socket_file: return "a socket";
  default: return "not a regular file";
  }
}

/// The whole of the regular file `path`, or "<path>: cannot open: <why>".
inline llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> readModelFile(llvm::StringRef path) {
  llvm::sys::fs::file_status st;
  if (std::error_code ec = llvm::sys::fs::status(path, st))
    return oneLineError(path + ": cannot open: " + ec.message());
  if (const char *kind = nonRegularKind(st.type()))
    return oneLineError(path + ": cannot open: " + kind + ", not a regular file");
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buf =
      llvm::MemoryBuffer::getFile(path, /*IsText=*/false, /*RequiresNullTerminator=*/false,
                                  /*IsVolatile=*/false);
  if (!buf)
    return oneLineError(path + ": cannot open: " + buf.getError().message());
  return std::move(*buf);
}

} // namespace milm

#endif // MILM_FRONTENDS_COMMON_READFILE_H
