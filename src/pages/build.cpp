#include "deepzine/pages/build.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include "deepzine/pages/dataset_writer.h"
#include "deepzine/util/atomic_file.h"
#include "deepzine/util/log.h"
#include "deepzine/util/cpu.h"
#include "deepzine/util/progress.h"
#include "render_jobs.h"  // and deepzine/pages/render_pool.h

namespace deepzine::pages {
namespace fs = std::filesystem;

std::vector<fs::path> find_pdfs(const fs::path& dir, std::vector<std::string>* problems) {
  std::vector<fs::path> found;
  std::error_code ec;
  auto note = [&](const std::string& what) {
    spdlog::warn("skipping {}", what);
    if (problems) problems->push_back(what);
  };
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::string ext = it->path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    if (ext != ".pdf" || util::is_atomic_temp_name(it->path())) continue;
    std::error_code type_error;
    const bool regular = it->is_regular_file(type_error);  // follows symlinks: a loop is an error here
    if (type_error) {
      note(it->path().string() + ": " + type_error.message() + " (a broken or looping symbolic link?)");
    } else if (!regular && it->is_symlink()) {
      note(it->path().string() + ": a symbolic link to something that is not a file");
    } else if (regular) {
      found.push_back(it->path());
    }
  }
  if (ec) throw std::runtime_error("cannot list " + dir.string() + ": " + ec.message());
  std::sort(found.begin(), found.end());
  // The same file reached through two names (symbolic or hard links) is rendered once, under the
  // first name in order.
  std::vector<fs::path> out;
  std::map<std::pair<dev_t, ino_t>, fs::path> seen;
  for (const fs::path& p : found) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) {
      note(p.string() + ": cannot be read");
      continue;
    }
    const auto [at, fresh] = seen.emplace(std::make_pair(st.st_dev, st.st_ino), p);
    if (!fresh) {
      note(p.string() + ": the same file as " + at->second.string() + " (linked twice), used once");
      continue;
    }
    out.push_back(p);
  }
  return out;
}

namespace {

int worker_count(int requested) {
  if (requested > 0) return requested;
  return util::usable_cores();
}

struct Task {
  int file = 0, first_page = 0, count = 0;
};

// A task's pages as the workers sent them, with the problems met, until the writer takes them.
struct TaskResult {
  std::vector<CompressedPage> pages;
  std::vector<std::string> names;
  std::vector<std::string> problems;
  int next_page = 0, end_page = 0;  // pages [next_page, end_page) still to come
  bool complete() const { return next_page >= end_page; }
};

PageLayout page_layout(const BuildOptions& o) {
  PageLayout l;
  l.max_size = o.max_size;
  l.channels = o.channels;
  l.page_fit = o.page_fit;
  l.compact_grey_pages = o.compact_grey_pages;
  return l;
}

// What a resumed build must match: the settings and the PDFs (path, size, time, page count).
std::string build_fingerprint(const BuildOptions& o, const std::vector<fs::path>& pdfs, const std::vector<int>& pages) {
  std::ostringstream f;
  f << "deepzine-pages-v" << kDatasetFormatVersion << " max_size=" << o.max_size << " channels=" << o.channels
    << " page_fit=" << o.page_fit << " compact_grey_pages=" << o.compact_grey_pages
    << " pages_per_task=" << o.pages_per_task << "\n";
  for (size_t i = 0; i < pdfs.size(); ++i) {
    std::error_code ec;
    const auto size = fs::file_size(pdfs[i], ec);
    const auto time = fs::last_write_time(pdfs[i], ec).time_since_epoch().count();
    f << fs::relative(pdfs[i], o.pdf_directory).generic_string() << " " << size << " " << time << " " << pages[i] << "\n";
  }
  return f.str();
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

fs::path part_name(const fs::path& dir, int64_t first_task, int64_t end_task) {
  return dir / ("part-" + std::to_string(first_task) + "-" + std::to_string(end_task) + ".h5");
}

// The committed segments of an earlier run with the same fingerprint, contiguous from task 0; the
// folder is reset (with a log line) when the settings or the PDFs changed.
std::vector<std::pair<int64_t, fs::path>> committed_parts(const fs::path& dir, const std::string& fingerprint) {
  std::vector<std::pair<int64_t, fs::path>> parts;  // (end task, file)
  if (fs::exists(dir / "build.txt") && read_text(dir / "build.txt") == fingerprint) {
    std::map<int64_t, std::pair<int64_t, fs::path>> by_first;
    for (auto& e : fs::directory_iterator(dir)) {
      int64_t a = 0, b = 0;
      if (std::sscanf(e.path().filename().c_str(), "part-%ld-%ld.h5", &a, &b) == 2 && e.path().extension() == ".h5")
        by_first[a] = {b, e.path()};
    }
    for (int64_t next = 0; by_first.count(next); next = by_first[next].first) parts.push_back(by_first[next]);
    return parts;
  }
  if (fs::exists(dir)) {
    spdlog::info("discarding {}: left by an interrupted build with other settings or other PDFs", dir.string());
    fs::remove_all(dir);
  }
  return parts;
}

// ------------------------------------------------------------------------ pass 1: what to render

struct Plan {
  std::vector<fs::path> pdfs;
  std::vector<int> page_counts;  // 0 for the PDFs that could not be opened
  std::vector<Task> tasks;       // in output order
  int64_t total_pages = 0;
};

// Lists the PDFs; what the render workers are forked to know.
std::vector<fs::path> list_pdfs(const BuildOptions& o, BuildSummary& summary) {
  std::vector<std::string> listing_problems;
  std::vector<fs::path> pdfs = find_pdfs(o.pdf_directory, &listing_problems);
  summary.files_skipped += static_cast<int64_t>(listing_problems.size());
  summary.problems.insert(summary.problems.end(), listing_problems.begin(), listing_problems.end());
  if (pdfs.empty()) {
    throw std::runtime_error("no PDF files found under " + o.pdf_directory.string() +
                             " (put PDFs there, or set download_pdf: True to download them)");
  }
  summary.files = static_cast<int64_t>(pdfs.size() + listing_problems.size());
  return pdfs;
}

// The workers open every PDF to count its pages; broken files (and files that crash or hang the
// renderer) are reported and left out. The tasks cut each document into runs of pages_per_task.
Plan plan_tasks(const BuildOptions& o, const std::vector<fs::path>& pdfs, RenderPool& pool, BuildSummary& summary) {
  Plan plan;
  plan.pdfs = pdfs;
  plan.page_counts.assign(plan.pdfs.size(), 0);
  std::vector<std::string> open_errors(plan.pdfs.size());
  {
    util::Progress progress("scanning PDFs", static_cast<int64_t>(plan.pdfs.size()), "file");
    size_t next = 0;
    int64_t answered = 0;
    RenderPool::Events events;
    events.message = [&](const Job& job, uint32_t type, std::vector<uint8_t>&& payload) {
      if (type == kPageCountReply) plan.page_counts[job.index] = decode_page_count(payload);
      if (type == kProblemReply) open_errors[job.index] = decode_problem(payload).text;
    };
    events.done = [&](const Job&) {
      ++answered;
      progress.advance();
    };
    events.lost = [&](const Job& job, const std::string& why) {
      open_errors[job.index] = why + " while opening it";
      ++answered;
      progress.advance();
    };
    while (answered < static_cast<int64_t>(plan.pdfs.size())) {
      while (next < plan.pdfs.size() && pool.has_idle_worker()) {
        Job job;
        job.type = kCountPagesJob;
        job.index = static_cast<int64_t>(next++);
        pool.submit(job);
      }
      pool.poll(events, std::chrono::milliseconds(100));
    }
  }
  for (size_t i = 0; i < plan.pdfs.size(); ++i) {
    if (!open_errors[i].empty()) {
      ++summary.files_skipped;
      summary.problems.push_back(plan.pdfs[i].string() + ": " + open_errors[i]);
      spdlog::warn("skipping {}: {}", plan.pdfs[i].string(), open_errors[i]);
      plan.page_counts[i] = 0;
      continue;
    }
    plan.total_pages += plan.page_counts[i];
    for (int p = 0; p < plan.page_counts[i]; p += o.pages_per_task) {
      plan.tasks.push_back({static_cast<int>(i), p, std::min(o.pages_per_task, plan.page_counts[i] - p)});
    }
  }
  if (plan.tasks.empty()) throw std::runtime_error("none of the PDFs under " + o.pdf_directory.string() + " could be read");
  return plan;
}

// ------------------------------------------------------------------------------ resume, segments

using Parts = std::vector<std::pair<int64_t, fs::path>>;  // (end task, committed segment file)

fs::path parts_dir_of(const BuildOptions& o) { return o.output_file.string() + ".parts"; }

// The segments an interrupted run with the same settings and PDFs committed (their pages and
// problems counted into `summary`); returns them with the first task still to render.
Parts resume_parts(const BuildOptions& o, const Plan& plan, BuildSummary& summary, int64_t& first_task) {
  const fs::path parts_dir = parts_dir_of(o);
  const std::string fingerprint = build_fingerprint(o, plan.pdfs, plan.page_counts);
  Parts parts = committed_parts(parts_dir, fingerprint);
  // A segment is read here only after HDF5 read it whole in a child: one damaged since it was committed
  // (a disk error, another program) is dropped with the segments after it, whose tasks render again.
  for (size_t i = 0; i < parts.size(); ++i) {
    try {
      verify_page_file(parts[i].second);
    } catch (const std::exception& e) {
      spdlog::warn("discarding {} committed segment(s) of an interrupted build from {}: {}", parts.size() - i,
                   parts[i].second.string(), e.what());
      for (size_t j = i; j < parts.size(); ++j) fs::remove(parts[j].second);
      parts.resize(i);
      break;
    }
  }
  fs::create_directories(parts_dir);
  util::write_file_atomic(parts_dir / "build.txt", fingerprint);
  first_task = parts.empty() ? 0 : parts.back().first;
  for (const auto& [end, file] : parts) {
    summary.pages += read_page_count(file);
    std::istringstream problems(read_note(file, "problems"));
    for (std::string line; std::getline(problems, line);)
      if (!line.empty()) summary.problems.push_back(line), ++summary.pages_failed;
  }
  summary.pages_resumed = summary.pages;
  if (!parts.empty()) {
    spdlog::info("resuming page build: {} pages in {} committed segment(s) of an interrupted run; rendering the "
                 "remaining {} of {} tasks", summary.pages, parts.size(),
                 static_cast<int64_t>(plan.tasks.size()) - first_task, plan.tasks.size());
  }
  return parts;
}

// The open segment: the pages of tasks [first, ...) until it holds segment_pages pages, then closed
// and renamed to part-<first>-<end>.h5 (a rename is atomic: a kill leaves it or nothing).
class SegmentWriter {
 public:
  SegmentWriter(const BuildOptions& o, Parts& parts) : options_(o), parts_(parts), open_(parts_dir_of(o) / "open-segment.h5") {}
  // A segment left open by a failure (a full disk) is removed: only committed segments are kept.
  ~SegmentWriter() {
    if (!segment_) return;
    try {
      segment_.reset();
    } catch (...) {
    }
    std::error_code ec;
    fs::remove(open_, ec);
  }

  void append(int64_t task, const TaskResult& r) {
    if (!segment_) {
      first_ = task;
      segment_ = std::make_unique<DatasetWriter>(open_, page_layout(options_));
    }
    for (size_t k = 0; k < r.pages.size(); ++k) segment_->append_compressed(r.pages[k], r.names[k]);
    for (const auto& p : r.problems) problems_ += p + "\n";
  }
  bool full() const { return segment_ && segment_->pages() >= options_.segment_pages; }

  void commit(int64_t end_task) {
    if (!segment_) return;
    segment_->set_note("problems", problems_);
    const int64_t pages = segment_->pages();
    segment_->close();
    segment_.reset();
    verify_page_file(open_, pages);  // only a segment that reads back is committed
    const fs::path name = part_name(parts_dir_of(options_), first_, end_task);
    fs::rename(open_, name);
    parts_.emplace_back(end_task, name);
    problems_.clear();
  }

 private:
  const BuildOptions& options_;
  Parts& parts_;
  const fs::path open_;
  std::unique_ptr<DatasetWriter> segment_;
  int64_t first_ = 0;
  std::string problems_;
};

// ----------------------------------------------------------------------------- pass 2: rendering

// Render jobs handed to the workers: new tasks in order (at most `window` tasks ahead of the writer,
// which bounds memory whatever the corpus size), and first the rest of any task whose worker died.
class TaskQueue {
 public:
  TaskQueue(const Plan& plan, int64_t first_task, int64_t window)
      : plan_(plan), next_new_(first_task), window_(window) {}

  // The next job for an idle worker, if any may start now; opens its task's record in `open`.
  std::optional<Job> next(int64_t next_write, std::map<int64_t, TaskResult>& open) {
    if (!retries_.empty()) {
      Job job = retries_.front();
      retries_.pop_front();
      return job;
    }
    if (next_new_ >= static_cast<int64_t>(plan_.tasks.size()) || next_new_ - next_write >= window_) return std::nullopt;
    const Task& task = plan_.tasks[next_new_];
    TaskResult& record = open[next_new_];
    record.next_page = task.first_page;
    record.end_page = task.first_page + task.count;
    Job job;
    job.type = kRenderPagesJob;
    job.index = task.file;
    job.first = task.first_page;
    job.count = task.count;
    job.tag = next_new_++;
    return job;
  }
  // The pages of a task after the one its worker died on.
  void retry_rest(const Job& lost, const TaskResult& record) {
    Job job = lost;
    job.first = record.next_page;
    job.count = record.end_page - record.next_page;
    retries_.push_back(job);
  }

 private:
  const Plan& plan_;
  int64_t next_new_, window_;
  std::deque<Job> retries_;
};

// What the workers send, put into the tasks' records; a page a worker died or hung on becomes a
// problem line naming it, and the rest of its task goes to a new worker.
RenderPool::Events task_events(const BuildOptions& o, const Plan& plan, std::map<int64_t, TaskResult>& open,
                               TaskQueue& queue, util::Progress& progress) {
  RenderPool::Events events;
  auto relative = [&o, &plan](const Job& job) { return fs::relative(plan.pdfs[job.index], o.pdf_directory); };
  events.message = [&open, &progress, relative](const Job& job, uint32_t type, std::vector<uint8_t>&& payload) {
    TaskResult& record = open.at(job.tag);
    if (type == kPageReply) {
      record.pages.push_back(decode_page(payload));
      record.names.push_back(page_name(relative(job), record.next_page++));
      progress.advance();
    } else if (type == kProblemReply) {
      Problem problem = decode_problem(payload);
      const int pages = std::min<int>(static_cast<int>(problem.pages), record.end_page - record.next_page);
      record.problems.push_back(std::move(problem.text));
      record.next_page += pages;
      progress.advance(pages);
    }
  };
  events.done = [](const Job&) {};
  events.lost = [&open, &queue, &progress, relative](const Job& job, const std::string& why) {
    TaskResult& record = open.at(job.tag);
    if (record.complete()) return;
    record.problems.push_back(page_name(relative(job), record.next_page++) + ": " + why);
    progress.advance();
    if (!record.complete()) queue.retry_rest(job, record);
  };
  return events;
}

// The workers render the tasks from `first_task` on; this thread appends them strictly in task order
// to segments, committing one every segment_pages pages and at the end.
void render_in_order(const BuildOptions& o, const Plan& plan, RenderPool& pool, int workers, int64_t first_task,
                     Parts& parts, BuildSummary& summary) {
  const int64_t task_count = static_cast<int64_t>(plan.tasks.size());
  int64_t done_before = 0;
  for (int64_t id = 0; id < first_task; ++id) done_before += plan.tasks[id].count;
  util::Progress progress("rendering pages", plan.total_pages, "page");
  progress.advance(done_before);
  std::map<int64_t, TaskResult> open;  // tasks started and not yet written
  TaskQueue queue(plan, first_task, 8 * static_cast<int64_t>(workers));
  const RenderPool::Events events = task_events(o, plan, open, queue, progress);
  SegmentWriter segments(o, parts);
  for (int64_t next_write = first_task; next_write < task_count;) {
    while (pool.has_idle_worker()) {
      const std::optional<Job> job = queue.next(next_write, open);
      if (!job) break;
      pool.submit(*job);
    }
    pool.poll(events, std::chrono::milliseconds(100));
    for (auto it = open.find(next_write); it != open.end() && it->second.complete(); it = open.find(next_write)) {
      const TaskResult& r = it->second;
      segments.append(next_write, r);
      for (const auto& p : r.problems) {
        spdlog::warn("skipping {}", p);
        summary.problems.push_back(p);
      }
      summary.pages += static_cast<int64_t>(r.pages.size());
      summary.pages_failed += static_cast<int64_t>(r.problems.size());
      ++next_write;
      if (segments.full() || next_write == task_count) segments.commit(next_write);
      open.erase(it);
    }
  }
  progress.finish();
}

// The committed segments joined into the output (one segment: it is the output), then the folder
// dropped.
void join_segments(const BuildOptions& o, const Parts& parts, int64_t pages) {
  if (parts.size() == 1) {
    verify_page_file(parts.front().second, pages);
    fs::rename(parts.front().second, o.output_file);
  } else {
    util::AtomicFile output(o.output_file);
    DatasetWriter writer(output.temp_path(), page_layout(o));
    util::Progress joining("joining segments", static_cast<int64_t>(parts.size()), "segment");
    for (const auto& part : parts) {
      writer.append_file(part.second);
      joining.advance();
    }
    joining.finish();
    writer.close();
    verify_page_file(output.temp_path(), pages);  // before the rename makes it the page file
    output.commit();
  }
  fs::remove_all(parts_dir_of(o));
}

}  // namespace

BuildSummary build_dataset(const BuildOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  const int workers = worker_count(o.workers);
  BuildSummary summary;
  RenderSettings settings;
  settings.pdfs = list_pdfs(o, summary);
  settings.pdf_directory = o.pdf_directory;
  settings.image_directory = o.image_directory;
  settings.max_size = o.max_size;
  settings.channels = o.channels;
  settings.fit = parse_page_fit(o.page_fit);
  settings.compact_grey_pages = o.compact_grey_pages;
  // Forked before this stage starts any thread; poppler parses the PDFs only in the workers.
  RenderWorker worker(settings);
  RenderPool pool(workers, std::chrono::milliseconds(static_cast<int64_t>(o.page_timeout * 1000)),
                  [&worker](const Job& job, JobReply& reply) { worker(job, reply); });
  const Plan plan = plan_tasks(o, settings.pdfs, pool, summary);
  util::log_removed_temporaries(util::remove_stale_temporaries(o.output_file));  // of a killed earlier build
  int64_t first_task = 0;
  Parts parts = resume_parts(o, plan, summary, first_task);
  render_in_order(o, plan, pool, workers, first_task, parts, summary);
  if (summary.pages == 0) throw std::runtime_error("no page could be rendered from the PDFs under " + o.pdf_directory.string());
  join_segments(o, parts, summary.pages);
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace deepzine::pages
