#pragma once
// A libcurl session (one per thread, so its connection is reused) with the retry policy of the
// downloader: connection errors, stalls, truncated bodies, 5xx and 429 (honouring Retry-After) are
// retried with exponential backoff and jitter.
#include <curl/curl.h>

#include <functional>
#include <string>

#include "deepzine/archive/downloader.h"

namespace deepzine::archive {

struct HttpResponse {
  long status = 0;
  CURLcode curl = CURLE_OK;
  std::string error;        // curl's message when curl != CURLE_OK
  double retry_after = -1;  // seconds, from a Retry-After header
  bool content_error = false;  // set by the caller: wrong size or md5 (worth retrying)
  bool transient() const;   // worth retrying
  std::string describe() const;
};

class HttpSession {
 public:
  HttpSession(const Credentials& credentials, double timeout_seconds);
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;
  // Streams the body to `sink` (return false to abort). Follows redirects.
  HttpResponse get(const std::string& url, const std::function<bool(const char*, size_t)>& sink);
  HttpResponse get_text(const std::string& url, std::string& body);

 private:
  CURL* curl_;
  curl_slist* headers_ = nullptr;
  double timeout_;
};

// Runs `attempt` until it succeeds or `retries` retries are spent; returns the last failure reason or "".
// `attempt` returns "" on success, else a reason; `response` tells whether and how long to wait.
std::string with_retries(int retries, double backoff_seconds,
                         const std::function<std::string(HttpResponse& response)>& attempt);

std::string url_escape(const std::string& text);  // percent-encoding of one path component / query value

}  // namespace deepzine::archive
