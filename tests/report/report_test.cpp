// The training report and the output index: written, valid HTML (libxml2's parser), every picture
// they name exists, the numbers of metrics.csv shown, and a browser (headless Chromium) draws them.
#include <gtest/gtest.h>
#include <libxml/HTMLparser.h>
#include <libxml/xpath.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "deepzine/imageio/png.h"
#include "deepzine/report/metrics.h"
#include "deepzine/report/plot.h"
#include "deepzine/report/report.h"
#include "support/shell.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using namespace deepzine;
using deepzine::testing_support::TempDir;

namespace {

const char* kHeader = "stage,resolution,transition,step,global_step,kimg,alpha,d_loss,g_loss,gp,drift,images_per_s,swd\n";

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Parses with libxml2's HTML parser; collects its errors and every src/href of the page.
struct ParsedPage {
  int errors = 0;
  std::string first_error;
  std::vector<std::string> links;
  int svg_count = 0;
};

// libxml2's HTML parser knows HTML 4: an HTML5 element (svg and its parts, figure, video, details)
// is an "unknown tag" to it, not an error in the page. Every other complaint counts.
void collect_errors(void* ctx, xmlErrorPtr error) {
  auto* page = static_cast<ParsedPage*>(ctx);
  if (error->code == XML_HTML_UNKNOWN_TAG) return;
  if (page->errors++ == 0) page->first_error = std::string(error->message ? error->message : "?") + " at line " + std::to_string(error->line);
}

ParsedPage parse_html(const std::string& text) {
  ParsedPage page;
  xmlSetStructuredErrorFunc(&page, collect_errors);
  htmlDocPtr doc = htmlReadMemory(text.data(), static_cast<int>(text.size()), "report.html", "utf-8",
                                  HTML_PARSE_NONET);
  xmlSetStructuredErrorFunc(nullptr, nullptr);
  if (!doc) {
    page.errors = std::max(page.errors, 1);
    return page;
  }
  xmlXPathContextPtr xpath = xmlXPathNewContext(doc);
  for (const char* query : {"//@src", "//@href"}) {
    xmlXPathObjectPtr found = xmlXPathEvalExpression(reinterpret_cast<const xmlChar*>(query), xpath);
    for (int i = 0; found && found->nodesetval && i < found->nodesetval->nodeNr; ++i) {
      xmlChar* value = xmlNodeGetContent(found->nodesetval->nodeTab[i]);
      page.links.emplace_back(reinterpret_cast<const char*>(value));
      xmlFree(value);
    }
    xmlXPathFreeObject(found);
  }
  xmlXPathObjectPtr svgs = xmlXPathEvalExpression(reinterpret_cast<const xmlChar*>("//svg"), xpath);
  page.svg_count = svgs && svgs->nodesetval ? svgs->nodesetval->nodeNr : 0;
  xmlXPathFreeObject(svgs);
  xmlXPathFreeContext(xpath);
  xmlFreeDoc(doc);
  return page;
}

// A sample grid as the trainer writes it: `value` everywhere but a dark bar.
void write_grid(const fs::path& file, int side, uint8_t value) {
  imageio::Image img;
  img.width = img.height = side;
  img.channels = 1;
  img.pixels.assign(static_cast<size_t>(side) * side, value);
  for (int y = side / 4; y < side / 3; ++y)
    for (int x = 4; x < side - 4; ++x) img.pixels[y * side + x] = 20;
  fs::create_directories(file.parent_path());
  imageio::write_png(file, img);
}

std::vector<report::StagePlan> plan() {
  return {{"4", 4, false, 100, 16}, {"8_Transition", 8, true, 100, 16}, {"8", 8, false, 100, 16}};
}

// A run stopped in 8_Transition: stage 4 finished with its SWD row, 60 of 100 steps of the next.
void write_run(const TempDir& dir) {
  std::string csv = kHeader;
  csv += "4,4,0,1,1,0.016,1.0000,2.5,-0.5,0.2,0.01,300.0,\n";
  csv += "4,4,0,50,50,0.800,1.0000,0.31,0.12,0.02,0.03,310.0,\n";
  csv += "4,4,0,100,100,1.600,1.0000,0.125,-0.25,0.015,0.02,305.0,\n";
  csv += "4,4,0,100,100,1.600,1.0000,0.125,-0.25,0.015,0.02,0.0,123.4567\n";
  csv += "8_Transition,8,1,20,120,1.920,0.2000,1.75,0.5,0.25,0.04,150.0,\n";
  csv += "8_Transition,8,1,60,160,2.560,0.6000,0.875,0.375,0.0625,0.05,160.0,\n";
  dir.write("log/metrics.csv", csv);
  write_grid(dir / "samples/samples_4/000100_fake.png", 64, 230);
  write_grid(dir / "samples/samples_4/000100_real.png", 64, 250);
  write_grid(dir / "samples/samples_4/000050_fake.png", 64, 100);  // older: not shown
  write_grid(dir / "samples/samples_8_Transition/000040_fake.png", 2000, 240);  // wide: thumbnailed
  write_grid(dir / "samples/samples_8_Transition/000040_real.png", 2000, 250);
}

report::TrainingReportInputs inputs(const TempDir& dir) {
  report::TrainingReportInputs in;
  in.log_dir = dir / "log";
  in.samples_dir = dir / "samples";
  in.stages = plan();
  in.settings = {{"learning_rate", "0.003"}, {"data_hdf5", "<pages & more>.h5"}};
  in.config_file = dir.write("config.yaml", "train: True\nlearning_rate: 0.003  # <b>not bold</b>\n");
  return in;
}

}  // namespace

TEST(Metrics, ReadsRowsAndCountsACutOffLastRow) {
  TempDir dir;
  const fs::path file = dir.write("metrics.csv", std::string(kHeader) + "4,4,0,10,10,0.160,1.0000,0.5,-0.25,0.01,0.02,200.0,\n"
                                                 "4,4,0,20,20,0.320,1.0000,0.25,-0.5,0.02,0.03,0.0,77.5\n4,4,0,3");
  const report::Metrics m = report::read_metrics(file);
  ASSERT_EQ(m.rows.size(), 2u);
  EXPECT_EQ(m.cut_off_rows, 1);
  EXPECT_EQ(m.rows[0].stage, "4");
  EXPECT_DOUBLE_EQ(m.rows[0].d_loss, 0.5);
  EXPECT_FALSE(m.rows[0].swd.has_value());
  ASSERT_TRUE(m.rows[1].swd.has_value());
  EXPECT_DOUBLE_EQ(*m.rows[1].swd, 77.5);
  EXPECT_TRUE(report::read_metrics(dir / "absent.csv").rows.empty());
}

TEST(Metrics, ABadRowOrHeaderNamesTheFileAndLine) {
  TempDir dir;
  const fs::path bad_row = dir.write("a.csv", std::string(kHeader) + "4,4,0,10,10,0.16,1,0.5,-0.25,0.01,0.02,200,\n"
                                                "4,four,0,20,20,0.32,1,0.25,-0.5,0.02,0.03,0,\n4,4,0,30,30,0.48,1,0,0,0,0,1,\n");
  try {
    report::read_metrics(bad_row);
    FAIL() << "a row with a word for a number was read";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(bad_row.string() + ": line 3"), std::string::npos) << e.what();
  }
  const fs::path bad_header = dir.write("b.csv", "step,loss\n1,2\n");
  EXPECT_THROW(report::read_metrics(bad_header), std::runtime_error);
  fs::create_directories(dir / "folder.csv");
  EXPECT_THROW(report::read_metrics(dir / "folder.csv"), std::runtime_error);
}

TEST(Plot, DrawsAxesLegendAndMarkersAsSvg) {
  report::PlotSpec spec;
  spec.title = "Losses";
  spec.x_label = "kimg";
  spec.y_label = "loss";
  report::Series d{"D loss", {0, 1, 2, 3}, {1.0, 0.5, std::nan(""), 0.25}, {200, 0, 0}};
  spec.series = {d};
  spec.markers = {{1.5, "8_Transition"}};
  const std::string svg = report::render_svg(spec);
  ASSERT_FALSE(svg.empty());
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("polyline"), std::string::npos);   // the curve and the axes
  EXPECT_NE(svg.find("#C80000"), std::string::npos);    // in the series' colour
  EXPECT_GT(std::count(svg.begin(), svg.end(), '\n'), 100);
  // Nothing finite to draw: no plot, not empty axes.
  spec.series = {report::Series{"none", {0, 1}, {std::nan(""), INFINITY}}};
  EXPECT_TRUE(report::render_svg(spec).empty());
  spec.series = {};
  EXPECT_TRUE(report::render_svg(spec).empty());
  // One point (a degenerate range) still draws.
  spec.series = {report::Series{"SWD", {2}, {50}, {0, 0, 200}, true}};
  EXPECT_FALSE(report::render_svg(spec).empty());
}

TEST(TrainingReport, ShowsWhereTheRunIsItsNumbersCurvesAndSamples) {
  TempDir dir;
  write_run(dir);
  const fs::path report = report::write_training_report(inputs(dir));
  ASSERT_EQ(report, dir / "log" / "report.html");
  const std::string text = read_text(report);
  const ParsedPage page = parse_html(text);
  EXPECT_EQ(page.errors, 0) << page.first_error;
  EXPECT_EQ(page.svg_count, 5);  // losses, penalty, drift, speed, SWD
  // Every picture it names is a file beside it; no network.
  std::set<std::string> pictures;
  for (const std::string& link : page.links) {
    EXPECT_EQ(link.find("://"), std::string::npos) << link;
    if (link.rfind("http", 0) == 0 || link[0] == '#') continue;
    EXPECT_TRUE(fs::is_regular_file(dir / "log" / link)) << link;
    pictures.insert(link);
  }
  EXPECT_EQ(pictures.size(), 4u);  // fakes and reals of two stages
  EXPECT_TRUE(pictures.count("report_files/4_000100_fake.png"));
  EXPECT_FALSE(pictures.count("report_files/4_000050_fake.png"));
  // A grid 2000 px wide is shown box-averaged to at most 768 px.
  const auto thumb = imageio::read_png(dir / "log/report_files/8_Transition_000040_fake.png");
  EXPECT_LE(thumb.width, 768);
  EXPECT_GE(thumb.width, 600);
  // The numbers of metrics.csv: the stage-end SWD, the newest losses, the position and its ETA.
  for (const char* number : {"123.46", "0.875", "0.375", "0.0625", "305.0", "160.0"}) {
    EXPECT_NE(text.find(number), std::string::npos) << number;
  }
  EXPECT_NE(text.find("stage 8_Transition (8x8, fading in), step 60 of 100"), std::string::npos);
  // 40 + 100 steps of 16 images left at 160 images/s: 14 s.
  EXPECT_NE(text.find("ETA 14 s at 160.0 images/s"), std::string::npos);
  // The settings and the config file, escaped.
  EXPECT_NE(text.find("&lt;pages &amp; more&gt;.h5"), std::string::npos);
  EXPECT_NE(text.find("# &lt;b&gt;not bold&lt;/b&gt;"), std::string::npos);
}

TEST(TrainingReport, ANewerGridReplacesTheOldThumbnailAndAFinishedRunSaysSo) {
  TempDir dir;
  write_run(dir);
  auto in = inputs(dir);
  report::write_training_report(in);
  write_grid(dir / "samples/samples_8_Transition/000100_fake.png", 64, 200);
  write_grid(dir / "samples/samples_8_Transition/000100_real.png", 64, 250);
  std::ofstream(dir / "log/metrics.csv", std::ios::app) << "8_Transition,8,1,100,200,3.200,1.0000,0.5,0.5,0.1,0.1,150.0,\n"
                                                         << "8,8,0,100,300,4.800,1.0000,0.5,0.5,0.1,0.1,150.0,\n";
  report::write_training_report(in);
  EXPECT_TRUE(fs::exists(dir / "log/report_files/8_Transition_000100_fake.png"));
  EXPECT_FALSE(fs::exists(dir / "log/report_files/8_Transition_000040_fake.png"));
  const std::string text = read_text(dir / "log/report.html");
  EXPECT_NE(text.find("<b>Finished</b>: 300 steps, 4.8 kimg"), std::string::npos);
}

TEST(TrainingReport, AnEmptyLogDirIsNotStartedAndAForeignOneIsNamed) {
  TempDir dir;
  auto in = inputs(dir);
  fs::create_directories(in.log_dir);
  report::write_training_report(in);
  EXPECT_NE(read_text(in.log_dir / "report.html").find("Not started"), std::string::npos);
  dir.write("log/metrics.csv", std::string(kHeader) + "64,64,0,1,1,0.016,1.0000,2.5,-0.5,0.2,0.01,300.0,\n");
  report::write_training_report(in);
  EXPECT_NE(read_text(in.log_dir / "report.html").find("not in this config's schedule"), std::string::npos);
}

TEST(OutputIndex, NamesTheContactSheetMovieAndLatents) {
  TempDir dir;
  write_grid(dir / "inference_contact_sheet.png", 64, 240);
  for (int i = 0; i < 3; ++i) write_grid(dir / ("inference_0000" + std::to_string(i) + ".png"), 16, 240);
  dir.write("inference_latents.npy", "x");
  dir.write("interpolation.mp4", "x");
  dir.write("interpolation_latents.npy", "x");
  const std::string text = read_text(report::write_output_index(dir.path(), "models/64/checkpoint.pt (64x64)"));
  const ParsedPage page = parse_html(text);
  EXPECT_EQ(page.errors, 0) << page.first_error;
  for (const std::string& link : page.links) EXPECT_TRUE(fs::is_regular_file(dir / link)) << link;
  EXPECT_NE(text.find("<video src=\"interpolation.mp4\""), std::string::npos);
  EXPECT_NE(text.find("inference_latents.npy"), std::string::npos);
  EXPECT_NE(text.find("3 page(s)"), std::string::npos);
  EXPECT_NE(text.find("models/64/checkpoint.pt (64x64)"), std::string::npos);
}

// What a person sees: Chromium draws the page (not a blank one: text, plots and the grids).
TEST(TrainingReport, HeadlessChromiumDrawsIt) {
  if (std::system("command -v chromium >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "chromium is not installed (scripts/install_deps.sh installs it: apt-get install chromium)";
  }
  TempDir dir;
  write_run(dir);
  const fs::path report = report::write_training_report(inputs(dir));
  const fs::path shot = dir / "shot.png";
  const auto r = testing_support::shell("timeout 60 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars "
                                        "--user-data-dir='" + (dir / "profile").string() + "' --window-size=1200,1800 "
                                        "--screenshot='" + shot.string() + "' 'file://" + report.string() + "'");
  ASSERT_TRUE(fs::exists(shot)) << r.output;
  const auto image = imageio::read_png(shot);
  ASSERT_EQ(image.width, 1200);
  size_t dark = 0, coloured = 0;
  for (size_t i = 0; i + 2 < image.pixels.size(); i += image.channels) {
    const int r0 = image.pixels[i], g0 = image.pixels[i + 1], b0 = image.pixels[i + 2];
    if (r0 + g0 + b0 < 3 * 128) ++dark;
    if (std::abs(r0 - b0) > 60) ++coloured;  // the plots' red and blue curves
  }
  const size_t pixels = image.pixels.size() / image.channels;
  EXPECT_GT(dark, pixels / 200) << "the screenshot is (nearly) blank";
  EXPECT_GT(coloured, 200u) << "no plot curve was drawn";
}
