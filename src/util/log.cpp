#include "deepzine/util/log.h"

#include <cstdlib>
#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace deepzine::util {

void setup_logging(const std::string& level) {
  spdlog::drop("deepzine");  // setup may run twice (tests)
  auto logger = spdlog::stderr_color_mt("deepzine");
  // In a multi-process run (the torchrun variables) every line says which rank wrote it.
  const char* world = std::getenv("WORLD_SIZE");
  const char* rank = std::getenv("RANK");
  if (world && rank && std::atoi(world) > 1) {
    logger->set_pattern(std::string("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [rank ") + rank + "] %v");
  } else {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
  }
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
}

}  // namespace deepzine::util
