#include "fake_archive.h"

#include <httplib.h>
#include <openssl/evp.h>

#include <chrono>
#include <fstream>

#include <nlohmann/json.hpp>

namespace deepzine::fake {
using nlohmann::json;

std::string md5_hex(const std::string& bytes) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), out, &len, EVP_md5(), nullptr);
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < len; ++i) s += {digits[out[i] >> 4], digits[out[i] & 15]};
  return s;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

struct FakeArchive::Impl {
  httplib::Server server;
  std::thread thread;
  int port = 0;
  std::mutex mutex;
  std::vector<std::string> order;
  std::map<std::string, std::vector<FakeFile>> items;
  std::string authorization;
};

FakeArchive::FakeArchive() : impl_(std::make_unique<Impl>()) {
  auto& s = impl_->server;
  auto delay = [this] {
    if (int ms = faults.latency_ms.load()) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  };
  s.Get("/services/search/v1/scrape", [this, delay](const httplib::Request& req, httplib::Response& res) {
    delay();
    {
      std::lock_guard<std::mutex> lock(impl_->mutex);
      impl_->authorization = req.get_header_value("Authorization");
    }
    if (faults.search_error) {
      res.set_content(R"({"error": "invalid query: collection:nope"})", "application/json");
      return;
    }
    std::lock_guard<std::mutex> lock(impl_->mutex);
    size_t start = req.has_param("cursor") ? std::stoul(req.get_param_value("cursor").substr(1)) : 0;
    json out;
    out["items"] = json::array();
    size_t i = start;
    for (; i < impl_->order.size() && i < start + page_size_; ++i) out["items"].push_back({{"identifier", impl_->order[i]}});
    out["count"] = out["items"].size();
    out["total"] = impl_->order.size();
    if (i < impl_->order.size()) out["cursor"] = "c" + std::to_string(i);
    res.set_content(out.dump(), "application/json");
  });
  s.Get(R"(/metadata/(.+))", [this, delay](const httplib::Request& req, httplib::Response& res) {
    delay();
    std::lock_guard<std::mutex> lock(impl_->mutex);
    auto it = impl_->items.find(req.matches[1]);
    if (it == impl_->items.end()) {
      res.set_content("{}", "application/json");  // what archive.org answers for a missing item
      return;
    }
    json files = json::array();
    for (const auto& f : it->second) {
      files.push_back({{"name", f.name}, {"source", "original"}, {"size", std::to_string(f.bytes.size())},
                       {"md5", f.md5_override.empty() ? md5_hex(f.bytes) : f.md5_override}});
    }
    res.set_content(json{{"files", files}, {"dir", "/1/items/x"}}.dump(), "application/json");
  });
  // archive.org redirects downloads to a data node; so does this one.
  s.Get(R"(/download/(.+))", [delay](const httplib::Request& req, httplib::Response& res) {
    delay();
    res.set_redirect("/node/" + std::string(req.matches[1]));
  });
  s.Get(R"(/node/([^/]+)/(.+))", [this, delay](const httplib::Request& req, httplib::Response& res) {
    delay();
    ++downloads;
    const FakeFile* file = nullptr;
    {
      std::lock_guard<std::mutex> lock(impl_->mutex);
      auto it = impl_->items.find(req.matches[1]);
      if (it != impl_->items.end()) {
        for (const auto& f : it->second) {
          if (f.name == std::string(req.matches[2])) file = &f;
        }
      }
    }
    if (!file) {
      res.status = 404;
      return;
    }
    if (faults.fail_503 > 0) {
      --faults.fail_503;
      res.status = 503;
      return;
    }
    if (faults.fail_429 > 0) {
      --faults.fail_429;
      res.status = 429;
      res.set_header("Retry-After", "1");
      return;
    }
    if (int secs = faults.slow_seconds.load()) std::this_thread::sleep_for(std::chrono::seconds(secs));
    const std::string bytes = file->bytes;
    const bool cut = faults.truncate > 0 && faults.truncate-- > 0;
    res.set_content_provider(bytes.size(), "application/pdf",
                             [bytes, cut](size_t offset, size_t length, httplib::DataSink& sink) {
                               if (cut && offset >= bytes.size() / 2) return false;  // drop the connection
                               const size_t n = std::min<size_t>(length, cut ? bytes.size() / 2 - offset : 65536);
                               sink.write(bytes.data() + offset, n);
                               return true;
                             });
  });
  impl_->port = s.bind_to_any_port("127.0.0.1");
  impl_->thread = std::thread([this] { impl_->server.listen_after_bind(); });
  while (!impl_->server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

FakeArchive::~FakeArchive() {
  impl_->server.stop();
  impl_->thread.join();
}

void FakeArchive::add_item(const std::string& identifier, std::vector<FakeFile> files) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->order.push_back(identifier);
  impl_->items[identifier] = std::move(files);
}

std::string FakeArchive::base_url() const { return "http://127.0.0.1:" + std::to_string(impl_->port); }

std::string FakeArchive::last_authorization() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->authorization;
}

}  // namespace deepzine::fake
