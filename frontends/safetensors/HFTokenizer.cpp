//===- HFTokenizer.cpp - Hugging Face tokenizer.json ----------------------===//

#include "frontends/safetensors/HFTokenizer.h"
#include "frontends/common/OneLineError.h"
#include "frontends/safetensors/JsonDocument.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/JSON.h"

#include <algorithm>

namespace milm {

namespace {

llvm::Error fail(const llvm::Twine &msg) { return oneLineError(msg); }

bool isByteToken(llvm::StringRef t) {
  return t.size() == 6 && t.starts_with("<0x") && t.ends_with(">") && llvm::isHexDigit(t[3]) &&
         llvm::isHexDigit(t[4]);
}

/// The pre-tokenizer regexes of byte-level BPE that the runtime implements,
/// with the names it takes them by (those of llama.cpp's tokenizer.ggml.pre)
/// and whether that pre-tokenizer ignores merges.
struct KnownPreTokenizer {
  const char *pre;
  const char *regex;
  bool ignoresMerges;
};

const KnownPreTokenizer kKnownPreTokenizers[] = {
    {"gpt-2", R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)",
     false},
    {"llama-bpe",
     R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|)"
     R"( ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
     true},
    {"qwen2",
     R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|)"
     R"( ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
     false},
};

/// Which known pre-tokenizer tokenizer.json's "pre_tokenizer" of a byte-level
/// BPE model is: ByteLevel with its own (GPT-2) regex, or a Split by one of the
/// known regexes (isolating the matches) followed by ByteLevel without its
/// regex; either way as one step or as a Sequence. Sets *out, or returns why not.
std::string classifyPreTokenizer(const llvm::json::Value &v, const KnownPreTokenizer *&out) {
  const llvm::json::Object *o = v.getAsObject();
  if (!o)
    return "expected an object, got " + previewJson(v);
  std::vector<const llvm::json::Object *> steps;
  if (o->getString("type") == llvm::StringRef("Sequence")) {
    const llvm::json::Array *list = o->getArray("pretokenizers");
    if (!list)
      return "a Sequence needs a \"pretokenizers\" list";
    for (size_t i = 0; i < list->size(); ++i) {
      const llvm::json::Object *step = (*list)[i].getAsObject();
      if (!step)
        return "pretokenizers[" + std::to_string(i) + "] is not an object: " +
               previewJson((*list)[i]);
      steps.push_back(step);
    }
  } else {
    steps.push_back(o);
  }
  const std::string supported =
      " (milm reads ByteLevel, alone or after a Split by the GPT-2, Llama 3 or Qwen2 regex)";
  for (const llvm::json::Object *step : steps) {
    llvm::StringRef type = step->getString("type").value_or("?");
    if (type != "ByteLevel" && type != "Split")
      return "pre-tokenizer '" + type.str() + "' is not supported" + supported;
  }
  if (steps.empty() || steps.back()->getString("type") != llvm::StringRef("ByteLevel") ||
      steps.size() > 2)
    return "a pre-tokenizer sequence of " + std::to_string(steps.size()) +
           " steps that does not end in its only ByteLevel is not supported" + supported;

  const llvm::json::Object *byteLevel = steps.back();
  auto flag = [](const llvm::json::Object *obj, llvm::StringRef key, bool absent,
                 bool &value) -> std::string {
    const llvm::json::Value *f = obj->get(key);
    value = absent;
    if (!f || f->kind() == llvm::json::Value::Null)
      return "";
    std::optional<bool> b = f->getAsBoolean();
    if (!b)
      return key.str() + ": expected true or false, got " + previewJson(*f);
    value = *b;
    return "";
  };
  bool addPrefixSpace, useRegex;
  std::string e = flag(byteLevel, "add_prefix_space", false, addPrefixSpace);
  if (e.empty())
    e = flag(byteLevel, "use_regex", true, useRegex); // Hugging Face's default
  if (!e.empty())
    return "ByteLevel " + e;
  if (addPrefixSpace)
    return "ByteLevel with add_prefix_space is not supported";

  if (steps.size() == 1) {
    if (!useRegex)
      return "ByteLevel with use_regex false and no Split before it (the text as one piece) "
             "is not supported";
    out = &kKnownPreTokenizers[0];
    return "";
  }
  if (useRegex)
    return "a Split followed by ByteLevel with use_regex true (two regexes) is not supported";
  const llvm::json::Object *split = steps.front();
  const llvm::json::Object *pattern = split->getObject("pattern");
  std::optional<llvm::StringRef> regex = pattern ? pattern->getString("Regex") : std::nullopt;
  if (!regex) {
    if (std::optional<llvm::StringRef> str = pattern ? pattern->getString("String") : std::nullopt)
      return "a Split on the string '" + str->str() + "' is not supported" + supported;
    return "a Split needs a \"pattern\" of {\"Regex\": ...}";
  }
  llvm::StringRef behavior = split->getString("behavior").value_or("?");
  if (behavior != "Isolated")
    return "a Split with behavior '" + behavior.str() + "' is not supported (only Isolated)";
  bool invert;
  e = flag(split, "invert", false, invert);
  if (!e.empty())
    return "Split " + e;
  if (invert)
    return "a Split with invert true is not supported";
  for (const KnownPreTokenizer &k : kKnownPreTokenizers)
    if (*regex == k.regex) {
      out = &k;
      return "";
    }
  return "Split regex '" + regex->str() + "' is not supported (milm knows the GPT-2, Llama 3 "
         "and Qwen2 regexes)";
}

} // namespace

llvm::Expected<TokenizerData> parseHFTokenizer(llvm::StringRef file, llvm::StringRef text) {
  llvm::Expected<JsonDocument> doc = parseJsonDocument(file, text, 0);
  if (!doc)
    return doc.takeError();
  const llvm::json::Object *root = doc->root.getAsObject();
  if (!root)
    return fail(file + ": expected a JSON object, got " + previewJson(doc->root));
  auto bad = [&](llvm::StringRef outer, llvm::StringRef inner, const llvm::Twine &msg) {
    uint64_t at = inner.empty() ? doc->offsetOf(outer, 0) : doc->offsetOf(outer, inner, 0);
    std::string key = inner.empty() ? outer.str() : (outer + "." + inner).str();
    if (at == 0)
      return fail(file + ": key '" + key + "': " + msg);
    return fail(file + ": key '" + key + "' at byte " + llvm::Twine(at) + ": " + msg);
  };

  const llvm::json::Object *model = root->getObject("model");
  if (!model)
    return bad("model", "", "missing or not an object");
  std::optional<llvm::StringRef> type = model->getString("type");
  if (!type && model->get("merges"))
    type = "BPE"; // older files leave the type out
  if (!type || *type != "BPE")
    return bad("model", "type",
               "tokenizer model '" + type.value_or("?") + "' is not supported (milm reads BPE)");
  const llvm::json::Object *vocab = model->getObject("vocab");
  if (!vocab)
    return bad("model", "vocab", "missing or not an object of token ids");
  const llvm::json::Array *added = root->getArray("added_tokens");
  if (!added && root->get("added_tokens") &&
      root->get("added_tokens")->kind() != llvm::json::Value::Null)
    return bad("added_tokens", "", "expected a list");

  TokenizerData tok;
  bool byteFallback = model->getBoolean("byte_fallback").value_or(false);
  tok.model = byteFallback ? "llama" : "gpt2";

  // Byte-level BPE: the pre-tokenizer, by its regex, and ignore_merges, which
  // must agree with it (only Llama 3's ignores merges, as in llama.cpp). A file
  // without ignore_merges (tokenizers before 0.19) takes the pre-tokenizer's.
  if (!byteFallback) {
    std::optional<bool> ignoreMerges;
    if (const llvm::json::Value *im = model->get("ignore_merges");
        im && im->kind() != llvm::json::Value::Null) {
      ignoreMerges = im->getAsBoolean();
      if (!ignoreMerges)
        return bad("model", "ignore_merges", "expected true or false, got " + previewJson(*im));
    }
    const llvm::json::Value *pv = root->get("pre_tokenizer");
    if (pv && pv->kind() != llvm::json::Value::Null) {
      const KnownPreTokenizer *known = nullptr;
      std::string why = classifyPreTokenizer(*pv, known);
      if (!known)
        return bad("pre_tokenizer", "", why);
      if (ignoreMerges && *ignoreMerges != known->ignoresMerges)
        return bad("model", "ignore_merges",
                   llvm::Twine("is ") + (*ignoreMerges ? "true" : "false") +
                       ", but milm's pre-tokenizer '" + known->pre + "' (the one of this regex) " +
                       (known->ignoresMerges ? "ignores" : "applies") + " merges");
      tok.pre = known->pre;
    }
  }

  // Ids must be dense, so none can reach the number of entries listed: checking
  // that first bounds every allocation below by the size of the file.
  const uint64_t bound = vocab->size() + (added ? added->size() : 0);
  uint64_t count = 0;
  for (const auto &kv : *vocab) {
    std::optional<uint64_t> id = kv.second.getAsUINT64();
    if (!id)
      return bad("model", "vocab",
                 "token '" + kv.first.str() +
                     "' has an id that is not a non-negative integer: " + previewJson(kv.second));
    if (*id >= bound)
      return bad("model", "vocab",
                 "token '" + kv.first.str() + "' has id " + llvm::Twine(*id) + ", but only " +
                     llvm::Twine(bound) + " tokens are listed (ids must be dense)");
    count = std::max(count, *id + 1);
  }
  struct Added {
    uint64_t id;
    std::string content;
    bool special;
  };
  std::vector<Added> addedTokens;
  if (added) {
    for (size_t i = 0; i < added->size(); ++i) {
      const llvm::json::Object *a = (*added)[i].getAsObject();
      std::optional<uint64_t> id;
      if (const llvm::json::Value *idV = a ? a->get("id") : nullptr)
        id = idV->getAsUINT64();
      std::optional<llvm::StringRef> content = a ? a->getString("content") : std::nullopt;
      if (!id || !content)
        return bad("added_tokens", "",
                   "entry " + llvm::Twine(i) +
                       " needs an \"id\" and a \"content\": " + previewJson((*added)[i]));
      if (*id >= bound)
        return bad("added_tokens", "",
                   "token '" + *content + "' has id " + llvm::Twine(*id) + ", but only " +
                       llvm::Twine(bound) + " tokens are listed (ids must be dense)");
      addedTokens.push_back({*id, content->str(), a->getBoolean("special").value_or(false)});
      count = std::max(count, *id + 1);
    }
  }

  tok.tokens.resize(count);
  std::vector<bool> have(count, false);
  for (const auto &kv : *vocab) {
    uint64_t id = *kv.second.getAsUINT64();
    if (have[id]) {
      llvm::StringRef a = tok.tokens[id], b = kv.first;
      if (b < a)
        std::swap(a, b);
      return bad("model", "vocab",
                 "tokens '" + a + "' and '" + b + "' both have id " + llvm::Twine(id));
    }
    have[id] = true;
    tok.tokens[id] = kv.first.str();
  }
  tok.types.assign(count, kTokenNormal);
  for (const Added &a : addedTokens) {
    if (have[a.id] && tok.tokens[a.id] != a.content)
      return bad("added_tokens", "",
                 "token '" + a.content + "' has id " + llvm::Twine(a.id) +
                     ", which the vocabulary gives to '" + tok.tokens[a.id] + "'");
    have[a.id] = true;
    tok.tokens[a.id] = a.content;
  }
  for (uint64_t id = 0; id < count; ++id)
    if (!have[id])
      return bad("model", "vocab", "no token has id " + llvm::Twine(id) + " (ids must be dense)");

  // Types.
  if (byteFallback)
    for (uint64_t id = 0; id < count; ++id)
      if (isByteToken(tok.tokens[id]))
        tok.types[id] = kTokenByte;
  for (const Added &a : addedTokens)
    tok.types[a.id] = a.special ? kTokenControl : kTokenUserDefined;
  if (std::optional<llvm::StringRef> unk = model->getString("unk_token")) {
    auto it = std::find(tok.tokens.begin(), tok.tokens.end(), *unk);
    if (it == tok.tokens.end())
      return bad("model", "unk_token", "token '" + *unk + "' is not in the vocabulary");
    tok.unk = it - tok.tokens.begin();
    tok.types[*tok.unk] = kTokenUnknown;
  }

  // Merges.
  if (const llvm::json::Value *mv = model->get("merges")) {
    const llvm::json::Array *merges = mv->getAsArray();
    if (!merges)
      return bad("model", "merges", "expected a list, got " + previewJson(*mv));
    tok.merges.reserve(merges->size());
    for (size_t i = 0; i < merges->size(); ++i) {
      const llvm::json::Value &m = (*merges)[i];
      if (std::optional<llvm::StringRef> s = m.getAsString()) {
        if (s->contains(' ')) {
          tok.merges.push_back(s->str());
          continue;
        }
      } else if (const llvm::json::Array *pair = m.getAsArray()) {
        if (pair->size() == 2) {
          std::optional<llvm::StringRef> a = (*pair)[0].getAsString();
          std::optional<llvm::StringRef> b = (*pair)[1].getAsString();
          if (a && b) {
            tok.merges.push_back((*a + " " + *b).str());
            continue;
          }
        }
      }
      return bad("model", "merges",
                 "merge " + llvm::Twine(i) +
                     " is neither \"a b\" nor [\"a\", \"b\"]: " + previewJson(m));
    }
  }
  return std::move(tok);
}

llvm::Error applyHFTokenizerConfig(llvm::StringRef file, llvm::StringRef text, TokenizerData &tok) {
  llvm::Expected<JsonDocument> doc = parseJsonDocument(file, text, 0);
  if (!doc)
    return doc.takeError();
  const llvm::json::Object *root = doc->root.getAsObject();
  if (!root)
    return fail(file + ": expected a JSON object, got " + previewJson(doc->root));
  auto bad = [&](llvm::StringRef key, const llvm::Twine &msg) {
    return fail(file + ": key '" + key + "' at byte " + llvm::Twine(doc->offsetOf(key, 0)) + ": " +
                msg);
  };

  llvm::StringMap<int64_t> ids;
  auto idOf = [&](llvm::StringRef key, std::optional<int64_t> &slot) -> llvm::Error {
    const llvm::json::Value *v = root->get(key);
    if (!v || v->kind() == llvm::json::Value::Null || slot)
      return llvm::Error::success();
    std::optional<llvm::StringRef> content = v->getAsString();
    if (const llvm::json::Object *o = v->getAsObject())
      content = o->getString("content");
    if (!content)
      return bad(key, "expected a token or {\"content\": token}, got " + previewJson(*v));
    if (ids.empty())
      for (size_t i = 0; i < tok.tokens.size(); ++i)
        ids.try_emplace(tok.tokens[i], static_cast<int64_t>(i));
    auto it = ids.find(*content);
    if (it == ids.end())
      return bad(key, "token '" + *content + "' is not in the vocabulary");
    slot = it->second;
    return llvm::Error::success();
  };
  if (llvm::Error e = idOf("bos_token", tok.bos))
    return e;
  if (llvm::Error e = idOf("eos_token", tok.eos))
    return e;
  if (llvm::Error e = idOf("pad_token", tok.pad))
    return e;
  for (auto [key, slot] :
       {std::pair{"add_bos_token", &tok.addBos}, std::pair{"add_eos_token", &tok.addEos}}) {
    const llvm::json::Value *v = root->get(key);
    if (!v || v->kind() == llvm::json::Value::Null)
      continue;
    std::optional<bool> b = v->getAsBoolean();
    if (!b)
      return bad(key, "expected true or false, got " + previewJson(*v));
    *slot = *b;
  }
  return llvm::Error::success();
}

} // namespace milm
