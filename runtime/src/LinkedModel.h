//===- LinkedModel.h - The compiled model this binary was linked with -----===//
//
// The generated object defines `milm_model` (model_abi.h); milm.h uses the same
// name for its handle type, so the C API's implementation reaches the
// descriptor through this function (LinkedModel.cpp), the one file that sees
// the variable.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_RUNTIME_SRC_LINKEDMODEL_H
#define MILM_RUNTIME_SRC_LINKEDMODEL_H

struct milm_model_desc;

namespace milm {
namespace rt {
const milm_model_desc &linkedModelDesc();
} // namespace rt
} // namespace milm

#endif
