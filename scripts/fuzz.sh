#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang with ASan + UBSan) in build-fuzz/ and runs each for
# SECONDS on corpora seeded from ../shared/fixtures and small made files. Prints, per target, the
# executions, their rate, the coverage (libFuzzer's cov/ft) and the crashes found (kept in
# build-fuzz/crashes/<target>/; every one is a bug, to become a test). Exit 1 if any target crashed.
# Usage: scripts/fuzz.sh SECONDS|runs:N|total:N [TARGET...]   e.g. scripts/fuzz.sh 3600 fuzz_npy
#   SECONDS: each target mutates for that long (the long runs; findings vary from run to run).
#   runs:N:  each target runs N inputs from a fixed seed (-seed=1) on fresh corpora: the same inputs
#            every time, so CI's result is repeatable (`.ci/run` uses runs:2000).
#   total:N: the long runs: N executions per target in all, on its kept corpus, in libFuzzer processes
#            of at most FUZZ_ROUND executions each (default 1M, fuzz_pdf 100k: some targets slow down
#            within a process as ASan's allocation-stack depot grows) and FUZZ_ROUND_SECONDS (default
#            900) each, FUZZ_PROCS of them at a time (default 1), each its own seed.
#            Resumable: the count is kept in build-fuzz/progress/<target>; the same command goes on
#            from there after a stop or a kill (the rate printed is this run's).
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${1:?usage: scripts/fuzz.sh SECONDS|runs:N|total:N [TARGET...]}
shift
total=0
if [[ $budget == runs:* ]]; then
  limit=(-runs="${budget#runs:}" -seed=1)
  fresh_corpus=1
elif [[ $budget == total:* ]]; then
  total=${budget#total:}
  limit=()
  fresh_corpus=0
else
  limit=(-max_total_time="$budget")
  fresh_corpus=0
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_config fuzz_npy fuzz_tf_checkpoint fuzz_page_file fuzz_chunk_index fuzz_checkpoint fuzz_pdf)
fixtures=${DEEPZINE_FIXTURES:-$(pwd)/../shared/fixtures}
out=build-fuzz
jobs=${JOBS:-2}

missing=()
for p in clang libfuzzer-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "fuzz: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
bash scripts/install_deps.sh

CC=clang CXX=clang++ cmake -S . -B "$out" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDEEPZINE_FUZZ=ON \
  -DDEEPZINE_BUILD_TESTS=OFF -DDEEPZINE_BUILD_BENCH=OFF >/dev/null
cmake --build "$out" -j"$jobs" --target "${targets[@]}"

# ---- seeds: the fixtures and small files made here (never committed copies of the fixtures)
seeds=$out/seeds
rm -rf "$seeds"
mkdir -p "$seeds"/{fuzz_config,fuzz_npy,fuzz_tf_checkpoint,fuzz_page_file,fuzz_chunk_index,fuzz_checkpoint,fuzz_pdf}
cp "$fixtures"/original_config/*.yaml resources/*.yaml config_pretrained.yaml "$seeds/fuzz_config/"
/usr/bin/python3 - "$seeds" "$fixtures" <<'PY'
import os, struct, sys
import h5py, numpy as np, torch
seeds, fixtures = sys.argv[1], sys.argv[2]
rng = np.random.RandomState(1)
np.save(f"{seeds}/fuzz_npy/z.npy", rng.randn(3, 8).astype(np.float32))
np.save(f"{seeds}/fuzz_npy/z64.npy", rng.randn(2, 4).astype(np.float64))
tf = f"{fixtures}/deepzine_tf_4x4/model.ckpt"
index, shard = open(tf + ".index", "rb").read(), open(tf + ".data-00000-of-00001", "rb").read()
open(f"{seeds}/fuzz_tf_checkpoint/original_4x4", "wb").write(struct.pack("<H", len(index)) + index + shard[:4096])
with h5py.File(f"{seeds}/fuzz_page_file/format1.h5", "w") as f:  # this project's format 1
    for s in (4, 8):
        f.create_dataset(f"data_{s}", data=rng.randint(0, 256, (3, s, s, 1), dtype=np.uint8),
                         chunks=(1, s, s, 1), compression="gzip", compression_opts=1)
    f.attrs["format_version"] = 1
with h5py.File(f"{seeds}/fuzz_page_file/format2.h5", "w") as f:  # this project's format 2 (pages/README)
    kinds = np.array([1, 3, 1], np.uint8)  # grey, colour, grey
    rows = np.array([0, 0, 1], np.int64)
    for s in (4, 8):
        grey = f.create_dataset(f"pages/grey_{s}", data=rng.randint(0, 256, (2, s, s, 1), dtype=np.uint8),
                                chunks=(1, s, s, 1), compression="gzip", compression_opts=1, maxshape=(None, s, s, 1))
        rgb = f.create_dataset(f"pages/rgb_{s}", data=rng.randint(0, 256, (1, s, s, 3), dtype=np.uint8),
                               chunks=(1, s, s, 3), compression="gzip", compression_opts=1, maxshape=(None, s, s, 3))
        view = h5py.VirtualLayout(shape=(3, s, s, 3), dtype=np.uint8)
        for page, (kind, row) in enumerate(zip(kinds, rows)):
            for ch in range(3):
                view[page, :, :, ch] = (h5py.VirtualSource(grey)[row, :, :, 0] if kind == 1
                                        else h5py.VirtualSource(rgb)[row, :, :, ch])
        f.create_virtual_dataset(f"data_{s}", view)
    f.create_dataset("pages/kind", data=kinds, chunks=(3,), compression="gzip", compression_opts=1)
    f.create_dataset("pages/row", data=rows, chunks=(3,), compression="gzip", compression_opts=1)
    f.create_dataset("imagenames", data=["a.pdf#1", "a.pdf#2", "b.pdf#1"], dtype=h5py.string_dtype())
    f.attrs.update({"format_version": 2, "channels": 3, "page_count": 3, "max_size": 8})
import tables  # the original DeepZine's own writer: PyTables earrays, blosc (filter 32001), tall chunks
h5 = tables.open_file(f"{seeds}/fuzz_page_file/original_blosc.h5", mode="w")
for s in (4, 8):
    a = h5.create_earray(h5.root, f"data_{s}", tables.Float32Atom(), shape=(0, s, s, 3),
                         filters=tables.Filters(complevel=5, complib="blosc"), expectedrows=3)
    a.append(rng.uniform(-1, 1, (3, s, s, 3)).astype(np.float32))
h5.close()
with h5py.File(f"{seeds}/fuzz_page_file/original.h5", "w") as f:  # the original DeepZine's float32
    f.create_dataset("data_4", data=rng.uniform(-1, 1, (2, 4, 4, 3)).astype(np.float32))
# Superblock 0 pointing at a driver-information block that declares ~4 GiB (HDF5 allocates it).
drv = f"{seeds}/fuzz_page_file/declares_4gib.h5"
with h5py.File(drv, "w", libver="earliest") as f:
    f.create_dataset("data_4", data=np.full((2, 4, 4, 1), 255, np.uint8))
b = bytearray(open(drv, "rb").read())
at = len(b)
b += bytes(4) + struct.pack("<I", 0xFFFFFF00) + b"NCSAmult" + bytes(16)
struct.pack_into("<Q", b, 48, at)
struct.pack_into("<Q", b, 40, len(b))
open(drv, "wb").write(bytes(b))
# A deepzine checkpoint of a 4x4 generator (latent 4, 4 filters, grey), in the C++ format.
f4, latent = 4, 4
g = {"dense.weight": torch.randn(16 * f4, latent), "dense.bias": torch.zeros(f4),
     "conv4.weight": torch.randn(f4, f4, 3, 3), "conv4.bias": torch.zeros(f4),
     "to_rgb_4.weight": torch.randn(1, f4, 1, 1), "to_rgb_4.bias": torch.zeros(1)}
meta = {"latent_size": latent, "channels": 1, "max_filter": f4, "filter_reduction_depth": 6,
        "legacy_filters": False, "max_resolution": 4, "resolution": 4, "transition": False, "alpha": 1.0,
        "stage_index": 0, "stage_step": 1, "global_step": 1, "images_seen": 16, "fingerprint": "fuzz"}
torch.save({"format": "deepzine-checkpoint", "version": 1, "meta": meta, "G": g, "G_ema": g, "D": {},
            "opt_G": {}, "opt_D": {}, "rng": torch.zeros(0, dtype=torch.uint8)},
           f"{seeds}/fuzz_checkpoint/g4.pt")
PY
printf '%%PDF-1.1\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj 3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]/Contents 4 0 R>>endobj 4 0 obj<</Length 35>>stream\n0 0 1 rg 20 20 100 100 re f 0 g\nendstream endobj\ntrailer<</Root 1 0 R>>\n%%%%EOF\n' > "$seeds/fuzz_pdf/tiny.pdf"
# Text in a font the system supplies (FreeType, Splash's glyph cache) and a scanned page (image codecs).
printf '%%PDF-1.1\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj 3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]/Resources<</Font<</F1 5 0 R>>>>/Contents 4 0 R>>endobj 4 0 obj<</Length 56>>stream\nBT /F1 24 Tf 20 100 Td (Hello, pages 12) Tj ET 0 0 1 rg 20 20 60 30 re f\nendstream endobj 5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj\ntrailer<</Root 1 0 R>>\n%%%%EOF\n' > "$seeds/fuzz_pdf/text.pdf"
pdfseparate -f 1 -l 1 "$fixtures/pdfs/R-data.pdf" "$seeds/fuzz_pdf/R-data-p%d.pdf"
# The scanned page's JPEG at a quarter of its size, in a one-page PDF: decoding the full 850x1100 image
# for every input held fuzz_pdf to ~200 executions/s.
pdfimages -j -f 2 -l 2 "$fixtures/pdfs/scanned-R-FAQ-p3-8.pdf" "$seeds/scan"
/usr/bin/python3 - "$seeds" <<'PY'
import glob, io, sys
from PIL import Image
seeds = sys.argv[1]
source = sorted(glob.glob(f"{seeds}/scan-*.jpg"))[0]
image = Image.open(source).convert("RGB")
image = image.resize((image.width // 4, image.height // 4))
jpeg = io.BytesIO()
image.save(jpeg, "JPEG", quality=75)
data = jpeg.getvalue()
head = (b"%%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Resources<</XObject<</Im1 5 0 R>>>>/Contents 4 0 R>>endobj\n"
        b"4 0 obj<</Length 30>>stream\nq 612 0 0 792 0 0 cm /Im1 Do Q\nendstream endobj\n"
        b"5 0 obj<</Type/XObject/Subtype/Image/Width %d/Height %d/ColorSpace/DeviceRGB/BitsPerComponent 8"
        b"/Filter/DCTDecode/Length %d>>stream\n" % (image.width, image.height, len(data)))
open(f"{seeds}/fuzz_pdf/scanned-small.pdf", "wb").write(head + data + b"\nendstream endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
PY
rm -f "$seeds"/scan-*
# Inputs that crashed a target once (each also a test) stay in its seeds.
cp tests/model/data/fuzz_*.pt "$seeds/fuzz_checkpoint/" 2>/dev/null || true
cp tests/data/data/fuzz_*.h5 "$seeds/fuzz_page_file/" 2>/dev/null || true
cp tests/pages/data/fuzz_*.pdf "$seeds/fuzz_pdf/" 2>/dev/null || true
# Not the file HDF5 takes seconds over (10 s an input under the sanitizer, its mutations as slow).
rm -f "$seeds/fuzz_page_file/fuzz_hdf5_slow_to_read.h5"
# The chunk-index reader's seeds: every chunked dataset of the page-file seeds that h5py can open, one
# file a process (HDF5 aborts on some of the damaged ones).
for f in "$seeds"/fuzz_page_file/*.h5; do
  (/usr/bin/python3 fuzz/chunk_index_seeds.py "$seeds/fuzz_chunk_index" "$f" || true) 2>/dev/null
done

# ---- run
# The targets that parse files write each input to a scratch file: on a tmpfs that is a memory copy,
# on a disk a block write per input (fuzz_tf_checkpoint: 16,500 execs/s on /dev/shm vs 2,500 on ext4).
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  export TMPDIR=/dev/shm
fi
summary=()
status=0
for t in "${targets[@]}"; do
  corpus=$out/corpus/$t crashes=$out/crashes/$t
  [ "$fresh_corpus" -eq 0 ] || rm -rf "$corpus" "$crashes"
  mkdir -p "$corpus" "$crashes"
  # Inputs of up to 64 KB, fuzz_pdf's too: at 256 KB its corpus grew to PDFs of 150 KB whose parsing
  # (every poppler allocation through the sanitizer's allocator) held it to 76 executions/s.
  max_len=65536 malloc_limit=3072
  # HDF5 allocates what a damaged file declares (up to 4 GiB) before checking it; the product walks
  # page files first in a child whose address space is bounded (src/probe/hdf5_probe.cpp), where such an
  # allocation fails as it would in production. libFuzzer's malloc hook would flag it before the bound
  # can refuse it: let single allocations through (RSS stays bounded by -rss_limit_mb).
  [ "$t" = fuzz_page_file ] && malloc_limit=8192
  # fuzz_page_file forks the product's HDF5 probe for every input, and a fork copies the page tables
  # of all this process's memory: a small quarantine (freed memory ASan holds back to catch
  # use-after-free) halves that (12 -> 23 execs/s).
  # No leak checking (ASan's detect_leaks=0 below), and libFuzzer told so too (-detect_leaks=0):
  # otherwise it reruns every input whose mallocs and frees differ, for a leak check that cannot run.
  asan=detect_leaks=0:allocator_may_return_null=1
  [ "$t" = fuzz_page_file ] && asan=$asan:quarantine_size_mb=4
  # HDF5 reads freed memory on some damaged files: the sanitizer reports it in the probe's child
  # (contained, src/probe/probe_sanitizer.cpp), a few times a second, and symbolizing each report took
  # 95 of its 175 ms. Unsymbolized here; a finding's input (crashes/) reruns symbolized:
  # build-fuzz/fuzz/fuzz_page_file FILE.
  [ "$t" = fuzz_page_file ] && asan=$asan:symbolize=0
  # fuzz_pdf makes many allocations (poppler's objects), each recorded with its stack: within one
  # process its rate fell from ~280 to ~100 exec/s by 260k executions (RSS 1 GB; `perf`: 30% in ASan's
  # allocator, 9% in its stack depot). Two-frame allocation stacks and a 16 MB quarantine keep a fresh
  # process at 288 exec/s and 220 MB after 2 minutes (254 exec/s and 990 MB with the defaults); rounds
  # of 100k executions restart it before it slows (a finding's input reruns with full stacks). Half
  # its time then went to cache misses on the memory and shadow of each fresh allocation: a 4 MB
  # quarantine (fuzz_page_file's) instead of 16 MB, 500-533 -> 666-800 exec/s on 500 corpus files
  # (freed memory stays poisoned for the next 4 MB of frees: poppler's use-after-frees are near ones).
  round_size=${FUZZ_ROUND:-1000000} round_seconds=${FUZZ_ROUND_SECONDS:-900}
  if [ "$t" = fuzz_pdf ]; then
    asan=$asan:malloc_context_size=2:quarantine_size_mb=4
    round_size=${FUZZ_ROUND:-100000}
  fi
  log=$out/$t.log
  fuzz_once() {  # extra libFuzzer flags...; output to $log
    ASAN_OPTIONS=$asan UBSAN_OPTIONS=print_stacktrace=1 \
      "$out/fuzz/$t" "$@" -max_len=$max_len -detect_leaks=0 -rss_limit_mb=3072 -malloc_limit_mb=$malloc_limit -timeout=30 \
      -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" "$seeds/$t" >"$log" 2>&1 || true
  }
  executed() {  # the executions the logs report, summed (0 for a process that printed none)
    local n
    n=$(cat "$@" | grep -o 'stat::number_of_executed_units: *[0-9]*' | grep -o '[0-9]*$' | paste -sd+ | bc) || true
    echo "${n:-0}"
  }
  started=$(date +%s)
  if [ "$total" -gt 0 ]; then
    # The executions done so far are kept in $progress after each round, so a long run that is
    # stopped (Ctrl-C, or SIGTERM for a run in the background, which ignores SIGINT: libFuzzer prints
    # its counts as it exits) or killed resumes there.
    progress=$out/progress/$t procs=${FUZZ_PROCS:-1} stop=0 pids=()
    mkdir -p "$out/progress"
    done_execs=0 round=0
    [ ! -f "$progress" ] || read -r done_execs round < "$progress"
    resumed_at=$done_execs
    # The seeds join the kept corpus, which is all the processes read: another fuzz.sh (a second long
    # run beside this one) remakes build-fuzz/seeds/ when it starts.
    cp -n "$seeds/$t"/* "$corpus"/
    [ "$done_execs" -eq 0 ] || echo "fuzz: $t resuming at $done_execs of $total executions (rm $progress to start over)"
    trap 'stop=1; kill -INT "${pids[@]}" 2>/dev/null || true' INT TERM
    while [ "$done_execs" -lt "$total" ] && [ "$stop" -eq 0 ]; do
      per=$(( (total - done_execs + procs - 1) / procs ))
      [ "$per" -le "$round_size" ] || per=$round_size
      # Rounds also end after round_seconds: processes of one round run at different rates (1.6x
      # apart in session 16: their inputs differ), and with a count alone the faster one's core
      # idled until the slower finished.
      logs=() pids=()
      for p in $(seq "$procs"); do
        round=$((round + 1))
        log=$out/$t.$round.log
        logs+=("$log")
        ASAN_OPTIONS=$asan UBSAN_OPTIONS=print_stacktrace=1 \
          "$out/fuzz/$t" -runs="$per" -max_total_time="$round_seconds" -seed="$round" -max_len=$max_len -detect_leaks=0 -rss_limit_mb=3072 \
          -malloc_limit_mb=$malloc_limit -timeout=30 -print_final_stats=1 -artifact_prefix="$crashes/" \
          "$corpus" >"$log" 2>&1 &
        pids+=($!)
      done
      for pid in "${pids[@]}"; do
        while kill -0 "$pid" 2>/dev/null; do wait "$pid" || true; done  # a trapped signal ends a wait early
      done
      done_execs=$((done_execs + $(executed "${logs[@]}")))
      echo "$done_execs $round" > "$progress.tmp" && mv "$progress.tmp" "$progress"
      echo "fuzz: $t $done_execs of $total executions, $(( $(date +%s) - started )) s this run," \
        "rounds to $round at $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(grep -ho 'cov: [0-9]* ft: [0-9]*' "${logs[@]}" | tail -1)"
      # A finding stops the run (libFuzzer's slow-unit-* notes do not).
      [ -z "$(find "$crashes" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \))" ] || break
    done
    trap - INT TERM
    cat "$out/$t".*.log > "$out/$t.log"
    execs=$done_execs
    rate=$(( (done_execs - resumed_at) / ( $(date +%s) - started + 1 ) ))
  else
    fuzz_once "${limit[@]}"
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo 0)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo 0)
  fi
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1 || echo "cov: ? ft: ?")
  found=$(find "$crashes" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | wc -l)
  [ "$found" -eq 0 ] || status=1
  summary+=("$(printf '%-20s %12s execs %8s/s  %-22s %3s crash/oom/timeout file(s)' "$t" "$execs" "$rate" "$cov" "$found")")
done
echo "fuzz: $budget per target (logs: $out/<target>.log, findings: $out/crashes/<target>/)"
printf '%s\n' "${summary[@]}"
exit $status
