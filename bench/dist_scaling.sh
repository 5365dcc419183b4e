#!/usr/bin/env bash
# Data-parallel scaling on this machine's CPU: the train stage on fixture-like pages with 1 process
# (batch B and 2B) and with --nproc 2 (batch B per rank = 2B effective), images/s of training.
# Usage: bench/dist_scaling.sh [PDF_DIR=/usr/share/doc/r-doc-pdf or ../shared/fixtures/pdfs] [B=8] [RES=16]
set -euo pipefail
bin=$(realpath "${DEEPZINE:-build/deepzine}")
pdfs=$(realpath "${1:-../shared/fixtures/pdfs}")
B=${2:-8}
res=${3:-16}
iters=${ITERS:-100}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
config() {  # $1 batch
  cat <<EOC
load_data: True
train: True
download_pdf: False
pdf_directory: $pdfs
data_hdf5: $work/pages.h5
data_output_size: $res
device: cpu
random_seed: 1
log_dir: $work/models
samples_dir: $work/samples
gan_output_size: $res
latent_size: 64
max_filter: 64
batch_size: $1
iterations_per_stage: $iters
model_save_interval_steps: 100000
model_sample_interval_steps: 100000
model_loss_output_interval_steps: 50
swd_image_num: 0
EOC
}
config "$B" > "$work/cfg.yaml"
"$bin" "$work/cfg.yaml" --only load_data > /dev/null 2>&1
stages=$(( 2 * $(awk -v r="$res" 'BEGIN{print log(r)/log(2) - 2}') + 1 ))
run() {  # label batch nproc
  config "$2" > "$work/cfg.yaml"
  rm -rf "$work/models" "$work/samples"
  local t0=$(date +%s.%N)
  "$bin" "$work/cfg.yaml" --only train --nproc "$3" > "$work/log.txt" 2>&1 || { cat "$work/log.txt"; exit 1; }
  local t1=$(date +%s.%N)
  local images=$(( stages * iters * $2 * $3 ))
  awk -v l="$1" -v s="$(echo "$t1 - $t0" | bc)" -v n="$images" 'BEGIN{printf "%-28s %8.1f s %10.1f images/s\n", l, s, n/s}'
}
echo "dist_scaling: $(nproc) CPU(s), ${res}x${res}, $stages stages x $iters steps, batch $B per process"
run "1 process, batch $B" "$B" 1
run "1 process, batch $((2 * B))" "$((2 * B))" 1
run "2 processes, batch $B each" "$B" 2
