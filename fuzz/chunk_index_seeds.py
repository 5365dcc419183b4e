"""Seeds for fuzz_chunk_index: each chunked dataset of the given HDF5 files, as the target reads it
(a 32-byte description, then the file's bytes). Run with Debian's /usr/bin/python3 (h5py).
Usage: chunk_index_seeds.py OUT_DIR FILE.h5...
"""
import os
import struct
import sys

import h5py


def seeds(path):
    with h5py.File(path, "r") as f:
        address_bytes, length_bytes = f.id.get_create_plist().get_sizes()
        found = []
        f.visititems(lambda name, obj: found.append(obj) if isinstance(obj, h5py.Dataset) else None)
        for ds in found:
            if ds.chunks is None or not 1 <= ds.ndim <= 4 or max(ds.shape) > 65535 or max(ds.chunks) > 65536:
                continue
            dims = list(ds.shape) + [1] * (4 - ds.ndim)
            chunk = list(ds.chunks) + [1] * (4 - ds.ndim)
            prefix = struct.pack("<QBBB4H4H5x", h5py.h5o.get_info(ds.id).addr, ds.ndim - 1, address_bytes,
                                 length_bytes, *dims, *[c - 1 for c in chunk])
            yield ds.name.strip("/").replace("/", "_"), prefix


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for path in sys.argv[2:]:
        try:
            with open(path, "rb") as image:
                data = image.read()
            for name, prefix in seeds(path):
                with open(os.path.join(out, os.path.basename(path) + "." + name), "wb") as seed:
                    seed.write(prefix + data)
        except (OSError, ValueError, KeyError, RuntimeError) as e:  # damaged seeds of other targets: not seeds here
            print("chunk_index_seeds: skipped %s (%s)" % (path, e), file=sys.stderr)


main()
