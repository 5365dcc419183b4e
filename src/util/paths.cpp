#include "deepzine/util/paths.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

namespace deepzine::util {

std::filesystem::path expand_user(const std::string& path) {
  if (path.empty() || path[0] != '~') return path;
  if (path.size() > 1 && path[1] != '/') return path;  // "~user" is left alone
  std::string home;
  if (const char* h = std::getenv("HOME"); h && *h) {
    home = h;
  } else if (const passwd* pw = getpwuid(getuid()); pw && pw->pw_dir) {
    home = pw->pw_dir;
  } else {
    return path;
  }
  return std::filesystem::path(home + path.substr(1));
}

std::string output_folder_problem(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  fs::path at = dir.empty() ? fs::path(".") : dir;
  std::error_code ec;
  // The nearest part of the path that exists decides: a file there, or a folder without write access.
  while (!fs::exists(at, ec)) {
    if (!at.has_parent_path() || at.parent_path() == at) return "";
    at = at.parent_path();
  }
  if (!fs::is_directory(at, ec)) return at.string() + " is a file, not a folder";
  if (::access(at.c_str(), W_OK | X_OK) != 0) return "the folder " + at.string() + " is not writable";
  return "";
}

}  // namespace deepzine::util
