// index.html of the inference output folder: the contact sheet, the movie, the latents files.
#include <fmt/format.h>

#include <set>

#include "deepzine/report/report.h"
#include "deepzine/util/atomic_file.h"
#include "html.h"

namespace deepzine::report {
namespace fs = std::filesystem;
namespace {

struct Contents {
  int64_t inference_images = 0, interpolation_frames = 0;
  std::set<std::string> present;  // the known files found
};

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

Contents scan(const fs::path& dir) {
  static const std::set<std::string> known{"inference_contact_sheet.png", "inference_latents.npy",
                                           "interpolation.mp4",           "interpolation.avi",
                                           "interpolation_latents.npy",   "interpolation_frame_latents.npy"};
  Contents c;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file(ec)) continue;
    const std::string name = entry.path().filename().string();
    if (known.count(name)) c.present.insert(name);
    const std::string ext = entry.path().extension().string();
    const bool image = ext == ".png" || ext == ".jpg";
    if (image && starts_with(name, "inference_") && name != "inference_contact_sheet.png") ++c.inference_images;
    if (image && starts_with(name, "interpolation_")) ++c.interpolation_frames;
  }
  return c;
}

std::string link(const std::string& file, const std::string& what) {
  return "<li><a href=\"" + html::url(file) + "\">" + escape_html(file) + "</a>: " + what + "</li>\n";
}

}  // namespace

fs::path write_output_index(const fs::path& dir, const std::string& model) {
  const Contents c = scan(dir);
  std::string body = "<h1>deepzine output</h1>\n<p>Made by " + escape_html(model) + "; written " + html::now_utc() +
                     ".</p>\n";
  if (c.present.count("inference_contact_sheet.png")) {
    body += fmt::format("<h2>Sampled pages</h2>\n<p>{} page(s), inference_00000 onwards; the first 64:</p>\n"
                        "<img src=\"inference_contact_sheet.png\" alt=\"contact sheet\" style=\"max-width:100%\">\n",
                        c.inference_images);
  }
  for (const std::string movie : {"interpolation.mp4", "interpolation.avi"}) {
    if (!c.present.count(movie)) continue;
    body += fmt::format("<h2>Latent walk</h2>\n<p>{} frames (interpolation_00000.png onwards).</p>\n"
                        "<video src=\"{}\" controls loop autoplay muted style=\"max-width:100%\"></video>\n"
                        "<p><a href=\"{}\">{}</a> (a browser that cannot play it can still download it)</p>\n",
                        c.interpolation_frames, movie, movie, movie);
  }
  std::string files;
  if (c.present.count("inference_latents.npy")) files += link("inference_latents.npy", "the latent of every sampled page, float32 [N, latent_size]: inference_input_latent reproduces them");
  if (c.present.count("interpolation_latents.npy")) files += link("interpolation_latents.npy", "the walk's key latents: interpolation_latents replays the walk");
  if (c.present.count("interpolation_frame_latents.npy")) files += link("interpolation_frame_latents.npy", "the latent of every frame");
  if (!files.empty()) body += "<h2>Latents</h2>\n<ul>\n" + files + "</ul>\n";
  if (c.present.empty()) body += "<p>Nothing from the inference or interpolation stage is here yet.</p>\n";
  const fs::path index = dir / "index.html";
  util::write_file_atomic(index, html::page("deepzine output", body));
  return index;
}

}  // namespace deepzine::report
