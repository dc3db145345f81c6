//===- LinkedModel.cpp - The compiled model this binary was linked with ---===//

#include "LinkedModel.h"

// The model's symbols: weak too, so that a program linking only packages
// under their own prefixes (milm_model_open_code) links; milm_model_open then
// says that no model is linked under the default names.
extern "C" const milm_model_desc milm_model_descriptor __attribute__((weak));
extern "C" int32_t milm_forward(milm_exec *ex, const uint8_t *weights, uint16_t *kv,
                                uint8_t *arena, const int32_t *tokens, const int32_t *positions,
                                int64_t n_tokens, int32_t all_logits, float *logits)
    __attribute__((weak));

// A draft model's symbols: weak, so null in a binary without one.
extern "C" const milm_model_desc milm_draft_model_descriptor __attribute__((weak));
extern "C" int32_t milm_draft_forward(milm_exec *ex, const uint8_t *weights, uint16_t *kv,
                                      uint8_t *arena, const int32_t *tokens,
                                      const int32_t *positions, int64_t n_tokens,
                                      int32_t all_logits, float *logits) __attribute__((weak));

milm::rt::LinkedCode milm::rt::linkedModel() {
  return {&milm_model_descriptor, milm_forward};
}

milm::rt::LinkedCode milm::rt::linkedDraft() {
  return {&milm_draft_model_descriptor, milm_draft_forward};
}
