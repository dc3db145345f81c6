//===- HFTokenizer.h - Hugging Face tokenizer.json -------------------------===//
//
// Reads the BPE tokenizers of LLaMA-style checkpoints from tokenizer.json:
//   - model.vocab (token -> id) and added_tokens, ordered by id; the ids must be
//     dense (0..N-1), a token listed twice must have one id;
//   - model.merges, as "a b" strings or as ["a", "b"] pairs, stored as "a b";
//   - token types with GGUF's numbering: special added tokens are CONTROL (3),
//     other added tokens USER_DEFINED (4), model.unk_token UNKNOWN (2), with
//     byte_fallback the "<0xXX>" tokens BYTE (6), the rest NORMAL (1);
//   - model "llama" (SentencePiece-style BPE) when byte_fallback is set, otherwise
//     "gpt2" (byte-level BPE). Scores are left empty: HF BPE has none.
//   - for "gpt2", `pre` from pre_tokenizer: ByteLevel with use_regex (its GPT-2
//     regex) is "gpt-2"; a Split (Isolated) by the Llama 3 or Qwen2 regex, or by
//     GPT-2's, followed by ByteLevel without use_regex is "llama-bpe", "qwen2" or
//     "gpt-2"; anything else is an error naming the step or the regex. No
//     pre_tokenizer leaves `pre` empty. model.ignore_merges, when given, must be
//     what that pre-tokenizer does (true for "llama-bpe" only).
// tokenizer_config.json adds bos/eos/pad (token strings or {"content": ...}) and
// add_bos_token / add_eos_token.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_FRONTENDS_SAFETENSORS_HFTOKENIZER_H
#define MILM_FRONTENDS_SAFETENSORS_HFTOKENIZER_H

#include "frontends/common/ModelDescription.h"

#include "llvm/Support/Error.h"

namespace milm {

/// GGUF token types.
enum GGUFTokenType : int32_t {
  kTokenNormal = 1,
  kTokenUnknown = 2,
  kTokenControl = 3,
  kTokenUserDefined = 4,
  kTokenUnused = 5,
  kTokenByte = 6,
};

/// Parses tokenizer.json; `file` names it in messages.
llvm::Expected<TokenizerData> parseHFTokenizer(llvm::StringRef file, llvm::StringRef text);

/// Applies tokenizer_config.json: bos/eos/pad where `tok` has none yet, add_bos/add_eos.
llvm::Error applyHFTokenizerConfig(llvm::StringRef file, llvm::StringRef text, TokenizerData &tok);

} // namespace milm

#endif
