#!/usr/bin/env bash
# load_data throughput against poppler's own floor, same PDFs, same run, rounds interleaved.
#   floor:    pdftoppm (poppler-utils) on one core, one process per PDF, PPM at SIZE x SIZE
#             (-scale-to-x/-y, the pixels of page_fit: stretch), into a temporary folder
#   deepzine: load_data with its defaults (load_workers: all cores), start-up excluded (the stage's
#             own pages/s) and included (wall time of the process); start-up alone = --version
#   target:   deepzine >= 0.9 x cores x the floor's pages/s (issue #18)
# PEER=/path/to/another/deepzine measures that build too, the same way, in the same rounds.
# ORIGINAL=1 also runs the original DeepZine pipeline once per size (bench/original_pipeline.py:
# pdftoppm PNG at 150 dpi, PIL resizes, float32 PyTables; slow).
# Usage: bench/pages_bench.sh BUILD_DIR PDF_DIR [SIZES...]   (default sizes: 256 1024; ROUNDS=3)
set -euo pipefail
build=$(realpath "$1"); pdfs=$(realpath "$2"); shift 2
[ $# -gt 0 ] && sizes=("$@") || sizes=(256 1024)
rounds=${ROUNDS:-3}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
here=$(dirname "$(realpath "$0")")
cores=$(nproc)
now() { date +%s.%N; }
echo "machine: $cores cores, $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)"
echo "PDFs: $(find "$pdfs" -name '*.pdf' | wc -l) files in $pdfs; $rounds rounds, medians"
startups=()
for size in "${sizes[@]}"; do
  cat > "$work/c.yaml" <<EOC
load_data: True
download_pdf: False
overwrite: True
pdf_directory: $pdfs
data_hdf5: $work/deepzine_$size.h5
data_output_size: $size
log_level: info
EOC
  floor=(); stage=(); wall=(); peer=()
  for round in $(seq "$rounds"); do
    rm -rf "$work/ppm"; mkdir "$work/ppm"
    start=$(now)
    find "$pdfs" -name '*.pdf' -print0 | sort -z | while IFS= read -r -d '' f; do
      pdftoppm -scale-to-x "$size" -scale-to-y "$size" "$f" "$work/ppm/$(basename "$f" .pdf)" 2>/dev/null || true
    done
    end=$(now)
    floor_pages=$(find "$work/ppm" -name '*.ppm' | wc -l)
    floor+=("$(echo "$floor_pages / ($end - $start)" | bc -l)")
    rm -rf "$work/ppm"

    start=$(now)
    "$build/deepzine" "$work/c.yaml" > "$work/log.txt" 2>&1 || true   # exit 4 when some PDFs are unreadable
    end=$(now)
    pages=$(grep -oE 'load_data: [0-9]+ pages' "$work/log.txt" | grep -oE '[0-9]+' | head -1)
    stage+=("$(grep -oE '\(([0-9.]+) pages/s' "$work/log.txt" | grep -oE '[0-9.]+' | head -1)")
    wall+=("$(echo "$pages / ($end - $start)" | bc -l)")

    if [ -n "${PEER:-}" ]; then
      "$PEER" "$work/c.yaml" > "$work/peer.txt" 2>&1 || true
      peer+=("$(grep -oE '\(([0-9.]+) pages/s' "$work/peer.txt" | grep -oE '[0-9.]+' | head -1)")
    fi
    start=$(now); "$build/deepzine" --version > /dev/null; end=$(now)
    startups+=("$(echo "$end - $start" | bc -l)")
  done
  /usr/bin/python3 - "$size" "$cores" "$pages" "$floor_pages" "${floor[*]}" "${stage[*]}" "${wall[*]}" "${peer[*]:-}" <<'EOP'
import statistics as st, sys
size, cores, pages, floor_pages = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
floor, stage, wall = ([float(x) for x in a.split()] for a in sys.argv[5:8])
f, s, w = st.median(floor), st.median(stage), st.median(wall)
print(f"size {size}: pdftoppm (1 core) {floor_pages} pages at {f:.1f} pages/s [{' '.join(f'{x:.1f}' for x in floor)}]")
print(f"  deepzine {pages} pages: {s:.1f} pages/s start-up excluded [{' '.join(f'{x:.1f}' for x in stage)}], "
      f"{w:.1f} included [{' '.join(f'{x:.1f}' for x in wall)}]")
print(f"  ratio to {cores} x pdftoppm: {s / (cores * f):.2f} excluded, {w / (cores * f):.2f} included (target 0.90)")
if sys.argv[8].strip():
    p = [float(x) for x in sys.argv[8].split()]
    print(f"  peer (PEER): {st.median(p):.1f} pages/s start-up excluded [{' '.join(f'{x:.1f}' for x in p)}]; "
          f"this build / peer = {s / st.median(p):.2f}")
EOP
  if [ "${ORIGINAL:-0}" = 1 ]; then /usr/bin/python3 "$here/original_pipeline.py" "$pdfs" "$work/original_$size.h5" "$size"; fi
done
/usr/bin/python3 -c "import statistics as st, sys; v=[float(x) for x in sys.argv[1:]]; print(f'start-up (deepzine --version): median {st.median(v)*1000:.0f} ms of {len(v)} runs')" "${startups[@]}"
