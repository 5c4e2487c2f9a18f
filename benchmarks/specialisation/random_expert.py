#!/usr/bin/env python3
"""Print "<layer> <expert>": a seeded random routed expert that is not the attributed one.

Usage: random_expert.py <attribution.h5> <seed>
Uniform over every (MoE layer, expert) pair of the attribution table except the target that
`uoe attribute` wrote (attrs target_layer / target_expert), drawn with numpy's default_rng(seed).
"""
import sys

import h5py
import numpy as np


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with h5py.File(sys.argv[1], "r") as f:
        layers = [int(x) for x in f["layers"][()]]
        experts = f["scores"].shape[1]
        target = (int(f.attrs["target_layer"]), int(f.attrs["target_expert"]))
    pairs = [(layer, e) for layer in layers for e in range(experts) if (layer, e) != target]
    layer, expert = pairs[np.random.default_rng(int(sys.argv[2])).integers(len(pairs))]
    print(layer, expert)


if __name__ == "__main__":
    main()
