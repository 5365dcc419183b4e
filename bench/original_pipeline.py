#!/usr/bin/env python3
"""The original DeepZine's load_data pipeline, reproduced for comparison (download_internet_archive.py):
pdftoppm -png (150 dpi) per PDF, then every page opened with PIL, resized (bilinear, as scipy's imresize)
to every power of two from 4 to SIZE, stored as float32 in [-1, 1] in PyTables earrays (blosc level 5).

Usage: original_pipeline.py PDF_DIR OUT.h5 SIZE     (Debian: poppler-utils, python3-pil, python3-tables)
Prints pages, seconds, pages/s and bytes/page.
"""
import glob
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import tables
from PIL import Image


def main():
    pdf_dir, out, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i, pdf in enumerate(sorted(glob.glob(os.path.join(pdf_dir, "**", "*.pdf"), recursive=True))):
            subprocess.run(["pdftoppm", pdf, os.path.join(tmp, f"doc{i}"), "-png"], check=False,
                           stderr=subprocess.DEVNULL)
        images = sorted(glob.glob(os.path.join(tmp, "*.png")))
        sizes = [4 * 2 ** x for x in range(int(math.log2(size) - 1))]
        try:
            filters = tables.Filters(complevel=5, complib="blosc")
        except Exception:
            filters = tables.Filters(complevel=5, complib="zlib")
        h5 = tables.open_file(out, mode="w")
        h5.create_earray(h5.root, "imagenames", tables.StringAtom(256), shape=(0, 1), filters=filters)
        arrays = {s: h5.create_earray(h5.root, f"data_{s}", tables.Float32Atom(), shape=(0, s, s, 3), filters=filters)
                  for s in sizes}
        for name in images:
            img = Image.open(name).convert("RGB")
            for s in sizes:
                data = np.asarray(img.resize((s, s), Image.BILINEAR), dtype=np.float32)
                arrays[s].append(data[np.newaxis] / 127.5 - 1)
            h5.root.imagenames.append(np.array(os.path.basename(name))[np.newaxis][np.newaxis])
        h5.close()
    seconds = time.perf_counter() - start
    n = len(images)
    print(f"original pipeline: {n} pages at {size} in {seconds:.2f} s: {n / seconds:.2f} pages/s, "
          f"{os.path.getsize(out) / n:.0f} bytes/page")


if __name__ == "__main__":
    main()
