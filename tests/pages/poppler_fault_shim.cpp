// LD_PRELOAD shim for tests: poppler misbehaving on chosen pages, as it might on a hostile PDF. It
// wraps PDFDoc::displayPageSlice; a PDF whose name contains "crash-on-page-N" crashes (SIGSEGV) and
// one whose name contains "hang-on-page-N" hangs when page N (1-based) is rendered. Every other call
// goes to poppler unchanged.
#include <dlfcn.h>
#include <signal.h>
#include <unistd.h>

#include <string>

#include <PDFDoc.h>

namespace {

int page_in_name(const std::string& name, const std::string& marker) {
  const auto at = name.find(marker);
  return at == std::string::npos ? 0 : std::atoi(name.c_str() + at + marker.size());
}

}  // namespace

void PDFDoc::displayPageSlice(OutputDev* out, int page, double h_dpi, double v_dpi, int rotate, bool use_media_box,
                              bool crop, bool printing, int slice_x, int slice_y, int slice_w, int slice_h,
                              bool (*abort_check)(void*), void* abort_data, bool (*annot_decide)(Annot*, void*),
                              void* annot_data, bool copy_xref) {
  const std::string name = getFileName() ? getFileName()->toStr() : "";
  if (page_in_name(name, "crash-on-page-") == page) raise(SIGSEGV);
  if (page_in_name(name, "hang-on-page-") == page) sleep(600);
  using Real = void (*)(PDFDoc*, OutputDev*, int, double, double, int, bool, bool, bool, int, int, int, int,
                        bool (*)(void*), void*, bool (*)(Annot*, void*), void*, bool);
  static const auto real = reinterpret_cast<Real>(
      dlsym(RTLD_NEXT, "_ZN6PDFDoc16displayPageSliceEP9OutputDeviddibbbiiiiPFbPvES2_PFbP5AnnotS2_ES2_b"));
  real(this, out, page, h_dpi, v_dpi, rotate, use_media_box, crop, printing, slice_x, slice_y, slice_w, slice_h,
       abort_check, abort_data, annot_decide, annot_data, copy_xref);
}
