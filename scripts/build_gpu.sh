#!/usr/bin/env bash
# Builds deepzine against PyTorch's own CUDA LibTorch (a pip or conda `torch` with CUDA), with the
# fused CUDA kernels. The same sources build against Debian's CPU LibTorch 1.13 (make build).
# Usage: scripts/build_gpu.sh [--core-only] [BUILD_DIR]   (default build-gpu)
#   --core-only: only the LibTorch-only targets (ops, model, training step, their tests and
#                benchmarks), for machines without the Debian libraries (see docs/GPU.md).
# Environment: PYTHON (default python3), CUDACXX (default: nvcc on PATH, else /usr/local/cuda/bin/nvcc),
#              CUDA_ARCHS (default "90-real;90-virtual"), JOBS.
set -euo pipefail
cd "$(dirname "$0")/.."
core=OFF
if [ "${1:-}" = "--core-only" ]; then core=ON; shift; fi
build=${1:-build-gpu}
py=${PYTHON:-python3}
prefix=$("$py" -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null) ||
  { echo "build_gpu: '$py' cannot import torch; install PyTorch with CUDA or set PYTHON" >&2; exit 2; }
has_cuda=$("$py" -c 'import torch; print(int(torch.version.cuda is not None))')
[ "$has_cuda" = 1 ] || { echo "build_gpu: the torch found by $py has no CUDA (torch.version.cuda is None)" >&2; exit 2; }
nvcc=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
[ -x "$nvcc" ] || { echo "build_gpu: nvcc not found; set CUDACXX" >&2; exit 2; }
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_CUDA_COMPILER="$nvcc" -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-90-real;90-virtual}" \
  -DDEEPZINE_CORE_ONLY=$core
cmake --build "$build" -j"${JOBS:-$(nproc)}"
echo "build_gpu: built in $build (LibTorch from $prefix, CUDA kernels compiled)"
