#!/usr/bin/env bash
# Packs a relocatable deepzine for machines without root or apt (cluster nodes): bin/deepzine, its
# LibTorch stages module (lib/libdeepzine_torch_stages.so, loaded when training or sampling) and
# the shared libraries both need that a base system lacks, in lib/, found through an RPATH of
# $ORIGIN/../lib. LibTorch and CUDA are NOT packed: they come from the target (a PyTorch install:
# add its torch/lib to LD_LIBRARY_PATH, see docs/GPU.md), and neither is what LibTorch itself pulls in.
# Usage: scripts/bundle.sh [BINARY=build/deepzine] [OUT=dist/deepzine-VERSION]
set -euo pipefail
bin=${1:-build/deepzine}
[ -x "$bin" ] || { echo "bundle: $bin not found or not executable; build first (make build or scripts/build_gpu.sh)" >&2; exit 2; }
version=$("$bin" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1 || true)
out=${2:-dist/deepzine-${version:-dev}}
command -v patchelf >/dev/null || { echo "bundle: patchelf is missing (apt install patchelf)" >&2; exit 2; }
module=$(dirname "$bin")/libdeepzine_torch_stages.so
[ -f "$module" ] || { echo "bundle: $module not found; build it (it is part of make build)" >&2; exit 2; }

# Taken from the target system: glibc, the compiler runtime, LibTorch and CUDA.
skip_re='^(linux-vdso|ld-linux|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|libutil\.so|libresolv\.so|libstdc\+\+\.so|libgcc_s\.so|libgomp\.so|libtorch|libc10|libcuda|libcudart|libcublas|libcudnn|libcufft|libcurand|libcusparse|libcusolver|libnccl|libnv|libcaffe2|libshm)'

# name -> path, as the loader resolves them for this binary.
declare -A where
while read -r name _ path _; do
  [ -n "${path:-}" ] && [ "$path" != "not" ] && where[$name]=$path
done < <(ldd "$bin" "$module" | grep '=>')
for obj in "$bin" "$module"; do
  if ldd "$obj" | grep -q 'not found'; then
    echo "bundle: $obj has unresolved libraries:" >&2; ldd "$obj" | grep 'not found' >&2; exit 2
  fi
done

# Walk DT_NEEDED from the binary, not descending into skipped libraries (LibTorch's own closure).
declare -A packed
queue=("$bin" "$module")
while [ ${#queue[@]} -gt 0 ]; do
  obj=${queue[0]}; queue=("${queue[@]:1}")
  for need in $(objdump -p "$obj" | awk '/NEEDED/ {print $2}'); do
    [[ $need =~ $skip_re ]] && continue
    [ -n "${packed[$need]:-}" ] && continue
    path=${where[$need]:-}
    [ -n "$path" ] || { echo "bundle: cannot resolve $need (needed by $obj)" >&2; exit 2; }
    packed[$need]=$path
    queue+=("$path")
  done
done

tmp="$out.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp/bin" "$tmp/lib"
cp "$bin" "$tmp/bin/deepzine"
cp "$module" "$tmp/lib/"
for name in "${!packed[@]}"; do cp -L "${packed[$name]}" "$tmp/lib/$name"; done
chmod u+w "$tmp/lib/"* 2>/dev/null || true
# DT_RPATH (not RUNPATH) on the binary applies to every library it loads, so one entry serves all.
patchelf --force-rpath --set-rpath '$ORIGIN/../lib' "$tmp/bin/deepzine"
for f in "$tmp/lib/"*; do patchelf --force-rpath --set-rpath '$ORIGIN' "$f"; done
cp README.md LICENSE "$tmp/" 2>/dev/null || true
rm -rf "$out"
mv "$tmp" "$out"
size=$(du -sh "$out" | cut -f1)
echo "bundle: $out ($((${#packed[@]})) libraries, $size); LibTorch/CUDA come from the target"
