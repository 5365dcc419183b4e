#include "deepzine/util/log.h"

#include <cstdlib>
#include <string>

#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace deepzine::util {

std::string escape_control_characters(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\n' && c != '\t') || u == 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

// %* in the pattern: the message, escaped.
class EscapedMessage : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const std::string safe = escape_control_characters(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(safe.data(), safe.data() + safe.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<EscapedMessage>(); }
};

}  // namespace

void setup_logging(const std::string& level) {
  spdlog::drop("deepzine");  // setup may run twice (tests)
  auto logger = spdlog::stderr_color_mt("deepzine");
  // In a multi-process run (the torchrun variables) every line says which rank wrote it.
  const char* world = std::getenv("WORLD_SIZE");
  const char* rank = std::getenv("RANK");
  const std::string pattern = world && rank && std::atoi(world) > 1
                                  ? std::string("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [rank ") + rank + "] %*"
                                  : std::string("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %*");
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<EscapedMessage>('*').set_pattern(pattern);
  logger->set_formatter(std::move(formatter));
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
}

void log_removed_temporaries(const std::vector<std::filesystem::path>& removed) {
  for (const auto& stale : removed) spdlog::info("removed {} left by an interrupted earlier run", stale.string());
}

}  // namespace deepzine::util
