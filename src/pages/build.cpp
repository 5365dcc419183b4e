#include "deepzine/pages/build.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "deepzine/imageio/png.h"
#include "deepzine/pages/dataset_writer.h"
#include "deepzine/util/atomic_file.h"
#include "deepzine/util/progress.h"

namespace deepzine::pages {
namespace fs = std::filesystem;

std::vector<fs::path> find_pdfs(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    std::string ext = it->path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    if (ext == ".pdf" && !util::is_atomic_temp_name(it->path())) out.push_back(it->path());
  }
  if (ec) throw std::runtime_error("cannot list " + dir.string() + ": " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

int worker_count(int requested) {
  if (requested > 0) return requested;
  return std::max(1u, std::thread::hardware_concurrency());
}

// Runs fn(i) for i in [0, n) on `workers` threads.
template <class Fn>
void parallel_for(int64_t n, int workers, Fn fn) {
  std::atomic<int64_t> next{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < std::min<int64_t>(workers, n); ++w) {
    threads.emplace_back([&] {
      for (int64_t i = next++; i < n; i = next++) fn(i);
    });
  }
  for (auto& t : threads) t.join();
}

struct Task {
  int file = 0, first_page = 0, count = 0;
};

struct TaskResult {
  std::vector<std::vector<PageImage>> pyramids;  // one per rendered page
  std::vector<std::string> names;
  std::vector<std::string> problems;
};

std::string page_name(const fs::path& rel, int page) { return rel.generic_string() + "#" + std::to_string(page + 1); }

// Removes temporary files left by a killed earlier build of `output`.
void remove_stale_temporaries(const fs::path& output) {
  const fs::path dir = output.has_parent_path() ? output.parent_path() : fs::path(".");
  const std::string prefix = output.filename().string() + ".tmp-";
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().filename().string().rfind(prefix, 0) == 0) {
      spdlog::info("removing {} left by an interrupted earlier run", e.path().string());
      fs::remove(e.path(), ec);
    }
  }
}

}  // namespace

BuildSummary build_dataset(const BuildOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  const PageFit fit = parse_page_fit(o.page_fit);
  const int workers = worker_count(o.workers);
  BuildSummary summary;
  const std::vector<fs::path> pdfs = find_pdfs(o.pdf_directory);
  if (pdfs.empty()) {
    throw std::runtime_error("no PDF files found under " + o.pdf_directory.string() +
                             " (put PDFs there, or set download_pdf: True to download them)");
  }
  summary.files = static_cast<int64_t>(pdfs.size());

  // Pass 1: open every PDF (in parallel) to count pages; broken files are reported and left out.
  std::vector<int> page_counts(pdfs.size(), 0);
  std::vector<std::string> open_errors(pdfs.size());
  {
    util::Progress progress("scanning PDFs", static_cast<int64_t>(pdfs.size()), "file");
    parallel_for(static_cast<int64_t>(pdfs.size()), workers, [&](int64_t i) {
      try {
        page_counts[i] = PdfDocument(pdfs[i]).page_count();
      } catch (const std::exception& e) {
        open_errors[i] = e.what();
      }
      progress.advance();
    });
  }
  std::vector<Task> tasks;
  int64_t total_pages = 0;
  for (size_t i = 0; i < pdfs.size(); ++i) {
    if (!open_errors[i].empty()) {
      ++summary.files_skipped;
      summary.problems.push_back(pdfs[i].string() + ": " + open_errors[i]);
      spdlog::warn("skipping {}: {}", pdfs[i].string(), open_errors[i]);
      continue;
    }
    total_pages += page_counts[i];
    for (int p = 0; p < page_counts[i]; p += o.pages_per_task) {
      tasks.push_back({static_cast<int>(i), p, std::min(o.pages_per_task, page_counts[i] - p)});
    }
  }
  if (tasks.empty()) throw std::runtime_error("none of the PDFs under " + o.pdf_directory.string() + " could be read");

  remove_stale_temporaries(o.output_file);
  util::AtomicFile output(o.output_file);
  DatasetWriter writer(output.temp_path(), o.max_size, o.channels, o.page_fit);

  // Pass 2: workers render tasks; the writer appends them strictly in task order. Workers stay at
  // most `window` tasks ahead of the writer, which bounds memory whatever the corpus size.
  const int64_t window = 2 * workers;
  std::mutex mutex;
  std::condition_variable cv;
  std::map<int64_t, TaskResult> ready;
  int64_t written_tasks = 0;
  std::atomic<int64_t> next_task{0};
  util::Progress progress("rendering pages", total_pages, "page");

  auto render_task = [&](const Task& t) {
    TaskResult r;
    const fs::path rel = fs::relative(pdfs[t.file], o.pdf_directory);
    try {
      PdfDocument doc(pdfs[t.file]);  // one document per task and thread
      for (int p = t.first_page; p < t.first_page + t.count; ++p) {
        try {
          PageImage full = doc.render(p, o.max_size, o.channels, fit);
          if (o.image_directory) {
            std::string flat = rel.generic_string();
            std::replace(flat.begin(), flat.end(), '/', '_');
            imageio::write_png(*o.image_directory / (flat + "_page" + std::to_string(p + 1) + ".png"),
                               full.pixels.data(), full.size, full.size, full.channels);
          }
          std::vector<PageImage> pyramid = downsample_pyramid(full);
          pyramid.insert(pyramid.begin(), std::move(full));
          r.pyramids.push_back(std::move(pyramid));
          r.names.push_back(page_name(rel, p));
        } catch (const std::exception& e) {
          r.problems.push_back(page_name(rel, p) + ": " + e.what());
        }
      }
    } catch (const std::exception& e) {
      r.problems.push_back(pdfs[t.file].string() + ": " + e.what());
    }
    return r;
  };

  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      for (;;) {
        const int64_t id = next_task++;
        if (id >= static_cast<int64_t>(tasks.size())) return;
        {
          std::unique_lock<std::mutex> lock(mutex);
          cv.wait(lock, [&] { return id - written_tasks < window; });
        }
        TaskResult r = render_task(tasks[id]);
        std::lock_guard<std::mutex> lock(mutex);
        ready.emplace(id, std::move(r));
        cv.notify_all();
      }
    });
  }
  std::exception_ptr write_error;
  try {
    for (int64_t id = 0; id < static_cast<int64_t>(tasks.size()); ++id) {
      TaskResult r;
      {
        std::unique_lock<std::mutex> lock(mutex);
        cv.wait(lock, [&] { return ready.count(id) > 0; });
        r = std::move(ready[id]);
        ready.erase(id);
      }
      for (size_t k = 0; k < r.pyramids.size(); ++k) writer.append(r.pyramids[k], r.names[k]);
      for (const auto& p : r.problems) {
        spdlog::warn("skipping {}", p);
        summary.problems.push_back(p);
      }
      summary.pages += static_cast<int64_t>(r.pyramids.size());
      summary.pages_failed += static_cast<int64_t>(r.problems.size());
      progress.advance(tasks[id].count);
      std::lock_guard<std::mutex> lock(mutex);
      written_tasks = id + 1;
      cv.notify_all();
    }
  } catch (...) {
    write_error = std::current_exception();
    std::lock_guard<std::mutex> lock(mutex);
    written_tasks = static_cast<int64_t>(tasks.size()) + window;  // release waiting workers
    next_task = static_cast<int64_t>(tasks.size());
    cv.notify_all();
  }
  for (auto& t : threads) t.join();
  if (write_error) std::rethrow_exception(write_error);
  progress.finish();
  if (summary.pages == 0) throw std::runtime_error("no page could be rendered from the PDFs under " + o.pdf_directory.string());
  writer.close();
  output.commit();
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace deepzine::pages
