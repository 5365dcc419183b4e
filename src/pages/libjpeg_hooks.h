#pragma once
// Two flaws of the JPEG decoding poppler leaves to libjpeg, mended from this process (the
// executable's definitions of libjpeg functions come first in symbol lookup; libjpeg_hooks.cpp):
// - libjpeg's warnings about damaged JPEG images in PDFs ("Corrupt JPEG data: premature end of data
//   segment") are printed raw to stderr, from every render worker, naming no file;
// - poppler 22's DCTStream skips a JPEG marker segment that runs past the end of its stream forever
//   (its skip_input_data subtracts the 0 bytes its source gives at the end, in a loop): a 531-byte
//   PDF hung pdftoppm and the renderer (fuzz_pdf, session 14). Such a skip is now libjpeg's
//   "premature end of file" error, which poppler handles as a damaged image.

namespace deepzine::pages {

// From now on libjpeg's messages go to the debug log (true) or nowhere (false). Until it is called
// they go to the debug log.
void route_libjpeg_messages(bool to_debug_log);

// How many skips past the end of a poppler JPEG stream this process has stopped (tests).
long stopped_jpeg_skips();

}  // namespace deepzine::pages
