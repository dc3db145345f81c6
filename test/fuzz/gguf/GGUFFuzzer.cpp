//===- GGUFFuzzer.cpp - libFuzzer target for the GGUF reader and importer ---===//
//
// Feeds arbitrary bytes to GGUFFile::parse. Whatever parses must then:
//   - have every tensor's bytes inside the buffer (each one is read here, so
//     ASan catches an out-of-range view);
//   - survive every typed getter on every key and importGGUF();
//   - round-trip through GGUFWriter: writing the parsed metadata and tensors
//     and parsing the result gives the same metadata and tensor bytes.
// Any error must be one line naming the input.
//
// Built with -DMILM_GGUF_WRITE_SEEDS and without -fsanitize=fuzzer, this file
// instead has a main() that writes the seed corpus (small valid files made with
// GGUFWriter) into the directory given as its argument:
//   clang++ -std=c++17 -DMILM_GGUF_WRITE_SEEDS -I<repo> ... GGUFFuzzer.cpp \
//     frontends/gguf/GGUF.cpp -lLLVM
//   ./a.out test/fuzz/gguf/corpus
//
//===----------------------------------------------------------------------===//

#include "frontends/gguf/GGUF.h"

#ifndef MILM_GGUF_WRITE_SEEDS
#include "frontends/gguf/GGUFImport.h"
#endif

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace milm;
using namespace milm::gguf;

#ifndef MILM_GGUF_WRITE_SEEDS

static void check(bool cond, const char *what) {
  if (!cond) {
    fprintf(stderr, "gguf-fuzzer: property violated: %s\n", what);
    abort();
  }
}

static void checkMessage(llvm::Error e) {
  std::string msg = llvm::toString(std::move(e));
  check(msg.rfind("fuzz.gguf: ", 0) == 0, "error names the file");
  check(msg.find('\n') == std::string::npos, "error is one line");
  check(msg.find(" at byte ") != std::string::npos, "error names a byte offset");
}

template <typename T> static void consume(llvm::Expected<T> v) {
  if (!v)
    checkMessage(v.takeError());
}

static std::unique_ptr<GGUFFile> parse(llvm::StringRef bytes) {
  auto f = GGUFFile::parse(
      llvm::MemoryBuffer::getMemBuffer(bytes, "fuzz.gguf",
                                       /*RequiresNullTerminator=*/false),
      "fuzz.gguf");
  if (!f) {
    checkMessage(f.takeError());
    return nullptr;
  }
  return std::move(*f);
}

static void roundTrip(const GGUFFile &g) {
  // A huge (valid) alignment would make the writer emit that much padding.
  if (g.alignment() > 4096)
    return;
  GGUFWriter w;
  for (const KeyValue &kv : g.metadata())
    w.set(kv.key, kv.value);
  for (const TensorInfo &t : g.tensors())
    w.addTensorNoCopy(t.name, t.ne, t.format, g.tensorData(t));
  llvm::SmallString<0> out;
  llvm::raw_svector_ostream os(out);
  llvm::Error e = w.writeTo(os);
  if (e) {
    fprintf(stderr, "gguf-fuzzer: writer rejected a parsed file: %s\n",
            llvm::toString(std::move(e)).c_str());
    abort();
  }
  std::unique_ptr<GGUFFile> h = parse(out.str());
  check(h != nullptr, "written file parses");
  check(h->version() == 3, "written version");
  check(h->metadata().size() == g.metadata().size(), "same key count");
  for (size_t k = 0; k < g.metadata().size(); ++k) {
    check(h->metadata()[k].key == g.metadata()[k].key, "same key");
    check(h->metadata()[k].value.sameContents(g.metadata()[k].value),
          "same value");
  }
  check(h->tensors().size() == g.tensors().size(), "same tensor count");
  for (size_t k = 0; k < g.tensors().size(); ++k) {
    const TensorInfo &a = g.tensors()[k], &b = h->tensors()[k];
    check(a.name == b.name && a.ne == b.ne && a.format == b.format &&
              a.nbytes == b.nbytes,
          "same tensor info");
    llvm::ArrayRef<uint8_t> da = g.tensorData(a), db = h->tensorData(b);
    check(da.size() == db.size() &&
              (da.empty() || std::memcmp(da.data(), db.data(), da.size()) == 0),
          "same tensor bytes");
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  std::unique_ptr<GGUFFile> g = parse(bytes);
  if (!g)
    return 0;

  // Tensor views lie inside the input; touching their ends lets ASan check it.
  unsigned sum = 0;
  for (const TensorInfo &t : g->tensors()) {
    llvm::ArrayRef<uint8_t> d = g->tensorData(t);
    check(d.size() == t.nbytes, "tensorData size");
    check(d.data() >= data && d.data() + d.size() <= data + size,
          "tensor data inside the input");
    if (!d.empty())
      sum += d.front() + d.back();
    check(g->findTensor(t.name) == &t, "findTensor");
    (void)t.shape();
  }
  check(g->dataOffset() % g->alignment() == 0, "aligned data offset");

  for (const KeyValue &kv : g->metadata()) {
    check(g->find(kv.key) == &kv.value, "find");
    (void)kv.value.describe();
    consume(g->getUInt(kv.key));
    consume(g->getInt(kv.key));
    consume(g->getFloat(kv.key));
    consume(g->getBool(kv.key));
    consume(g->getString(kv.key));
    consume(g->getStringArray(kv.key));
    consume(g->getFloatArray(kv.key));
    consume(g->getIntArray(kv.key));
  }

  auto d = importGGUF(*g, "fuzz.gguf");
  if (!d) {
    std::string msg = llvm::toString(d.takeError());
    check(msg.rfind("fuzz.gguf: ", 0) == 0, "import error names the file");
    check(msg.find('\n') == std::string::npos, "import error is one line");
  } else {
    check(d->tensors.size() == g->tensors().size(), "all tensors imported");
  }

  roundTrip(*g);
  return int(sum & 0); // always 0; `sum` keeps the reads alive
}

#else // MILM_GGUF_WRITE_SEEDS

namespace {

std::vector<uint8_t> pattern(size_t n, unsigned seed) {
  std::vector<uint8_t> b(n);
  uint32_t x = 2463534242u + seed;
  for (uint8_t &v : b) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    v = uint8_t(x);
  }
  return b;
}

/// F16 / F32 data with small finite values (random bytes could be NaN, which
/// is fine for the reader but makes the seeds less realistic).
std::vector<uint8_t> smallF32(size_t n) {
  std::vector<uint8_t> b(n * 4);
  for (size_t k = 0; k < n; ++k) {
    float f = 0.5f + float(k % 11) / 10.0f;
    std::memcpy(&b[k * 4], &f, 4);
  }
  return b;
}

void addTensor(GGUFWriter &w, const std::string &name, std::vector<uint64_t> ne,
               StorageFormat fmt, unsigned seed) {
  uint64_t rows = 1;
  for (size_t k = 1; k < ne.size(); ++k)
    rows *= ne[k];
  if (fmt == StorageFormat::F32) {
    w.addTensor(name, ne, fmt, smallF32(ne[0] * rows));
    return;
  }
  uint64_t bytes = *rowBytes(fmt, ne[0]) * rows;
  w.addTensor(name, ne, fmt, pattern(bytes, seed));
}

void tokenizer(GGUFWriter &w, unsigned vocab, bool bpe) {
  std::vector<std::string> toks;
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (unsigned k = 0; k < vocab; ++k) {
    toks.push_back(k == 0 ? "<unk>" : k == 1 ? "<s>" : k == 2 ? "</s>"
                                                  : "t" + std::to_string(k));
    scores.push_back(-float(k));
    types.push_back(k < 3 ? 3 : 1);
  }
  w.setString("tokenizer.ggml.model", bpe ? "gpt2" : "llama");
  w.setStringArray("tokenizer.ggml.tokens", toks);
  if (bpe) {
    w.setString("tokenizer.ggml.pre", "gpt-2");
    w.setStringArray("tokenizer.ggml.merges", {"t 3", "t3 t4"});
  } else {
    w.setFloatArray("tokenizer.ggml.scores", scores);
  }
  w.setIntArray("tokenizer.ggml.token_type", types);
  w.setUInt32("tokenizer.ggml.bos_token_id", 1);
  w.setUInt32("tokenizer.ggml.eos_token_id", 2);
  w.setUInt32("tokenizer.ggml.unknown_token_id", 0);
  w.setBool("tokenizer.ggml.add_bos_token", true);
  w.setBool("tokenizer.ggml.add_eos_token", false);
}

/// A whole tiny model: hidden 32, 2 heads of 16, 1 KV head, ff 32, vocab 8.
void model(GGUFWriter &w, const std::string &arch, unsigned layers,
           unsigned experts, bool tied, StorageFormat mat) {
  const uint64_t H = 32, D = 16, Q = 2 * D, KV = D, F = 32, V = 8;
  w.setString("general.architecture", arch);
  w.setString("general.name", "seed-" + arch);
  std::string a = arch + ".";
  w.setUInt32(a + "context_length", 64);
  w.setUInt32(a + "embedding_length", H);
  w.setUInt32(a + "block_count", layers);
  w.setUInt32(a + "feed_forward_length", F);
  w.setUInt32(a + "attention.head_count", 2);
  w.setUInt32(a + "attention.head_count_kv", 1);
  w.setFloat32(a + "attention.layer_norm_rms_epsilon", 1e-5f);
  w.setFloat32(a + "rope.freq_base", 10000.0f);
  w.setUInt32(a + "rope.dimension_count", D);
  if (experts) {
    w.setUInt32(a + "expert_count", experts);
    w.setUInt32(a + "expert_used_count", 1);
  }
  tokenizer(w, V, arch == "qwen2");
  unsigned s = 0;
  addTensor(w, "token_embd.weight", {H, V}, mat, s++);
  addTensor(w, "output_norm.weight", {H}, StorageFormat::F32, s++);
  if (!tied)
    addTensor(w, "output.weight", {H, V}, StorageFormat::Q8_0, s++);
  for (unsigned l = 0; l < layers; ++l) {
    std::string b = "blk." + std::to_string(l) + ".";
    addTensor(w, b + "attn_norm.weight", {H}, StorageFormat::F32, s++);
    addTensor(w, b + "attn_q.weight", {H, Q}, mat, s++);
    addTensor(w, b + "attn_k.weight", {H, KV}, mat, s++);
    addTensor(w, b + "attn_v.weight", {H, KV}, StorageFormat::Q8_0, s++);
    addTensor(w, b + "attn_output.weight", {Q, H}, mat, s++);
    if (arch == "qwen2") {
      addTensor(w, b + "attn_q.bias", {Q}, StorageFormat::F32, s++);
      addTensor(w, b + "attn_k.bias", {KV}, StorageFormat::F32, s++);
      addTensor(w, b + "attn_v.bias", {KV}, StorageFormat::F32, s++);
    }
    addTensor(w, b + "ffn_norm.weight", {H}, StorageFormat::F32, s++);
    if (experts) {
      addTensor(w, b + "ffn_gate_inp.weight", {H, experts}, StorageFormat::F32, s++);
      addTensor(w, b + "ffn_gate_exps.weight", {H, F, experts}, mat, s++);
      addTensor(w, b + "ffn_up_exps.weight", {H, F, experts}, mat, s++);
      addTensor(w, b + "ffn_down_exps.weight", {F, H, experts}, mat, s++);
    } else {
      addTensor(w, b + "ffn_gate.weight", {H, F}, mat, s++);
      addTensor(w, b + "ffn_up.weight", {H, F}, mat, s++);
      addTensor(w, b + "ffn_down.weight", {F, H}, mat, s++);
    }
  }
}

void everyValue(GGUFWriter &w) {
  w.setString("general.architecture", "llama");
  w.setUInt8("v.u8", 255);
  w.setInt8("v.i8", -128);
  w.setUInt16("v.u16", 65535);
  w.setInt16("v.i16", -32768);
  w.setUInt32("v.u32", 4000000000u);
  w.setInt32("v.i32", -2000000000);
  w.setUInt64("v.u64", UINT64_MAX);
  w.setInt64("v.i64", INT64_MIN);
  w.setFloat32("v.f32", 1.5f);
  w.setFloat64("v.f64", -2.25);
  w.setBool("v.bool", true);
  w.setString("v.str", "h\xC3\xA9llo");
  w.set("v.arr.u8", Value::ofUIntArray(ValueType::UINT8, {1, 2, 255}));
  w.set("v.arr.i8", Value::ofIntArray(ValueType::INT8, {-1, 2}));
  w.set("v.arr.u16", Value::ofUIntArray(ValueType::UINT16, {7}));
  w.set("v.arr.i16", Value::ofIntArray(ValueType::INT16, {-7, 7}));
  w.set("v.arr.u32", Value::ofUIntArray(ValueType::UINT32, {1, 2, 3}));
  w.setIntArray("v.arr.i32", {-1, 0, 1});
  w.set("v.arr.u64", Value::ofUIntArray(ValueType::UINT64, {UINT64_MAX}));
  w.set("v.arr.i64", Value::ofIntArray(ValueType::INT64, {INT64_MIN, 5}));
  w.setFloatArray("v.arr.f32", {0.5f, -1.0f});
  w.set("v.arr.f64", Value::ofFloatArray(ValueType::FLOAT64, {1e300, -0.0}));
  w.set("v.arr.bool", Value::ofBoolArray({true, false}));
  w.setStringArray("v.arr.str", {"", "a", "bc"});
  w.set("v.arr.empty", Value::ofUIntArray(ValueType::UINT32, {}));
  addTensor(w, "t.f32", {4, 2}, StorageFormat::F32, 1);
  addTensor(w, "t.bf16", {8}, StorageFormat::BF16, 2);
}

void everyFormat(GGUFWriter &w) {
  w.setAlignment(64);
  w.setString("general.architecture", "qwen2");
  size_t count;
  const StorageFormatInfo *f = allStorageFormats(count);
  for (size_t k = 0; k < count; ++k)
    addTensor(w, "t." + std::string(f[k].name), {f[k].blockElems},
              f[k].format, unsigned(k));
}

bool write(const GGUFWriter &w, const std::string &path,
           uint32_t version = 3) {
  llvm::SmallString<0> buf;
  llvm::raw_svector_ostream os(buf);
  if (llvm::Error e = w.writeTo(os)) {
    fprintf(stderr, "%s: %s\n", path.c_str(), llvm::toString(std::move(e)).c_str());
    return false;
  }
  buf[4] = char(version); // the writer emits 3; v2 has the same layout
  FILE *f = fopen(path.c_str(), "wb");
  if (!f || fwrite(buf.data(), 1, buf.size(), f) != buf.size()) {
    fprintf(stderr, "%s: cannot write\n", path.c_str());
    return false;
  }
  fclose(f);
  printf("%s: %zu bytes\n", path.c_str(), buf.size());
  return true;
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s <corpus-dir>\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  bool ok = true;
  {
    GGUFWriter w;
    model(w, "llama", 1, 0, false, StorageFormat::Q4_0);
    ok &= write(w, dir + "/llama-dense-q4_0.gguf");
  }
  {
    GGUFWriter w;
    model(w, "llama", 1, 2, false, StorageFormat::Q4_0);
    ok &= write(w, dir + "/llama-moe-q4_0.gguf");
  }
  {
    GGUFWriter w;
    model(w, "qwen2", 1, 0, true, StorageFormat::Q8_0);
    ok &= write(w, dir + "/qwen2-tied-q8_0-v2.gguf", 2);
  }
  {
    GGUFWriter w;
    everyValue(w);
    ok &= write(w, dir + "/every-value-type.gguf");
  }
  {
    GGUFWriter w;
    everyFormat(w);
    ok &= write(w, dir + "/every-format-align64.gguf");
  }
  {
    GGUFWriter w;
    w.setString("general.architecture", "llama");
    tokenizer(w, 16, true);
    ok &= write(w, dir + "/vocab-only.gguf");
  }
  return ok ? 0 : 1;
}

#endif // MILM_GGUF_WRITE_SEEDS
