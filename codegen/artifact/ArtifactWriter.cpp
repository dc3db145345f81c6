//===- ArtifactWriter.cpp - Writing model.milm -----------------------------===//
//
// The header is a size-prefixed FlatBuffer built with ForceDefaults, so its size
// does not depend on the values of its scalars: it is built once with the
// checksums unknown, which fixes where the weight section starts, the weights are
// streamed into place (checksummed on the way), and the header is built again
// with the checksums and written over the placeholder at the start of the file.
//
//===----------------------------------------------------------------------===//

#include "codegen/artifact/ArtifactWriter.h"

#include "frontends/common/OneLineError.h"
#include "common/milm/StorageFormat.h"
#include "milm/artifact.h"
#include "milm/checksum.h"
#include "milm/model_generated.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cstring>

namespace milm {
namespace artifact {

namespace {

llvm::Error fail(const llvm::Twine &msg) { return oneLineError(msg); }

uint64_t alignUp(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/// Expected bytes of a ggml-format tensor; nullopt when the shape does not fit
/// the format's blocks or overflows.
std::optional<uint64_t> ggmlBytes(uint32_t format, llvm::ArrayRef<int64_t> shape) {
  const StorageFormatInfo *info = lookupStorageFormat(format);
  if (!info)
    return std::nullopt;
  uint64_t inner = shape.empty() ? 1 : uint64_t(shape.back());
  for (int64_t d : shape)
    if (d < 0)
      return std::nullopt;
  std::optional<uint64_t> row = rowBytes(info->format, inner);
  if (!row)
    return std::nullopt;
  uint64_t total = *row;
  for (size_t i = 0; i + 1 < shape.size(); ++i) {
    uint64_t d = uint64_t(shape[i]);
    if (d != 0 && total > UINT64_MAX / d)
      return std::nullopt;
    total *= d;
  }
  return total;
}

std::string shapeString(llvm::ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

/// Sorts by offset; equal offsets (empty weights) keep the spec's order.
void sortByOffset(std::vector<const ArtifactWeight *> &order) {
  std::sort(order.begin(), order.end(), [](const ArtifactWeight *a, const ArtifactWeight *b) {
    return a->offset != b->offset ? a->offset < b->offset : a < b; // same vector: index order
  });
}

/// Builds the header FlatBuffer. `checksums` is parallel to `order`.
void buildHeader(flatbuffers::FlatBufferBuilder &fbb, const ArtifactSpec &spec,
                 const std::vector<const ArtifactWeight *> &order,
                 const std::vector<uint64_t> &checksums, uint64_t weightsOffset,
                 uint64_t weightsSize) {
  fbb.Clear();
  fbb.ForceDefaults(true);
  const ModelConfig &c = spec.config;
  const TokenizerData &t = spec.tokenizer;

  auto target = fbb.CreateString(spec.target);
  auto producer = fbb.CreateString(spec.producer);
  std::vector<flatbuffers::Offset<fb::CompileOption>> opts;
  for (const auto &[k, v] : spec.options) {
    auto ko = fbb.CreateString(k);
    auto vo = fbb.CreateString(v);
    opts.push_back(fb::CreateCompileOption(fbb, ko, vo));
  }
  auto optsVec = fbb.CreateVector(opts);

  auto arch = fbb.CreateString(c.arch);
  auto name = fbb.CreateString(c.name);
  fb::RopeScaling scaling = fb::RopeScaling_None;
  switch (c.ropeScaling) {
  case RopeScaling::None: scaling = fb::RopeScaling_None; break;
  case RopeScaling::Linear: scaling = fb::RopeScaling_Linear; break;
  case RopeScaling::NTK: scaling = fb::RopeScaling_NTK; break;
  case RopeScaling::YaRN: scaling = fb::RopeScaling_YaRN; break;
  }
  auto layerVec = [&](const std::vector<int64_t> &v) {
    return v.empty() ? flatbuffers::Offset<flatbuffers::Vector<int64_t>>() : fbb.CreateVector(v);
  };
  auto layerHeads = layerVec(c.layerHeads), layerKVHeads = layerVec(c.layerKVHeads),
       layerFfn = layerVec(c.layerFfn);
  auto config = fb::CreateModelConfig(
      fbb, arch, name, c.vocabSize, c.contextLength, c.hiddenSize, c.numLayers, c.numHeads,
      c.numKVHeads, c.headDim, c.ffnSize, c.numExperts, c.numExpertsUsed, c.rmsEps, c.ropeBase,
      c.ropePairing == RopePairing::Neox ? fb::RopePairing_Neox : fb::RopePairing_Norm,
      scaling, c.ropeScalingFactor, c.ropeOrigContext, c.rotaryDim, c.qkvBias,
      c.tiedEmbeddings, layerHeads, layerKVHeads, layerFfn);

  auto kind = fbb.CreateString(t.model);
  auto pre = fbb.CreateString(t.pre);
  auto tokens = fbb.CreateVectorOfStrings(t.tokens);
  auto scores = fbb.CreateVector(t.scores);
  auto types = fbb.CreateVector(t.types);
  auto merges = fbb.CreateVectorOfStrings(t.merges);
  auto id = [](const std::optional<int64_t> &v) { return v ? int32_t(*v) : int32_t(-1); };
  auto tokenizer = fb::CreateTokenizer(fbb, kind, pre, tokens, scores, types, merges, id(t.bos),
                                       id(t.eos), id(t.unk), id(t.pad),
                                       t.addBos.value_or(t.model == "llama"),
                                       t.addEos.value_or(false), spec.addSpacePrefix);

  std::vector<flatbuffers::Offset<fb::Tensor>> tensors;
  for (size_t i = 0; i < order.size(); ++i) {
    const ArtifactWeight &w = *order[i];
    auto tn = fbb.CreateString(w.name);
    auto shape = fbb.CreateVector(w.shape);
    tensors.push_back(fb::CreateTensor(fbb, tn, w.format, shape, w.offset, w.size, checksums[i]));
  }
  auto tensorsVec = fbb.CreateVector(tensors);

  fb::FormatVersion version(spec.formatMajor, spec.formatMinor);
  auto model = fb::CreateModel(fbb, &version, spec.modelHash, target, producer, optsVec, config,
                               tokenizer,
                               spec.checksums ? fb::ChecksumKind_Milm64 : fb::ChecksumKind_None,
                               weightsOffset, weightsSize, kSectionAlignment, tensorsVec);
  fb::FinishSizePrefixedModelBuffer(fbb, model);
}

/// Checks the spec; on success `order` holds the weights sorted by offset and
/// `sectionSize` the weight section's size.
llvm::Error checkSpec(llvm::StringRef path, const ArtifactSpec &spec,
                      std::vector<const ArtifactWeight *> &order, uint64_t &sectionSize) {
  llvm::StringSet<> names;
  order.clear();
  for (const ArtifactWeight &w : spec.weights) {
    auto bad = [&](const llvm::Twine &msg) {
      return fail(path + ": tensor '" + w.name + "': " + msg);
    };
    if (w.name.empty())
      return fail(path + ": a tensor has an empty name");
    if (!names.insert(w.name).second)
      return bad("listed twice");
    if (w.offset % kWeightAlignment != 0)
      return bad("offset " + llvm::Twine(w.offset) + " is not a multiple of " +
                 llvm::Twine(kWeightAlignment));
    for (int64_t d : w.shape)
      if (d < 0)
        return bad("negative dimension in shape " + shapeString(w.shape));
    {
      // A packed layout has its base format's size and whole row groups.
      uint32_t format = w.format;
      if (const PackedLayoutInfo *p = lookupPackedLayout(w.format)) {
        format = static_cast<uint32_t>(p->base);
        if (w.shape.size() < 2 || w.shape[w.shape.size() - 2] % p->rowGroup != 0)
          return bad(std::string(p->name) + " needs a row count that is a multiple of " +
                     std::to_string(p->rowGroup) + ", shape is " + shapeString(w.shape));
      }
      if (!lookupStorageFormat(format))
        return bad("unknown storage format " + llvm::Twine(w.format));
      std::optional<uint64_t> expect = ggmlBytes(format, w.shape);
      if (!expect)
        return bad("shape " + shapeString(w.shape) + " does not fit storage format " +
                   std::string(info(StorageFormat(format)).name));
      if (*expect != w.size)
        return bad("size " + llvm::Twine(w.size) + " does not match " +
                   std::string(info(StorageFormat(format)).name) + " " + shapeString(w.shape) + " (" +
                   llvm::Twine(*expect) + " bytes)");
    }
    if (bool(w.repack) != (w.repackUnit != 0))
      return bad("a repack needs both its function and its unit");
    if (w.repackUnit && w.size % w.repackUnit != 0)
      return bad("size " + llvm::Twine(w.size) + " is not a multiple of the repack unit (" +
                 llvm::Twine(w.repackUnit) + " bytes)");
    int sources = int(!w.parts.empty()) + int(!w.memory.empty()) + int(bool(w.producer));
    if (sources > 1)
      return bad("more than one byte source (parts, memory, producer)");
    if (sources == 0 && w.size != 0)
      return bad("no byte source");
    if (!w.memory.empty() && w.memory.size() != w.size)
      return bad("memory buffer has " + llvm::Twine(uint64_t(w.memory.size())) +
                 " bytes, expected " + llvm::Twine(w.size));
    if (!w.parts.empty()) {
      uint64_t sum = 0;
      for (const FilePart &p : w.parts)
        sum += p.size;
      if (sum != w.size)
        return bad("parts add up to " + llvm::Twine(sum) + " bytes, expected " +
                   llvm::Twine(w.size));
    }
    order.push_back(&w);
  }
  sortByOffset(order);
  uint64_t end = 0;
  const ArtifactWeight *prev = nullptr;
  for (const ArtifactWeight *w : order) {
    if (w->offset < end)
      return fail(path + ": tensor '" + w->name + "' at offset " + llvm::Twine(w->offset) +
                  " overlaps tensor '" + prev->name + "' (ends at " + llvm::Twine(end) + ")");
    end = w->offset + w->size;
    prev = w;
  }
  sectionSize = spec.weightsSize ? spec.weightsSize : alignUp(end, kWeightAlignment);
  if (end > sectionSize)
    return fail(path + ": tensor '" + prev->name + "' ends at " + llvm::Twine(end) +
                ", past the weight section's size " + llvm::Twine(sectionSize));
  if (spec.target.empty())
    return fail(path + ": no target triple");
  return llvm::Error::success();
}

/// Copies weights into the output, hashing them.
class WeightCopier {
public:
  WeightCopier(llvm::StringRef path, llvm::raw_fd_ostream &os) : path_(path), os_(os) {
    buf_.resize(kChunk);
  }
  ~WeightCopier() {
    for (auto &e : files_)
      llvm::sys::fs::closeFile(e.second.fd);
  }

  /// Writes zeros up to absolute file position `pos`.
  void padTo(uint64_t pos) {
    static const char zeros[4096] = {};
    uint64_t at = os_.tell();
    while (at < pos) {
      uint64_t n = std::min<uint64_t>(pos - at, sizeof(zeros));
      os_.write(zeros, n);
      at += n;
    }
  }

  llvm::Expected<uint64_t> copy(const ArtifactWeight &w) {
    Milm64 hash;
    uint64_t written = 0;
    auto sink = [&](llvm::ArrayRef<uint8_t> bytes) -> llvm::Error {
      if (written + bytes.size() > w.size)
        return fail(path_ + ": tensor '" + w.name + "': its producer emitted more than " +
                    llvm::Twine(w.size) + " bytes");
      hash.update(bytes.data(), bytes.size());
      os_.write(reinterpret_cast<const char *>(bytes.data()), bytes.size());
      written += bytes.size();
      if (os_.has_error())
        return fail(path_ + ": cannot write: " + os_.error().message());
      return llvm::Error::success();
    };
    // With a repack, whole units are collected and transformed before the sink.
    std::vector<uint8_t> unitIn, unitOut;
    auto repacking = [&](llvm::ArrayRef<uint8_t> bytes) -> llvm::Error {
      while (!bytes.empty()) {
        size_t take = size_t(std::min<uint64_t>(bytes.size(), w.repackUnit - unitIn.size()));
        unitIn.insert(unitIn.end(), bytes.begin(), bytes.begin() + take);
        bytes = bytes.drop_front(take);
        if (unitIn.size() == w.repackUnit) {
          unitOut.resize(unitIn.size());
          w.repack(unitIn, unitOut);
          unitIn.clear();
          if (llvm::Error e = sink(unitOut))
            return e;
        }
      }
      return llvm::Error::success();
    };
    auto feed = [&](llvm::ArrayRef<uint8_t> bytes) -> llvm::Error {
      return w.repack ? repacking(bytes) : sink(bytes);
    };
    if (!w.memory.empty()) {
      if (llvm::Error e = feed(w.memory))
        return std::move(e);
    } else if (w.producer) {
      if (llvm::Error e = w.producer(feed))
        return std::move(e);
    } else {
      for (const FilePart &p : w.parts)
        if (llvm::Error e = copyPart(w, p, feed))
          return std::move(e);
    }
    if (written != w.size)
      return fail(path_ + ": tensor '" + w.name + "': got " + llvm::Twine(written) +
                  " bytes, expected " + llvm::Twine(w.size));
    return hash.digest();
  }

private:
  using Milm64 = milm::rt::Milm64;
  static constexpr size_t kChunk = 8u << 20;
  struct OpenFile {
    llvm::sys::fs::file_t fd;
    uint64_t size;
  };

  template <typename Sink>
  llvm::Error copyPart(const ArtifactWeight &w, const FilePart &p, Sink &sink) {
    auto it = files_.find(p.file);
    if (it == files_.end()) {
      llvm::Expected<llvm::sys::fs::file_t> fd = llvm::sys::fs::openNativeFileForRead(p.file);
      if (!fd)
        return fail(p.file + ": cannot open (tensor '" + w.name +
                    "'): " + llvm::toString(fd.takeError()));
      llvm::sys::fs::file_status st;
      if (std::error_code ec = llvm::sys::fs::status(*fd, st)) {
        llvm::sys::fs::closeFile(*fd);
        return fail(p.file + ": cannot stat: " + ec.message());
      }
      it = files_.insert({p.file, OpenFile{*fd, st.getSize()}}).first;
    }
    const OpenFile &f = it->second;
    if (p.offset > f.size || p.size > f.size - p.offset)
      return fail(p.file + ": tensor '" + w.name + "': bytes [" + llvm::Twine(p.offset) + ", " +
                  llvm::Twine(p.offset + p.size) + ") extend past the end of the file (" +
                  llvm::Twine(f.size) + " bytes)");
    uint64_t at = p.offset, left = p.size;
    while (left) {
      size_t want = size_t(std::min<uint64_t>(left, kChunk));
      llvm::Expected<size_t> got = llvm::sys::fs::readNativeFileSlice(
          f.fd, llvm::MutableArrayRef<char>(buf_.data(), want), at);
      if (!got)
        return fail(p.file + ": cannot read (tensor '" + w.name +
                    "'): " + llvm::toString(got.takeError()));
      if (*got == 0)
        return fail(p.file + ": tensor '" + w.name + "': unexpected end of file at byte " +
                    llvm::Twine(at));
      if (llvm::Error e = sink(llvm::ArrayRef<uint8_t>(
              reinterpret_cast<const uint8_t *>(buf_.data()), *got)))
        return e;
      at += *got;
      left -= *got;
    }
    return llvm::Error::success();
  }

  std::string path_;
  llvm::raw_fd_ostream &os_;
  std::vector<char> buf_;
  llvm::StringMap<OpenFile> files_;
};

} // namespace

ArtifactWeight ArtifactWeight::fromTensorRef(const TensorRef &t, uint64_t offset) {
  ArtifactWeight w;
  w.name = t.name;
  w.format = static_cast<uint32_t>(t.format);
  w.shape = t.shape;
  w.size = t.nbytes;
  w.offset = offset;
  if (t.parts.empty()) {
    w.parts.push_back({t.file, t.offset, t.nbytes});
  } else {
    for (const TensorRef &p : t.parts)
      w.parts.push_back({p.file, p.offset, p.nbytes});
  }
  return w;
}

WeightLayout planWeightLayout(llvm::ArrayRef<std::pair<std::string, uint64_t>> weights,
                              uint64_t alignment) {
  if (alignment < kWeightAlignment || !llvm::isPowerOf2_64(alignment))
    alignment = kWeightAlignment;
  WeightLayout layout;
  uint64_t at = 0;
  for (const auto &w : weights) {
    at = alignUp(at, alignment);
    layout.offsets.push_back(at);
    at += w.second;
  }
  layout.totalBytes = alignUp(at, kWeightAlignment);
  return layout;
}

uint64_t computeModelHash(const ArtifactSpec &spec) {
  milm::rt::Milm64 h;
  auto u64 = [&](uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; ++i)
      b[i] = uint8_t(v >> (8 * i));
    h.update(b, 8);
  };
  // The tag's number changes whenever a packed layout's byte order does, so
  // that a model.milm written by an older milmc is refused by a newer
  // milm-run (and the reverse) instead of read with the wrong layout. 2:
  // q6_kx8 relaid (three vectors per 16-value sub-block).
  static const char tag[] = "milm-model-hash-2";
  h.update(tag, sizeof(tag));
  const ModelConfig &c = spec.config;
  for (int64_t v : {c.vocabSize, c.hiddenSize, c.numLayers, c.numHeads, c.numKVHeads, c.headDim,
                    c.ffnSize, c.numExperts, c.numExpertsUsed})
    u64(uint64_t(v));
  std::vector<const ArtifactWeight *> order;
  for (const ArtifactWeight &w : spec.weights)
    order.push_back(&w);
  sortByOffset(order);
  u64(order.size());
  for (const ArtifactWeight *w : order) {
    h.update(w->name.data(), w->name.size() + 1); // with its NUL
    u64(w->format);
    u64(w->shape.size());
    for (int64_t d : w->shape)
      u64(uint64_t(d));
    u64(w->offset);
    u64(w->size);
  }
  return h.digest();
}

llvm::Error writeArtifact(llvm::StringRef path, const ArtifactSpec &spec) {
  std::vector<const ArtifactWeight *> order;
  uint64_t sectionSize = 0;
  if (llvm::Error e = checkSpec(path, spec, order, sectionSize))
    return e;

  // Pass 1: the header's size, which fixes where the weights start.
  flatbuffers::FlatBufferBuilder fbb(1 << 20);
  std::vector<uint64_t> checksums(order.size(), 0);
  buildHeader(fbb, spec, order, checksums, /*weightsOffset=*/0, sectionSize);
  const uint64_t headerSize = fbb.GetSize();
  const uint64_t weightsOffset = alignUp(headerSize + rt::kHeaderSumBytes, kSectionAlignment);

  llvm::SmallString<256> model(path);
  model += ".tmp-%%%%%%%%";
  llvm::Expected<llvm::sys::fs::TempFile> tmp = llvm::sys::fs::TempFile::create(model);
  if (!tmp)
    return fail(path + ": cannot create a temporary file: " + llvm::toString(tmp.takeError()));

  llvm::Error result = [&]() -> llvm::Error {
    llvm::raw_fd_ostream os(tmp->FD, /*shouldClose=*/false);
    // Every write error is returned as a message; none may reach the stream's
    // destructor, which would make it a fatal error.
    struct ClearOnExit {
      llvm::raw_fd_ostream &os;
      ~ClearOnExit() {
        os.flush();
        os.clear_error();
      }
    } clearOnExit{os};
    os.SetBufferSize(1 << 20);
    {
      WeightCopier copier(path, os);
      copier.padTo(weightsOffset);
      for (size_t i = 0; i < order.size(); ++i) {
        copier.padTo(weightsOffset + order[i]->offset);
        llvm::Expected<uint64_t> sum = copier.copy(*order[i]);
        if (!sum)
          return sum.takeError();
        checksums[i] = spec.checksums ? *sum : 0;
      }
      copier.padTo(weightsOffset + sectionSize);
    }
    // Pass 2: the real header, over the placeholder.
    buildHeader(fbb, spec, order, checksums, weightsOffset, sectionSize);
    if (fbb.GetSize() != headerSize)
      return fail(path + ": internal error: the header changed size between passes (" +
                  llvm::Twine(headerSize) + " then " + llvm::Twine(fbb.GetSize()) + " bytes)");
    os.seek(0);
    os.write(reinterpret_cast<const char *>(fbb.GetBufferPointer()), fbb.GetSize());
    // The header's checksum right after it (format 1.1).
    uint8_t sum[rt::kHeaderSumBytes];
    memcpy(sum, rt::kHeaderSumMagic, 8);
    const uint64_t h = rt::milm64(fbb.GetBufferPointer(), fbb.GetSize());
    for (int i = 0; i < 8; ++i)
      sum[8 + i] = uint8_t(h >> (8 * i));
    os.write(reinterpret_cast<const char *>(sum), sizeof sum);
    os.flush();
    if (os.has_error()) {
      std::string msg = os.error().message();
      os.clear_error();
      return fail(path + ": cannot write: " + msg);
    }
    return llvm::Error::success();
  }();
  if (result) {
    llvm::consumeError(tmp->discard());
    return result;
  }
  if (llvm::Error e = tmp->keep(path))
    return fail(path + ": cannot rename the temporary file into place: " +
                llvm::toString(std::move(e)));
  return llvm::Error::success();
}

} // namespace artifact
} // namespace milm
