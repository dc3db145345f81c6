//===- RuntimeLinkTest.cpp - A fake model linked into static executables --===//
//
// Does what `milmc compile` will do, with FakeModel.c standing in for the
// generated object: compiles it with clang for x86-64 and AArch64, writes the
// matching model.milm with the artifact writer, links both with ld.lld using
// the arguments of LinkConfig.h into fully static executables, and runs them
// (the AArch64 one under qemu-aarch64): generation, the prompt file, the
// logits dump, checksum and model-mismatch errors.
//
//===----------------------------------------------------------------------===//

#include "RuntimeTestUtil.h"

#include "LinkConfig.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/Regex.h"

#include "gtest/gtest.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>

using namespace milm;

namespace {

struct RunResult {
  int rc = -1;
  std::string out, err;
};

RunResult runProgram(const std::string &program, const std::vector<std::string> &args,
                     const std::string &dir) {
  const std::string outFile = dir + "/stdout.txt", errFile = dir + "/stderr.txt";
  llvm::sys::fs::remove(outFile); // ExecuteAndWait does not truncate them
  llvm::sys::fs::remove(errFile);
  std::vector<llvm::StringRef> argv = {program};
  for (const std::string &a : args)
    argv.push_back(a);
  std::optional<llvm::StringRef> redirects[] = {llvm::StringRef(""), llvm::StringRef(outFile),
                                                llvm::StringRef(errFile)};
  std::string msg;
  RunResult r;
  r.rc = llvm::sys::ExecuteAndWait(program, argv, std::nullopt, redirects, 300, 0, &msg);
  r.out = fake::readFileBytes(outFile);
  r.err = fake::readFileBytes(errFile) + msg;
  return r;
}

std::string hostArch() {
#if defined(__x86_64__)
  return "x86_64";
#elif defined(__aarch64__)
  return "aarch64";
#else
  return "unknown";
#endif
}

class RuntimeLinkTest : public ::testing::TestWithParam<const char *> {
protected:
  void SetUp() override {
    arch = GetParam();
    cfg = link::targetLinkConfig(arch);
    ASSERT_NE(cfg, nullptr);
    if (!cfg->available)
      GTEST_SKIP() << "no " << arch << " libraries on this machine: " << cfg->missing;
    if (arch != hostArch()) {
      auto qemu = llvm::sys::findProgramByName("qemu-" + arch);
      if (!qemu)
        GTEST_SKIP() << "qemu-" << arch << " is not installed";
      runner = *qemu;
    }
    dir = fake::makeTempDir("milm-link-test");
    ASSERT_FALSE(dir.empty());
  }
  void TearDown() override {
    // Kept on failure, or with MILM_KEEP_TEST_FILES set, for a look.
    if (!dir.empty() && !HasFailure() && !getenv("MILM_KEEP_TEST_FILES"))
      llvm::sys::fs::remove_directories(dir);
    else if (!dir.empty())
      printf("files kept in %s\n", dir.c_str());
  }

  /// Runs the model executable with `args`.
  RunResult runModel(const std::string &exe, std::vector<std::string> args) {
    if (runner.empty())
      return runProgram(exe, args, dir);
    args.insert(args.begin(), exe);
    return runProgram(runner, args, dir);
  }

  /// Compiles FakeModel.c, writes model.milm, links milm-run; returns its path.
  std::string buildModel() {
    const std::string obj = dir + "/model.o", exe = dir + "/milm-run";
    RunResult cc = runProgram(MILM_CLANG_PATH,
                              {std::string("--target=") + cfg->triple, "-O2", "-std=c11",
                               "-ffp-contract=off", "-I" MILM_SOURCE_DIR "/runtime/include", "-c",
                               MILM_SOURCE_DIR "/test/unit/runtime/FakeModel.c", "-o", obj},
                              dir);
    EXPECT_EQ(cc.rc, 0) << cc.err;
    fakeArtifact = fake::makeFakeArtifact(dir, cfg->triple);
    llvm::Error e = artifact::writeArtifact(dir + "/model.milm", fakeArtifact->spec);
    EXPECT_FALSE(bool(e)) << llvm::toString(std::move(e));
    // As milmc links: linkArguments() is ld.lld's path and its arguments.
    EXPECT_EQ(findLinkTarget(arch), cfg);
    std::vector<std::string> args = linkArguments(*cfg, {obj}, exe);
    EXPECT_EQ(args[0], link::lldPath());
    RunResult ld = runProgram(args[0], std::vector<std::string>(args.begin() + 1, args.end()), dir);
    EXPECT_EQ(ld.rc, 0) << ld.err;
    return exe;
  }

  std::string arch, dir, runner;
  const link::TargetLinkConfig *cfg = nullptr;
  std::unique_ptr<fake::FakeArtifact> fakeArtifact;
};

TEST_P(RuntimeLinkTest, StaticExecutableRuns) {
  const std::string exe = buildModel();
  ASSERT_FALSE(HasFailure());

  // Fully static.
  if (auto ldd = llvm::sys::findProgramByName("ldd")) {
    RunResult r = runProgram(*ldd, {exe}, dir);
    EXPECT_NE((r.out + r.err).find("not a dynamic executable"), std::string::npos)
        << r.out << r.err;
  }

  // Generation with the default sampler: the model's table leaves one choice.
  RunResult r = runModel(exe, {"-p", "Once upon a time", "-n", "8", "-t", "2"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "Once upon a time there lived one little robot.\n");
  llvm::Regex timing("^milm: prompt 5 tokens in [0-9]+\\.[0-9]{3} s \\([0-9]+\\.[0-9] tok/s\\), "
                     "generated 6 tokens in [0-9]+\\.[0-9]{3} s \\([0-9]+\\.[0-9] tok/s\\)\n$");
  EXPECT_TRUE(timing.match(r.err)) << r.err;

  r = runModel(exe, {"-p", "Once upon a time", "-n", "3", "--temp", "0", "--no-display-prompt"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, " there lived one\n");

  fake::writeFileBytes(dir + "/prompt.txt", "Once upon a");
  r = runModel(exe, {"-f", dir + "/prompt.txt", "-n", "2", "-t", "1", "--seed", "7"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "Once upon a time there\n");

  // Logits, one position per call and all in one call.
  RunResult one = runModel(exe, {"--logits-for", "1 72 301 15", "-t", "2"});
  ASSERT_EQ(one.rc, 0) << one.err;
  RunResult batch = runModel(exe, {"--logits-for", "1,72,301,15", "--logits-batch"});
  ASSERT_EQ(batch.rc, 0) << batch.err;
  EXPECT_EQ(one.out, batch.out);
  llvm::SmallVector<llvm::StringRef> lines;
  llvm::StringRef(one.out).split(lines, '\n', -1, /*KeepEmpty=*/false);
  ASSERT_EQ(lines.size(), 4u);
  const std::vector<int32_t> ids = {1, 72, 301, 15};
  for (size_t p = 0; p < lines.size(); ++p) {
    llvm::Expected<llvm::json::Value> v = llvm::json::parse(lines[p]);
    ASSERT_TRUE(bool(v)) << llvm::toString(v.takeError());
    const llvm::json::Object *o = v->getAsObject();
    ASSERT_NE(o, nullptr);
    EXPECT_EQ(o->getInteger("pos"), int64_t(p));
    EXPECT_EQ(o->getInteger("input"), ids[p]);
    const llvm::json::Array *logits = o->getArray("logits");
    ASSERT_NE(logits, nullptr);
    ASSERT_EQ(logits->size(), size_t(fake::kVocab));
    std::vector<float> want =
        fakeArtifact->expectedLogits(std::vector<int32_t>(ids.begin(), ids.begin() + long(p) + 1));
    for (size_t i = 0; i < want.size(); ++i)
      ASSERT_EQ(float(*(*logits)[i].getAsNumber()), want[i]) << "pos " << p << " logit " << i;
  }
  EXPECT_TRUE(lines[0].starts_with("{\"pos\": 0, \"input\": 1, \"logits\": [0.328000009, "))
      << lines[0].substr(0, 80).str();

  // An explicit -m; checksum errors; --no-verify; another model's weights.
  ASSERT_FALSE(llvm::sys::fs::create_directory(dir + "/other"));
  std::string bytes = fake::readFileBytes(dir + "/model.milm");
  bytes[bytes.size() - 420096 + 1000] ^= 1; // inside output.weight
  const std::string bad = dir + "/other/model.milm";
  fake::writeFileBytes(bad, bytes);
  r = runModel(exe, {"-m", bad, "-p", "Once", "-n", "1"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "milm: error: " + bad + ": tensor 'output.weight': checksum mismatch\n");
  r = runModel(exe, {"-m", bad, "-p", "Once upon a time", "-n", "1", "--no-verify"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "Once upon a time there\n");
  auto other = fake::makeFakeArtifact(dir + "/other", cfg->triple, 42);
  ASSERT_FALSE(bool(artifact::writeArtifact(bad, other->spec)));
  r = runModel(exe, {"-m", bad});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "milm: error: " + bad + ": model hash 0x000000000000002a does not match "
                   "this binary's 0x6d696c6d66616b65 (compiled from another model, or by "
                   "another milmc version)\n");
  auto wrongTarget = fake::makeFakeArtifact(
      dir + "/other", arch == "x86_64" ? "aarch64-unknown-linux-gnu" : "x86_64-unknown-linux-gnu");
  ASSERT_FALSE(bool(artifact::writeArtifact(bad, wrongTarget->spec)));
  r = runModel(exe, {"-m", bad});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "milm: error: " + bad + ": built for " + wrongTarget->spec.target +
                       ", this binary is " + cfg->triple + "\n");

  // --info and option errors.
  r = runModel(exe, {"--info"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find(std::string("target: ") + cfg->triple + "\n"), std::string::npos)
      << r.out;
  r = runModel(exe, {"--top-k", "x"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "milm: error: invalid value 'x' for --top-k\n");
  r = runModel(exe, {"--bogus"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "milm: error: unknown option '--bogus' (see --help)\n");
}

// Speculative decoding as compiled for this target (AArch64 under qemu):
// SpecDriver.c over FakeModel.c with FakeDraft.c as its draft. Greedy text
// equals plain greedy text for every scheme; sampled triples follow the fake
// model's exact distribution (the chi-square of SpeculativeTest, here with
// the loop built for the target).
TEST_P(RuntimeLinkTest, SpeculativeDecodingRunsAsBuiltForTheTarget) {
  std::vector<std::string> objects;
  for (const char *src : {"SpecDriver.c", "FakeModel.c", "FakeDraft.c"}) {
    const std::string obj = dir + "/" + src + ".o";
    RunResult cc = runProgram(MILM_CLANG_PATH,
                              {std::string("--target=") + cfg->triple, "-O2", "-std=c11",
                               "-ffp-contract=off", "-I" MILM_SOURCE_DIR "/runtime/include", "-c",
                               std::string(MILM_SOURCE_DIR "/test/unit/runtime/") + src, "-o",
                               obj},
                              dir);
    ASSERT_EQ(cc.rc, 0) << cc.err;
    objects.push_back(obj);
  }
  fakeArtifact = fake::makeFakeArtifact(dir, cfg->triple);
  fake::spreadFakeTable(*fakeArtifact);
  const std::string model = dir + "/model.milm", exe = dir + "/spec-driver";
  ASSERT_FALSE(bool(artifact::writeArtifact(model, fakeArtifact->spec)));
  std::vector<std::string> args = linkArguments(*cfg, objects, exe);
  RunResult ld = runProgram(args[0], std::vector<std::string>(args.begin() + 1, args.end()), dir);
  ASSERT_EQ(ld.rc, 0) << ld.err;

  RunResult r = runModel(exe, {model, "greedy", "17", "250", "33"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "same (40 tokens)\n");

  struct Mode {
    const char *name;
    std::vector<int32_t> prompt;
  };
  for (const Mode &m : {Mode{"draft", {17, 250, 33}},
                        Mode{"lookup", {299, 219, 114, 299, 259, 24, 299, 299, 219, 299}}}) {
    const int n = 10000;
    std::vector<std::string> a = {model, "sample", m.name, std::to_string(n)};
    for (int32_t t : m.prompt)
      a.push_back(std::to_string(t));
    r = runModel(exe, a);
    ASSERT_EQ(r.rc, 0) << r.err;
    std::map<std::vector<int32_t>, int> counts;
    long long drafted = -1, accepted = -1;
    int total = 0;
    std::istringstream lines(r.out);
    std::string line;
    while (std::getline(lines, line)) {
      int a0, b0, c0, k;
      if (sscanf(line.c_str(), "drafted %lld accepted %lld", &drafted, &accepted) == 2)
        continue;
      ASSERT_EQ(sscanf(line.c_str(), "%d %d %d %d", &a0, &b0, &c0, &k), 4) << line;
      counts[{a0, b0, c0}] = k;
      total += k;
    }
    ASSERT_EQ(total, n);
    int cells = 0, unexpected = 0;
    const double chi = fake::tripleChiSquare(
        counts, fake::exactTriples(*fakeArtifact, m.prompt), n, &cells, &unexpected);
    EXPECT_EQ(unexpected, 0);
    ASSERT_GE(cells, 10);
    EXPECT_LT(chi, fake::chiSquareBound001(cells - 1)) << m.name;
    EXPECT_GT(accepted, n / 20) << m.name;
    EXPECT_GT(drafted - accepted, n / 20) << m.name;
    printf("%s, %s: chi-square %.1f in %d cells (bound %.1f), drafted %lld, accepted %lld\n",
           arch.c_str(), m.name, chi, cells, fake::chiSquareBound001(cells - 1), drafted,
           accepted);
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, RuntimeLinkTest, ::testing::Values("x86_64", "aarch64"),
                         [](const ::testing::TestParamInfo<const char *> &i) {
                           return std::string(i.param);
                         });

} // namespace
