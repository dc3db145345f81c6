//===- Tokenizer.cpp - SentencePiece BPE and GPT-2 byte-level BPE --------===//
//
// See milm/tokenizer.h for the behaviour. Built with -fno-exceptions
// -fno-rtti: nothing here throws (allocation failure aborts, as it does
// everywhere in the runtime).
//
//===----------------------------------------------------------------------===//
#include "milm/tokenizer.h"

#include <algorithm>
#include <cstring>
#include <queue>

namespace milm {
namespace rt {

namespace {

//===-- Unicode ------------------------------------------------------------===//

enum CharClass : uint8_t { kOther = 0, kLetter = 1, kNumber = 2, kWhitespace = 3 };

struct UnicodeRange {
  uint32_t first, last;
  CharClass cls;
};

#include "UnicodeTables.inc"

CharClass classify(uint32_t cp) {
  if (cp < 0x80) {
    if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z')
      return kLetter;
    if (cp >= '0' && cp <= '9')
      return kNumber;
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D))
      return kWhitespace;
    return kOther;
  }
  const UnicodeRange *begin = kUnicodeRanges;
  const UnicodeRange *end = kUnicodeRanges + sizeof(kUnicodeRanges) / sizeof(kUnicodeRanges[0]);
  // First range whose last >= cp.
  const UnicodeRange *it = std::lower_bound(
      begin, end, cp, [](const UnicodeRange &r, uint32_t c) { return r.last < c; });
  if (it != end && it->first <= cp)
    return it->cls;
  return kOther;
}

/// Decodes one UTF-8 sequence at s[0..n). Returns its length (>= 1) and the
/// code point; a malformed sequence (bad lead byte, missing continuation,
/// overlong form, surrogate, > U+10FFFF, truncated) is one byte decoded as
/// U+FFFD.
size_t decodeUtf8(const unsigned char *s, size_t n, uint32_t *cp) {
  unsigned char c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len;
  uint32_t v, min;
  if ((c & 0xE0) == 0xC0) {
    len = 2, v = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, v = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, v = c & 0x07, min = 0x10000;
  } else {
    *cp = 0xFFFD;
    return 1;
  }
  if (len > n) {
    *cp = 0xFFFD;
    return 1;
  }
  for (size_t k = 1; k < len; ++k) {
    if ((s[k] & 0xC0) != 0x80) {
      *cp = 0xFFFD;
      return 1;
    }
    v = (v << 6) | (s[k] & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
    *cp = 0xFFFD;
    return 1;
  }
  *cp = v;
  return len;
}

void appendUtf8(std::string &out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

const char kSpmSpace[] = "\xE2\x96\x81"; // U+2581 '▁'
const char kReplacement[] = "\xEF\xBF\xBD"; // U+FFFD
const char kUnknownPiece[] = "\xE2\x81\x87"; // U+2047 '⁇'

bool isSpmSpaceAt(std::string_view s, size_t pos) {
  return pos + 3 <= s.size() && s[pos] == kSpmSpace[0] && s[pos + 1] == kSpmSpace[1] &&
         s[pos + 2] == kSpmSpace[2];
}

//===-- GPT-2 byte <-> unicode map ------------------------------------------===//
//
// Bytes that are printable and not white space in Latin-1 ('!'..'~',
// '¡'..'¬', '®'..'ÿ') stand for themselves; the other 68, in increasing order,
// stand for U+0100, U+0101, ...

struct ByteUnicodeMap {
  uint16_t toCp[256];
  int16_t toByte[0x144]; // every mapped code point is < 0x100 + 68
  ByteUnicodeMap() {
    for (int16_t &b : toByte)
      b = -1;
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      bool self = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      toCp[b] = uint16_t(self ? b : 0x100 + n++);
      toByte[toCp[b]] = int16_t(b);
    }
  }
};

const ByteUnicodeMap &byteUnicodeMap() {
  static const ByteUnicodeMap map;
  return map;
}

//===-- Hashing ------------------------------------------------------------===//

uint64_t hashBytes(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull; // FNV-1a, then a final mix so that the
  for (unsigned char c : s) {         // low bits (the slot) and the high bits
    h ^= c;                           // (the tag) both depend on every byte
    h *= 0x100000001b3ull;
  }
  h ^= h >> 32;
  h *= 0xd6e8feb86659fd93ull;
  h ^= h >> 32;
  return h;
}

uint64_t hashPair(uint64_t key) {
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdull;
  key ^= key >> 33;
  key *= 0xc4ceb9fe1a85ec53ull;
  key ^= key >> 33;
  return key;
}

size_t tableSizeFor(size_t n) {
  size_t size = 16;
  while (size < n * 2)
    size <<= 1;
  return size;
}

constexpr uint64_t kEmptyKey = ~uint64_t(0);

int parseHexNibble(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/// "<0xNN>" -> NN, else -1.
int parseByteToken(const std::string &t) {
  if (t.size() != 6 || t[0] != '<' || t[1] != '0' || t[2] != 'x' || t[5] != '>')
    return -1;
  int hi = parseHexNibble(t[3]), lo = parseHexNibble(t[4]);
  if (hi < 0 || lo < 0)
    return -1;
  return hi * 16 + lo;
}

//===-- Pre-tokenizers -----------------------------------------------------===//

struct CodePoint {
  uint32_t cp;
  uint32_t offset; // byte offset in the text
  CharClass cls;
};

/// `text` as code points (a malformed byte: one U+FFFD, class other).
void decodeText(std::string_view text, std::vector<CodePoint> &cps) {
  cps.clear();
  const unsigned char *s = reinterpret_cast<const unsigned char *>(text.data());
  size_t n = text.size();
  for (size_t off = 0; off < n;) {
    uint32_t cp;
    size_t len = decodeUtf8(s + off, n - off, &cp);
    cps.push_back({cp, uint32_t(off), classify(cp)});
    off += len;
  }
}

/// The end of the run of class `cls` that starts at `k` (`k` itself when
/// cps[k] is not of that class or k is the end).
size_t runEnd(const std::vector<CodePoint> &cps, size_t k, CharClass cls) {
  while (k < cps.size() && cps[k].cls == cls)
    ++k;
  return k;
}

/// \s+(?!\S)|\s+ at `i` (cps[i] white space): the run of white space to the
/// end of the text, else the run less its last character (which goes with
/// the non-space after it), else, when that leaves nothing, the one character.
size_t whitespaceEnd(const std::vector<CodePoint> &cps, size_t i) {
  size_t k = runEnd(cps, i + 1, kWhitespace);
  if (k == cps.size() || k - 1 == i)
    return k;
  return k - 1;
}

/// The end (exclusive code point index) of the match of
///   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
/// at `i` (i < cps.size()); every code point starts a match.
size_t gpt2MatchEnd(const std::vector<CodePoint> &cps, size_t i) {
  const size_t count = cps.size();
  auto cpAt = [&](size_t k) { return k < count ? cps[k].cp : 0u; };
  // 's|'t|'re|'ve|'m|'ll|'d
  if (cps[i].cp == '\'') {
    uint32_t a = cpAt(i + 1), b = cpAt(i + 2);
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
      return i + 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
      return i + 3;
  }
  size_t j = i + (cps[i].cp == ' ' ? 1 : 0); // the optional ' '
  if (j < count && cps[j].cls != kWhitespace) {
    // ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+: a run of one class.
    return runEnd(cps, j + 1, cps[j].cls);
  }
  // Here cps[i] is white space: either it is not ' ', or it is ' ' followed
  // by white space or the end of the text.
  return whitespaceEnd(cps, i);
}

/// ASCII letters to lower case and U+017F 'ſ' to 's': the code points that
/// `regex`'s (?i:...) takes for the letters of 's 't 're 've 'm 'll 'd (it
/// uses simple case folding, in which 'ſ' is the only non-ASCII one).
uint32_t foldContractionLetter(uint32_t cp) {
  if (cp >= 'A' && cp <= 'Z')
    return cp + ('a' - 'A');
  return cp == 0x17F ? uint32_t('s') : cp;
}

bool isCrOrLf(uint32_t cp) { return cp == '\r' || cp == '\n'; }

/// The end of the match at `i` of the Llama 3 regex (maxDigits 3)
///   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
///   ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
/// or of Qwen2's, the same with \p{N} (maxDigits 1).
size_t llama3MatchEnd(const std::vector<CodePoint> &cps, size_t i, size_t maxDigits) {
  const size_t count = cps.size();
  const uint32_t c = cps[i].cp;
  const CharClass cls = cps[i].cls;
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)
  if (c == '\'' && i + 1 < count) {
    uint32_t a = foldContractionLetter(cps[i + 1].cp);
    uint32_t b = i + 2 < count ? foldContractionLetter(cps[i + 2].cp) : 0;
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
      return i + 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
      return i + 3;
  }
  // [^\r\n\p{L}\p{N}]?\p{L}+: a letter can never be the optional character,
  // so either the run starts here or one other character goes before it.
  if (cls == kLetter)
    return runEnd(cps, i + 1, kLetter);
  if (cls != kNumber && !isCrOrLf(c) && i + 1 < count && cps[i + 1].cls == kLetter)
    return runEnd(cps, i + 2, kLetter);
  // \p{N}{1,3} (or \p{N})
  if (cls == kNumber) {
    size_t end = i + 1;
    while (end < count && end - i < maxDigits && cps[end].cls == kNumber)
      ++end;
    return end;
  }
  // ?[^\s\p{L}\p{N}]+[\r\n]*
  size_t j = i + (c == ' ' ? 1 : 0);
  if (j < count && cps[j].cls == kOther) {
    size_t end = runEnd(cps, j + 1, kOther);
    while (end < count && isCrOrLf(cps[end].cp))
      ++end;
    return end;
  }
  // Here cps[i] is white space. \s*[\r\n]+: \s* takes the whole run and gives
  // characters back until [\r\n]+ matches, so the match ends just after the
  // run's last '\r' or '\n', if it has one.
  size_t k = runEnd(cps, i + 1, kWhitespace);
  for (size_t m = k; m > i; --m)
    if (isCrOrLf(cps[m - 1].cp))
      return m;
  // \s+(?!\S)|\s+
  return whitespaceEnd(cps, i);
}

/// Splits `text` as the regex of `kind` does (the leftmost alternative that
/// matches at each position, greedy quantifiers, backtracking), calling
/// emit(offset, length) for each match. Every code point is matched by some
/// alternative, so the pieces tile the text.
template <typename Emit>
void preTokenizeSplit(Tokenizer::PreTokenizer kind, std::string_view text,
                      std::vector<CodePoint> &cps, Emit emit) {
  decodeText(text, cps);
  const size_t count = cps.size();
  auto offsetOf = [&](size_t k) { return k < count ? size_t(cps[k].offset) : text.size(); };
  for (size_t i = 0; i < count;) {
    size_t end;
    switch (kind) {
    case Tokenizer::PreTokenizer::Llama3:
      end = llama3MatchEnd(cps, i, 3);
      break;
    case Tokenizer::PreTokenizer::Qwen2:
      end = llama3MatchEnd(cps, i, 1);
      break;
    default:
      end = gpt2MatchEnd(cps, i);
      break;
    }
    emit(offsetOf(i), offsetOf(end) - offsetOf(i));
    i = end;
  }
}

struct PreTokenizerName {
  const char *name;
  Tokenizer::PreTokenizer kind;
  bool ignoreMerges;
};

// "" (no tokenizer.ggml.pre) is GPT-2's, as before pre-tokenizers had names.
const PreTokenizerName kPreTokenizerNames[] = {
    {"", Tokenizer::PreTokenizer::Gpt2, false},
    {"gpt-2", Tokenizer::PreTokenizer::Gpt2, false},
    {"llama3", Tokenizer::PreTokenizer::Llama3, true},
    {"llama-bpe", Tokenizer::PreTokenizer::Llama3, true},
    {"llama-v3", Tokenizer::PreTokenizer::Llama3, true},
    {"qwen2", Tokenizer::PreTokenizer::Qwen2, false},
};

} // namespace

//===----------------------------------------------------------------------===//

const char *Tokenizer::unicodeVersion() { return MILM_UNICODE_VERSION; }

bool Tokenizer::lookupPreTokenizer(std::string_view pre, PreTokenizer *kind,
                                   bool *ignoreMerges) {
  for (const PreTokenizerName &p : kPreTokenizerNames)
    if (pre == p.name) {
      *kind = p.kind;
      *ignoreMerges = p.ignoreMerges;
      return true;
    }
  return false;
}

const char *Tokenizer::preTokenizerNames() {
  return "gpt-2 (or none), llama3, llama-bpe, llama-v3, qwen2";
}

std::vector<std::pair<size_t, size_t>> Tokenizer::preTokenize(PreTokenizer kind,
                                                              std::string_view text) {
  std::vector<std::pair<size_t, size_t>> pieces;
  std::vector<CodePoint> cps;
  preTokenizeSplit(kind, text, cps, [&](size_t off, size_t len) { pieces.emplace_back(off, len); });
  return pieces;
}

void Tokenizer::clear() {
  kind_ = Kind::None;
  tokens_.clear();
  scores_.clear();
  types_.clear();
  bos_ = eos_ = unk_ = -1;
  addSpacePrefix_ = true;
  pre_ = PreTokenizer::Gpt2;
  ignoreMerges_ = false;
  for (int32_t &t : byteToken_)
    t = -1;
  textSlots_.clear();
  mergeSlots_.clear();
  specialByFirstByte_.clear();
  hasSpecial_ = false;
  spmSplitBeforeSpace_ = false;
}

int32_t Tokenizer::tokenType(int32_t id) const {
  if (!isValidId(id))
    return 0;
  return types_.empty() ? int32_t(kTokenNormal) : types_[size_t(id)];
}

const std::string &Tokenizer::tokenText(int32_t id) const {
  static const std::string empty;
  return isValidId(id) ? tokens_[size_t(id)] : empty;
}

void Tokenizer::indexText(int32_t id) {
  const std::string &t = tokens_[size_t(id)];
  uint64_t h = hashBytes(t);
  uint32_t tag = uint32_t(h >> 32);
  size_t mask = textSlots_.size() - 1;
  for (size_t slot = h & mask;; slot = (slot + 1) & mask) {
    TextSlot &cur = textSlots_[slot];
    if (cur.id < 0) {
      cur = TextSlot{id, tag};
      return;
    }
    if (cur.tag == tag && tokens_[size_t(cur.id)] == t)
      return; // a duplicate text: the lower id keeps it
  }
}

int32_t Tokenizer::lookup(std::string_view text) const {
  if (textSlots_.empty())
    return -1;
  uint64_t h = hashBytes(text);
  uint32_t tag = uint32_t(h >> 32);
  size_t mask = textSlots_.size() - 1;
  for (size_t slot = h & mask;; slot = (slot + 1) & mask) {
    const TextSlot &cur = textSlots_[slot];
    if (cur.id < 0)
      return -1;
    if (cur.tag != tag)
      continue; // the tag spares most visits to the token strings
    const std::string &t = tokens_[size_t(cur.id)];
    if (t.size() == text.size() && std::memcmp(t.data(), text.data(), text.size()) == 0)
      return cur.id;
  }
}

const Tokenizer::MergeSlot *Tokenizer::findMerge(int32_t left, int32_t right) const {
  if (mergeSlots_.empty())
    return nullptr;
  uint64_t key = (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
  size_t mask = mergeSlots_.size() - 1;
  for (size_t slot = hashPair(key) & mask;; slot = (slot + 1) & mask) {
    const MergeSlot &m = mergeSlots_[slot];
    if (m.key == key)
      return &m;
    if (m.key == kEmptyKey)
      return nullptr;
  }
}

bool Tokenizer::init(TokenizerConfig config, std::string *error) {
  clear();
  auto fail = [&](std::string message) {
    clear();
    if (error)
      *error = std::move(message);
    return false;
  };

  Kind kind;
  if (config.kind == "llama")
    kind = Kind::SentencePiece;
  else if (config.kind == "gpt2")
    kind = Kind::Gpt2;
  else
    return fail("tokenizer: unsupported model '" + config.kind +
                "' (supported: llama, gpt2)");
  // Other pre-tokenizers (llama.cpp's "default" is not the GPT-2 regex either)
  // split differently: refuse rather than tokenize differently from the
  // model's training.
  PreTokenizer pre = PreTokenizer::Gpt2;
  bool ignoreMerges = false;
  if (kind == Kind::Gpt2 && !lookupPreTokenizer(config.pre, &pre, &ignoreMerges))
    return fail("tokenizer: pre-tokenizer '" + config.pre +
                "' is not supported (gpt2 vocabularies accept: " + preTokenizerNames() + ")");
  if (config.ignoreMerges)
    ignoreMerges = *config.ignoreMerges;

  const size_t n = config.tokens.size();
  if (n == 0)
    return fail("tokenizer: the vocabulary is empty");
  if (n > size_t(INT32_MAX))
    return fail("tokenizer: too many tokens (" + std::to_string(n) + ")");
  if (!config.scores.empty() && config.scores.size() != n)
    return fail("tokenizer: " + std::to_string(config.scores.size()) + " scores for " +
                std::to_string(n) + " tokens");
  if (!config.types.empty() && config.types.size() != n)
    return fail("tokenizer: " + std::to_string(config.types.size()) + " token types for " +
                std::to_string(n) + " tokens");
  for (size_t k = 0; k < config.types.size(); ++k)
    if (config.types[k] < kTokenNormal || config.types[k] > kTokenByte)
      return fail("tokenizer: token " + std::to_string(k) + " has unknown type " +
                  std::to_string(config.types[k]) + " (expected 1..6)");
  auto checkId = [&](int32_t id, const char *what) {
    return id >= -1 && id < int32_t(n) ? std::string()
                                       : std::string("tokenizer: ") + what + " id " +
                                             std::to_string(id) + " is outside the " +
                                             std::to_string(n) + "-token vocabulary";
  };
  for (std::string e : {checkId(config.bos, "bos"), checkId(config.eos, "eos"),
                        checkId(config.unk, "unk")})
    if (!e.empty())
      return fail(e);

  tokens_ = std::move(config.tokens);
  scores_ = std::move(config.scores);
  if (scores_.empty())
    scores_.assign(n, 0.0f);
  types_ = std::move(config.types);
  bos_ = config.bos;
  eos_ = config.eos;
  unk_ = config.unk;
  addSpacePrefix_ = config.addSpacePrefix;
  if (kind == Kind::Gpt2) {
    pre_ = pre;
    ignoreMerges_ = ignoreMerges;
  }

  // Tokens BPE may produce: normal and user-defined ones (all when no types).
  textSlots_.assign(tableSizeFor(n), TextSlot{-1, 0});
  for (size_t k = 0; k < n; ++k) {
    int32_t type = tokenType(int32_t(k));
    if ((type == kTokenNormal || type == kTokenUserDefined) && !tokens_[k].empty())
      indexText(int32_t(k));
  }

  // Byte fallback tokens.
  if (kind == Kind::SentencePiece) {
    // Can a piece span the point before a '▁' that follows another character?
    spmSplitBeforeSpace_ = true;
    for (size_t k = 0; k < n && spmSplitBeforeSpace_; ++k) {
      int32_t type = tokenType(int32_t(k));
      if (type != kTokenNormal && type != kTokenUserDefined)
        continue;
      std::string_view t(tokens_[k]);
      for (size_t pos = t.find(kSpmSpace, 1); pos != std::string_view::npos;
           pos = t.find(kSpmSpace, pos + 1))
        if (pos < 3 || !isSpmSpaceAt(t, pos - 3)) {
          spmSplitBeforeSpace_ = false;
          break;
        }
    }
    for (size_t k = 0; k < n; ++k) {
      int32_t type = tokenType(int32_t(k));
      if (types_.empty() || type == kTokenByte) {
        int b = parseByteToken(tokens_[k]);
        if (b >= 0 && byteToken_[b] < 0)
          byteToken_[b] = int32_t(k);
      }
    }
  } else {
    const ByteUnicodeMap &map = byteUnicodeMap();
    for (int b = 0; b < 256; ++b) {
      std::string ch;
      appendUtf8(ch, map.toCp[b]);
      byteToken_[b] = lookup(ch);
    }
    // Merges: "left right" in rank order.
    mergeSlots_.assign(tableSizeFor(config.merges.size()), MergeSlot{kEmptyKey, 0, 0});
    size_t mask = mergeSlots_.size() - 1;
    std::string joined;
    for (size_t r = 0; r < config.merges.size(); ++r) {
      const std::string &m = config.merges[r];
      size_t space = m.find(' ', 1);
      if (space == std::string::npos || space + 1 >= m.size())
        return fail("tokenizer: merge " + std::to_string(r) + " ('" + m +
                    "') is not of the form 'left right'");
      std::string_view mv(m);
      int32_t left = lookup(mv.substr(0, space));
      int32_t right = lookup(mv.substr(space + 1));
      joined.assign(m, 0, space);
      joined.append(m, space + 1, std::string::npos);
      int32_t result = lookup(joined);
      if (left < 0 || right < 0 || result < 0)
        continue; // a merge the vocabulary cannot express never applies
      uint64_t key = (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
      for (size_t slot = hashPair(key) & mask;; slot = (slot + 1) & mask) {
        MergeSlot &s = mergeSlots_[slot];
        if (s.key == key)
          break; // a repeated pair keeps its first (lowest) rank
        if (s.key == kEmptyKey) {
          s = MergeSlot{key, int32_t(r), result};
          break;
        }
      }
    }
  }

  // Tokens matched verbatim: user-defined always, control and unknown with
  // parseSpecial; longest first per first byte.
  specialByFirstByte_.assign(256, {});
  for (size_t k = 0; k < n; ++k) {
    int32_t type = tokenType(int32_t(k));
    if ((type == kTokenUserDefined || type == kTokenControl || type == kTokenUnknown) &&
        !tokens_[k].empty()) {
      specialByFirstByte_[static_cast<unsigned char>(tokens_[k][0])].push_back(int32_t(k));
      hasSpecial_ = true;
    }
  }
  for (std::vector<int32_t> &ids : specialByFirstByte_)
    std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
      size_t la = tokens_[size_t(a)].size(), lb = tokens_[size_t(b)].size();
      return la != lb ? la > lb : a < b;
    });

  kind_ = kind;
  return true;
}

//===-- Encoding -----------------------------------------------------------===//

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool addBos,
                                       bool parseSpecial) const {
  std::vector<int32_t> out;
  // Symbol offsets are 32-bit; 4 GiB of text is far beyond any context.
  if (!valid() || text.size() >= (size_t(1) << 32) - 16)
    return out;
  out.reserve(text.size() / 3 + 2);
  if (addBos && bos_ >= 0)
    out.push_back(bos_);
  if (!hasSpecial_) {
    encodeText(text, true, out);
    return out;
  }
  size_t segment = 0, pos = 0;
  while (pos < text.size()) {
    int32_t match = -1;
    for (int32_t id : specialByFirstByte_[static_cast<unsigned char>(text[pos])]) {
      int32_t type = tokenType(id);
      if (type != kTokenUserDefined && !parseSpecial)
        continue;
      const std::string &t = tokens_[size_t(id)];
      if (text.size() - pos >= t.size() && text.compare(pos, t.size(), t) == 0) {
        match = id;
        break;
      }
    }
    if (match < 0) {
      ++pos;
      continue;
    }
    encodeText(text.substr(segment, pos - segment), true, out);
    out.push_back(match);
    pos += tokens_[size_t(match)].size();
    segment = pos;
  }
  encodeText(text.substr(segment), true, out);
  return out;
}

void Tokenizer::encodeText(std::string_view text, bool atStart,
                           std::vector<int32_t> &out) const {
  if (text.empty())
    return;
  if (kind_ == Kind::SentencePiece)
    encodeSpm(text, atStart, out);
  else
    encodeGpt2(text, out);
}

void Tokenizer::emitBytes(std::string_view bytes, std::vector<int32_t> &out) const {
  // Byte fallback; a piece with a byte that has no token becomes one unk (or
  // nothing when the vocabulary has no unk).
  for (unsigned char c : bytes)
    if (byteToken_[c] < 0) {
      if (unk_ >= 0)
        out.push_back(unk_);
      return;
    }
  for (unsigned char c : bytes)
    out.push_back(byteToken_[c]);
}

// Scratch buffers for one encode() call, reused across words and segments.
struct Tokenizer::SpmScratch {
  struct Symbol {
    int32_t prev, next;
    uint32_t offset, length; // length 0: merged into its left neighbour
  };
  struct Bigram {
    float score;
    int32_t left;
    uint32_t length;
  };
  std::vector<Symbol> syms;
  std::vector<Bigram> heap;
};

struct Tokenizer::BpeScratch {
  struct Symbol {
    int32_t id; // token id; -1: a byte with no token (never merges); -2: merged away
    int32_t prev, next;
  };
  struct Candidate {
    int32_t rank;
    int32_t left, right;     // symbol indices
    int32_t leftId, rightId; // the ids they had when queued
  };
  std::vector<Symbol> syms;
  std::vector<Candidate> heap;
  std::string mapped; // a word in byte-level characters (ignoreMerges)
};

void Tokenizer::encodeSpm(std::string_view text, bool atStart,
                          std::vector<int32_t> &out) const {
  // Normalise: space prefix, ' ' -> '▁'.
  std::string buf;
  buf.reserve(text.size() + text.size() / 4 + 3);
  if (atStart && addSpacePrefix_)
    buf += kSpmSpace;
  for (char c : text) {
    if (c == ' ')
      buf += kSpmSpace;
    else
      buf += c;
  }
  SpmScratch scratch;
  if (!spmSplitBeforeSpace_) {
    bpeSpmSegment(buf, scratch, out);
    return;
  }
  // No piece contains "x▁" (x not '▁'), so no merge crosses the point before
  // a '▁' that follows another character: the segments between such points
  // are independent, and merging each alone gives the same result while
  // keeping the queue small.
  std::string_view all(buf);
  size_t start = 0;
  for (size_t pos = 1; pos < all.size();) {
    pos = all.find(kSpmSpace, pos);
    if (pos == std::string_view::npos)
      break;
    if (!(pos >= 3 && isSpmSpaceAt(all, pos - 3))) {
      bpeSpmSegment(all.substr(start, pos - start), scratch, out);
      start = pos;
    }
    pos += 3;
  }
  bpeSpmSegment(all.substr(start), scratch, out);
}

void Tokenizer::bpeSpmSegment(std::string_view seg, SpmScratch &scratch,
                              std::vector<int32_t> &out) const {
  using Symbol = SpmScratch::Symbol;
  if (seg.empty())
    return;
  std::vector<Symbol> &syms = scratch.syms;
  std::vector<SpmScratch::Bigram> &heap = scratch.heap;
  syms.clear();
  heap.clear();
  // Symbols: UTF-8 characters; a malformed byte is a symbol of its own.
  const unsigned char *bytes = reinterpret_cast<const unsigned char *>(seg.data());
  for (size_t off = 0; off < seg.size();) {
    uint32_t cp;
    size_t len = decodeUtf8(bytes + off, seg.size() - off, &cp);
    int32_t idx = int32_t(syms.size());
    syms.push_back({idx - 1, idx + 1, uint32_t(off), uint32_t(len)});
    off += len;
  }
  syms.back().next = -1;

  // Max-heap order: the highest score, then the leftmost pair.
  auto before = [](const SpmScratch::Bigram &a, const SpmScratch::Bigram &b) {
    return a.score != b.score ? a.score < b.score : a.left > b.left;
  };
  auto tryAdd = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0)
      return;
    uint32_t len = syms[size_t(left)].length + syms[size_t(right)].length;
    int32_t id = lookup(seg.substr(syms[size_t(left)].offset, len));
    if (id < 0)
      return;
    heap.push_back({scores_[size_t(id)], left, len});
    std::push_heap(heap.begin(), heap.end(), before);
  };
  for (size_t k = 1; k < syms.size(); ++k)
    tryAdd(int32_t(k - 1), int32_t(k));

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), before);
    SpmScratch::Bigram b = heap.back();
    heap.pop_back();
    Symbol &left = syms[size_t(b.left)];
    if (left.length == 0 || left.next < 0)
      continue;
    Symbol &right = syms[size_t(left.next)];
    if (right.length == 0 || left.length + right.length != b.length)
      continue; // stale: one side changed since this pair was queued
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (left.next >= 0)
      syms[size_t(left.next)].prev = b.left;
    int32_t prev = left.prev, next = left.next;
    tryAdd(prev, b.left);
    tryAdd(b.left, next);
  }

  for (int32_t k = 0; k >= 0; k = syms[size_t(k)].next) {
    std::string_view piece = seg.substr(syms[size_t(k)].offset, syms[size_t(k)].length);
    int32_t id = lookup(piece);
    if (id >= 0)
      out.push_back(id);
    else
      emitBytes(piece, out);
  }
}

void Tokenizer::encodeGpt2(std::string_view text, std::vector<int32_t> &out) const {
  BpeScratch scratch;
  std::vector<CodePoint> cps;
  preTokenizeSplit(pre_, text, cps, [&](size_t off, size_t len) {
    bpeGpt2Word(text.substr(off, len), scratch, out);
  });
}

void Tokenizer::bpeGpt2Word(std::string_view word, BpeScratch &scratch,
                            std::vector<int32_t> &out) const {
  using Symbol = BpeScratch::Symbol;
  if (word.empty())
    return;
  if (word.size() == 1) {
    emitBytes(word, out);
    return;
  }
  if (ignoreMerges_) {
    // A word that is a vocabulary entry is that token, without merges.
    const ByteUnicodeMap &map = byteUnicodeMap();
    scratch.mapped.clear();
    for (unsigned char c : word)
      appendUtf8(scratch.mapped, map.toCp[c]);
    int32_t id = lookup(scratch.mapped);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  std::vector<Symbol> &syms = scratch.syms;
  std::vector<BpeScratch::Candidate> &heap = scratch.heap;
  syms.resize(word.size());
  heap.clear();
  for (size_t k = 0; k < word.size(); ++k)
    syms[k] = {byteToken_[static_cast<unsigned char>(word[k])], int32_t(k) - 1,
               k + 1 < word.size() ? int32_t(k) + 1 : -1};

  // Max-heap order: the lowest rank, then the leftmost pair.
  auto before = [](const BpeScratch::Candidate &a, const BpeScratch::Candidate &b) {
    return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
  };
  auto tryAdd = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0)
      return;
    int32_t a = syms[size_t(left)].id, b = syms[size_t(right)].id;
    if (a < 0 || b < 0)
      return;
    if (const MergeSlot *m = findMerge(a, b)) {
      heap.push_back({m->rank, left, right, a, b});
      std::push_heap(heap.begin(), heap.end(), before);
    }
  };
  for (size_t k = 1; k < syms.size(); ++k)
    tryAdd(int32_t(k - 1), int32_t(k));

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), before);
    BpeScratch::Candidate c = heap.back();
    heap.pop_back();
    Symbol &left = syms[size_t(c.left)];
    Symbol &right = syms[size_t(c.right)];
    if (left.next != c.right || left.id != c.leftId || right.id != c.rightId)
      continue; // stale
    left.id = findMerge(c.leftId, c.rightId)->result;
    left.next = right.next;
    if (left.next >= 0)
      syms[size_t(left.next)].prev = c.left;
    right.id = -2;
    right.next = right.prev = -1;
    int32_t prev = left.prev, next = left.next;
    tryAdd(prev, c.left);
    tryAdd(c.left, next);
  }

  for (int32_t k = 0; k >= 0; k = syms[size_t(k)].next) {
    if (syms[size_t(k)].id >= 0)
      out.push_back(syms[size_t(k)].id);
    else
      emitBytes(word.substr(size_t(k), 1), out);
  }
}

//===-- Decoding -----------------------------------------------------------===//

std::string Tokenizer::tokenPiece(int32_t id, bool renderSpecial) const {
  if (!isValidId(id))
    return kReplacement;
  const std::string &t = tokens_[size_t(id)];
  switch (tokenType(id)) {
  case kTokenControl:
    return renderSpecial ? t : std::string();
  case kTokenUserDefined:
    return t;
  case kTokenUnknown:
    return kUnknownPiece;
  case kTokenUnused:
    return std::string();
  case kTokenByte:
    if (kind_ == Kind::SentencePiece) {
      int b = parseByteToken(t);
      if (b >= 0)
        return std::string(1, char(b));
    }
    break;
  default:
    break;
  }
  std::string piece;
  piece.reserve(t.size());
  if (kind_ == Kind::SentencePiece) {
    for (size_t k = 0; k < t.size();) {
      if (t.compare(k, 3, kSpmSpace) == 0) {
        piece += ' ';
        k += 3;
      } else {
        piece += t[k++];
      }
    }
    return piece;
  }
  // gpt2: every character of the token stands for one byte.
  const ByteUnicodeMap &map = byteUnicodeMap();
  const unsigned char *s = reinterpret_cast<const unsigned char *>(t.data());
  for (size_t k = 0; k < t.size();) {
    uint32_t cp;
    size_t len = decodeUtf8(s + k, t.size() - k, &cp);
    if (cp < sizeof(map.toByte) / sizeof(map.toByte[0]) && map.toByte[cp] >= 0)
      piece += char(map.toByte[cp]);
    else
      piece.append(t, k, len); // not a byte-level character: keep it as is
    k += len;
  }
  return piece;
}

std::string Tokenizer::decode(const std::vector<int32_t> &ids, bool renderSpecial) const {
  std::string text;
  bool first = kind_ == Kind::SentencePiece && addSpacePrefix_;
  for (int32_t id : ids) {
    std::string piece = tokenPiece(id, renderSpecial);
    if (first && !piece.empty() && tokenType(id) != kTokenControl) {
      // The first text piece carries the space the prefix added.
      if (tokenType(id) == kTokenNormal && piece[0] == ' ')
        piece.erase(0, 1);
      first = false;
    }
    text += piece;
  }
  return text;
}

} // namespace rt
} // namespace milm
