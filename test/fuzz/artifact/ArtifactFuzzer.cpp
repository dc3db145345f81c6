//===- ArtifactFuzzer.cpp - libFuzzer target for the model.milm loader -----===//
//
// Feeds bytes to the runtime's verifying reader (rt::Artifact::openMemory,
// as milm-run reads an embedded model), then verifies the tensors' checksums and
// runs the tokenizer it built over a few strings. Each input is tried twice: as
// it is, and with its header checksum made right, so that mutations also reach
// everything behind that check. Beyond the sanitizers, the target checks what
// the loader promises: errors are one line starting with the name, and an
// accepted file's tensors lie inside its weight section, its tokenizer's ids
// inside its vocabulary.
//
//===----------------------------------------------------------------------===//

#include "milm/artifact.h"
#include "milm/checksum.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

void check(bool ok) {
  if (!ok)
    __builtin_trap();
}

void checkError(const std::string &e) {
  check(e.rfind("fuzz.milm: ", 0) == 0 && e.find('\n') == std::string::npos);
}

void load(const uint8_t *bytes, size_t size) {
  // The loader needs its bytes 64-byte aligned, as a mapping or milm-run's
  // copy gives them.
  uint8_t *data = static_cast<uint8_t *>(aligned_alloc(64, (size + 63) / 64 * 64 + 64));
  memcpy(data, bytes, size);
  {
    milm::rt::Artifact a;
    std::string err;
    if (!a.openMemory(data, size, "fuzz.milm", &err, milm::rt::Artifact::Load::Map)) {
      checkError(err);
    } else {
      check(a.weightsOffset() + a.weightsSize() <= a.fileSize());
      for (const milm::fb::Tensor *t : *a.header().tensors())
        check(t->offset() + t->size() <= a.weightsSize());
      if (!a.verifyChecksums(nullptr, &err))
        checkError(err);
      const milm::rt::Tokenizer &tok = a.tokenizer();
      if (tok.valid()) {
        for (const char *text : {"Hello world", " 123 'll 'S ünï 😀\n\n  x", "\xff\xfe"}) {
          std::vector<int32_t> ids = tok.encode(text, true);
          for (int32_t id : ids)
            check(tok.isValidId(id));
          (void)tok.decode(ids, true);
        }
      } else {
        checkError(a.tokenizerError());
      }
    }
  }
  free(data);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  load(data, size);
  if (size < 12)
    return 0;
  const uint64_t headerEnd =
      4 + (uint64_t(data[0]) | uint64_t(data[1]) << 8 | uint64_t(data[2]) << 16 |
           uint64_t(data[3]) << 24);
  if (headerEnd + milm::rt::kHeaderSumBytes > size)
    return 0;
  std::vector<uint8_t> fixed(data, data + size);
  memcpy(&fixed[headerEnd], milm::rt::kHeaderSumMagic, 8);
  const uint64_t sum = milm::rt::milm64(fixed.data(), size_t(headerEnd));
  for (int i = 0; i < 8; ++i)
    fixed[headerEnd + 8 + i] = uint8_t(sum >> (8 * i));
  load(fixed.data(), fixed.size());
  return 0;
}
