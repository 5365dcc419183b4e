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

}  // namespace deepzine::util
