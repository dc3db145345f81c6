//===- profile.h - Time per op kind and weight format ------------*- C++ -*-===//
//
// What milm_rt_op_begin/milm_rt_op_end (model_abi.h) record when a context is
// created with profiling on (milm-run --profile): per phase (prompt: forward
// calls of several tokens; decode: of one), per op kind and weight format, the
// calls, the seconds (an outer op's less those of the ops inside it) and the
// weight bytes read; and the phase's forward calls and seconds, so that what no
// op accounts for (norms, residual adds, rope, the embedding lookup, the
// calls themselves) shows as the rest. Only the thread that calls
// milm_forward records.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_RUNTIME_PROFILE_H
#define MILM_RUNTIME_PROFILE_H

#include <cstdint>
#include <string>
#include <vector>

namespace milm {
namespace rt {

class OpProfile {
public:
  enum Phase { Prompt = 0, Decode = 1 };

  /// Which phase the next ops belong to (set before each milm_forward call).
  void setPhase(Phase p) { phase_ = p; }
  uint64_t begin();
  void end(uint64_t t0, int32_t op, uint32_t format, uint64_t bytes);
  /// One milm_forward call of the current phase took `ns`.
  void addForward(uint64_t ns);

  /// The table milm-run prints: one section per phase that ran.
  std::string format() const;

  static uint64_t nowNs();

private:
  struct Row {
    int32_t op;
    uint32_t format;
    uint64_t calls = 0, ns = 0, bytes = 0;
  };
  struct PhaseData {
    std::vector<Row> rows;
    uint64_t forwards = 0, forwardNs = 0;
  };
  PhaseData phases_[2];
  Phase phase_ = Prompt;
  // Nested ops: the time of the ops inside each open op, to take off its own.
  std::vector<uint64_t> inner_;
};

} // namespace rt
} // namespace milm

#endif
