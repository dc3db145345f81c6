//===- tokenizer.h - Text <-> token ids for the milm runtime ----*- C++ -*-===//
//
// The runtime's tokenizer: no exceptions, no RTTI, nothing beyond libstdc++.
// Two vocabulary kinds, named as GGUF's tokenizer.ggml.model names them:
//
//  "llama"  SentencePiece BPE with byte fallback. The text gets a leading space
//           (when addSpacePrefix), every ' ' becomes U+2581 '▁', and the text
//           is split into UTF-8 characters (a malformed byte is a symbol of
//           its own); then, repeatedly, the adjacent pair whose concatenation
//           is a vocabulary piece with the highest score is merged (ties: the
//           leftmost pair), using a heap over a linked list of symbols. A final
//           symbol that is not a piece is emitted as its bytes' <0xNN> tokens
//           (one unk instead when a byte token is missing).
//  "gpt2"   Byte-level BPE. The text is split by a pre-tokenizer regex (below;
//           implemented by hand over Unicode tables, see UnicodeTables.inc),
//           each piece's bytes are mapped to printable characters by GPT-2's
//           byte-to-unicode map, and merges are applied by rank (lowest first,
//           ties: leftmost). With ignoreMerges, a piece that is itself a
//           vocabulary entry is that one token, merges or not (Hugging Face's
//           BPE "ignore_merges", llama.cpp's llama3 vocabularies; tiktoken).
//
// The pre-tokenizers of "gpt2", by TokenizerConfig::pre (GGUF tokenizer.ggml.pre),
// each a regex matched as Python's `regex` module matches it (the leftmost
// alternative that matches wins; \s is White_Space; (?i:...) matches either
// ASCII case and, for 's', also U+017F 'ſ'). Long ones are broken after a '|':
//  "gpt-2" (or ""):
//    's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//  "llama3", "llama-bpe", "llama-v3" (these also ignore merges):
//    (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//    \s*[\r\n]+|\s+(?!\S)|\s+
//  "qwen2": as llama3 with \p{N} for \p{N}{1,3}:
//    (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//    \s*[\r\n]+|\s+(?!\S)|\s+
//
// Before either, user-defined tokens (GGUF token type 4) found in the text are
// emitted as themselves, and so are control and unknown tokens (types 3, 2)
// when parseSpecial; at each position the longest such token wins. As in
// llama.cpp, every stretch of plain text after such a token gets the
// SentencePiece space prefix again.
//
// Only tokens of type normal or user-defined (all tokens when no types are
// given) take part in merging; control, unknown, unused and byte tokens never
// come out of BPE.
//
// Invalid ids (negative or >= size()) never crash: decode() and tokenPiece()
// render them as U+FFFD (the replacement character, "\xEF\xBF\xBD").
//
//===----------------------------------------------------------------------===//
#ifndef MILM_RUNTIME_TOKENIZER_H
#define MILM_RUNTIME_TOKENIZER_H

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace milm {
namespace rt {

/// GGUF token types (tokenizer.ggml.token_type).
enum TokenType : int32_t {
  kTokenNormal = 1,
  kTokenUnknown = 2,
  kTokenControl = 3,
  kTokenUserDefined = 4,
  kTokenUnused = 5,
  kTokenByte = 6,
};

/// Everything a Tokenizer is built from; mirrors GGUF's tokenizer.ggml.* keys.
struct TokenizerConfig {
  std::string kind;                  ///< "llama" (SentencePiece BPE) or "gpt2"
  std::string pre;                   ///< tokenizer.ggml.pre, the gpt2 pre-tokenizer: "" or
                                     ///< "gpt-2", "llama3" / "llama-bpe" / "llama-v3", "qwen2";
                                     ///< ignored for llama
  std::optional<bool> ignoreMerges;  ///< gpt2: a pre-token that is a vocabulary entry is that
                                     ///< token (HF "ignore_merges"); unset: as `pre` implies
                                     ///< (llama3 names: yes, others: no)
  std::vector<std::string> tokens;
  std::vector<float> scores;         ///< llama: merge priority, higher first; may be empty for gpt2
  std::vector<int32_t> types;        ///< TokenType per token; empty = all normal
                                     ///< (llama: "<0xNN>" pieces are then taken as byte tokens)
  std::vector<std::string> merges;   ///< gpt2: "a b" in rank order (first = merged first)
  int32_t bos = -1, eos = -1, unk = -1;  ///< -1 = none
  bool addSpacePrefix = true;        ///< llama only: prepend ' ' to the text (GGUF default)
};

class Tokenizer {
public:
  enum class Kind { None, SentencePiece, Gpt2 };
  /// The pre-tokenizer regexes of "gpt2" vocabularies (see the top of this file).
  enum class PreTokenizer { Gpt2, Llama3, Qwen2 };

  Tokenizer() = default;

  /// Builds the tokenizer (taking the config's vectors). On failure returns
  /// false, sets *error (when non-null) to a one-line reason, and leaves the
  /// tokenizer empty (valid() == false).
  bool init(TokenizerConfig config, std::string *error);

  bool valid() const { return kind_ != Kind::None; }
  Kind kind() const { return kind_; }
  int32_t size() const { return int32_t(tokens_.size()); }
  int32_t bos() const { return bos_; }
  int32_t eos() const { return eos_; }
  int32_t unk() const { return unk_; }
  bool isValidId(int32_t id) const { return id >= 0 && id < size(); }
  /// GGUF token type of `id`; kTokenNormal when types were not given, 0 for invalid ids.
  int32_t tokenType(int32_t id) const;
  /// The vocabulary entry as stored (e.g. "▁Hello", "<0x0A>", "Ġworld"); "" for invalid ids.
  const std::string &tokenText(int32_t id) const;

  /// Text -> ids. addBos prepends bos() when the vocabulary has one. With
  /// parseSpecial, control-token text in `text` (e.g. "</s>") becomes that
  /// token; otherwise it is tokenized as plain text. Never fails: a final BPE
  /// symbol with a byte that no token covers becomes one unk() (or nothing
  /// when there is no unk). An invalid tokenizer, or a text of 4 GiB or
  /// more, encodes to nothing.
  std::vector<int32_t> encode(std::string_view text, bool addBos,
                              bool parseSpecial = false) const;

  /// Ids -> text: the concatenation of tokenPiece() over `ids`, except that for
  /// "llama" with addSpacePrefix the space that the prefix put before the first
  /// text piece is removed (as SentencePiece does). decode(encode(s)) == s for
  /// any bytes s, except with "llama" when s holds U+2581 '▁' (it decodes as
  /// ' ') or user-defined-token text. Control tokens are omitted unless
  /// renderSpecial.
  std::string decode(const std::vector<int32_t> &ids,
                     bool renderSpecial = false) const;

  /// The bytes one token stands for, for streaming output: byte tokens give
  /// their byte, '▁' becomes ' ' ("llama"), byte-level characters map back to
  /// bytes ("gpt2"), user-defined tokens give their text, control tokens ""
  /// unless renderSpecial (then their text), unknown tokens U+2047 '⁇', invalid
  /// ids U+FFFD. A piece may be an incomplete UTF-8 sequence; concatenate.
  std::string tokenPiece(int32_t id, bool renderSpecial = false) const;

  /// "gpt2" vocabularies: the pre-tokenizer in use, and whether whole
  /// pre-tokens found in the vocabulary skip the merges.
  PreTokenizer preTokenizer() const { return pre_; }
  bool ignoresMerges() const { return ignoreMerges_; }

  /// The Unicode version of the character tables the pre-tokenizers use.
  static const char *unicodeVersion();

  /// The pre-tokenizer a TokenizerConfig::pre value names and whether it
  /// implies ignoreMerges; false (outputs untouched) for a name not accepted.
  static bool lookupPreTokenizer(std::string_view pre, PreTokenizer *kind, bool *ignoreMerges);
  /// The accepted TokenizerConfig::pre values, for messages: "gpt-2, llama3, ...".
  static const char *preTokenizerNames();

  /// A pre-tokenizer alone: `text` split into the byte ranges its regex
  /// matches, in order and tiling the text, as (offset, length) pairs. A
  /// malformed UTF-8 byte counts as one character that is not a letter, number
  /// or space. Exposed for tests.
  static std::vector<std::pair<size_t, size_t>> preTokenize(PreTokenizer kind,
                                                            std::string_view text);
  static std::vector<std::pair<size_t, size_t>> gpt2PreTokenize(std::string_view text) {
    return preTokenize(PreTokenizer::Gpt2, text);
  }

private:
  struct SpmScratch; // per-call work buffers (defined in Tokenizer.cpp)
  struct BpeScratch;
  struct TextSlot {
    int32_t id;   // -1 when free
    uint32_t tag; // high half of the text's hash
  };
  struct MergeSlot {
    uint64_t key;   // (left id << 32) | right id; kEmptyKey when free
    int32_t rank;   // position in the merges list
    int32_t result; // id of the merged token
  };

  void clear();
  void indexText(int32_t id);
  const MergeSlot *findMerge(int32_t left, int32_t right) const;
  int32_t lookup(std::string_view text) const;
  void encodeText(std::string_view text, bool atStart, std::vector<int32_t> &out) const;
  void encodeSpm(std::string_view text, bool atStart, std::vector<int32_t> &out) const;
  void bpeSpmSegment(std::string_view segment, SpmScratch &scratch,
                     std::vector<int32_t> &out) const;
  void encodeGpt2(std::string_view text, std::vector<int32_t> &out) const;
  void bpeGpt2Word(std::string_view word, BpeScratch &scratch,
                   std::vector<int32_t> &out) const;
  void emitBytes(std::string_view bytes, std::vector<int32_t> &out) const;

  Kind kind_ = Kind::None;
  std::vector<std::string> tokens_;
  std::vector<float> scores_;
  std::vector<int32_t> types_;
  int32_t bos_ = -1, eos_ = -1, unk_ = -1;
  bool addSpacePrefix_ = true;
  PreTokenizer pre_ = PreTokenizer::Gpt2;
  bool ignoreMerges_ = false;
  int32_t byteToken_[256] = {};      ///< byte -> token id (llama <0xNN>, gpt2 mapped char); -1 none
  /// Open-addressing hash of the tokens BPE may produce: text -> id.
  std::vector<TextSlot> textSlots_;
  /// gpt2: (left id, right id) -> (rank, merged id), open addressing.
  std::vector<MergeSlot> mergeSlots_;
  /// Tokens matched verbatim before BPE: per first byte, ids sorted longest first.
  std::vector<std::vector<int32_t>> specialByFirstByte_;
  bool hasSpecial_ = false;
  /// llama: no piece contains '▁' right after another character, so the text
  /// can be merged segment by segment, each starting at such a '▁'.
  bool spmSplitBeforeSpace_ = false;
};

} // namespace rt
} // namespace milm

#endif // MILM_RUNTIME_TOKENIZER_H
