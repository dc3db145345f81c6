//===- Package.cpp - milmc compile --emit package -------------------------===//

#include "tools/milmc/Package.h"

#include "milm/milm.h"

#include "llvm/Object/Archive.h"
#include "llvm/Object/ArchiveWriter.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

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
#include <milm/milm.h>

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
  milm_model *model = milm_model_open(argv[1], NULL);
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

std::string replaceAll(std::string s, const std::string &from, const std::string &to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

} // namespace

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

  // The header.
  {
    auto h = llvm::MemoryBuffer::getFile(spec.headerPath);
    if (!h)
      return err(spec.headerPath + ": " + h.getError().message());
    if (llvm::Error e = writeText(spec.dir + "/include/milm/milm.h", (*h)->getBuffer().str()))
      return std::move(e);
  }

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
  r << "# " << pkg << ": " << spec.modelName << " for " << spec.triple << "\n\n"
    << "Written by `milmc compile --emit package`. The model's code and the milm runtime are "
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
    << "`examples/generate.c` is a complete program. The library is position-independent: it "
       "links into a PIE executable. It holds the C++ runtime's code, so the link needs the "
       "C++ standard library (`-lstdc++`); the API is plain C.\n";
  r.flush();
  if (llvm::Error e = writeText(spec.dir + "/PACKAGE.md", readme))
    return std::move(e);
  return std::vector<std::string>{"lib", "include", "examples", "PACKAGE.md"};
}

} // namespace milm
