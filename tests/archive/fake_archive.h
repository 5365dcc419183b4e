#pragma once
// An Internet Archive look-alike on 127.0.0.1 for tests and benchmarks: scrape search with cursors,
// item metadata, downloads (through a redirect, as the real one), and faults switched on per test.
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace deepzine::fake {

struct FakeFile {
  std::string name, bytes;
  std::string md5_override;  // served in the metadata instead of the real md5
};

struct Faults {
  std::atomic<int> fail_503{0};          // next N downloads answer 503
  std::atomic<int> fail_429{0};          // next N downloads answer 429 with Retry-After: 1
  std::atomic<int> truncate{0};          // next N downloads send half the body, then close
  std::atomic<int> slow_seconds{0};      // downloads stall this long before the body
  std::atomic<bool> search_error{false}; // search answers {"error": ...}
  std::atomic<int> latency_ms{0};        // added to every request
};

class FakeArchive {
 public:
  FakeArchive();
  ~FakeArchive();
  void add_item(const std::string& identifier, std::vector<FakeFile> files);
  void set_page_size(int items) { page_size_ = items; }
  std::string base_url() const;
  Faults faults;
  std::atomic<int> downloads{0};  // download requests answered
  std::string last_authorization();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int page_size_ = 2;
};

std::string md5_hex(const std::string& bytes);
std::string read_file(const std::string& path);

}  // namespace deepzine::fake
