#pragma once
// libjpeg's warnings about damaged JPEG images in PDFs ("Corrupt JPEG data: premature end of data
// segment"), which poppler leaves to libjpeg's default: printed raw to stderr, from every render
// worker, naming no file.

namespace deepzine::pages {

// From now on libjpeg's messages go to the debug log (true) or nowhere (false). Until it is called
// they go to the debug log.
void route_libjpeg_messages(bool to_debug_log);

}  // namespace deepzine::pages
