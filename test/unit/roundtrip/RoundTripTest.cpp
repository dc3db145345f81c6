// A GGUF model's weights written as a Hugging Face checkpoint by the project's
// own safetensors writer import to the same milm IR as the GGUF itself.
//
// Qwen2 GGUFs keep Hugging Face's q/k layout, so the two IRs are identical but
// for where the bytes are. LLaMA GGUFs permute q/k rows so that rope rotates
// adjacent pairs; the checkpoint gets the rows un-permuted back to Hugging
// Face's layout, and its IR then differs only in rope pairing (neox, halves).
#include "frontends/builder/ModelBuilder.h"
#include "frontends/gguf/GGUF.h"
#include "frontends/gguf/GGUFImport.h"
#include "frontends/safetensors/HFModel.h"
#include "frontends/safetensors/SafetensorsFile.h"
#include "frontends/safetensors/SafetensorsImporter.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <regex>

using namespace milm;

namespace {

std::string printIR(const ModelDescription &d) {
  mlir::MLIRContext ctx;
  BuildOptions opts;
  opts.modelName = "m";
  auto module = buildModelIR(ctx, d, opts);
  if (!module) {
    ADD_FAILURE() << llvm::toString(module.takeError());
    return "";
  }
  std::string s;
  llvm::raw_string_ostream os(s);
  (*module)->print(os);
  return s;
}

/// The IR without the places of the bytes (file and offset), which necessarily
/// differ between a GGUF and a safetensors checkpoint.
std::string withoutPlaces(const std::string &ir) {
  std::string s = std::regex_replace(ir, std::regex(R"( from "[^"]*" at [0-9]+)"), "");
  return std::regex_replace(s, std::regex(R"(tokenizer_source = "[^"]*")"), "tokenizer_source");
}

struct Checkpoint {
  std::string dir;
  std::vector<std::pair<std::string, std::string>> written; ///< canonical name, bytes
};

/// Writes `d`'s weights (read from `file`) as an HF checkpoint in a fresh folder.
Checkpoint writeCheckpoint(const gguf::GGUFFile &file, const ModelDescription &d, bool unpermute) {
  Checkpoint cp;
  llvm::SmallString<128> dir;
  EXPECT_FALSE(llvm::sys::fs::createUniqueDirectory("milm-roundtrip", dir));
  cp.dir = dir.str().str();
  std::vector<SafetensorsWriteTensor> tensors;
  cp.written.reserve(d.tensors.size());
  for (const TensorRef &t : d.tensors) {
    const gguf::TensorInfo *info = file.findTensor(t.name);
    EXPECT_NE(info, nullptr) << t.name;
    llvm::ArrayRef<uint8_t> data = file.tensorData(*info);
    std::string bytes(reinterpret_cast<const char *>(data.data()), data.size());
    bool isQ = t.name.find("attn_q.weight") != std::string::npos;
    bool isK = t.name.find("attn_k.weight") != std::string::npos;
    if (unpermute && (isQ || isK))
      bytes = hfRowsFromNormPairing(bytes, d.config.headDim, bytes.size() / size_t(t.shape[0]));
    cp.written.emplace_back(t.name, std::move(bytes));
  }
  for (size_t i = 0; i < d.tensors.size(); ++i) {
    const TensorRef &t = d.tensors[i];
    std::string hfName = hfTensorName(t.name);
    EXPECT_FALSE(hfName.empty()) << t.name;
    tensors.push_back({hfName, t.format, t.shape, cp.written[i].second});
  }
  std::string st = (llvm::Twine(cp.dir) + "/model.safetensors").str();
  EXPECT_FALSE(static_cast<bool>(writeSafetensors(st, tensors)));

  ModelConfig hfConfig = d.config;
  std::string config = hfConfigJson(hfConfig, d.tokenizer->bos, d.tokenizer->eos);
  EXPECT_FALSE(static_cast<bool>(
      writeFileAtomically((llvm::Twine(cp.dir) + "/config.json").str(), config)));

  // A byte-fallback BPE tokenizer.json with the GGUF's vocabulary.
  llvm::json::Object vocab;
  for (size_t i = 0; i < d.tokenizer->tokens.size(); ++i)
    vocab[d.tokenizer->tokens[i]] = static_cast<int64_t>(i);
  llvm::json::Object model{{"type", "BPE"},
                           {"byte_fallback", true},
                           {"vocab", std::move(vocab)},
                           {"merges", llvm::json::Array()}};
  llvm::json::Object tok{{"version", "1.0"}, {"model", std::move(model)}};
  std::string tokText;
  llvm::raw_string_ostream(tokText) << llvm::json::Value(std::move(tok));
  EXPECT_FALSE(static_cast<bool>(
      writeFileAtomically((llvm::Twine(cp.dir) + "/tokenizer.json").str(), tokText)));
  return cp;
}

void expectBytesInPlace(const ModelDescription &hf, const Checkpoint &cp) {
  for (const auto &[name, bytes] : cp.written) {
    const TensorRef *t = hf.findTensor(name);
    ASSERT_NE(t, nullptr) << name;
    auto buf = llvm::MemoryBuffer::getFileSlice(t->file, t->nbytes, t->offset);
    ASSERT_TRUE(static_cast<bool>(buf)) << t->file;
    EXPECT_EQ((*buf)->getBuffer(), llvm::StringRef(bytes)) << name << " at " << t->offset;
  }
}

struct Imported {
  std::unique_ptr<gguf::GGUFFile> file;
  ModelDescription desc;
};

Imported importFixture(const std::string &name) {
  std::string path = std::string(MILM_FIXTURES_DIR) + "/gguf/" + name;
  auto file = gguf::GGUFFile::open(path);
  if (!file) {
    ADD_FAILURE() << llvm::toString(file.takeError());
    return {};
  }
  auto desc = importGGUF(**file, path);
  if (!desc) {
    ADD_FAILURE() << llvm::toString(desc.takeError());
    return {};
  }
  return {std::move(*file), std::move(*desc)};
}

TEST(RoundTrip, Qwen2SafetensorsGivesTheSameIRAsItsGGUF) {
  Imported g = importFixture("qwen2-dense-f16.gguf");
  ASSERT_TRUE(g.file);
  Checkpoint cp = writeCheckpoint(*g.file, g.desc, /*unpermute=*/false);
  auto hf = importSafetensors(cp.dir);
  ASSERT_TRUE(static_cast<bool>(hf)) << llvm::toString(hf.takeError());
  expectBytesInPlace(*hf, cp);
  std::string a = printIR(g.desc), b = printIR(*hf);
  ASSERT_NE(a.find("milm.linear"), std::string::npos);
  EXPECT_NE(b.find(cp.dir + "/model.safetensors"), std::string::npos);
  EXPECT_EQ(withoutPlaces(a), withoutPlaces(b));
  llvm::sys::fs::remove_directories(cp.dir);
}

TEST(RoundTrip, LlamaSafetensorsDiffersOnlyInRopePairing) {
  Imported g = importFixture("llama-dense-f16.gguf");
  ASSERT_TRUE(g.file);
  Checkpoint cp = writeCheckpoint(*g.file, g.desc, /*unpermute=*/true);
  auto hf = importSafetensors(cp.dir);
  ASSERT_TRUE(static_cast<bool>(hf)) << llvm::toString(hf.takeError());
  expectBytesInPlace(*hf, cp);
  std::string a = withoutPlaces(printIR(g.desc)), b = withoutPlaces(printIR(*hf));
  size_t ropes = 0;
  for (size_t p = a.find("rope_pairing<norm>"); p != std::string::npos;
       p = a.find("rope_pairing<norm>", p + 1))
    ++ropes;
  EXPECT_EQ(ropes, 4u); // q and k of two layers
  EXPECT_EQ(b.find("rope_pairing<norm>"), std::string::npos);
  EXPECT_EQ(std::regex_replace(b, std::regex("rope_pairing<neox>"), "rope_pairing<norm>"), a);
  llvm::sys::fs::remove_directories(cp.dir);
}

} // namespace
