//===- Profile.cpp - Time per op kind and weight format -------------------===//

#include "milm/profile.h"

#include "milm/artifact.h"
#include "milm/model_abi.h"
#include "milm/thread_pool.h"

#include <algorithm>
#include <cstdio>
#include <time.h>

namespace milm {
namespace rt {

uint64_t OpProfile::nowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

uint64_t OpProfile::begin() {
  inner_.push_back(0);
  return nowNs();
}

void OpProfile::end(uint64_t t0, int32_t op, uint32_t format, uint64_t bytes) {
  const uint64_t total = nowNs() - t0;
  uint64_t inner = 0;
  if (!inner_.empty()) {
    inner = inner_.back();
    inner_.pop_back();
  }
  if (!inner_.empty())
    inner_.back() += total; // the enclosing op's own time excludes this one
  std::vector<Row> &rows = phases_[phase_].rows;
  auto it = std::find_if(rows.begin(), rows.end(),
                         [&](const Row &r) { return r.op == op && r.format == format; });
  if (it == rows.end()) {
    rows.push_back(Row{op, format});
    it = rows.end() - 1;
  }
  ++it->calls;
  it->ns += total > inner ? total - inner : 0;
  it->bytes += bytes;
}

void OpProfile::addForward(uint64_t ns) {
  ++phases_[phase_].forwards;
  phases_[phase_].forwardNs += ns;
}

namespace {
const char *opName(int32_t op) {
  switch (op) {
  case MILM_OP_LINEAR: return "linear";
  case MILM_OP_LOGITS: return "logits";
  case MILM_OP_ATTENTION: return "attention";
  case MILM_OP_MOE: return "moe (routing, sums)";
  default: return "?";
  }
}
} // namespace

std::string OpProfile::format() const {
  std::string out;
  char line[256];
  static const char *const kPhaseNames[] = {"prompt (forward calls of several tokens)",
                                            "decode (forward calls of one token)"};
  for (int p = 0; p < 2; ++p) {
    const PhaseData &ph = phases_[p];
    if (ph.forwards == 0)
      continue;
    std::vector<Row> rows = ph.rows;
    std::sort(rows.begin(), rows.end(), [](const Row &a, const Row &b) { return a.ns > b.ns; });
    const double total = double(ph.forwardNs) * 1e-9;
    snprintf(line, sizeof line, "profile: %s: %llu calls, %.3f s\n", kPhaseNames[p],
             (unsigned long long)ph.forwards, total);
    out += line;
    snprintf(line, sizeof line, "  %-22s %-8s %9s %10s %7s %12s %8s\n", "op", "weights", "calls",
             "seconds", "share", "weight MB", "GB/s");
    out += line;
    uint64_t opsNs = 0;
    for (const Row &r : rows) {
      opsNs += r.ns;
      const char *fmtName = r.bytes ? storageFormatName(r.format) : nullptr;
      const double s = double(r.ns) * 1e-9;
      char rate[32] = "-";
      if (r.bytes && r.ns)
        snprintf(rate, sizeof rate, "%.2f", double(r.bytes) / double(r.ns));
      snprintf(line, sizeof line, "  %-22s %-8s %9llu %10.3f %6.1f%% %12.1f %8s\n", opName(r.op),
               fmtName ? fmtName : "-", (unsigned long long)r.calls, s,
               total > 0 ? 100.0 * s / total : 0.0, double(r.bytes) * 1e-6, rate);
      out += line;
    }
    const double rest = ph.forwardNs > opsNs ? double(ph.forwardNs - opsNs) * 1e-9 : 0.0;
    snprintf(line, sizeof line, "  %-22s %-8s %9s %10.3f %6.1f%%\n", "rest of the forward", "-",
             "", rest, total > 0 ? 100.0 * rest / total : 0.0);
    out += line;
  }
  return out;
}

} // namespace rt
} // namespace milm

extern "C" uint64_t milm_rt_op_begin(milm_exec *ex) {
  return ex && ex->profile ? ex->profile->begin() : 0;
}

extern "C" void milm_rt_op_end(milm_exec *ex, uint64_t t0, int32_t op, uint32_t format,
                               uint64_t bytes) {
  if (t0 && ex && ex->profile)
    ex->profile->end(t0, op, format, bytes);
}
