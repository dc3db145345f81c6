//===- LinkedModel.cpp - The compiled model this binary was linked with ---===//

#include "LinkedModel.h"

#include "milm/model_abi.h"

const milm_model_desc &milm::rt::linkedModelDesc() { return milm_model_descriptor; }
