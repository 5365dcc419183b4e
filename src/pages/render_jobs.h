#pragma once
// What a render worker process does (count a PDF's pages, render runs of pages into compressed page
// chunks) and the messages it answers with, encoded in the worker and decoded by the writer.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "deepzine/pages/page_chunks.h"
#include "deepzine/pages/renderer.h"
#include "deepzine/pages/render_pool.h"

namespace deepzine::pages {

enum JobType : int32_t {
  kCountPagesJob = 1,   // index: the PDF
  kRenderPagesJob = 2,  // index: the PDF; pages [first, first + count)
};

enum ReplyType : uint32_t {
  kPageCountReply = 1,  // int32
  kPageReply = 2,       // one rendered page, in order
  kProblemReply = 3,    // pages skipped (uint32) and why
};

struct RenderSettings {
  std::vector<std::filesystem::path> pdfs;
  std::filesystem::path pdf_directory;
  std::optional<std::filesystem::path> image_directory;  // each page also as PNG at max_size
  int max_size = 1024, channels = 3;
  PageFit fit = PageFit::kStretch;
  bool compact_grey_pages = true;
};

// "dir/file.pdf#3": how pages are named in the page file and in problems (1-based pages).
std::string page_name(const std::filesystem::path& relative_pdf, int page);

// The job function of a render worker; keeps the last opened document for the next run of pages.
class RenderWorker {
 public:
  explicit RenderWorker(const RenderSettings& settings);
  ~RenderWorker();
  void operator()(const Job& job, JobReply& reply);

 private:
  void render_pages(const Job& job, JobReply& reply);
  const RenderSettings& settings_;
  int64_t open_index_ = -1;
  std::unique_ptr<PdfDocument> open_;
};

struct Problem {
  uint32_t pages = 0;  // pages it accounts for (the rest of a run when the document would not open)
  std::string text;
};

// Decoders of the replies; std::runtime_error on a malformed message.
int32_t decode_page_count(const std::vector<uint8_t>& payload);
CompressedPage decode_page(const std::vector<uint8_t>& payload);
Problem decode_problem(const std::vector<uint8_t>& payload);

}  // namespace deepzine::pages
