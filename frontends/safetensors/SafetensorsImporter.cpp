//===- SafetensorsImporter.cpp - HF checkpoint -> ModelDescription --------===//

#include "frontends/safetensors/SafetensorsImporter.h"
#include "frontends/common/ModelValidation.h"
#include "frontends/common/OneLineError.h"
#include "frontends/common/ReadFile.h"
#include "frontends/safetensors/HFModel.h"
#include "frontends/safetensors/HFTokenizer.h"
#include "frontends/safetensors/JsonDocument.h"
#include "frontends/safetensors/SafetensorsFile.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <map>
#include <set>

namespace milm {

namespace {

namespace fs = llvm::sys::fs;
namespace path = llvm::sys::path;

llvm::Error fail(const llvm::Twine &msg) { return oneLineError(msg); }

std::string join(llvm::StringRef dir, llvm::StringRef name) {
  llvm::SmallString<256> p(dir);
  path::append(p, name);
  return std::string(p);
}

llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> readFile(llvm::StringRef file) {
  return readModelFile(file);
}

/// A shard name from the index must name a file inside the model directory.
bool isPlainRelativePath(llvm::StringRef p) {
  if (p.empty() || path::is_absolute(p) || p.contains('\\'))
    return false;
  for (auto it = path::begin(p), e = path::end(p); it != e; ++it)
    if (*it == ".." || *it == ".")
      return false;
  return true;
}

/// The weight files and, with an index, which tensor each holds.
struct WeightFiles {
  std::vector<std::string> shards; ///< paths, in name order
  std::string indexPath;           ///< empty without an index
  std::map<std::string, std::string> weightMap;
  JsonDocument indexDoc;
};

llvm::Expected<WeightFiles> findWeightFiles(llvm::StringRef userPath, llvm::StringRef dir) {
  WeightFiles w;
  std::string index = join(dir, "model.safetensors.index.json");
  if (!fs::exists(index)) {
    if (userPath.ends_with(".safetensors") && !fs::is_directory(userPath)) {
      w.shards.push_back(userPath.str());
      return std::move(w);
    }
    std::string single = join(dir, "model.safetensors");
    if (!fs::exists(single))
      return fail(dir + ": no model.safetensors or model.safetensors.index.json");
    w.shards.push_back(single);
    return std::move(w);
  }

  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> buf = readFile(index);
  if (!buf)
    return buf.takeError();
  llvm::Expected<JsonDocument> doc = parseJsonDocument(index, (*buf)->getBuffer(), 0);
  if (!doc)
    return doc.takeError();
  w.indexPath = index;
  w.indexDoc = std::move(*doc);
  const llvm::json::Object *root = w.indexDoc.root.getAsObject();
  const llvm::json::Object *map = root ? root->getObject("weight_map") : nullptr;
  if (!map)
    return fail(index + ": key 'weight_map'" +
                (root && root->get("weight_map")
                     ? " at byte " + llvm::Twine(w.indexDoc.offsetOf("weight_map", 0))
                     : llvm::Twine("")) +
                ": missing or not an object of tensor -> shard file");
  std::set<std::string> shardNames;
  for (const auto &kv : *map) {
    std::optional<llvm::StringRef> shard = kv.second.getAsString();
    if (!shard || !isPlainRelativePath(*shard))
      return fail(index + ": key 'weight_map." + kv.first.str() + "' at byte " +
                  llvm::Twine(w.indexDoc.offsetOf("weight_map", kv.first, 0)) +
                  ": expected the name of a file in the model directory, got " +
                  previewJson(kv.second));
    w.weightMap[kv.first.str()] = shard->str();
    shardNames.insert(shard->str());
  }
  if (shardNames.empty())
    return fail(index + ": key 'weight_map' at byte " +
                llvm::Twine(w.indexDoc.offsetOf("weight_map", 0)) + ": lists no tensors");
  for (const std::string &s : shardNames)
    w.shards.push_back(join(dir, s));
  return std::move(w);
}

std::string stackedSourceName(llvm::StringRef partSource) {
  // model.layers.0.block_sparse_moe.experts.3.w1.weight -> ...experts.*.w1.weight
  size_t at = partSource.find(".experts.");
  if (at == llvm::StringRef::npos)
    return partSource.str();
  llvm::StringRef head = partSource.take_front(at + 9);
  llvm::StringRef tail = partSource.drop_front(at + 9);
  return (head + "*" + tail.drop_until([](char c) { return c == '.'; })).str();
}

} // namespace

llvm::Expected<ModelDescription> importSafetensors(llvm::StringRef userPath) {
  std::string dir;
  if (fs::is_directory(userPath)) {
    dir = userPath.str();
  } else if (fs::exists(userPath)) {
    dir = path::parent_path(userPath).str();
    if (dir.empty())
      dir = ".";
  } else {
    return fail(userPath + ": no such file or directory");
  }

  ModelDescription md;
  md.sourcePath = userPath.str();
  md.sourceKind = "safetensors";

  // config.json
  std::string configPath = join(dir, "config.json");
  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> configBuf = readFile(configPath);
  if (!configBuf)
    return configBuf.takeError();
  llvm::Expected<HFConfig> hf = parseHFConfig(configPath, (*configBuf)->getBuffer());
  if (!hf)
    return hf.takeError();
  md.config = hf->config;
  ModelConfig &cfg = md.config;

  // Weights.
  llvm::Expected<WeightFiles> files = findWeightFiles(userPath, dir);
  if (!files)
    return files.takeError();
  std::vector<SafetensorsFile> shards;
  for (const std::string &s : files->shards) {
    llvm::Expected<SafetensorsFile> f = SafetensorsFile::open(s);
    if (!f)
      return f.takeError();
    shards.push_back(std::move(*f));
  }
  if (!files->indexPath.empty()) {
    const std::string &index = files->indexPath;
    std::map<std::string, const SafetensorsFile *> byPath;
    for (const SafetensorsFile &f : shards)
      byPath[f.path()] = &f;
    for (const SafetensorsFile &f : shards)
      for (const SafetensorsTensor &t : f.tensors()) {
        auto it = files->weightMap.find(t.name);
        if (it == files->weightMap.end())
          return fail(f.path() + ": tensor '" + t.name + "' at byte " +
                      llvm::Twine(t.headerOffset) + ": not listed in " + index);
        if (join(dir, it->second) != f.path())
          return fail(f.path() + ": tensor '" + t.name + "' at byte " +
                      llvm::Twine(t.headerOffset) + ": " + index + " places it in '" + it->second +
                      "'");
      }
    for (const auto &[name, shard] : files->weightMap)
      if (!byPath[join(dir, shard)]->find(name))
        return fail(index + ": key 'weight_map." + name + "' at byte " +
                    llvm::Twine(files->indexDoc.offsetOf("weight_map", name, 0)) + ": shard '" +
                    shard + "' has no tensor '" + name + "'");
  }

  // Tensors, with Mixtral's experts gathered into stacked tensors.
  struct ExpertGroup {
    size_t slot;
    std::map<int64_t, TensorRef> parts;
  };
  std::map<std::string, ExpertGroup> groups;
  for (const SafetensorsFile &f : shards) {
    for (const SafetensorsTensor &t : f.tensors()) {
      HFTensorName m = mapHFTensorName(t.name);
      if (m.ignored)
        continue;
      TensorRef r;
      r.name = m.canonical;
      r.file = f.path();
      r.offset = t.offset;
      r.nbytes = t.nbytes;
      r.format = t.format;
      r.shape = t.shape;
      r.sourceName = t.name;
      if (m.expert < 0) {
        md.tensors.push_back(std::move(r));
        continue;
      }
      if (cfg.numExperts > 0 && m.expert >= cfg.numExperts)
        return fail(f.path() + ": tensor '" + t.name + "' at byte " + llvm::Twine(t.headerOffset) +
                    ": expert " + llvm::Twine(m.expert) + ", but num_local_experts is " +
                    llvm::Twine(cfg.numExperts));
      auto [it, inserted] = groups.try_emplace(m.canonical, ExpertGroup{md.tensors.size(), {}});
      if (inserted) {
        md.tensors.emplace_back();
        md.tensors.back().name = m.canonical;
      }
      r.name = m.canonical + "[" + std::to_string(m.expert) + "]";
      it->second.parts.emplace(m.expert, std::move(r));
    }
  }
  for (auto &[name, group] : groups) {
    TensorRef &stacked = md.tensors[group.slot];
    const TensorRef &first = group.parts.begin()->second;
    // Bounded by the parts present: the first gap stops the walk.
    for (int64_t e = 0; e < cfg.numExperts; ++e)
      if (!group.parts.count(e))
        return fail(first.file + ": tensor '" + name + "': expert " + llvm::Twine(e) +
                    " is missing (no '" + hfExpertTensorName(name, e) + "')");
    stacked.file = first.file;
    stacked.offset = first.offset;
    stacked.format = first.format;
    stacked.sourceName = stackedSourceName(first.sourceName);
    stacked.shape.push_back(static_cast<int64_t>(group.parts.size()));
    stacked.shape.insert(stacked.shape.end(), first.shape.begin(), first.shape.end());
    for (auto &[e, part] : group.parts) {
      stacked.nbytes += part.nbytes;
      stacked.parts.push_back(std::move(part));
    }
  }
  if (cfg.tiedEmbeddings && md.findTensor("output.weight"))
    cfg.tiedEmbeddings = false;

  // Validation first: it proves vocab_size is backed by the bytes of token_embd,
  // which bounds the padding of the token list below.
  if (llvm::Error e = validateModel(md))
    return std::move(e);

  // Tokenizer.
  std::string tokPath = join(dir, "tokenizer.json");
  if (fs::exists(tokPath)) {
    llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> buf = readFile(tokPath);
    if (!buf)
      return buf.takeError();
    llvm::Expected<TokenizerData> tok = parseHFTokenizer(tokPath, (*buf)->getBuffer());
    if (!tok)
      return tok.takeError();
    tok->source = tokPath;
    for (auto [id, offset, key, slot] :
         {std::tuple{hf->bos, hf->bosOffset, "bos_token_id", &tok->bos},
          std::tuple{hf->eos, hf->eosOffset, "eos_token_id", &tok->eos}}) {
      if (!id)
        continue;
      if (static_cast<uint64_t>(*id) >= tok->tokens.size())
        return fail(configPath + ": key '" + key + "' at byte " + llvm::Twine(offset) +
                    ": token id " + llvm::Twine(*id) + " is not in the " +
                    llvm::Twine(tok->tokens.size()) + " tokens of " + tokPath);
      *slot = *id;
    }
    std::string tokConfigPath = join(dir, "tokenizer_config.json");
    if (fs::exists(tokConfigPath)) {
      llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> cbuf = readFile(tokConfigPath);
      if (!cbuf)
        return cbuf.takeError();
      if (llvm::Error e = applyHFTokenizerConfig(tokConfigPath, (*cbuf)->getBuffer(), *tok))
        return std::move(e);
    }
    if (static_cast<uint64_t>(cfg.vocabSize) < tok->tokens.size())
      return fail(tokPath + ": " + llvm::Twine(tok->tokens.size()) +
                  " tokens, more than the vocab_size " + llvm::Twine(cfg.vocabSize) + " of " +
                  configPath);
    for (int64_t id = static_cast<int64_t>(tok->tokens.size()); id < cfg.vocabSize; ++id) {
      tok->tokens.push_back("[PAD" + std::to_string(id) + "]");
      tok->types.push_back(kTokenUnused);
    }
    // tokenizer.json names its pre-tokenizer (HFTokenizer.cpp); a file that
    // does not gets the architecture's usual one.
    if (tok->model == "gpt2" && tok->pre.empty())
      tok->pre = cfg.arch == "qwen2" ? "qwen2" : "llama-bpe";
    md.tokenizer = std::move(*tok);
  }

  return std::move(md);
}

} // namespace milm
