//===- HexagonTarget.h - The Hexagon HVX target ------------------*- C++ -*-===//
#ifndef MILM_CODEGEN_HEXAGON_HEXAGONTARGET_H
#define MILM_CODEGEN_HEXAGON_HEXAGONTARGET_H

#include "llvm/ADT/StringRef.h"

#include <string>

namespace milm {

/// The triple of Hexagon code: Linux user space with musl's ABI, which is
/// what qemu-hexagon runs; the DSP shared object uses the same calling
/// convention and needs nothing of a libc (docs/HEXAGON.md).
inline constexpr const char *kHexagonTriple = "hexagon-unknown-linux-musl";

/// Registers `hexagon` (aliases hexagon-v68 ... hexagon-v79) and
/// `hexagon-qfloat` (hexagon-v73-qfloat ... hexagon-v79-qfloat).
void registerHexagonTarget();

} // namespace milm

#endif
