#!/usr/bin/env bash
# load_data throughput and size per page: deepzine against the original pipeline, same PDFs, one run.
# Usage: bench/pages_bench.sh BUILD_DIR PDF_DIR [SIZES...]   (default sizes: 256 1024)
set -euo pipefail
build=$(realpath "$1"); pdfs=$(realpath "$2"); shift 2
sizes=("${@:-256 1024}")
[ $# -gt 0 ] && sizes=("$@") || sizes=(256 1024)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
here=$(dirname "$(realpath "$0")")
echo "machine: $(nproc) cores, $(uname -m); PDFs: $(find "$pdfs" -name '*.pdf' | wc -l) files in $pdfs"
for size in "${sizes[@]}"; do
  # deepzine as configured by default (grey pages stored once), then with every page in three channels.
  for compact in True False; do
    cat > "$work/c.yaml" <<EOC
load_data: True
download_pdf: False
overwrite: True
pdf_directory: $pdfs
data_hdf5: $work/deepzine_$size.h5
data_output_size: $size
compact_grey_pages: $compact
log_level: warn
EOC
    start=$(date +%s.%N)
    "$build/deepzine" "$work/c.yaml" || true   # exit 4 when some PDFs are unreadable
    end=$(date +%s.%N)
    pages=$(/usr/bin/python3 -c "import h5py; print(h5py.File('$work/deepzine_$size.h5','r')['data_4'].shape[0])")
    bytes=$(stat -c %s "$work/deepzine_$size.h5")
    /usr/bin/python3 -c "s=$end-$start; print(f'deepzine (compact_grey_pages $compact): {$pages} pages at $size in {s:.2f} s: {$pages/s:.2f} pages/s, {$bytes/$pages:.0f} bytes/page')"
  done
  /usr/bin/python3 "$here/original_pipeline.py" "$pdfs" "$work/original_$size.h5" "$size"
done
