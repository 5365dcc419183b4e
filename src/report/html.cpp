#include "html.h"

#include <ctime>

#include <fmt/format.h>

#include "deepzine/report/report.h"

namespace deepzine::report {

std::string escape_html(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        // Control characters (from file names, config text) are shown, not passed to the browser raw.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') {
          out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  return out;
}

namespace html {

std::string page(const std::string& title, const std::string& body) {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + escape_html(title) +
         "</title>\n<style>\n"
         "body{font-family:sans-serif;margin:1.5em;color:#222;max-width:1500px}\n"
         "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}\n"
         "th{background:#f2f2f2}td.l,th.l{text-align:left}tr.now{background:#fff6d5}\n"
         "figure{display:inline-block;margin:0.4em;vertical-align:top}figcaption{font-size:90%;color:#555}\n"
         "img.grid{image-rendering:pixelated;width:384px;border:1px solid #ccc}\n"
         ".plot svg{width:720px;height:auto}.plot{display:inline-block;margin:0.3em}\n"
         "pre{background:#f7f7f7;padding:0.6em;overflow:auto;max-height:30em}\n"
         "</style>\n</head>\n<body>\n" +
         body + "</body>\n</html>\n";
}

std::string tag(const std::string& name, const std::string& content, const std::string& attributes) {
  return "<" + name + (attributes.empty() ? "" : " " + attributes) + ">" + content + "</" + name + ">";
}

std::string url(const std::string& relative_path) {
  std::string out;
  for (unsigned char c : relative_path) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '/' || c == '.' || c == '_' || c == '-';
    out += plain ? std::string(1, static_cast<char>(c)) : fmt::format("%{:02X}", c);
  }
  return out;
}

std::string now_utc() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

}  // namespace html
}  // namespace deepzine::report
