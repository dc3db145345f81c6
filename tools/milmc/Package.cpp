//===- Package.cpp - milmc compile --emit package -------------------------===//

#include "tools/milmc/Package.h"

#include "milm/milm.h"
#include "runtime/LinkConfig.h"

#include "llvm/Object/Archive.h"
#include "llvm/Object/ArchiveWriter.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/Regex.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cctype>

namespace milm {
namespace {

llvm::Error err(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

llvm::Error writeText(const std::string &path, const std::string &text) {
  if (std::error_code ec = llvm::sys::fs::create_directories(llvm::sys::path::parent_path(path)))
    return err(path + ": " + ec.message());
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_Text);
  if (ec)
    return err(path + ": " + ec.message());
  os << text;
  os.close();
  if (os.has_error()) {
    std::string msg = os.error().message();
    os.clear_error();
    return err(path + ": cannot write: " + msg);
  }
  return llvm::Error::success();
}

/// The runtime archive's members an application needs: all but the command
/// line's (main.cpp, Perplexity.cpp), so the application's main is its own.
bool isCommandLineMember(llvm::StringRef name) {
  return name == "main.o" || name == "Perplexity.o";
}

std::string mib(uint64_t bytes) {
  return llvm::formatv("{0:F1} MiB", double(bytes) / 1048576.0).str();
}

const char *kExample = R"(/* A minimal program over the milm C API: generates text from a prompt.
 *
 *   cc generate.c $(pkg-config --cflags --libs milm_@NAME@) -o generate
 *   ./generate model.milm "Once upon a time" 64 [seed] [temperature]
 */
#include <milm/milm_@NAME@.h>

#include <stdio.h>
#include <stdlib.h>

static int32_t print_piece(void *user, int32_t token, const char *piece, size_t len) {
  (void)user;
  (void)token;
  fwrite(piece, 1, len, stdout);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s MODEL.milm PROMPT [N [SEED [TEMPERATURE]]]\n", argv[0]);
    return 2;
  }
  /* milm_model_open(argv[1], NULL) opens it too where it is the only model
   * and its code is linked in whole (the shared library); this names it. */
  milm_model *model = milm_@NAME@_open(argv[1], NULL);
  if (!model) {
    fprintf(stderr, "error: %s\n", milm_last_error());
    return 1;
  }
  milm_context *ctx = milm_context_new(model, NULL);
  milm_sampler_params sp = milm_sampler_default_params();
  if (argc > 4)
    sp.seed = strtoull(argv[4], NULL, 10);
  if (argc > 5)
    sp.temperature = strtof(argv[5], NULL);
  milm_sampler *sampler = milm_sampler_new(&sp);
  if (!ctx || !sampler) {
    fprintf(stderr, "error: %s\n", milm_last_error());
    return 1;
  }
  milm_generate_stats stats;
  int rc = milm_generate(ctx, sampler, argv[2], argc > 3 ? atoi(argv[3]) : 64, print_piece, NULL,
                         &stats);
  fputc('\n', stdout);
  if (rc != 0) {
    fprintf(stderr, "error: %s\n", milm_last_error());
  } else {
    char line[512];
    milm_format_timings(&stats, line, sizeof line);
    fprintf(stderr, "%s\n", line);
  }
  milm_sampler_free(sampler);
  milm_context_free(ctx);
  milm_model_close(model);
  return rc == 0 ? 0 : 1;
}
)";

/// The functions milm.h declares (comments removed first).
std::vector<std::string> apiFunctions(llvm::StringRef header) {
  std::string code;
  for (size_t i = 0; i < header.size();) {
    if (header.substr(i).starts_with("/*")) {
      size_t end = header.find("*/", i + 2);
      i = end == llvm::StringRef::npos ? header.size() : end + 2;
    } else if (header.substr(i).starts_with("//")) {
      size_t end = header.find('\n', i);
      i = end == llvm::StringRef::npos ? header.size() : end;
    } else {
      code += header[i++];
    }
  }
  std::vector<std::string> names;
  llvm::Regex decl("(milm_[a-z0-9_]+)[ \t\n]*\\(");
  llvm::StringRef rest = code;
  llvm::SmallVector<llvm::StringRef, 2> m;
  while (decl.match(rest, &m)) {
    if (std::find(names.begin(), names.end(), m[1].str()) == names.end())
      names.push_back(m[1].str());
    rest = rest.substr(size_t(m[0].data() - rest.data()) + m[0].size());
  }
  return names;
}

std::string replaceAll(std::string s, const std::string &from, const std::string &to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

} // namespace

/// How writePackage's README.md begins and what it says of itself:
/// isPackageReadme tells it by these.
const char *const kReadmeStart = "# milm_";
const char *const kReadmeWrittenBy = "Written by `milmc compile --emit package`.";

bool isPackageReadme(const std::string &path) {
  auto buf = llvm::MemoryBuffer::getFile(path);
  return buf && (*buf)->getBuffer().starts_with(kReadmeStart) &&
         (*buf)->getBuffer().contains(kReadmeWrittenBy);
}

std::string packageName(const std::string &modelName) {
  std::string n;
  for (char c : modelName)
    n += std::isalnum(static_cast<unsigned char>(c)) ? char(std::tolower(c)) : '_';
  if (llvm::StringRef(n).starts_with("milm_"))
    n = n.substr(5);
  return n.empty() ? "model" : n;
}

llvm::Expected<std::vector<std::string>> writePackage(const PackageSpec &spec) {
  const std::string name = packageName(spec.modelName);
  const std::string pkg = "milm_" + name;
  const std::string lib = "lib/lib" + pkg + ".a";

  // The library: the model's objects, then the runtime's members.
  {
    std::vector<llvm::NewArchiveMember> members;
    for (const std::string &o : spec.objects) {
      llvm::Expected<llvm::NewArchiveMember> m =
          llvm::NewArchiveMember::getFile(o, /*Deterministic=*/true);
      if (!m)
        return err(o + ": " + llvm::toString(m.takeError()));
      members.push_back(std::move(*m));
    }
    auto buf = llvm::MemoryBuffer::getFile(spec.runtimeArchive);
    if (!buf)
      return err(spec.runtimeArchive + ": " + buf.getError().message());
    llvm::Expected<std::unique_ptr<llvm::object::Archive>> ar =
        llvm::object::Archive::create((*buf)->getMemBufferRef());
    if (!ar)
      return err(spec.runtimeArchive + ": " + llvm::toString(ar.takeError()));
    llvm::Error childErr = llvm::Error::success();
    for (const llvm::object::Archive::Child &c : (*ar)->children(childErr)) {
      llvm::Expected<llvm::StringRef> cname = c.getName();
      if (!cname)
        return err(spec.runtimeArchive + ": " + llvm::toString(cname.takeError()));
      if (isCommandLineMember(*cname))
        continue;
      llvm::Expected<llvm::NewArchiveMember> m =
          llvm::NewArchiveMember::getOldMember(c, /*Deterministic=*/true);
      if (!m)
        return err(spec.runtimeArchive + ": " + llvm::toString(m.takeError()));
      members.push_back(std::move(*m));
    }
    if (childErr)
      return err(spec.runtimeArchive + ": " + llvm::toString(std::move(childErr)));
    const std::string path = spec.dir + "/" + lib;
    if (std::error_code ec = llvm::sys::fs::create_directories(spec.dir + "/lib"))
      return err(spec.dir + "/lib: " + ec.message());
    if (llvm::Error e = llvm::writeArchive(path, members, llvm::SymtabWritingMode::NormalSymtab,
                                           llvm::object::Archive::K_GNU,
                                           /*Deterministic=*/true, /*Thin=*/false))
      return err(path + ": " + llvm::toString(std::move(e)));
  }

  // The shared library: the static one whole, the C++ runtime inside, only
  // the C API and the model's own symbols exported (a version script).
  if (spec.link) {
    auto h = llvm::MemoryBuffer::getFile(spec.headerDir + "/milm.h");
    if (!h)
      return err(spec.headerDir + "/milm.h: " + h.getError().message());
    std::string script = "{\n  global:\n";
    for (const std::string &f : apiFunctions((*h)->getBuffer()))
      script += "    " + f + ";\n";
    for (const std::string &sym : {spec.symbolPrefix + "forward",
                                   spec.symbolPrefix + "model_descriptor",
                                   std::string("milm_forward"),
                                   std::string("milm_model_descriptor")})
      script += "    " + sym + ";\n";
    script += "  local: *;\n};\n";
    const std::string mapPath = spec.dir + "/exports.map";
    if (llvm::Error e = writeText(mapPath, script))
      return std::move(e);
    const std::string so = "lib" + pkg + ".so";
    std::vector<std::string> args = link::lldSharedArgs(*spec.link, spec.dir + "/" + lib,
                                                        mapPath, so, spec.dir + "/lib/" + so);
    args.insert(args.begin(), link::lldPath());
    std::vector<llvm::StringRef> argv(args.begin(), args.end());
    std::string msg;
    int rc = llvm::sys::ExecuteAndWait(args[0], argv, std::nullopt, {}, 0, 0, &msg);
    llvm::sys::fs::remove(mapPath);
    if (rc != 0)
      return err("linking lib/" + so + " failed (" +
                 (msg.empty() ? "ld.lld exit " + std::to_string(rc) : msg) + ")");
  }

  // The headers: the C API, the generated code's contract, and this model's
  // open function (its symbols carry the package's prefix, so several
  // packages link into one program).
  for (const char *h : {"milm.h", "model_abi.h"}) {
    const std::string from = spec.headerDir + "/" + h;
    auto buf = llvm::MemoryBuffer::getFile(from);
    if (!buf)
      return err(from + ": " + buf.getError().message());
    if (llvm::Error e =
            writeText(spec.dir + "/include/milm/" + h, (*buf)->getBuffer().str()))
      return std::move(e);
  }
  {
    const std::string guard = "MILM_PACKAGE_" + llvm::StringRef(name).upper() + "_H";
    const std::string &sp = spec.symbolPrefix;
    if (llvm::Error e = writeText(
            spec.dir + "/include/milm/" + pkg + ".h",
            "/* " + pkg + ".h: " + spec.modelName + " compiled by milmc for " + spec.triple +
                ".\n"
                " * " + pkg + "_open(path, params) opens it (milm.h: milm_model_open_code);\n"
                " * milm_model_open() opens it too where its code is linked in whole (the\n"
                " * shared library); with the static library, call this. */\n"
                "#ifndef " + guard + "\n#define " + guard + "\n\n"
                "#include \"milm/milm.h\"\n#include \"milm/model_abi.h\"\n\n"
                "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
                "extern const milm_model_desc " + sp + "model_descriptor;\n"
                "int32_t " + sp + "forward(milm_exec *ex, const uint8_t *weights, uint16_t *kv, "
                "uint8_t *arena,\n"
                "    const int32_t *tokens, const int32_t *positions, int64_t n_tokens, "
                "int32_t all_logits,\n    float *logits);\n\n"
                "static inline milm_model *" + pkg + "_open(const char *path,\n"
                "                                          const milm_model_params *params) {\n"
                "  return milm_model_open_code(&" + sp + "model_descriptor, " + sp +
                "forward, path, params);\n}\n\n"
                "/* From a model.milm in memory (64-byte aligned; milm.h: milm_model_open_memory). */\n"
                "static inline milm_model *" + pkg + "_open_memory(const void *data, size_t size,\n"
                "                                          const milm_model_params *params) {\n"
                "  return milm_model_open_code_memory(&" + sp + "model_descriptor, " + sp +
                "forward, data, size,\n                                      params);\n}\n\n"
                "#ifdef __cplusplus\n}\n#endif\n\n#endif\n"))
      return std::move(e);
  }

  if (!spec.full)
    return std::vector<std::string>{"lib", "include"};

  const std::string libs = "-lstdc++ -lm -lpthread";
  if (llvm::Error e = writeText(
          spec.dir + "/lib/pkgconfig/" + pkg + ".pc",
          "prefix=${pcfiledir}/../..\n"
          "includedir=${prefix}/include\n"
          "libdir=${prefix}/lib\n\n"
          "Name: " + pkg + "\n"
          "Description: " + spec.modelName + " compiled by milmc for " + spec.triple + "\n"
          "Version: " + std::to_string(MILM_API_VERSION) + "\n"
          "Cflags: -I${includedir}\n"
          "Libs: ${libdir}/lib" + pkg + ".a " + libs + "\n"))
    return std::move(e);
  if (llvm::Error e = writeText(
          spec.dir + "/lib/cmake/" + pkg + "/" + pkg + "Config.cmake",
          "# find_package(" + pkg + ") -> the imported target " + pkg + "::" + pkg +
              " and " + pkg + "_MODEL, the weights.\n"
              "get_filename_component(_" + pkg +
              "_prefix \"${CMAKE_CURRENT_LIST_DIR}/../../..\" ABSOLUTE)\n"
              "find_package(Threads REQUIRED)\n"
              "if(NOT TARGET " + pkg + "::" + pkg + ")\n"
              "  add_library(" + pkg + "::" + pkg + " STATIC IMPORTED)\n"
              "  set_target_properties(" + pkg + "::" + pkg + " PROPERTIES\n"
              "    IMPORTED_LOCATION \"${_" + pkg + "_prefix}/" + lib + "\"\n"
              "    INTERFACE_INCLUDE_DIRECTORIES \"${_" + pkg + "_prefix}/include\"\n"
              "    INTERFACE_LINK_LIBRARIES \"stdc++;m;Threads::Threads\")\n"
              "endif()\n"
              "set(" + pkg + "_MODEL \"${_" + pkg + "_prefix}/model.milm\")\n"))
    return std::move(e);
  if (llvm::Error e = writeText(spec.dir + "/examples/generate.c",
                                replaceAll(kExample, "@NAME@", name)))
    return std::move(e);

  std::string readme;
  llvm::raw_string_ostream r(readme);
  r << kReadmeStart << name << ": " << spec.modelName << " for " << spec.triple << "\n\n"
    << kReadmeWrittenBy << " The model's code and the milm runtime are "
       "one position-independent static library; the C API is `include/milm/milm.h`.\n\n"
    << "| | |\n|---|---|\n"
    << "| target | " << spec.triple << ", CPU `" << spec.cpu << "` |\n"
    << "| CPU features the code needs | "
    << (spec.requiredFeatures.empty() ? std::string("none beyond the base ISA")
                                      : spec.requiredFeatures)
    << " (`milm_model_open` refuses a CPU without them, with a message) |\n"
    << "| weights | `model.milm`, "
    << mib(spec.weightsBytes) << (spec.hasDraft ? "; the draft model's in `draft.milm`" : "")
    << " |\n"
    << "| memory a context needs | KV cache " << mib(spec.kvBytes) << " (" << spec.kvCapacity
    << " positions) + scratch " << mib(spec.arenaBytes) << ", besides the weights |\n"
    << "| tokens per evaluation | up to " << spec.maxTokens << " |\n\n"
    << "## Linking\n\n```sh\n"
    << "cc app.c -I include lib/lib" << pkg << ".a " << libs << "\n"
    << "PKG_CONFIG_PATH=$PWD/lib/pkgconfig cc app.c $(pkg-config --cflags --libs " << pkg
    << ")\n```\n\n"
    << "CMake: `find_package(" << pkg << " REQUIRED PATHS <this folder>/lib/cmake)`, then "
    << "`target_link_libraries(app PRIVATE " << pkg << "::" << pkg << ")`; `" << pkg
    << "_MODEL` is the weights' path.\n\n"
    << "Shared: `lib/lib" << pkg << ".so` exports only the C API and this model's symbols "
       "(the C++ runtime is inside it; it needs libc and libm): `cc app.c -I include "
       "-L lib -l" << pkg << "`, with the folder on the library path at run time.\n\n"
    << "Several models in one program: each package's symbols carry its own prefix; open this "
       "one with `" << pkg << "_open(path, params)` from `include/milm/" << pkg << ".h`. "
       "`milm_model_open` opens a model only where its code is linked in whole (the shared "
       "library, or milm-run): with the static library, name the model.\n\n"
    << "`examples/generate.c` is a complete program. The library is position-independent: it "
       "links into a PIE executable. It holds the C++ runtime's code, so the link needs the "
       "C++ standard library (`-lstdc++`); the API is plain C.\n";
  r.flush();
  if (llvm::Error e = writeText(spec.dir + "/README.md", readme))
    return std::move(e);
  return std::vector<std::string>{"lib", "include", "examples", "README.md"};
}

} // namespace milm
