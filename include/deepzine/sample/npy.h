#pragma once
// NumPy .npy files of float32 latents ([N, latent_size], C order), so latents move between this tool,
// Python and earlier runs.
#include <filesystem>
#include <string>

#include <torch/types.h>

namespace deepzine::sample {

// Throws std::runtime_error naming the file for anything but a little-endian float32 (or float64,
// converted) C-order 2-D array, or a truncated file.
torch::Tensor read_npy(const std::filesystem::path& file);
// The same from the file's bytes (`file` names it in messages).
torch::Tensor parse_npy(const std::string& bytes, const std::filesystem::path& file);
// float32 C order; atomic.
void write_npy(const std::filesystem::path& file, const torch::Tensor& array);

}  // namespace deepzine::sample
