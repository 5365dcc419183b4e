#!/usr/bin/env bash
# The offline demo: local PDFs (Debian's r-doc-pdf manuals) through every stage on the CPU.
# Usage: scripts/demo.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
[ $# -gt 0 ] && shift
mkdir -p demo-output/pdfs
manuals=/usr/share/R/doc/manual
[ -d "$manuals" ] || manuals=/usr/share/doc/r-doc-pdf
for name in R-FAQ.pdf R-data.pdf R-admin.pdf; do
  src=$(find "$manuals" /usr/share/R /usr/share/doc -name "$name" 2>/dev/null | head -n 1 || true)
  if [ -n "$src" ] && [ ! -e "demo-output/pdfs/$name" ]; then cp "$src" demo-output/pdfs/; fi
done
if [ -z "$(ls demo-output/pdfs)" ]; then
  echo "demo: no PDFs found (install r-doc-pdf, or put PDFs into demo-output/pdfs)" >&2
  exit 1
fi
"$build/deepzine" resources/config_demo.yaml "$@"
echo "demo: outputs are in demo-output/ (pages.h5, models/, samples/, inference/)"
