#include "deepzine/archive/downloader.h"

#include <openssl/evp.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "deepzine/util/atomic_file.h"
#include "deepzine/util/error.h"
#include "deepzine/util/progress.h"
#include "http.h"

namespace deepzine::archive {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct RemoteFile {
  std::string identifier, name, md5;
  int64_t size = -1;
};

class Md5 {
 public:
  Md5() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_md5(), nullptr); }
  ~Md5() { EVP_MD_CTX_free(ctx_); }
  void update(const char* d, size_t n) { EVP_DigestUpdate(ctx_, d, n); }
  std::string hex() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, out, &len);
    static const char* digits = "0123456789abcdef";
    std::string s;
    for (unsigned i = 0; i < len; ++i) s += {digits[out[i] >> 4], digits[out[i] & 15]};
    return s;
  }

 private:
  EVP_MD_CTX* ctx_;
};

std::string md5_of_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  Md5 md5;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    md5.update(buf.data(), static_cast<size_t>(in.gcount()));
  }
  return md5.hex();
}

int64_t as_size(const json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_string()) {
    try {
      return std::stoll(v.get<std::string>());
    } catch (...) {
    }
  }
  return -1;
}

// A JSON API answer, with retries. Returns "" and fills `out`, or the reason it failed.
std::string get_json(HttpSession& http, const std::string& url, const DownloadOptions& o, json& out) {
  return with_retries(o.retries, o.backoff_seconds, [&](HttpResponse& r) -> std::string {
    std::string body;
    r = http.get_text(url, body);
    if (r.curl != CURLE_OK || r.status != 200) return r.describe();
    try {
      out = json::parse(body);
    } catch (const json::exception&) {
      r.content_error = true;  // a cut-off answer: worth another try
      return "the server's answer is not valid JSON";
    }
    return "";
  });
}

// Shared state of one collection download.
struct Run {
  const DownloadOptions& o;
  Credentials credentials;
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<RemoteFile> files;        // downloads to do
  std::deque<std::string> items;       // metadata to fetch
  int busy = 0;
  bool search_done = false;
  DownloadSummary summary;
  util::Progress bytes{"downloading", 0, "B"};

  explicit Run(const DownloadOptions& opts) : o(opts), credentials(load_credentials()) {}

  void fail(const std::string& what, const std::string& reason) {
    std::lock_guard<std::mutex> lock(mutex);
    ++summary.failed;
    summary.failures.push_back(what + ": " + reason);
    spdlog::warn("{}: {} (left out; the run goes on)", what, reason);
  }

  void item_metadata(HttpSession& http, const std::string& id) {
    json meta;
    if (std::string e = get_json(http, o.base_url + "/metadata/" + url_escape(id), o, meta); !e.empty()) {
      return fail(id, "metadata request failed: " + e);
    }
    if (!meta.is_object() || !meta.contains("files") || !meta["files"].is_array()) {
      return fail(id, "the item has no file list (does it exist?)");
    }
    std::vector<RemoteFile> wanted;
    for (const auto& f : meta["files"]) {
      if (!f.is_object() || !f.contains("name") || !f["name"].is_string()) continue;
      RemoteFile r{id, f["name"].get<std::string>(), f.value("md5", std::string()), as_size(f.value("size", json()))};
      const std::string base = r.name.substr(r.name.rfind('/') + 1);
      if (!glob_match(o.glob, base) || (base.size() >= 7 && base.compare(base.size() - 7, 7, "_bw.pdf") == 0)) continue;
      if (!is_safe_relative_path(r.name)) {
        fail(id + "/" + r.name, "unsafe file name refused (absolute, '..', empty or control characters)");
        continue;
      }
      wanted.push_back(std::move(r));
    }
    std::lock_guard<std::mutex> lock(mutex);
    for (auto& f : wanted) {
      ++summary.files;
      if (f.size > 0) bytes.add_total(f.size);
      files.push_back(std::move(f));
    }
    cv.notify_all();
  }

  void download(HttpSession& http, const RemoteFile& f) {
    const std::string what = f.identifier + "/" + f.name;
    const fs::path dest = o.output_dir / f.identifier / f.name;
    std::error_code ec;
    if (fs::exists(dest, ec) && (f.size < 0 || static_cast<int64_t>(fs::file_size(dest, ec)) == f.size) &&
        (f.md5.empty() || md5_of_file(dest) == f.md5)) {
      std::lock_guard<std::mutex> lock(mutex);
      ++summary.skipped_present;
      if (f.size > 0) bytes.advance(f.size);
      return;
    }
    fs::create_directories(dest.parent_path(), ec);
    // Leftovers of a killed run are never counted: remove them.
    util::remove_stale_temporaries(dest);
    const std::string url = o.base_url + "/download/" + url_escape(f.identifier) + "/" + escape_path(f.name);
    int64_t got_total = 0;
    std::string reason = with_retries(o.retries, o.backoff_seconds, [&](HttpResponse& r) -> std::string {
      util::AtomicFile out(dest);
      std::FILE* fp = std::fopen(out.temp_path().c_str(), "wb");
      if (!fp) return "cannot write " + out.temp_path().string();
      Md5 md5;
      int64_t got = 0;
      r = http.get(url, [&](const char* d, size_t n) {
        md5.update(d, n);
        got += static_cast<int64_t>(n);
        bytes.advance(static_cast<int64_t>(n));
        return std::fwrite(d, 1, n, fp) == n;
      });
      const bool written = std::fflush(fp) == 0 && std::fclose(fp) == 0;
      got_total += got;
      if (r.curl != CURLE_OK || r.status != 200) return r.describe();
      if (!written) return "write failed (disk full?)";
      if (f.size >= 0 && got != f.size) {
        r.content_error = true;
        return "truncated: got " + std::to_string(got) + " of " + std::to_string(f.size) + " bytes";
      }
      if (!f.md5.empty() && md5.hex() != f.md5) {
        r.content_error = true;
        return "md5 mismatch (expected " + f.md5 + ")";
      }
      out.commit();
      return "";
    });
    if (!reason.empty()) return fail(what, reason);
    std::lock_guard<std::mutex> lock(mutex);
    ++summary.downloaded;
    summary.bytes += f.size > 0 ? f.size : 0;
  }

  static std::string escape_path(const std::string& name) {
    std::string out;
    size_t start = 0;
    while (start <= name.size()) {
      const size_t end = std::min(name.find('/', start), name.size());
      out += (start ? "/" : "") + url_escape(name.substr(start, end - start));
      start = end + 1;
    }
    return out;
  }

  void worker() {
    HttpSession http(credentials, o.timeout_seconds);
    for (;;) {
      std::string item;
      RemoteFile file;
      bool is_file = false;
      {
        std::unique_lock<std::mutex> lock(mutex);
        cv.wait(lock, [&] { return !files.empty() || !items.empty() || (search_done && busy == 0); });
        if (files.empty() && items.empty()) return;
        // Downloads before more metadata keep the bounded set of known files small.
        if (!files.empty()) {
          file = std::move(files.front());
          files.pop_front();
          is_file = true;
        } else {
          item = std::move(items.front());
          items.pop_front();
        }
        ++busy;
      }
      if (is_file) download(http, file); else item_metadata(http, item);
      std::lock_guard<std::mutex> lock(mutex);
      --busy;
      cv.notify_all();
    }
  }
};

}  // namespace

DownloadSummary download_collection(const DownloadOptions& o) {
  if (o.collection.empty()) throw util::StageError("internetarchive_collection is empty: name a collection to download");
  if (!is_safe_relative_path(o.collection)) throw util::StageError("internetarchive_collection '" + o.collection + "' is not a valid identifier");
  fs::create_directories(o.output_dir);
  Run run(o);
  spdlog::info("searching collection '{}' at {}{}", o.collection, o.base_url,
               run.credentials.present() ? " (with Internet Archive credentials)" : "");
  std::vector<std::thread> workers;
  for (int i = 0; i < std::max(1, o.workers); ++i) workers.emplace_back([&] { run.worker(); });

  // Search (paged by cursor) while the workers already fetch metadata and files.
  std::string cursor, search_error;
  int64_t taken = 0;
  HttpSession http(run.credentials, o.timeout_seconds);
  const int64_t page = std::max<int64_t>(100, std::min<int64_t>(o.search_page_size, o.max_items.value_or(10000)));
  for (;;) {
    std::string url = o.base_url + "/services/search/v1/scrape?q=" + url_escape("collection:" + o.collection) +
                      "&fields=identifier&count=" + std::to_string(page);
    if (!cursor.empty()) url += "&cursor=" + url_escape(cursor);
    json answer;
    if (std::string e = get_json(http, url, o, answer); !e.empty()) {
      search_error = "search request failed: " + e;
      break;
    }
    if (answer.contains("error")) {
      search_error = "the search API answered: " + answer["error"].dump();
      break;
    }
    if (taken == 0 && answer.contains("total")) {
      spdlog::info("collection '{}': {} items{}", o.collection, answer["total"].dump(),
                   o.max_items ? " (taking at most " + std::to_string(*o.max_items) + ")" : "");
    }
    std::vector<std::string> ids;
    for (const auto& it : answer.value("items", json::array())) {
      if (o.max_items && taken >= *o.max_items) break;
      const std::string id = it.value("identifier", std::string());
      if (!is_safe_relative_path(id) || id.find('/') != std::string::npos) {
        run.fail(id.empty() ? "(empty identifier)" : id, "unsafe identifier refused");
        continue;
      }
      ids.push_back(id);
      ++taken;
    }
    {
      std::lock_guard<std::mutex> lock(run.mutex);
      run.summary.items += static_cast<int64_t>(ids.size());
      for (auto& id : ids) run.items.push_back(std::move(id));
      run.cv.notify_all();
    }
    if ((o.max_items && taken >= *o.max_items) || !answer.contains("cursor") || !answer["cursor"].is_string()) break;
    cursor = answer["cursor"].get<std::string>();
  }
  {
    std::lock_guard<std::mutex> lock(run.mutex);
    run.search_done = true;
    if (!search_error.empty()) run.items.clear();  // nothing trustworthy to continue with
    run.cv.notify_all();
  }
  for (auto& w : workers) w.join();
  run.bytes.finish();
  if (!search_error.empty()) throw util::StageError("collection '" + o.collection + "': " + search_error);
  const DownloadSummary& s = run.summary;
  spdlog::info("downloads: {} items, {} files: {} downloaded, {} already present, {} failed", s.items, s.files,
               s.downloaded, s.skipped_present, s.failed);
  return s;
}

}  // namespace deepzine::archive
