#include "deepzine/util/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace deepzine::util {

void setup_logging(const std::string& level) {
  spdlog::drop("deepzine");  // setup may run twice (tests)
  auto logger = spdlog::stderr_color_mt("deepzine");
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
}

}  // namespace deepzine::util
