#include "deepzine/report/plot.h"

#include <plplot.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <stdexcept>

namespace deepzine::report {
namespace {

// PLplot keeps its streams in global state: one plot at a time.
std::mutex& plplot_mutex() {
  static std::mutex m;
  return m;
}

// Labels reach PLplot's text engine ('#' starts an escape) and the SVG it writes (no XML escaping):
// keep a plain subset. Stage names and units are all this project puts there.
std::string plain(const std::string& text) {
  std::string out;
  for (char c : text) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string(" _.,:;()/+-=%*|^").find(c) != std::string::npos;
    out += ok ? c : '?';
  }
  return out;
}

struct Range {
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return !(lo <= hi); }
  // A degenerate range widened so that PLplot accepts it; `pad` adds a margin on both sides.
  void finish(double pad) {
    if (hi - lo < 1e-12 * std::max(1.0, std::fabs(hi))) {
      const double half = std::max(1e-3, std::fabs(hi) * 0.1);
      lo -= half;
      hi += half;
    }
    const double margin = (hi - lo) * pad;
    lo -= margin;
    hi += margin;
  }
};

struct FinitePoints {
  std::vector<double> x, y;
};

FinitePoints finite_points(const Series& s) {
  FinitePoints p;
  const size_t n = std::min(s.x.size(), s.y.size());
  for (size_t i = 0; i < n; ++i) {
    if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) {
      p.x.push_back(s.x[i]);
      p.y.push_back(s.y[i]);
    }
  }
  return p;
}

// Colour map 0: 0 background, 1 axes and text, 2 grid and markers, 3.. the series.
constexpr PLINT kBackground = 0, kInk = 1, kGrey = 2, kFirstSeries = 3;

void draw_frame(const PlotSpec& spec, const Range& x, const Range& y) {
  pladv(0);
  plvpor(0.09, 0.97, 0.16, 0.88);
  plwind(x.lo, x.hi, y.lo, y.hi);
  plcol0(kGrey);
  plbox("g", 0, 0, "g", 0, 0);
  plcol0(kInk);
  plschr(0, 0.75);
  plbox("bcnst", 0, 0, "bcnstv", 0, 0);
  pllab(plain(spec.x_label).c_str(), plain(spec.y_label).c_str(), plain(spec.title).c_str());
}

void draw_markers(const PlotSpec& spec, const Range& x, const Range& y) {
  plschr(0, 0.5);
  for (const Marker& m : spec.markers) {
    if (!std::isfinite(m.x) || m.x < x.lo || m.x > x.hi) continue;
    plcol0(kGrey);
    pllsty(2);
    pljoin(m.x, y.lo, m.x, y.hi);
    pllsty(1);
    plcol0(kInk);
    // Vertical text reading upwards, ending just below the top edge, right of the line.
    plptex(m.x + (x.hi - x.lo) * 0.004, y.hi - (y.hi - y.lo) * 0.02, 0.0, 1.0, 1.0, plain(m.label).c_str());
  }
}

void draw_legend(const std::vector<const Series*>& shown) {
  const PLINT n = static_cast<PLINT>(shown.size());
  std::vector<PLINT> opts(n), colours(n), styles(n, 1), symbol_numbers(n, 1);
  std::vector<PLFLT> widths(n, 1.5), symbol_scales(n, 1.0);
  std::vector<std::string> texts(n);
  std::vector<const char*> text_ptrs(n), symbols(n, "#(840)");
  for (PLINT i = 0; i < n; ++i) {
    opts[i] = shown[i]->points ? PL_LEGEND_SYMBOL : PL_LEGEND_LINE;
    colours[i] = kFirstSeries + i;
    texts[i] = plain(shown[i]->label);
    text_ptrs[i] = texts[i].c_str();
  }
  PLFLT legend_width = 0, legend_height = 0;
  plschr(0, 0.7);
  pllegend(&legend_width, &legend_height, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
           PL_POSITION_TOP | PL_POSITION_RIGHT | PL_POSITION_INSIDE, 0.01, 0.01, 0.06, kBackground, kInk, 1, 0, 0, n,
           opts.data(), 0.8, 0.8, 2.0, 0.0, colours.data(), text_ptrs.data(), nullptr, nullptr, nullptr, nullptr,
           colours.data(), styles.data(), widths.data(), colours.data(), symbol_scales.data(), symbol_numbers.data(),
           symbols.data());
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

std::string prefix_ids(std::string svg, const std::string& prefix) {
  if (prefix.empty()) return svg;
  svg = replace_all(std::move(svg), "id=\"", "id=\"" + prefix);
  svg = replace_all(std::move(svg), "url(#", "url(#" + prefix);
  return replace_all(std::move(svg), "href=\"#", "href=\"#" + prefix);
}

}  // namespace

std::string render_svg(const PlotSpec& spec) {
  Range x, y;
  std::vector<FinitePoints> points;
  std::vector<const Series*> shown;
  for (const Series& s : spec.series) {
    FinitePoints p = finite_points(s);
    if (p.x.empty()) continue;
    for (size_t i = 0; i < p.x.size(); ++i) {
      x.add(p.x[i]);
      y.add(p.y[i]);
    }
    points.push_back(std::move(p));
    shown.push_back(&s);
  }
  if (shown.empty()) return "";
  const bool any_points = std::any_of(shown.begin(), shown.end(), [](const Series* s) { return s->points; });
  x.finish(any_points ? 0.03 : 0.0);  // markers at the ends stay whole
  y.finish(0.05);

  std::lock_guard<std::mutex> lock(plplot_mutex());
  char* buffer = nullptr;
  size_t length = 0;
  FILE* memory = open_memstream(&buffer, &length);
  if (!memory) throw std::runtime_error("report: cannot open a memory stream for a plot");
  PLINT previous = 0, stream = 0;
  plgstrm(&previous);
  plmkstrm(&stream);
  plsdev("svg");
  plsfile(memory);  // PLplot closes it at plend1
  plspage(0, 0, std::max(spec.width, 100), std::max(spec.height, 80), 0, 0);
  plscmap0n(16);
  plscol0(kBackground, 255, 255, 255);
  plscol0(kInk, 0, 0, 0);
  plscol0(kGrey, 200, 200, 200);
  for (size_t i = 0; i < shown.size() && kFirstSeries + i < 16; ++i) {
    const auto& c = shown[i]->colour;
    plscol0(kFirstSeries + static_cast<PLINT>(i), c[0], c[1], c[2]);
  }
  plinit();
  draw_frame(spec, x, y);
  draw_markers(spec, x, y);
  for (size_t i = 0; i < shown.size(); ++i) {
    plcol0(kFirstSeries + static_cast<PLINT>(std::min<size_t>(i, 12)));
    plwidth(1.5);
    const PLINT n = static_cast<PLINT>(points[i].x.size());
    if (shown[i]->points || n == 1) {
      plschr(0, 1.3);
      plstring(n, points[i].x.data(), points[i].y.data(), "#(840)");
    } else {
      plline(n, points[i].x.data(), points[i].y.data());
    }
  }
  plwidth(1.0);
  draw_legend(shown);
  plend1();
  plsstrm(previous);
  std::string svg(buffer ? buffer : "", length);
  std::free(buffer);
  return prefix_ids(std::move(svg), plain(spec.id_prefix));
}

}  // namespace deepzine::report
