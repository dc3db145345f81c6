/*===- FakeDraft.c - A draft model beside FakeModel.c (TESTS ONLY) -------===*
 *
 * FakeModel.c under the draft's symbols (model_abi.h: what `milmc compile
 * --draft` links in), with its logits perturbed (FAKE_DRAFT). It reads the
 * same weights, so the fake model's artifact serves as the draft's too.
 *===----------------------------------------------------------------------===*/
#define FAKE_DRAFT 1
#define milm_model_descriptor milm_draft_model_descriptor
#define milm_forward milm_draft_forward
#define fake_model_offsets fake_draft_offsets
#include "FakeModel.c"
