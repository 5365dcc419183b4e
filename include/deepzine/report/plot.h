#pragma once
// Line and point plots as SVG text, drawn by PLplot (Debian's libplplot): axes with ticks and
// numbers, axis labels, a legend and labelled vertical markers (the training report's stage
// boundaries). The SVG goes to memory, never to a file PLplot opens itself.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace deepzine::report {

struct Series {
  std::string label;
  std::vector<double> x, y;            // points with a non-finite coordinate are left out
  std::array<uint8_t, 3> colour{0, 0, 0};
  bool points = false;                 // markers instead of a line (e.g. one SWD value per stage)
};

struct Marker {
  double x = 0;
  std::string label;
};

struct PlotSpec {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  std::vector<Marker> markers;  // vertical dashed lines, labelled at the top
  int width = 720, height = 280;  // SVG user units (pt)
  // Prefixed to the ids inside the SVG (and the references to them), so that several plots inline
  // in one page do not share ids.
  std::string id_prefix;
};

// The plot as a standalone <svg> document; empty when no series has a finite point (the caller
// says "no data yet" instead of drawing empty axes).
std::string render_svg(const PlotSpec& spec);

}  // namespace deepzine::report
