#pragma once
// Small HTML builders shared by the training report and the output index.
#include <string>

namespace deepzine::report::html {

// The page around `body`: title, a small stylesheet, no scripts, no network.
std::string page(const std::string& title, const std::string& body);
std::string tag(const std::string& name, const std::string& content, const std::string& attributes = "");
// A relative URL of a file name (percent-encodes what is not a plain path character).
std::string url(const std::string& relative_path);
// A local time stamp "2026-12-02 01:02:03 UTC".
std::string now_utc();

}  // namespace deepzine::report::html
