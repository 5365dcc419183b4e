#include "render_jobs.h"

#include <malloc.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <opencv2/core/utility.hpp>

#include "deepzine/imageio/png.h"

namespace deepzine::pages {
namespace fs = std::filesystem;
namespace {

void append_bytes(std::vector<uint8_t>& out, const void* bytes, size_t size) {
  const auto* at = static_cast<const uint8_t*>(bytes);
  out.insert(out.end(), at, at + size);
}

template <class T>
T read_value(const std::vector<uint8_t>& payload, size_t& at) {
  T value;
  if (payload.size() - at < sizeof value) throw std::runtime_error("a render worker sent a truncated message");
  std::memcpy(&value, payload.data() + at, sizeof value);
  at += sizeof value;
  return value;
}

void send_problem(JobReply& reply, uint32_t pages, const std::string& text) {
  std::vector<uint8_t> payload;
  append_bytes(payload, &pages, sizeof pages);
  append_bytes(payload, text.data(), text.size());
  reply.send(kProblemReply, payload.data(), payload.size());
}

// Once per worker process: one OpenCV thread (the workers are the parallelism), and large page
// buffers kept by malloc instead of mapped and unmapped for every page.
void prepare_worker_process() {
  static bool prepared = false;
  if (prepared) return;
  prepared = true;
  cv::setNumThreads(1);
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
}

}  // namespace

std::string page_name(const fs::path& relative_pdf, int page) {
  return relative_pdf.generic_string() + "#" + std::to_string(page + 1);
}

RenderWorker::RenderWorker(const RenderSettings& settings) : settings_(settings) {}
RenderWorker::~RenderWorker() = default;

void RenderWorker::operator()(const Job& job, JobReply& reply) {
  prepare_worker_process();
  const fs::path& pdf = settings_.pdfs.at(static_cast<size_t>(job.index));
  if (job.type == kCountPagesJob) {
    try {
      const int32_t pages = PdfDocument(pdf).page_count();
      reply.send(kPageCountReply, &pages, sizeof pages);
    } catch (const std::exception& e) {
      send_problem(reply, 0, e.what());
    }
    return;
  }
  if (job.type != kRenderPagesJob) throw std::logic_error("unknown render job");
  try {
    if (open_index_ != job.index) {
      open_.reset();
      open_ = std::make_unique<PdfDocument>(pdf);
      open_index_ = job.index;
    }
  } catch (const std::exception& e) {
    send_problem(reply, static_cast<uint32_t>(job.count), pdf.string() + ": " + e.what());
    return;
  }
  render_pages(job, reply);
}

void RenderWorker::render_pages(const Job& job, JobReply& reply) {
  const fs::path rel = fs::relative(settings_.pdfs[static_cast<size_t>(job.index)], settings_.pdf_directory);
  std::vector<uint8_t> payload;
  for (int page = job.first; page < job.first + job.count; ++page) {
    try {
      PageImage full = open_->render(page, settings_.max_size, settings_.channels, settings_.fit);
      if (settings_.image_directory) {
        std::string flat = rel.generic_string();
        std::replace(flat.begin(), flat.end(), '/', '_');
        imageio::write_png(*settings_.image_directory / (flat + "_page" + std::to_string(page + 1) + ".png"),
                           full.pixels.data(), full.size, full.size, full.channels);
      }
      const CompressedPage compressed = compress_page(full, settings_.compact_grey_pages);
      payload.clear();
      const auto kind = static_cast<uint8_t>(compressed.kind);
      append_bytes(payload, &kind, 1);
      for (const auto& level : compressed.levels) {
        const uint64_t size = level.size();
        append_bytes(payload, &size, sizeof size);
        append_bytes(payload, level.data(), level.size());
      }
      reply.send(kPageReply, payload.data(), payload.size());
    } catch (const std::exception& e) {
      send_problem(reply, 1, page_name(rel, page) + ": " + e.what());
    }
  }
}

int32_t decode_page_count(const std::vector<uint8_t>& payload) {
  size_t at = 0;
  return read_value<int32_t>(payload, at);
}

CompressedPage decode_page(const std::vector<uint8_t>& payload) {
  CompressedPage page;
  size_t at = 0;
  page.kind = read_value<uint8_t>(payload, at);
  while (at < payload.size()) {
    const auto size = read_value<uint64_t>(payload, at);
    if (payload.size() - at < size) throw std::runtime_error("a render worker sent a truncated page");
    page.levels.emplace_back(payload.begin() + static_cast<std::ptrdiff_t>(at),
                             payload.begin() + static_cast<std::ptrdiff_t>(at + size));
    at += size;
  }
  return page;
}

Problem decode_problem(const std::vector<uint8_t>& payload) {
  size_t at = 0;
  Problem problem;
  problem.pages = read_value<uint32_t>(payload, at);
  problem.text.assign(payload.begin() + static_cast<std::ptrdiff_t>(at), payload.end());
  return problem;
}

}  // namespace deepzine::pages
