// scripts/bundle.sh: the relocatable bundle runs from another folder with its own libraries.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "support/shell.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;

namespace {
std::pair<int, std::string> sh(const std::string& cmd) {
  auto r = deepzine::testing_support::shell(cmd);
  return {r.status, r.output};
}
}  // namespace

TEST(Bundle, RelocatedBundleRunsOnItsOwnLibraries) {
  if (sh("command -v patchelf").first != 0) GTEST_SKIP() << "patchelf missing (scripts/install_deps.sh installs it)";
  const fs::path src = std::getenv("DEEPZINE_SOURCE_DIR"), bin = std::getenv("DEEPZINE_BINARY");
  deepzine::testing_support::TempDir tmp("deepzine_bundle");  // tests/support/temp_dir.h
  const fs::path dir = tmp.path();
  auto [rc, out] = sh("cd '" + src.string() + "' && bash scripts/bundle.sh '" + bin.string() + "' '" +
                      (dir / "b").string() + "'");
  ASSERT_EQ(rc, 0) << out;
  fs::rename(dir / "b", dir / "moved");  // relocatable: nothing refers to where it was made
  const fs::path exe = dir / "moved" / "bin" / "deepzine";
  auto [vrc, version] = sh("'" + exe.string() + "' --version");
  EXPECT_EQ(vrc, 0) << version;
  EXPECT_NE(version.find("deepzine " DEEPZINE_VERSION), std::string::npos) << version;
  // Every library outside LibTorch's closure and the base system resolves inside the bundle.
  auto [lrc, ldd] = sh("ldd '" + exe.string() + "'");
  for (const char* lib : {"libyaml-cpp", "libhdf5_serial_cpp", "libpoppler.so", "libopencv_imgproc", "libcurl"}) {
    auto at = ldd.find(lib);
    ASSERT_NE(at, std::string::npos) << lib << "\n" << ldd;
    auto line = ldd.substr(at, ldd.find('\n', at) - at);
    EXPECT_NE(line.find((dir / "moved").string() + "/bin/../lib/"), std::string::npos) << line;
  }
  EXPECT_EQ(ldd.find("not found"), std::string::npos) << ldd;
  // LibTorch (any version: libtorch*, libc10*) and CUDA's libraries come from the target machine.
  int libraries = 0;
  for (const auto& entry : fs::directory_iterator(dir / "moved" / "lib")) {
    const std::string name = entry.path().filename().string();
    ++libraries;
    for (const char* prefix : {"libtorch", "libc10", "libcuda", "libcudart", "libcublas", "libcudnn", "libnccl", "libnvrtc"}) {
      EXPECT_NE(name.rfind(prefix, 0), 0u) << name << " is bundled; LibTorch and CUDA must come from the target";
    }
  }
  EXPECT_GT(libraries, 5);  // the bundle does carry the other libraries
  // The executable itself links no LibTorch (a load_data run does not pay its start-up); the
  // bundle's LibTorch stages module, loaded from ../lib, samples the shipped model.
  EXPECT_EQ(ldd.find("libtorch"), std::string::npos) << ldd;
  EXPECT_EQ(ldd.find("libc10"), std::string::npos) << ldd;
  ASSERT_TRUE(fs::exists(dir / "moved" / "lib" / "libdeepzine_torch_stages.so"));
  auto [src_rc, sampled] = sh("cd '" + src.string() + "' && '" + exe.string() +
                              "' config_pretrained.yaml --set inference_output_directory='" + (dir / "out").string() +
                              "' --set inference_output_num=2 --set interpolation=False --set device=cpu");
  EXPECT_EQ(src_rc, 0) << sampled;
  EXPECT_TRUE(fs::exists(dir / "out" / "inference_00001.png")) << sampled;
}
