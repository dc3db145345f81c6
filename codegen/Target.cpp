//===- Target.cpp - The target registry ------------------------------------===//
#include "codegen/Target.h"

#include "llvm/Support/ErrorHandling.h"

#include <mutex>

namespace milm {


namespace {

struct Registry {
  std::mutex mutex;
  std::vector<std::unique_ptr<Target>> targets;
};

Registry &registry() {
  static Registry r;
  return r;
}

bool selects(const Target &t, llvm::StringRef name) {
  if (t.name() == name)
    return true;
  for (const std::vector<std::string> &names : {t.aliases(), t.hiddenAliases()})
    for (const std::string &a : names)
      if (a == name)
        return true;
  return false;
}

} // namespace

void registerTarget(std::unique_ptr<Target> target) {
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<std::string> names = {target->name().str()};
  for (const std::vector<std::string> &more : {target->aliases(), target->hiddenAliases()})
    names.insert(names.end(), more.begin(), more.end());
  for (const std::unique_ptr<Target> &t : r.targets)
    for (const std::string &n : names)
      if (selects(*t, n))
        llvm::report_fatal_error(llvm::Twine("target name '") + n + "' registered twice");
  r.targets.push_back(std::move(target));
}

const Target *lookupTarget(llvm::StringRef name) {
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (const std::unique_ptr<Target> &t : r.targets)
    if (selects(*t, name))
      return t.get();
  return nullptr;
}

std::vector<const Target *> registeredTargets() {
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<const Target *> out;
  for (const std::unique_ptr<Target> &t : r.targets)
    out.push_back(t.get());
  return out;
}

std::string listTargetNames() {
  std::string s;
  for (const Target *t : registeredTargets()) {
    s += (s.empty() ? "" : ", ") + t->name().str();
    for (const std::string &a : t->aliases())
      s += ", " + a;
  }
  return s;
}

} // namespace milm
