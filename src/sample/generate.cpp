#include "deepzine/sample/generate.h"

#include <torch/torch.h>

#include "deepzine/util/progress.h"

namespace deepzine::sample {

void generate(const GeneratorFn& generator, const torch::Tensor& latents, int batch_size, torch::Device device,
              const ImageSink& sink, const std::string& progress_label) {
  torch::NoGradGuard no_grad;
  const int64_t n = latents.size(0);
  util::Progress progress(progress_label, n, "img");
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t end = std::min<int64_t>(n, start + batch_size);
    torch::Tensor images = generator(latents.slice(0, start, end).to(device));
    torch::Tensor pixels = ((images.clamp(-1, 1) + 1) * 127.5)
                               .round()
                               .clamp(0, 255)
                               .to(torch::kUInt8)
                               .permute({0, 2, 3, 1})
                               .contiguous()
                               .to(torch::kCPU);
    const int size = static_cast<int>(pixels.size(1)), channels = static_cast<int>(pixels.size(3));
    const int64_t stride = pixels.stride(0);
    for (int64_t i = 0; i < end - start; ++i) {
      sink(start + i, pixels.data_ptr<uint8_t>() + i * stride, size, channels);
    }
    progress.advance(end - start);
  }
  progress.finish();
}

torch::Tensor random_latents(int64_t count, int latent_size, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::randn({count, latent_size}, gen);
}

}  // namespace deepzine::sample
