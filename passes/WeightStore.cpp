//===- WeightStore.cpp - Where passes put the weights they create ---------===//
#include "passes/WeightStore.h"

#include "common/milm/Quantize.h"
#include "common/milm/StorageFormat.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/Errno.h"
#include "llvm/Support/raw_ostream.h"

#include <cerrno>
#include <cstring>
#include <unistd.h>

namespace milm {
namespace {

llvm::Error err(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

uint64_t alignUp(uint64_t v) {
  return (v + kWeightStoreAlignment - 1) / kWeightStoreAlignment * kWeightStoreAlignment;
}

void putLE32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = uint8_t(v >> (8 * i));
}

uint32_t getLE32(const uint8_t *p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

/// Writes all of `bytes` at `offset`, retrying short writes; `what` names the
/// file in the error.
llvm::Error writeAt(int fd, llvm::StringRef what, uint64_t offset, llvm::ArrayRef<uint8_t> bytes) {
  uint64_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::pwrite(fd, bytes.data() + done, bytes.size() - done, off_t(offset + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return err(what + ": cannot write the weight store at byte " + llvm::Twine(offset + done) +
                 ": " + llvm::sys::StrError(errno));
    if (n == 0)
      return err(what + ": cannot write the weight store at byte " + llvm::Twine(offset + done) +
                 ": nothing was written");
    done += uint64_t(n);
  }
  return llvm::Error::success();
}

/// Reads exactly `out.size()` bytes of `file` from `offset` for weight `name`.
llvm::Error readSlice(llvm::StringRef file, uint64_t offset, llvm::MutableArrayRef<uint8_t> out,
                      llvm::StringRef name) {
  llvm::Expected<llvm::sys::fs::file_t> fd = llvm::sys::fs::openNativeFileForRead(file);
  if (!fd)
    return err(file + ": cannot open (weight '" + name + "'): " + llvm::toString(fd.takeError()));
  llvm::scope_exit close([&] { llvm::sys::fs::closeFile(*fd); });
  llvm::sys::fs::file_status st;
  if (std::error_code ec = llvm::sys::fs::status(*fd, st))
    return err(file + ": cannot stat (weight '" + name + "'): " + ec.message());
  uint64_t size = st.getSize();
  if (offset > size || out.size() > size - offset)
    return err(file + ": weight '" + name + "': bytes [" + llvm::Twine(offset) + ", " +
               llvm::Twine(offset + out.size()) + ") extend past the end of the file (" +
               llvm::Twine(size) + " bytes)");
  uint64_t done = 0;
  while (done < out.size()) {
    llvm::Expected<size_t> got = llvm::sys::fs::readNativeFileSlice(
        *fd,
        llvm::MutableArrayRef<char>(reinterpret_cast<char *>(out.data()) + done,
                                    out.size() - done),
        offset + done);
    if (!got)
      return err(file + ": cannot read (weight '" + name + "'): " +
                 llvm::toString(got.takeError()));
    if (*got == 0)
      return err(file + ": weight '" + name + "': unexpected end of file at byte " +
                 llvm::Twine(offset + done));
    done += *got;
  }
  return llvm::Error::success();
}

} // namespace

llvm::Expected<std::unique_ptr<WeightStore>> WeightStore::open(llvm::StringRef path) {
  llvm::Expected<llvm::sys::fs::file_t> fd =
      llvm::sys::fs::openNativeFileForReadWrite(path, llvm::sys::fs::CD_OpenAlways,
                                                llvm::sys::fs::OF_None);
  if (!fd)
    return err(path + ": cannot open the weight store: " + llvm::toString(fd.takeError()));
  llvm::scope_exit close([&] { llvm::sys::fs::closeFile(*fd); });
  llvm::sys::fs::file_status st;
  if (std::error_code ec = llvm::sys::fs::status(*fd, st))
    return err(path + ": cannot stat the weight store: " + ec.message());
  if (st.type() != llvm::sys::fs::file_type::regular_file)
    return err(path + ": cannot use as a weight store: not a regular file");

  uint64_t size = st.getSize();
  uint8_t header[kWeightStoreAlignment] = {};
  if (size == 0) {
    // A new store (or an empty file made for it, as mktemp does): the header.
    std::memcpy(header, kWeightStoreMagic, sizeof(kWeightStoreMagic));
    putLE32(header + 8, kWeightStoreVersion);
    putLE32(header + 12, uint32_t(kWeightStoreAlignment));
    if (llvm::Error e = writeAt(*fd, path, 0, header))
      return std::move(e);
    size = sizeof(header);
  } else {
    if (size < sizeof(header))
      return err(path + ": not a milm weight store (" + llvm::Twine(size) +
                 " bytes, shorter than its header)");
    llvm::Expected<size_t> got = llvm::sys::fs::readNativeFileSlice(
        *fd, llvm::MutableArrayRef<char>(reinterpret_cast<char *>(header), sizeof(header)), 0);
    if (!got)
      return err(path + ": cannot read the weight store: " + llvm::toString(got.takeError()));
    if (*got != sizeof(header))
      return err(path + ": cannot read the weight store's header");
    if (std::memcmp(header, kWeightStoreMagic, sizeof(kWeightStoreMagic)) != 0)
      return err(path + ": not a milm weight store (no MILMSTOR header); refusing to append to it");
    uint32_t version = getLE32(header + 8), align = getLE32(header + 12);
    if (version != kWeightStoreVersion || align != kWeightStoreAlignment)
      return err(path + ": a weight store of version " + llvm::Twine(version) + " with " +
                 llvm::Twine(align) + "-byte entries; this milm writes version " +
                 llvm::Twine(kWeightStoreVersion) + " with " +
                 llvm::Twine(kWeightStoreAlignment) + "-byte entries (delete it)");
  }
  close.release();
  return std::unique_ptr<WeightStore>(new WeightStore(path.str(), *fd, alignUp(size)));
}

WeightStore::~WeightStore() { llvm::sys::fs::closeFile(fd_); }

llvm::Expected<WeightReference> WeightStore::append(mlir::milm::WeightType type,
                                                    llvm::ArrayRef<uint8_t> bytes) {
  if (bytes.size() != type.getSizeInBytes()) {
    std::string t;
    llvm::raw_string_ostream(t) << type;
    return err(path_ + ": cannot store " + llvm::Twine(bytes.size()) + " bytes as " + t +
               ", which takes " + llvm::Twine(type.getSizeInBytes()));
  }
  uint64_t offset = end_;
  // After a failed write too: whatever part of it was written stays
  // unreferenced, and the next entry goes after it.
  end_ = alignUp(offset + bytes.size());
  if (llvm::Error e = writeAt(fd_, path_, offset, bytes))
    return std::move(e);
  return WeightReference{path_, offset, type};
}

void setWeightReference(mlir::milm::WeightOp op, const WeightReference &ref) {
  mlir::Builder b(op.getContext());
  op.setFileAttr(b.getStringAttr(ref.file));
  op.setOffsetAttr(b.getI64IntegerAttr(static_cast<int64_t>(ref.offset)));
  op.removePartFilesAttr();
  op.removePartOffsetsAttr();
  op.getResult().setType(ref.type);
}

llvm::Expected<std::vector<uint8_t>> readWeightBytes(mlir::milm::WeightOp op) {
  mlir::milm::WeightType type = op.getType();
  std::vector<uint8_t> bytes(type.getSizeInBytes());
  if (op.getFile()) {
    if (llvm::Error e = readSlice(*op.getFile(), *op.getOffset(), bytes, op.getName()))
      return std::move(e);
    return bytes;
  }
  if (op.getPartFiles()) {
    // One slice of the outermost dimension per part, each the same size.
    mlir::ArrayAttr files = *op.getPartFiles();
    llvm::ArrayRef<int64_t> offsets = *op.getPartOffsets();
    uint64_t each = bytes.size() / files.size();
    for (size_t i = 0; i < files.size(); ++i) {
      llvm::StringRef file = llvm::cast<mlir::StringAttr>(files[i]).getValue();
      if (llvm::Error e = readSlice(file, uint64_t(offsets[i]),
                                    llvm::MutableArrayRef<uint8_t>(bytes).slice(i * each, each),
                                    op.getName()))
        return std::move(e);
    }
    return bytes;
  }
  return err("weight '" + op.getName() + "' has no file to read its bytes from");
}

llvm::Expected<std::vector<float>> readWeightValues(mlir::milm::WeightOp op) {
  llvm::Expected<std::vector<uint8_t>> bytes = readWeightBytes(op);
  if (!bytes)
    return bytes.takeError();
  mlir::milm::WeightType type = op.getType();
  const int64_t K = type.getShape().back(), rows = type.getNumElements() / K;
  const StorageFormat f = static_cast<StorageFormat>(type.getFormat());
  const uint64_t rowSize = *rowBytes(f, static_cast<uint64_t>(K));
  std::vector<float> values(static_cast<size_t>(type.getNumElements()));
  for (int64_t r = 0; r < rows; ++r)
    dequantizeRow(f, bytes->data() + static_cast<uint64_t>(r) * rowSize,
                  values.data() + r * K, K);
  return values;
}

} // namespace milm
