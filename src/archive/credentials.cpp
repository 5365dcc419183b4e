#include <fnmatch.h>

#include <cstdlib>
#include <fstream>

#include "deepzine/archive/downloader.h"
#include "deepzine/util/paths.h"

namespace deepzine::archive {
namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// The [s3] section of an ia.ini as `ia configure` writes it.
Credentials from_ini(const std::filesystem::path& file) {
  Credentials c;
  std::ifstream in(file);
  std::string line, section;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = trim(line.substr(1, line.size() - 2));
      continue;
    }
    const auto eq = line.find('=');
    if (section != "s3" || eq == std::string::npos) continue;
    const std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    if (key == "access") c.access = value;
    if (key == "secret") c.secret = value;
  }
  return c;
}

}  // namespace

Credentials load_credentials() {
  const char* a = std::getenv("IA_ACCESS_KEY");
  const char* s = std::getenv("IA_SECRET_KEY");
  if (a && s && *a && *s) return {a, s};
  for (const char* candidate : {"~/.config/internetarchive/ia.ini", "~/.ia"}) {
    const auto file = util::expand_user(candidate);
    if (std::filesystem::exists(file)) {
      Credentials c = from_ini(file);
      if (c.present()) return c;
    }
  }
  return {};
}

bool is_safe_relative_path(const std::string& name) {
  if (name.empty() || name.front() == '/' || name.size() > 4096) return false;
  for (unsigned char ch : name) {
    if (ch < 0x20 || ch == 0x7f || ch == '\\') return false;
  }
  size_t start = 0;
  while (start <= name.size()) {
    const size_t end = std::min(name.find('/', start), name.size());
    const std::string part = name.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

bool glob_match(const std::string& pattern, const std::string& name) {
  // glibc's fnmatch(3) without FNM_PATHNAME: '*' also matches '/' of an item's subfolders, as before.
  return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

}  // namespace deepzine::archive
