//===- SafetensorsFuzzer.cpp - libFuzzer target for the HF readers --------===//
//
// Inputs starting with '{' are JSON documents, fed to the config.json,
// tokenizer.json and tokenizer_config.json readers; every other input is a
// whole .safetensors file, parsed from memory. Beyond the sanitizers, the target
// checks what the readers promise: errors are one line, and every tensor of an
// accepted file lies inside the file's data section, without overlap.
//
//===----------------------------------------------------------------------===//

#include "frontends/safetensors/HFModel.h"
#include "frontends/safetensors/HFTokenizer.h"
#include "frontends/safetensors/SafetensorsFile.h"

#include <cstdint>
#include <cstdlib>
#include <vector>

namespace {

void check(bool ok) {
  if (!ok)
    __builtin_trap();
}

void checkError(llvm::Error e) {
  if (!e)
    return;
  std::string msg = llvm::toString(std::move(e));
  check(!msg.empty() && msg.find('\n') == std::string::npos);
}

void fuzzSafetensors(llvm::StringRef bytes) {
  llvm::Expected<milm::SafetensorsFile> f = milm::SafetensorsFile::parse("fuzz.safetensors", bytes);
  if (!f)
    return checkError(f.takeError());
  check(f->dataStart() >= 10 && f->dataStart() <= bytes.size());
  uint64_t prevEnd = f->dataStart();
  uint8_t sum = 0;
  for (const milm::SafetensorsTensor &t : f->tensors()) {
    check(t.offset >= f->dataStart() && t.nbytes <= bytes.size() &&
          t.offset <= bytes.size() - t.nbytes);
    check(t.nbytes == 0 || t.offset >= prevEnd);
    if (t.nbytes)
      prevEnd = t.offset + t.nbytes;
    check(f->find(t.name) != nullptr);
    llvm::StringRef data = f->bytes(t);
    check(data.size() == t.nbytes);
    if (!data.empty())
      sum += static_cast<uint8_t>(data.front()) + static_cast<uint8_t>(data.back());
  }
  (void)sum;
}

void fuzzJson(llvm::StringRef text) {
  llvm::Expected<milm::HFConfig> config = milm::parseHFConfig("config.json", text);
  if (!config)
    checkError(config.takeError());

  llvm::Expected<milm::TokenizerData> tok = milm::parseHFTokenizer("tokenizer.json", text);
  if (!tok) {
    checkError(tok.takeError());
  } else {
    check(tok->tokens.size() == tok->types.size());
    check(tok->tokens.size() <= text.size());
  }

  milm::TokenizerData small;
  small.tokens = {"<unk>", "<s>", "</s>", "a"};
  checkError(milm::applyHFTokenizerConfig("tokenizer_config.json", text, small));
  check(!small.bos || (*small.bos >= 0 && *small.bos < 4));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  if (!bytes.empty() && bytes.front() == '{')
    fuzzJson(bytes);
  else
    fuzzSafetensors(bytes);
  return 0;
}
