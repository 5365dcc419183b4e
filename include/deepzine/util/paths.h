#pragma once
#include <filesystem>
#include <string>

namespace deepzine::util {

// "~" and "~/x" become $HOME and $HOME/x; other paths are returned unchanged.
std::filesystem::path expand_user(const std::string& path);

// Why `dir` cannot be used as an output folder, or "" when it can: it exists as a writable folder,
// or it can be created (its nearest existing ancestor is a writable folder). Creates nothing.
std::string output_folder_problem(const std::filesystem::path& dir);

}  // namespace deepzine::util
