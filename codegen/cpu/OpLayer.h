//===- OpLayer.h - The op layer's ABI as the lowering sees it ---*- C++ -*-===//
//
// codegen/cpu/ops/milm_ops.h declares each op-layer function once, as a list
// of (C type, name, kind) that the C prototypes and definitions expand. This
// header expands the same lists into tables of names and kinds (kOp<Name>),
// checks at build time that every C type has the kind the list says, and
// orders a call's named arguments into the C parameter order
// (orderOpArgs), refusing a missing, unknown or repeated name or an argument
// of the wrong kind. The lowering passes every argument by name, so a call
// cannot swap two int64_t parameters (K and N) unnoticed.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_CODEGEN_CPU_OPLAYER_H
#define MILM_CODEGEN_CPU_OPLAYER_H

#include "codegen/cpu/ops/milm_ops.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

namespace milm {

/// How generated code passes a value: the lowering's types !llvm.ptr, i64, i32, f32.
enum class OpArgKind { PTR, I64, I32, F32 };

inline const char *opArgKindName(OpArgKind k) {
  switch (k) {
  case OpArgKind::PTR: return "a pointer";
  case OpArgKind::I64: return "i64";
  case OpArgKind::I32: return "i32";
  case OpArgKind::F32: return "f32";
  }
  return "?";
}

/// The kind a C parameter type is passed as.
template <typename T> constexpr OpArgKind cTypeKind() {
  if constexpr (std::is_pointer_v<T>)
    return OpArgKind::PTR;
  else if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, uint64_t>)
    return OpArgKind::I64;
  else if constexpr (std::is_same_v<T, int32_t> || std::is_same_v<T, uint32_t>)
    return OpArgKind::I32;
  else {
    static_assert(std::is_same_v<T, float>, "an op-layer parameter of a type the ABI lacks");
    return OpArgKind::F32;
  }
}

struct OpParam {
  const char *name;
  OpArgKind kind;
};

struct OpSpec {
  const char *symbol;              ///< "milm_op_linear"
  llvm::ArrayRef<OpParam> params;  ///< in C parameter order
};

#define MILM_OP_PARAM_ENTRY_(type, name, kind) OpParam{#name, OpArgKind::kind},
#define MILM_OP_PARAM_CHECK_(type, name, kind)                                             \
  static_assert(cTypeKind<type>() == OpArgKind::kind,                                       \
                "milm_ops.h: parameter '" #name "' of C type " #type " is not of kind " #kind);
#define MILM_OP_TABLE_(name, LIST)                                                         \
  LIST(MILM_OP_PARAM_CHECK_, MILM_OP_PARAM_CHECK_)                                         \
  inline constexpr OpParam kOpParams_##name[] = {                                          \
      LIST(MILM_OP_PARAM_ENTRY_, MILM_OP_PARAM_ENTRY_)};                                   \
  inline const OpSpec kOp_##name = {"milm_op_" #name, kOpParams_##name};
MILM_OP_LAYER(MILM_OP_TABLE_)
#undef MILM_OP_TABLE_
#undef MILM_OP_PARAM_CHECK_
#undef MILM_OP_PARAM_ENTRY_

/// For each parameter of `op` in C order, the index of the named argument in
/// `args` that supplies it. Returns "" or what is wrong, one line.
inline std::string orderOpArgs(const OpSpec &op,
                               llvm::ArrayRef<std::pair<llvm::StringRef, OpArgKind>> args,
                               llvm::SmallVectorImpl<unsigned> &order) {
  order.clear();
  for (size_t i = 0; i < args.size(); ++i) {
    bool known = false;
    for (const OpParam &p : op.params)
      known |= args[i].first == p.name;
    if (!known)
      return std::string(op.symbol) + " has no parameter '" + args[i].first.str() + "'";
    for (size_t j = 0; j < i; ++j)
      if (args[j].first == args[i].first)
        return std::string(op.symbol) + ": parameter '" + args[i].first.str() +
               "' given twice";
  }
  for (const OpParam &p : op.params) {
    size_t found = args.size();
    for (size_t i = 0; i < args.size(); ++i)
      if (args[i].first == p.name)
        found = i;
    if (found == args.size())
      return std::string(op.symbol) + ": parameter '" + p.name + "' not given";
    if (args[found].second != p.kind)
      return std::string(op.symbol) + ": parameter '" + p.name + "' takes " +
             opArgKindName(p.kind) + ", given " + opArgKindName(args[found].second);
    order.push_back(unsigned(found));
  }
  return "";
}

} // namespace milm

#endif
