//===- Calibration.cpp - Calibration statistics: accumulation and file ----===//
#include "passes/Calibration.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

namespace milm {

uint64_t fingerprint(llvm::ArrayRef<uint8_t> bytes) {
  uint64_t h = 1469598103934665603ull;
  for (uint8_t b : bytes) {
    h ^= b;
    h *= 1099511628211ull;
  }
  return h;
}

void CalibrationSite::add(const double *x, int64_t n, unsigned threads) {
  if (sumSq.empty()) {
    sumSq.assign(size_t(K), 0.0);
    maxAbs.assign(size_t(K), 0.0);
  }
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < K; ++i) {
      const double v = x[t * K + i];
      sumSq[size_t(i)] += v * v;
      maxAbs[size_t(i)] = std::max(maxAbs[size_t(i)], std::fabs(v));
    }
  rows += uint64_t(n);
  if (matrix.empty())
    return;
  // matrix += X^T X over the upper triangle, then mirrored: X transposed so
  // that each entry is one contiguous dot product.
  std::vector<double> xt(static_cast<size_t>(K * n));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < K; ++i)
      xt[size_t(i * n + t)] = x[t * K + i];
  auto rowsOf = [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const double *a = xt.data() + i * n;
      for (int64_t j = i; j < K; ++j) {
        const double *c = xt.data() + j * n;
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int64_t t = 0;
        for (; t + 4 <= n; t += 4) {
          s0 += a[t] * c[t];
          s1 += a[t + 1] * c[t + 1];
          s2 += a[t + 2] * c[t + 2];
          s3 += a[t + 3] * c[t + 3];
        }
        double s = (s0 + s1) + (s2 + s3);
        for (; t < n; ++t)
          s += a[t] * c[t];
        matrix[size_t(i * K + j)] += s;
        if (j != i)
          matrix[size_t(j * K + i)] += s;
      }
    }
  };
  threads = std::max(1u, threads);
  if (threads == 1 || K < 64) {
    rowsOf(0, K);
    return;
  }
  // Rows near the top have more entries: interleave in stripes of 16.
  std::vector<std::thread> pool;
  for (unsigned w = 0; w < threads; ++w)
    pool.emplace_back([&, w] {
      for (int64_t b = int64_t(w) * 16; b < K; b += int64_t(threads) * 16)
        rowsOf(b, std::min(K, b + 16));
    });
  for (std::thread &t : pool)
    t.join();
}

const CalibrationSite *CalibrationStats::find(llvm::StringRef name, int64_t expert) const {
  for (const CalibrationSite &s : sites)
    if (s.expert == expert && llvm::is_contained(s.weights, name))
      return &s;
  return nullptr;
}

uint64_t CalibrationStats::fingerprintOf(const CalibrationSite &site, llvm::StringRef name) {
  for (size_t i = 0; i < site.weights.size(); ++i)
    if (site.weights[i] == name)
      return site.fingerprints[i];
  return 0;
}

llvm::Expected<std::vector<int32_t>> readTokenIds(llvm::StringRef path) {
  auto buf = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buf)
    return llvm::createStringError(path + ": cannot read token ids: " + buf.getError().message());
  std::vector<int32_t> ids;
  llvm::SmallVector<llvm::StringRef> words;
  llvm::StringRef text = (*buf)->getBuffer();
  size_t line = 1;
  while (!text.empty()) {
    auto [l, rest] = text.split('\n');
    text = rest;
    words.clear();
    l.split(words, ' ', -1, false);
    for (llvm::StringRef w : words) {
      w = w.trim();
      int32_t id;
      if (w.empty())
        continue;
      if (w.getAsInteger(10, id) || id < 0)
        return llvm::createStringError(path + ":" + llvm::Twine(line) + ": '" + w +
                                       "' is not a token id (the file holds ids separated by "
                                       "spaces and newlines)");
      ids.push_back(id);
    }
    ++line;
  }
  return ids;
}

llvm::Error writeTokenIds(llvm::StringRef path, llvm::ArrayRef<int32_t> ids) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (ec)
    return llvm::createStringError(path + ": cannot write token ids: " + ec.message());
  for (size_t i = 0; i < ids.size(); ++i)
    os << ids[i] << ((i + 1) % 32 == 0 || i + 1 == ids.size() ? "\n" : " ");
  os.close();
  if (os.has_error()) {
    std::string msg = os.error().message();
    os.clear_error();
    return llvm::createStringError(path + ": cannot write token ids: " + msg);
  }
  return llvm::Error::success();
}

namespace {

struct Writer {
  std::string bytes;
  template <typename T> void put(T v) { bytes.append(reinterpret_cast<const char *>(&v), sizeof v); }
  void putBytes(const void *p, size_t n) { bytes.append(static_cast<const char *>(p), n); }
};

struct Reader {
  llvm::StringRef data;
  size_t at = 0;
  bool need(size_t n) const { return n <= data.size() - at; }
  template <typename T> bool get(T &v) {
    if (!need(sizeof v))
      return false;
    std::memcpy(&v, data.data() + at, sizeof v);
    at += sizeof v;
    return true;
  }
};

} // namespace

llvm::Error CalibrationStats::write(llvm::StringRef path) const {
  Writer w;
  w.putBytes(kCalibrationMagic, 8);
  w.put<uint32_t>(kCalibrationVersion);
  w.put<uint32_t>(0);
  w.put<uint64_t>(tokens);
  w.put<uint64_t>(windows);
  w.put<uint32_t>(uint32_t(sites.size()));
  for (const CalibrationSite &s : sites) {
    w.put<uint32_t>(uint32_t(s.weights.size()));
    for (size_t i = 0; i < s.weights.size(); ++i) {
      w.put<uint32_t>(uint32_t(s.weights[i].size()));
      w.putBytes(s.weights[i].data(), s.weights[i].size());
      w.put<uint64_t>(s.fingerprints[i]);
    }
    w.put<int64_t>(s.expert);
    w.put<uint64_t>(uint64_t(s.K));
    w.put<uint64_t>(s.rows);
    w.put<uint32_t>(s.matrix.empty() ? 0 : 1);
    std::vector<double> zeros;
    const std::vector<double> &ss = s.sumSq.empty() ? (zeros.assign(size_t(s.K), 0.0), zeros) : s.sumSq;
    w.putBytes(ss.data(), size_t(s.K) * 8);
    const std::vector<double> &ma = s.maxAbs.empty() ? (zeros.assign(size_t(s.K), 0.0), zeros) : s.maxAbs;
    w.putBytes(ma.data(), size_t(s.K) * 8);
    if (!s.matrix.empty()) {
      std::vector<float> f(s.matrix.begin(), s.matrix.end());
      w.putBytes(f.data(), f.size() * 4);
    }
  }
  w.put<uint64_t>(fingerprint(llvm::ArrayRef<uint8_t>(
      reinterpret_cast<const uint8_t *>(w.bytes.data()), w.bytes.size())));
  // Written beside the target and renamed over it: a failed write leaves what was there.
  std::string tmp = (path + ".tmp").str();
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(tmp, ec, llvm::sys::fs::OF_None);
    if (ec)
      return llvm::createStringError(path + ": cannot write calibration statistics: " + ec.message());
    os << w.bytes;
    os.close();
    if (os.has_error()) {
      std::string msg = os.error().message();
      os.clear_error();
      llvm::sys::fs::remove(tmp);
      return llvm::createStringError(path + ": cannot write calibration statistics: " + msg);
    }
  }
  if (std::error_code ec = llvm::sys::fs::rename(tmp, path)) {
    llvm::sys::fs::remove(tmp);
    return llvm::createStringError(path + ": cannot write calibration statistics: " + ec.message());
  }
  return llvm::Error::success();
}

llvm::Expected<CalibrationStats> CalibrationStats::read(llvm::StringRef path) {
  auto buf = llvm::MemoryBuffer::getFile(path, /*IsText=*/false, /*RequiresNullTerminator=*/false);
  if (!buf)
    return llvm::createStringError(path + ": cannot read calibration statistics: " +
                                   buf.getError().message());
  auto bad = [&](const llvm::Twine &what) {
    return llvm::createStringError(path + ": not valid calibration statistics (" + what +
                                   "); write them with `milmc calibrate`");
  };
  llvm::StringRef data = (*buf)->getBuffer();
  if (data.size() < 8 || std::memcmp(data.data(), kCalibrationMagic, 8) != 0)
    return bad("no MILMCALI header");
  if (data.size() < 8 + 8)
    return bad("truncated header");
  uint64_t stored;
  std::memcpy(&stored, data.data() + data.size() - 8, 8);
  const llvm::StringRef body = data.drop_back(8);
  if (fingerprint(llvm::ArrayRef<uint8_t>(reinterpret_cast<const uint8_t *>(body.data()),
                                          body.size())) != stored)
    return bad("checksum mismatch: the file is truncated or corrupted");
  Reader r{body, 8};
  uint32_t version, zero, count;
  CalibrationStats st;
  if (!r.get(version) || !r.get(zero) || !r.get(st.tokens) || !r.get(st.windows) || !r.get(count))
    return bad("truncated header");
  if (version != kCalibrationVersion)
    return bad("version " + llvm::Twine(version) + ", this milmc reads version " +
               llvm::Twine(kCalibrationVersion));
  for (uint32_t i = 0; i < count; ++i) {
    CalibrationSite s;
    uint32_t nw;
    if (!r.get(nw) || nw == 0 || nw > 64)
      return bad("site " + llvm::Twine(i) + ": bad weight count");
    for (uint32_t j = 0; j < nw; ++j) {
      uint32_t len;
      uint64_t fp;
      if (!r.get(len) || len > 4096 || !r.need(len))
        return bad("site " + llvm::Twine(i) + ": bad weight name");
      s.weights.emplace_back(body.data() + r.at, len);
      r.at += len;
      if (!r.get(fp))
        return bad("site " + llvm::Twine(i) + ": truncated");
      s.fingerprints.push_back(fp);
    }
    uint64_t K;
    uint32_t hasMatrix;
    if (!r.get(s.expert) || !r.get(K) || !r.get(s.rows) || !r.get(hasMatrix) || hasMatrix > 1 ||
        K == 0 || K > (1u << 20))
      return bad("site " + llvm::Twine(i) + " (" + s.weights[0] + "): bad sizes");
    s.K = int64_t(K);
    const uint64_t need = K * 16 + (hasMatrix ? K * K * 4 : 0);
    if (!r.need(need))
      return bad("site " + llvm::Twine(i) + " (" + s.weights[0] + "): truncated");
    s.sumSq.resize(K);
    s.maxAbs.resize(K);
    std::memcpy(s.sumSq.data(), body.data() + r.at, K * 8);
    std::memcpy(s.maxAbs.data(), body.data() + r.at + K * 8, K * 8);
    r.at += K * 16;
    if (hasMatrix) {
      std::vector<float> f(K * K);
      std::memcpy(f.data(), body.data() + r.at, K * K * 4);
      r.at += K * K * 4;
      s.matrix.assign(f.begin(), f.end());
    }
    for (double v : s.sumSq)
      if (!(v >= 0) || !std::isfinite(v))
        return bad("site " + llvm::Twine(i) + " (" + s.weights[0] + "): a sum of squares is not finite");
    st.sites.push_back(std::move(s));
  }
  if (r.at != body.size())
    return bad("bytes after the last site");
  return st;
}

} // namespace milm
