#!/usr/bin/env bash
# The load_data benchmark corpus (docs/BENCHMARKS.md, issue 18): the first 33 PDFs of at most 40
# pages in pretrained_models/corpus.txt (Debian's texlive-latex-recommended-doc and
# texlive-publishers-doc, shuffled with seed 3): 427 pages, 145 of them in colour. Copies them into
# OUT_DIR as NNN_name.pdf so that sorted order is the list's order.
# Usage: bench/make_bench_corpus.sh OUT_DIR   (installs the two doc packages when missing)
set -euo pipefail
out=$1
here=$(dirname "$(realpath "$0")")
docs=/usr/share/doc/texlive-doc
for package in texlive-latex-recommended-doc texlive-publishers-doc; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" >/dev/null
done
mkdir -p "$out"
index=0
grep -v '^#' "$here/../pretrained_models/corpus.txt" | awk -F'\t' '$2 <= 40' | head -33 |
  while IFS=$'\t' read -r path pages; do
    src="$docs/$path"
    [ -f "$src" ] || { [ -f "$src.gz" ] && src="$src.gz"; }
    dest=$(printf '%s/%03d_%s' "$out" "$index" "$(basename "$path")")
    case "$src" in *.gz) gunzip -c "$src" > "$dest" ;; *) cp "$src" "$dest" ;; esac
    index=$((index + 1))
  done
echo "$(ls "$out"/*.pdf | wc -l) PDFs in $out"
