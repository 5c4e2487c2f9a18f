#!/usr/bin/env python3
"""Exit 0 when two HDF5 files hold the same datasets with bitwise-equal contents (attributes such
as provenance are not compared); otherwise print the first difference and exit 1.
Usage: h5_same_tensors.py <a.h5> <b.h5>"""
import sys

import h5py
import numpy as np


def datasets(path):
    found = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: found.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return found


def main():
    a, b = (datasets(p) for p in sys.argv[1:3])
    if a.keys() != b.keys():
        print(f"different tensor names: {sorted(a.keys() ^ b.keys())[:5]}")
        return 1
    for name in sorted(a):
        x, y = np.asarray(a[name]), np.asarray(b[name])
        if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
            print(f"{name} differs")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
