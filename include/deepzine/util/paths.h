#pragma once
#include <filesystem>
#include <string>

namespace deepzine::util {

// "~" and "~/x" become $HOME and $HOME/x; other paths are returned unchanged.
std::filesystem::path expand_user(const std::string& path);

}  // namespace deepzine::util
