//===- Artifact.cpp - Mapping and checking model.milm ---------------------===//

#include "milm/artifact.h"

#include "Format.h"
#include "milm/checksum.h"
#include "milm/formats.h"
#include "milm/thread_pool.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace milm {
namespace rt {

namespace {

struct FormatInfo {
  uint32_t format;
  const char *name;
  uint32_t blockElems;
  uint32_t blockBytes; ///< per row of a packed layout's group: its base format's
};

// GGUF's formats and milm's packed layouts, from the one table.
constexpr FormatInfo kFormats[] = {
#define MILM_X(ID, id, name, code, elems, bytes, act) {code, name, elems, bytes},
    MILM_STORAGE_FORMATS(MILM_X)
#undef MILM_X
#define MILM_X(ID, id, name, code, base, group)                                          \
  {code, name, MILM_BLOCK_ELEMS_##base, MILM_BLOCK_BYTES_##base},
    MILM_PACKED_LAYOUTS(MILM_X)
#undef MILM_X
};

const FormatInfo *findFormat(uint32_t format) {
  for (const FormatInfo &f : kFormats)
    if (f.format == format)
      return &f;
  return nullptr;
}

using ull = unsigned long long;


std::string str(const flatbuffers::String *s) {
  return s ? std::string(s->data(), s->size()) : std::string();
}

std::string shapeString(const flatbuffers::Vector<int64_t> *shape) {
  std::string s = "[";
  if (shape)
    for (flatbuffers::uoffset_t i = 0; i < shape->size(); ++i)
      s += fmt(i ? ", %lld" : "%lld", (long long)shape->Get(i));
  return s + "]";
}

uint32_t readU32(const uint8_t *p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

/// Control characters (and, with `quotes`, quotes and backslashes) as \xNN.
std::string escapeBytes(const char *s, size_t n, bool quotes) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f || (quotes && (c == '\'' || c == '\\'))) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  return out;
}
/// A message made one line whatever text of the file it quotes.
std::string oneLine(const std::string &s) { return escapeBytes(s.data(), s.size(), false); }
} // namespace

std::string printable(const char *s, size_t n) { return escapeBytes(s, n, true); }

bool ggmlFormatBlock(uint32_t format, uint64_t *blockElems, uint64_t *blockBytes) {
  const FormatInfo *f = findFormat(format);
  if (!f)
    return false;
  *blockElems = f->blockElems;
  *blockBytes = f->blockBytes;
  return true;
}

const char *storageFormatName(uint32_t format) {
  const FormatInfo *f = findFormat(format);
  return f ? f->name : nullptr;
}

Artifact::~Artifact() { close(); }

void Artifact::close() {
  if (base_ && mapBytes_)
    munmap(const_cast<uint8_t *>(base_), mapBytes_);
  base_ = nullptr;
  mapBytes_ = 0;
  size_ = 0;
  header_ = nullptr;
  major_ = minor_ = 0;
  weightsOffset_ = weightsSize_ = 0;
  tokenizer_ = Tokenizer();
  tokenizerError_.clear();
  addBos_ = false;
}

bool Artifact::fail(std::string *error, const std::string &msg) {
  if (error)
    *error = path_ + ": " + msg;
  close();
  return false;
}

namespace {

/// `bytes` of anonymous memory at a 2 MiB boundary, advised for transparent
/// huge pages (where the kernel has them), rounded up to whole huge pages in
/// *mapped; nullptr (errno set) when the system refuses.
uint8_t *mapHugeAnonymous(size_t bytes, size_t *mapped) {
  constexpr size_t kHuge = size_t(2) << 20;
  const size_t len = (bytes + kHuge - 1) & ~(kHuge - 1);
  void *raw = mmap(nullptr, len + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
  if (raw == MAP_FAILED)
    return nullptr;
  const uintptr_t start = uintptr_t(raw), aligned = (start + kHuge - 1) & ~uintptr_t(kHuge - 1);
  if (aligned > start)
    munmap(raw, aligned - start);
  if (aligned + len < start + len + kHuge)
    munmap(reinterpret_cast<void *>(aligned + len), start + len + kHuge - (aligned + len));
#ifdef MADV_HUGEPAGE
  madvise(reinterpret_cast<void *>(aligned), len, MADV_HUGEPAGE); // a hint: failure is fine
#endif
  *mapped = len;
  return reinterpret_cast<uint8_t *>(aligned);
}

} // namespace

Artifact::Load Artifact::loadFor(uint64_t fileBytes, uint64_t availableBytes) {
  if (availableBytes == 0)
    return Load::Read;
  return fileBytes <= availableBytes / 10 * 9 ? Load::Read : Load::Map;
}

uint64_t Artifact::availableMemory() {
  FILE *f = fopen("/proc/meminfo", "r");
  if (!f)
    return 0;
  char line[256];
  unsigned long long kib = 0;
  bool found = false;
  while (!found && fgets(line, sizeof line, f))
    found = sscanf(line, "MemAvailable: %llu kB", &kib) == 1;
  fclose(f);
  return found ? uint64_t(kib) * 1024 : 0;
}

bool Artifact::open(const char *path, std::string *error, Load load) {
  close();
  path_ = path ? path : "";
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fail(error, fmt("cannot open: %s", strerror(errno)));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(error, "not a regular file");
  }
  const uint64_t fileSize = uint64_t(st.st_size);
  if (fileSize < 12) {
    ::close(fd);
    return fail(error, fmt("truncated: the file has %llu bytes, too few for a milm header",
                           ull(fileSize)));
  }
  if (load == Load::Read)
    load = loadFor(fileSize, availableMemory());
  if (load == Load::Read) {
    size_t len = 0;
    uint8_t *buf = mapHugeAnonymous(size_t(fileSize), &len);
    if (!buf) {
      int e = errno;
      ::close(fd);
      return fail(error, fmt("cannot allocate %llu bytes to read the file into: %s",
                             ull(fileSize), strerror(e)));
    }
    base_ = buf; // close() unmaps it from here on
    mapBytes_ = len;
    size_ = fileSize;
    uint64_t done = 0;
    while (done < fileSize) {
      const size_t want = size_t(fileSize - done < (1u << 30) ? fileSize - done : (1u << 30));
      const ssize_t n = pread(fd, buf + done, want, off_t(done));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        const int e = n < 0 ? errno : 0;
        ::close(fd);
        return fail(error, e ? fmt("read failed at byte %llu: %s", ull(done), strerror(e))
                             : fmt("the file ended at byte %llu while being read (it had %llu "
                                   "bytes when opened)",
                                   ull(done), ull(fileSize)));
      }
      done += uint64_t(n);
    }
    ::close(fd);
    mprotect(buf, len, PROT_READ); // the weights are read-only, as mapped ones are
    return checkMapped(error);
  }
  void *map = mmap(nullptr, size_t(fileSize), PROT_READ, MAP_PRIVATE, fd, 0);
  int mapErrno = errno;
  ::close(fd);
  if (map == MAP_FAILED)
    return fail(error, fmt("cannot map: %s", strerror(mapErrno)));
  base_ = static_cast<const uint8_t *>(map);
  mapBytes_ = size_t(fileSize);
  size_ = fileSize;
  return checkMapped(error);
}

bool Artifact::openMemory(const uint8_t *data, uint64_t size, const char *name,
                          std::string *error, Load load) {
  close();
  path_ = name ? name : "";
  if (!data)
    return fail(error, "no data");
  if (reinterpret_cast<uintptr_t>(data) % 64 != 0)
    return fail(error, fmt("the artifact at address %p is not 64-byte aligned",
                           static_cast<const void *>(data)));
  if (size < 12)
    return fail(error, fmt("truncated: the file has %llu bytes, too few for a milm header",
                           ull(size)));
  if (load == Load::Read)
    load = loadFor(size, availableMemory());
  if (load == Load::Read) {
    size_t len = 0;
    uint8_t *buf = mapHugeAnonymous(size_t(size), &len);
    if (!buf)
      return fail(error, fmt("cannot allocate %llu bytes to copy the model into: %s", ull(size),
                             strerror(errno)));
    memcpy(buf, data, size_t(size));
    mprotect(buf, len, PROT_READ);
    data = buf;
    mapBytes_ = len; // ours to unmap
  }
  base_ = data;
  size_ = size;
  return checkMapped(error);
}

bool Artifact::checkMapped(std::string *error) {
  // 1. Identifier and header size.
  if (memcmp(base_ + 8, fb::ModelIdentifier(), 4) != 0)
    return fail(error, fmt("not a milm model (identifier '%s' at byte 8, expected 'MILM')",
                           printable(reinterpret_cast<const char *>(base_ + 8), 4).c_str()));
  const uint64_t headerEnd = 4 + uint64_t(readU32(base_));
  if (headerEnd > size_)
    return fail(error, fmt("truncated: header ends at byte %llu but the file has %llu bytes",
                           ull(headerEnd), ull(size_)));

  // 2. The version, verified on its own so that a newer file is not taken for a
  // corrupt one.
  {
    const uint8_t *buf = base_ + 4;
    flatbuffers::Verifier v(buf, size_t(headerEnd - 4));
    flatbuffers::uoffset_t root = v.VerifyOffset(0);
    const auto *table = reinterpret_cast<const flatbuffers::Table *>(buf + root);
    const fb::FormatVersion *version = nullptr;
    if (root && table->VerifyTableStart(v) &&
        table->VerifyField<fb::FormatVersion>(v, fb::Model::VT_VERSION, 2))
      version = table->GetStruct<const fb::FormatVersion *>(fb::Model::VT_VERSION);
    if (!version)
      return fail(error, "corrupt header: no format version");
    major_ = version->major();
    minor_ = version->minor();
    if (major_ > kArtifactMajor)
      return fail(error, fmt("format version %u.%u is newer than this runtime (%u.x)",
                             unsigned(major_), unsigned(minor_), unsigned(kArtifactMajor)));
    if (major_ < kArtifactMajor)
      return fail(error, fmt("format version %u.%u is older than this runtime reads (%u.x)",
                             unsigned(major_), unsigned(minor_), unsigned(kArtifactMajor)));
  }

  // 3. The whole header.
  {
    flatbuffers::Verifier v(base_, size_t(headerEnd));
    if (!fb::VerifySizePrefixedModelBuffer(v))
      return fail(error, "corrupt header: FlatBuffers verification failed");
  }
  header_ = fb::GetSizePrefixedModel(base_);
  const char *missing = !header_->target()      ? "target"
                        : !header_->config()    ? "config"
                        : !header_->tokenizer() ? "tokenizer"
                        : !header_->tensors()   ? "tensors"
                                                : nullptr;
  if (missing)
    return fail(error, fmt("corrupt header: no %s", missing));
  // Every header byte affects the output (config, tokenizer, tensor table):
  // its checksum follows it (format 1.1); verification cannot be turned off.
  if (minor_ < 1)
    return fail(error, fmt("format version %u.%u has no header checksum (written by an older "
                           "milmc): compile the model again",
                           unsigned(major_), unsigned(minor_)));
  if (headerEnd + kHeaderSumBytes > size_ ||
      memcmp(base_ + headerEnd, kHeaderSumMagic, 8) != 0)
    return fail(error, fmt("corrupt header: no header checksum at byte %llu", ull(headerEnd)));
  {
    uint64_t stored = 0;
    for (int i = 7; i >= 0; --i)
      stored = (stored << 8) | base_[headerEnd + 8 + i];
    if (milm64(base_, size_t(headerEnd)) != stored)
      return fail(error, "header checksum mismatch (the config, tokenizer or tensor table is "
                         "damaged)");
  }
  if (header_->checksum_kind() != fb::ChecksumKind_Milm64)
    return fail(error, header_->checksum_kind() == fb::ChecksumKind_None
                           ? std::string("corrupt header: the tensors have no checksums "
                                         "(checksum kind none)")
                           : fmt("corrupt header: unknown checksum kind %u (this runtime "
                                 "verifies milm64)",
                                 unsigned(header_->checksum_kind())));

  // 4. The weight section.
  weightsOffset_ = header_->weights_offset();
  weightsSize_ = header_->weights_size();
  if (weightsOffset_ < headerEnd + kHeaderSumBytes)
    return fail(error, fmt("corrupt header: weight section at byte %llu overlaps the header "
                           "(which ends at byte %llu)",
                           ull(weightsOffset_), ull(headerEnd)));
  if (weightsOffset_ % 64 != 0)
    return fail(error, fmt("corrupt header: weight section offset %llu is not 64-byte aligned",
                           ull(weightsOffset_)));
  if (weightsSize_ > UINT64_MAX - weightsOffset_)
    return fail(error, fmt("corrupt header: weight section size %llu overflows",
                           ull(weightsSize_)));
  if (weightsOffset_ + weightsSize_ > size_)
    return fail(error, fmt("truncated: weight section ends at byte %llu but the file has %llu "
                           "bytes",
                           ull(weightsOffset_ + weightsSize_), ull(size_)));

  // 5. Tensors, 6. tokenizer.
  if (!checkTensors(error))
    return false;
  buildTokenizer();
  return true;
}

bool Artifact::checkTensors(std::string *error) {
  const auto &tensors = *header_->tensors();
  uint64_t prevEnd = 0;
  std::string prevName;
  for (flatbuffers::uoffset_t i = 0; i < tensors.size(); ++i) {
    const fb::Tensor *t = tensors.Get(i);
    if (!t->name() || t->name()->size() == 0)
      return fail(error, fmt("corrupt header: tensor #%u has no name", unsigned(i)));
    const std::string name = printable(t->name()->data(), t->name()->size());
    const char *n = name.c_str();
    const uint64_t off = t->offset(), size = t->size();
    if (off % 64 != 0)
      return fail(error, fmt("tensor '%s': offset %llu in the weight section is not 64-byte "
                             "aligned",
                             n, ull(off)));
    if (off > weightsSize_ || size > weightsSize_ - off)
      return fail(error, fmt("tensor '%s': bytes [%llu, %llu) extend past the weight section "
                             "(%llu bytes)",
                             n, ull(off), ull(off + size), ull(weightsSize_)));
    if (i > 0 && off < prevEnd)
      return fail(error, fmt("tensor '%s': offset %llu overlaps tensor '%s' (which ends at %llu)",
                             n, ull(off), prevName.c_str(), ull(prevEnd)));
    prevEnd = off + size;

    const auto *shape = t->shape();
    // FlatBuffers' verifier checks a vector's length field for 4-byte
    // alignment, not its 8-byte elements; a hostile file could misalign them.
    if (shape && reinterpret_cast<uintptr_t>(shape->data()) % alignof(int64_t) != 0)
      return fail(error, fmt("corrupt header: tensor '%s': its shape is not 8-byte aligned", n));
    if (shape)
      for (flatbuffers::uoffset_t d = 0; d < shape->size(); ++d)
        if (shape->Get(d) < 0)
          return fail(error, fmt("tensor '%s': negative dimension in shape %s", n,
                                 shapeString(shape).c_str()));
    {
      const FormatInfo *f = findFormat(t->format());
      if (!f)
        return fail(error, fmt("tensor '%s': unknown storage format %u", n, t->format()));
      // Expected bytes: outer dims x bytes of a row of the innermost dim.
      uint64_t inner = shape && shape->size() ? uint64_t(shape->Get(shape->size() - 1)) : 1;
      bool ok = inner % f->blockElems == 0;
      unsigned __int128 expect = (unsigned __int128)(inner / f->blockElems) * f->blockBytes;
      if (shape)
        for (flatbuffers::uoffset_t d = 0; ok && d + 1 < shape->size(); ++d) {
          expect *= uint64_t(shape->Get(d));
          ok = expect <= UINT64_MAX;
        }
      if (!ok)
        return fail(error, fmt("tensor '%s': shape %s does not fit storage format %s", n,
                               shapeString(shape).c_str(), f->name));
      if (uint64_t(expect) != size)
        return fail(error, fmt("tensor '%s': size %llu does not match %s %s (%llu bytes)", n,
                               ull(size), f->name, shapeString(shape).c_str(),
                               ull(uint64_t(expect))));
    }
    prevName = name;
  }
  return true;
}

void Artifact::buildTokenizer() {
  const fb::Tokenizer &t = *header_->tokenizer();
  TokenizerConfig c;
  c.kind = str(t.kind());
  c.pre = str(t.pre());
  if (t.tokens()) {
    c.tokens.reserve(t.tokens()->size());
    for (const flatbuffers::String *s : *t.tokens())
      c.tokens.push_back(str(s));
  }
  if (t.scores())
    c.scores.assign(t.scores()->begin(), t.scores()->end());
  if (t.types())
    c.types.assign(t.types()->begin(), t.types()->end());
  if (t.merges()) {
    c.merges.reserve(t.merges()->size());
    for (const flatbuffers::String *s : *t.merges())
      c.merges.push_back(str(s));
  }
  c.bos = t.bos();
  c.eos = t.eos();
  c.unk = t.unk();
  c.addSpacePrefix = t.add_space_prefix();
  addBos_ = t.add_bos();
  std::string err;
  if (c.kind.empty() && c.tokens.empty())
    tokenizerError_ = path_ + ": the model has no tokenizer (it was compiled from a checkpoint "
                              "without one): it takes token ids only (milm-run --logits-for)";
  else if (!tokenizer_.init(std::move(c), &err))
    tokenizerError_ = path_ + ": " + oneLine(err); // it may quote the file's strings
}

bool Artifact::checkAgainst(const milm_model_desc &desc, std::string *error) const {
  auto bad = [&](const std::string &msg) {
    if (error)
      *error = path_ + ": " + msg;
    return false;
  };
  if (desc.abi_version != MILM_MODEL_ABI_VERSION)
    return bad(fmt("this binary's model code has ABI version %u, the runtime expects %u",
                   unsigned(desc.abi_version), unsigned(MILM_MODEL_ABI_VERSION)));
  const std::string target = str(header_->target());
  const char *mine = desc.target ? desc.target : "";
  if (target != mine)
    return bad(fmt("built for %s, this binary is %s",
                   printable(target.data(), target.size()).c_str(), mine));
  if (header_->model_hash() != desc.model_hash)
    return bad(fmt("model hash 0x%016llx does not match this binary's 0x%016llx (compiled from "
                   "another model, or by another milmc version)",
                   ull(header_->model_hash()), ull(desc.model_hash)));
  if (weightsSize_ != desc.weights_bytes)
    return bad(fmt("weight section has %llu bytes, this binary's model reads %llu",
                   ull(weightsSize_), ull(desc.weights_bytes)));
  const fb::ModelConfig &c = *header_->config();
  struct Dim {
    const char *name;
    int64_t file, code;
  } dims[] = {
      {"vocab_size", c.vocab_size(), desc.vocab_size},
      {"hidden_size", c.hidden_size(), desc.hidden_size},
      {"num_layers", c.num_layers(), desc.num_layers},
      {"num_heads", c.num_heads(), desc.num_heads},
      {"num_kv_heads", c.num_kv_heads(), desc.num_kv_heads},
      {"head_dim", c.head_dim(), desc.head_dim},
  };
  for (const Dim &d : dims)
    if (d.file != d.code)
      return bad(fmt("%s %lld does not match this binary's %lld", d.name, (long long)d.file,
                     (long long)d.code));
  return true;
}

namespace {
struct ChecksumJob {
  const uint8_t *weights;
  const flatbuffers::Vector<flatbuffers::Offset<fb::Tensor>> *tensors;
  uint64_t *sums;
};
void checksumTask(void *arg, int64_t begin, int64_t end) {
  const ChecksumJob &job = *static_cast<const ChecksumJob *>(arg);
  for (int64_t i = begin; i < end; ++i) {
    const fb::Tensor *t = job.tensors->Get(flatbuffers::uoffset_t(i));
    job.sums[i] = milm64(job.weights + t->offset(), size_t(t->size()));
  }
}
} // namespace

bool Artifact::verifyChecksums(ThreadPool *pool, std::string *error) const {
  if (header_->checksum_kind() != fb::ChecksumKind_Milm64)
    return true; // none, or a kind newer than this runtime
  const auto *tensors = header_->tensors();
  std::vector<uint64_t> sums(tensors->size());
  ChecksumJob job{weights(), tensors, sums.data()};
  if (pool)
    pool->parallelFor(int64_t(tensors->size()), 1, checksumTask, &job);
  else
    checksumTask(&job, 0, int64_t(tensors->size()));
  for (flatbuffers::uoffset_t i = 0; i < tensors->size(); ++i) {
    const fb::Tensor *t = tensors->Get(i);
    if (sums[i] != t->checksum()) {
      if (error)
        *error = fmt("%s: tensor '%s': checksum mismatch", path_.c_str(),
                     printable(t->name()->data(), t->name()->size()).c_str());
      return false;
    }
  }
  return true;
}

} // namespace rt
} // namespace milm
