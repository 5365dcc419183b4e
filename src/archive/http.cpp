#include "http.h"

#include <chrono>
#include <cmath>
#include <mutex>
#include <random>
#include <thread>

namespace deepzine::archive {
namespace {
size_t on_data(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<const std::function<bool(const char*, size_t)>*>(user);
  return (*sink)(data, size * n) ? size * n : 0;  // 0 aborts the transfer
}
size_t on_header(char* data, size_t size, size_t n, void* user) {
  std::string line(data, size * n);
  const std::string key = "retry-after:";
  if (line.size() > key.size()) {
    std::string head = line.substr(0, key.size());
    for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (head == key) {
      try {
        *static_cast<double*>(user) = std::stod(line.substr(key.size()));
      } catch (...) {  // an HTTP date: fall back to the backoff
      }
    }
  }
  return size * n;
}
void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}
}  // namespace

bool HttpResponse::transient() const {
  if (curl != CURLE_OK) return curl != CURLE_WRITE_ERROR || status == 0;
  return status == 429 || status >= 500 || status == 408;
}

std::string HttpResponse::describe() const {
  if (curl != CURLE_OK) return "network error: " + error;
  return "HTTP " + std::to_string(status);
}

HttpSession::HttpSession(const Credentials& credentials, double timeout_seconds) : timeout_(timeout_seconds) {
  global_init();
  curl_ = curl_easy_init();
  if (credentials.present()) {
    // Never logged: messages name URLs and statuses only.
    headers_ = curl_slist_append(headers_, ("Authorization: LOW " + credentials.access + ":" + credentials.secret).c_str());
  }
}

HttpSession::~HttpSession() {
  curl_slist_free_all(headers_);
  curl_easy_cleanup(curl_);
}

HttpResponse HttpSession::get(const std::string& url, const std::function<bool(const char*, size_t)>& sink) {
  HttpResponse r;
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_reset(curl_);  // keeps the connection cache
  curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl_, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(curl_, CURLOPT_USERAGENT, "deepzine/" DEEPZINE_VERSION " (Internet Archive page downloader)");
  curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, errbuf);
  const long limit = std::max(1L, static_cast<long>(std::ceil(timeout_)));
  curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT, limit);
  curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_LIMIT, 1L);  // a stall of `limit` seconds is a timeout
  curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_TIME, limit);
  if (headers_) curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
  // Only successful bodies go to the sink; error pages are dropped.
  bool ok_status = false;
  std::function<bool(const char*, size_t)> gate = [&](const char* d, size_t n) {
    if (!ok_status) {
      long code = 0;
      curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &code);
      ok_status = code >= 200 && code < 300;
      if (!ok_status) return true;
    }
    return sink(d, n);
  };
  curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &gate);
  curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &r.retry_after);
  r.curl = curl_easy_perform(curl_);
  curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &r.status);
  if (r.curl != CURLE_OK) r.error = errbuf[0] ? errbuf : curl_easy_strerror(r.curl);
  return r;
}

HttpResponse HttpSession::get_text(const std::string& url, std::string& body) {
  body.clear();
  return get(url, [&](const char* d, size_t n) {
    body.append(d, n);
    return body.size() < (64u << 20);  // API answers are small; refuse runaway bodies
  });
}

std::string with_retries(int retries, double backoff, const std::function<std::string(HttpResponse&)>& attempt) {
  thread_local std::mt19937 rng(std::random_device{}());
  std::string reason;
  for (int i = 0; i <= retries; ++i) {
    HttpResponse r;
    reason = attempt(r);
    if (reason.empty()) return "";
    if (!(r.content_error || r.transient()) || i == retries) break;
    double wait = backoff * std::pow(2.0, i) * std::uniform_real_distribution<double>(0.5, 1.5)(rng);
    if (r.status == 429 && r.retry_after >= 0) wait = std::max(wait, r.retry_after);
    std::this_thread::sleep_for(std::chrono::duration<double>(std::min(wait, 300.0)));
  }
  return reason;
}

std::string url_escape(const std::string& text) {
  std::string out;
  static const char* hex = "0123456789ABCDEF";
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace deepzine::archive
