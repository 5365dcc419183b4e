// The YAML config loader: any text is a Config or a ConfigError, nothing else.
#include <cstdint>
#include <string>

#include "deepzine/config/config.h"
#include "deepzine/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    deepzine::config::parse_config(std::string(reinterpret_cast<const char*>(data), size), "fuzz.yaml");
  } catch (const deepzine::util::ConfigError&) {
  }
  return 0;
}
