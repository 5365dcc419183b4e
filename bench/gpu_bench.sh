#!/usr/bin/env bash
# The GPU benchmark of issue 8, in one run on the GPU machine: a full training step (D with the
# gradient penalty, G, EMA) at 16, 64, 256, 1024 for deepzine with the fused kernels on, off, and
# with bf16 + channels-last; PyTorch eager and torch.compile of the identical model and step
# (bench/pggan_reference.py); the per-op harness (ops_bench); generator inference images/s.
# Usage: bench/gpu_bench.sh BUILD_DIR [RESOLUTIONS=16,64,256,1024] [STEPS=20]
set -uo pipefail
build=${1:?usage: bench/gpu_bench.sh BUILD_DIR [RESOLUTIONS] [STEPS]}
res=${2:-16,64,256,1024}
steps=${3:-20}
py=${PYTHON:-python3}
here=$(dirname "$0")
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader || true
run() { echo; echo "### $*"; "$@" || echo "(exit $?)"; }
run "$build/bench/ops_bench" --device cuda
run "$build/bench/ops_bench" --device cuda --dtype bf16
run "$build/bench/train_step_bench" --device cuda --resolutions "$res" --steps "$steps" --kernels on
run "$build/bench/train_step_bench" --device cuda --resolutions "$res" --steps "$steps" --kernels off
run "$build/bench/train_step_bench" --device cuda --resolutions "$res" --steps "$steps" --kernels on --bf16 on --channels-last on
run "$py" "$here/pggan_reference.py" --device cuda --resolutions "$res" --steps "$steps"
run "$py" "$here/pggan_reference.py" --device cuda --resolutions "$res" --steps "$steps" --compile
if [ -x "$build/bench/inference_bench" ]; then
  run "$build/bench/inference_bench" --device cuda --resolutions 256,1024
fi
