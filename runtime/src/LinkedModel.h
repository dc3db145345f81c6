//===- LinkedModel.h - The compiled model this binary was linked with -----===//
//
// The generated object defines `milm_model_descriptor` and `milm_forward`
// (model_abi.h), and with `milmc compile --draft` a draft model's
// `milm_draft_model_descriptor` and `milm_draft_forward`. milm.h uses the name
// `milm_model` for its handle type, so the C API's implementation reaches the
// generated code through these functions (LinkedModel.cpp), the one file
// that sees the symbols.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_RUNTIME_SRC_LINKEDMODEL_H
#define MILM_RUNTIME_SRC_LINKEDMODEL_H

#include "ApiInternal.h"

namespace milm {
namespace rt {

struct LinkedCode {
  const milm_model_desc *desc = nullptr; ///< null: no such code in this binary
  milm_forward_fn forward = nullptr;
};

/// The model's code.
LinkedCode linkedModel();
/// The draft model's code; null members when the binary has none.
LinkedCode linkedDraft();

} // namespace rt
} // namespace milm

#endif
