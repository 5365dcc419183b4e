// log_dir/report.html: where the run is, its curves with axes and stage boundaries, and the newest
// fakes beside the reals of every stage.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "deepzine/imageio/png.h"
#include "deepzine/report/metrics.h"
#include "deepzine/report/plot.h"
#include "deepzine/report/report.h"
#include "deepzine/util/atomic_file.h"
#include "html.h"

namespace deepzine::report {
namespace fs = std::filesystem;
namespace {

constexpr int kThumbnailWidth = 768;            // grids wider than this are box-averaged down
constexpr size_t kMaxConfigBytes = 256 * 1024;  // of the config text shown

struct StageSummary {
  const MetricsRow* last = nullptr;  // newest logged row of the stage (not the SWD row)
  std::optional<double> swd;
  double images_per_s = 0;  // median of the stage's logged rates
};

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

std::map<std::string, StageSummary> summarise(const Metrics& metrics) {
  std::map<std::string, StageSummary> out;
  std::map<std::string, std::vector<double>> rates;
  for (const MetricsRow& row : metrics.rows) {
    StageSummary& s = out[row.stage];
    if (row.swd) {
      s.swd = row.swd;
      continue;
    }
    s.last = &row;
    if (row.images_per_s > 0 && std::isfinite(row.images_per_s)) rates[row.stage].push_back(row.images_per_s);
  }
  for (auto& [stage, values] : rates) out[stage].images_per_s = median(values);
  return out;
}

// kimg at the start of each stage (from the plan, so boundaries of stages not reached are known).
std::vector<double> stage_start_kimg(const std::vector<StagePlan>& stages) {
  std::vector<double> starts;
  double kimg = 0;
  for (const StagePlan& s : stages) {
    starts.push_back(kimg);
    kimg += static_cast<double>(s.iterations * s.batch_size) / 1000.0;
  }
  starts.push_back(kimg);
  return starts;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "unknown";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  if (s < 120) return fmt::format("{} s", s);
  if (s < 7200) return fmt::format("{} min", (s + 30) / 60);
  return fmt::format("{} h {:02d} min", s / 3600, static_cast<int>((s % 3600 + 30) / 60));
}

// ------------------------------------------------------------------------------------------ status

struct Position {
  int stage = -1;  // index into the plan; -1 before the first logged step
  int64_t global_step = 0;
  bool finished = false;
};

Position position_of(const Metrics& metrics, const std::vector<StagePlan>& stages) {
  Position p;
  if (metrics.rows.empty()) return p;
  const MetricsRow& last = metrics.rows.back();
  p.global_step = last.global_step;
  for (size_t i = 0; i < stages.size(); ++i) {
    if (stages[i].name == last.stage) p.stage = static_cast<int>(i);
  }
  int64_t total = 0;
  for (const StagePlan& s : stages) total += s.iterations;
  p.finished = p.global_step >= total;
  return p;
}

std::string status_html(const Metrics& metrics, const std::vector<StagePlan>& stages,
                        const std::map<std::string, StageSummary>& summary) {
  const Position at = position_of(metrics, stages);
  int64_t total_steps = 0;
  for (const StagePlan& s : stages) total_steps += s.iterations;
  if (at.stage < 0 && metrics.rows.empty()) return "<p><b>Not started</b>: no step is logged in metrics.csv yet.</p>\n";
  if (at.stage < 0) {
    return "<p><b>Stage " + escape_html(metrics.rows.back().stage) +
           " of metrics.csv is not in this config's schedule</b>: the log_dir belongs to another config.</p>\n";
  }
  const MetricsRow& last = metrics.rows.back();
  if (at.finished) {
    return fmt::format("<p><b>Finished</b>: {} steps, {:.1f} kimg.</p>\n", at.global_step, last.kimg);
  }
  // Steps left: the rest of this stage and every later one, at the current stage's median rate.
  const StagePlan& now = stages[at.stage];
  int64_t steps_before = 0;
  for (int i = 0; i < at.stage; ++i) steps_before += stages[i].iterations;
  const int64_t done_here = std::clamp<int64_t>(at.global_step - steps_before, 0, now.iterations);
  double images_left = static_cast<double>((now.iterations - done_here) * now.batch_size);
  for (size_t i = at.stage + 1; i < stages.size(); ++i) images_left += static_cast<double>(stages[i].iterations * stages[i].batch_size);
  const auto it = summary.find(now.name);
  const double rate = it != summary.end() ? it->second.images_per_s : 0.0;
  const std::string eta = rate > 0 ? format_duration(images_left / rate) + fmt::format(" at {:.1f} images/s (this stage's median; larger stages are slower)", rate)
                                   : "unknown (no rate logged yet)";
  return fmt::format("<p><b>Training</b>: stage {} ({}x{}{}), step {} of {} in it; {} of {} steps, {:.1f} kimg. "
                     "ETA {}.</p>\n",
                     escape_html(now.name), now.resolution, now.resolution, now.transition ? ", fading in" : "",
                     done_here, now.iterations, at.global_step, total_steps, last.kimg, eta);
}

std::string number_or_dash(const std::optional<double>& v, const char* format = "{:.4g}") {
  return v ? fmt::format(fmt::runtime(format), *v) : "&ndash;";
}

std::string schedule_html(const Metrics& metrics, const std::vector<StagePlan>& stages,
                          const std::map<std::string, StageSummary>& summary) {
  const Position at = position_of(metrics, stages);
  std::string rows;
  for (size_t i = 0; i < stages.size(); ++i) {
    const StagePlan& s = stages[i];
    const auto it = summary.find(s.name);
    const StageSummary* sum = it != summary.end() ? &it->second : nullptr;
    const MetricsRow* last = sum ? sum->last : nullptr;
    std::string state = "pending";
    if (sum && sum->swd) state = "done";
    else if (static_cast<int>(i) == at.stage && !at.finished) state = "running";
    else if (last) state = last->step >= s.iterations ? "done" : "stopped";
    rows += fmt::format(
        "<tr{}><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        static_cast<int>(i) == at.stage && !at.finished ? " class=\"now\"" : "", escape_html(s.name), s.resolution,
        s.transition ? "yes" : "no", s.iterations, s.batch_size, state, last ? std::to_string(last->step) : "&ndash;",
        last ? fmt::format("{:.1f}", last->kimg) : "&ndash;",
        number_or_dash(last ? std::optional<double>(last->d_loss) : std::nullopt),
        number_or_dash(last ? std::optional<double>(last->g_loss) : std::nullopt),
        number_or_dash(last ? std::optional<double>(last->gp) : std::nullopt),
        number_or_dash(sum && sum->images_per_s > 0 ? std::optional<double>(sum->images_per_s) : std::nullopt, "{:.1f}"),
        number_or_dash(sum ? sum->swd : std::nullopt, "{:.2f}"));
  }
  return "<h2>Resolution schedule</h2>\n<table>\n<tr><th class=\"l\">stage</th><th>resolution</th><th>fade-in</th>"
         "<th>steps</th><th>batch</th><th class=\"l\">state</th><th>last step</th><th>kimg</th><th>D loss</th>"
         "<th>G loss</th><th>GP</th><th>images/s (median)</th><th>stage-end SWD x1e3</th></tr>\n" +
         rows + "</table>\n";
}

// ------------------------------------------------------------------------------------------- plots

// Where each stage started: from its first logged row where the run got there (a resumed run may
// have changed iterations_per_stage), else from the plan.
std::vector<Marker> stage_markers(const Metrics& metrics, const std::vector<StagePlan>& stages) {
  std::map<std::string, double> logged;
  for (const MetricsRow& row : metrics.rows) {
    if (row.swd || logged.count(row.stage)) continue;
    for (const StagePlan& s : stages) {
      if (s.name == row.stage) logged[row.stage] = row.kimg - static_cast<double>(row.step * s.batch_size) / 1000.0;
    }
  }
  std::vector<Marker> markers;
  const auto starts = stage_start_kimg(stages);
  for (size_t i = 1; i < stages.size(); ++i) {
    const auto it = logged.find(stages[i].name);
    markers.push_back({it != logged.end() ? it->second : starts[i], stages[i].name});
  }
  return markers;
}

Series series_of(const Metrics& metrics, const std::string& label, std::array<uint8_t, 3> colour,
                 double (*value)(const MetricsRow&), bool (*keep)(const MetricsRow&)) {
  Series s;
  s.label = label;
  s.colour = colour;
  for (const MetricsRow& row : metrics.rows) {
    if (!keep(row)) continue;
    s.x.push_back(row.kimg);
    s.y.push_back(value(row));
  }
  return s;
}

bool logged_step(const MetricsRow& row) { return !row.swd; }

std::string plot_or_note(const PlotSpec& spec) {
  const std::string svg = render_svg(spec);
  if (svg.empty()) return "<div class=\"plot\"><p>" + escape_html(spec.title) + ": no data yet.</p></div>\n";
  // The SVG document without its XML prolog and DOCTYPE, inline in the page.
  const size_t start = svg.find("<svg");
  return "<div class=\"plot\">" + (start == std::string::npos ? svg : svg.substr(start)) + "</div>\n";
}

std::string plots_html(const Metrics& metrics, const std::vector<StagePlan>& stages) {
  constexpr std::array<uint8_t, 3> red{214, 39, 40}, blue{31, 119, 180}, green{44, 160, 44}, purple{148, 103, 189};
  const std::vector<Marker> markers = stage_markers(metrics, stages);
  int plot_number = 0;
  auto spec = [&](std::string title, std::string y_label, std::vector<Series> series) {
    PlotSpec p;
    p.id_prefix = "plot" + std::to_string(++plot_number) + "-";
    p.title = std::move(title);
    p.x_label = "thousands of real images shown (kimg); dashed: stage starts";
    p.y_label = std::move(y_label);
    p.series = std::move(series);
    p.markers = markers;
    return p;
  };
  std::string out = "<h2>Curves</h2>\n";
  out += plot_or_note(spec("Losses (WGAN-GP)", "loss",
                           {series_of(metrics, "D loss", red, [](const MetricsRow& r) { return r.d_loss; }, logged_step),
                            series_of(metrics, "G loss", blue, [](const MetricsRow& r) { return r.g_loss; }, logged_step)}));
  out += plot_or_note(spec("Gradient penalty", "(||grad D|| - 1)^2",
                           {series_of(metrics, "GP", purple, [](const MetricsRow& r) { return r.gp; }, logged_step)}));
  out += plot_or_note(spec("Drift", "D(real)^2",
                           {series_of(metrics, "drift", green, [](const MetricsRow& r) { return r.drift; }, logged_step)}));
  out += plot_or_note(spec("Speed", "images/s",
                           {series_of(metrics, "images/s", blue, [](const MetricsRow& r) { return r.images_per_s; },
                                      [](const MetricsRow& r) { return !r.swd && r.images_per_s > 0; })}));
  Series swd = series_of(metrics, "SWD x1e3 at stage end", red, [](const MetricsRow& r) { return *r.swd; },
                         [](const MetricsRow& r) { return r.swd.has_value(); });
  swd.points = true;
  out += plot_or_note(spec("Sliced Wasserstein distance to the reals (lower is better)", "SWD x1e3", {swd}));
  return out;
}

// ----------------------------------------------------------------------------------------- samples

struct Grids {
  int64_t step = 0;
  fs::path fake, real;
};

// The newest NNNNNN_fake.png (and its _real.png) the trainer wrote for a stage.
std::optional<Grids> newest_grids(const fs::path& samples_dir, const std::string& stage) {
  const fs::path dir = samples_dir / ("samples_" + stage);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return std::nullopt;
  std::optional<Grids> best;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const size_t cut = name.find("_fake.png");
    if (cut == std::string::npos || cut == 0 || cut + 9 != name.size() ||
        name.find_first_not_of("0123456789") != cut || !entry.is_regular_file(ec)) {
      continue;
    }
    const int64_t step = std::stoll(name.substr(0, std::min<size_t>(cut, 15)));
    if (!best || step > best->step) best = Grids{step, entry.path(), dir / (name.substr(0, cut) + "_real.png")};
  }
  return best;
}

imageio::Image box_downscale(const imageio::Image& in, int factor) {
  imageio::Image out;
  out.width = in.width / factor;
  out.height = in.height / factor;
  out.channels = in.channels;
  out.pixels.resize(static_cast<size_t>(out.width) * out.height * out.channels);
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      for (int c = 0; c < out.channels; ++c) {
        int sum = 0;
        for (int dy = 0; dy < factor; ++dy) {
          for (int dx = 0; dx < factor; ++dx) {
            sum += in.pixels[(static_cast<size_t>(y * factor + dy) * in.width + x * factor + dx) * in.channels + c];
          }
        }
        out.pixels[(static_cast<size_t>(y) * out.width + x) * out.channels + c] =
            static_cast<uint8_t>((sum + factor * factor / 2) / (factor * factor));
      }
    }
  }
  return out;
}

// A copy of `source` in report_files/ (box-averaged when wide); returns its name there, or "" when the
// grid cannot be read (shown as missing: the trainer may be rewriting it).
std::string thumbnail(const fs::path& source, const fs::path& files_dir, const std::string& name,
                      std::set<std::string>& used) {
  std::error_code ec;
  used.insert(name);
  const fs::path target = files_dir / name;
  if (fs::exists(target, ec)) return name;
  if (!fs::is_regular_file(source, ec)) return "";
  imageio::Image image;
  try {
    image = imageio::read_png(source);
  } catch (const std::exception&) {
    return "";
  }
  const int factor = (image.width + kThumbnailWidth - 1) / kThumbnailWidth;
  imageio::write_png(target, factor > 1 ? box_downscale(image, factor) : image);
  return name;
}

std::string samples_html(const TrainingReportInputs& in, const std::map<std::string, StageSummary>& summary,
                         const fs::path& files_dir, std::set<std::string>& used) {
  std::string out = "<h2>Samples</h2>\n<p>Per stage, newest first: the EMA generator's grid of 16 fixed latents at "
                    "the newest sample step, beside a batch of the reals it trained on.</p>\n";
  bool any = false;
  for (auto it = in.stages.rbegin(); it != in.stages.rend(); ++it) {
    const auto grids = newest_grids(in.samples_dir, it->name);
    if (!grids) continue;
    any = true;
    const std::string stem = fmt::format("{}_{:06d}", it->name, grids->step);
    const std::string fake = thumbnail(grids->fake, files_dir, stem + "_fake.png", used);
    const std::string real = thumbnail(grids->real, files_dir, stem + "_real.png", used);
    const auto s = summary.find(it->name);
    const std::string swd = s != summary.end() && s->second.swd ? fmt::format(", stage-end SWD {:.2f}", *s->second.swd) : "";
    out += fmt::format("<h3>{} ({}x{}), step {}{}</h3>\n", escape_html(it->name), it->resolution, it->resolution,
                       grids->step, swd);
    for (const auto& [file, caption] : {std::pair{fake, "generated (EMA)"}, std::pair{real, "reals"}}) {
      out += file.empty() ? fmt::format("<figure><figcaption>{}: not readable yet</figcaption></figure>\n", caption)
                          : fmt::format("<figure><img class=\"grid\" src=\"report_files/{}\" alt=\"{}\"><figcaption>{}"
                                        "</figcaption></figure>\n",
                                        html::url(file), caption, caption);
    }
  }
  if (!any) out += "<p>No sample grid yet (one every model_sample_interval_steps).</p>\n";
  return out;
}

// ---------------------------------------------------------------------------------------- settings

std::string settings_html(const TrainingReportInputs& in) {
  std::string rows;
  for (const auto& [key, value] : in.settings) {
    rows += "<tr><td class=\"l\">" + escape_html(key) + "</td><td class=\"l\">" + escape_html(value) + "</td></tr>\n";
  }
  std::string text = "(not readable)";
  std::error_code ec;
  if (!in.config_file.empty() && fs::is_regular_file(in.config_file, ec)) {
    std::ifstream file(in.config_file, std::ios::binary);
    text.assign(kMaxConfigBytes, '\0');
    file.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<size_t>(std::max<std::streamsize>(file.gcount(), 0)));
    if (file.gcount() == static_cast<std::streamsize>(kMaxConfigBytes)) text += "\n... (cut at 256 KiB)";
  }
  return "<h2>Settings</h2>\n<table>\n" + rows + "</table>\n<details><summary>Config file " +
         escape_html(in.config_file.string()) + "</summary>\n<pre>" + escape_html(text) + "</pre>\n</details>\n";
}

// Thumbnails of earlier report versions that this one no longer shows.
void remove_unused(const fs::path& files_dir, const std::set<std::string>& used) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(files_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!used.count(name) && name.size() > 4 && name.compare(name.size() - 4, 4, ".png") == 0) fs::remove(entry.path(), ec);
  }
}

}  // namespace

fs::path write_training_report(const TrainingReportInputs& in) {
  const Metrics metrics = read_metrics(in.log_dir / "metrics.csv");
  const auto summary = summarise(metrics);
  const fs::path files_dir = in.log_dir / "report_files";
  fs::create_directories(files_dir);
  std::set<std::string> used;
  std::string body = "<h1>deepzine training report</h1>\n<p>log_dir " + escape_html(in.log_dir.string()) +
                     ", samples_dir " + escape_html(in.samples_dir.string()) + "; written " + html::now_utc() + ".</p>\n";
  body += status_html(metrics, in.stages, summary);
  if (metrics.cut_off_rows > 0) {
    body += fmt::format("<p>{} row(s) at the end of metrics.csv were cut off (a kill during a write) and are not "
                        "shown.</p>\n",
                        metrics.cut_off_rows);
  }
  body += schedule_html(metrics, in.stages, summary);
  body += plots_html(metrics, in.stages);
  body += samples_html(in, summary, files_dir, used);
  body += settings_html(in);
  const fs::path report = in.log_dir / "report.html";
  util::write_file_atomic(report, html::page("deepzine training report", body));
  remove_unused(files_dir, used);
  return report;
}

}  // namespace deepzine::report
