#!/usr/bin/python3
"""Heatmap of an expert attribution table written by `uoe attribute` / `uoe unlearn`.

Usage: plot_attribution.py <attribution.h5> <out.png>

Reads the float dataset `scores` [L, E] (rows = MoE layers, columns = routed experts). The model
layer index of each row comes from the int64 dataset or attribute `layers` when present (else rows
are numbered 0..L-1). When the attributes `target_layer` / `target_expert` are present (and the
expert is >= 0), the selected (layer, expert) cell is outlined. The image is written atomically.
Exits with status 2 and a one-line message on a missing or malformed input.
"""
import os

import h5py  # noqa: E402
from figures import InputError, run_cli, save_atomic  # sets the Agg backend first
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402


def read_attribution(path):
    """Returns (scores [L, E] float64, layers [L] int64, target (row, expert) or None, title)."""
    if not os.path.isfile(path):
        raise InputError(f"cannot read {path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise InputError(f"cannot open {path} as HDF5: {e}") from e
    with f:
        if "scores" not in f or not isinstance(f["scores"], h5py.Dataset):
            raise InputError(f"{path}: missing dataset 'scores'")
        scores = np.asarray(f["scores"][()])
        if scores.ndim != 2 or scores.size == 0 or not np.issubdtype(scores.dtype, np.number):
            raise InputError(f"{path}: 'scores' must be a non-empty numeric [L, E] table, "
                             f"got shape {scores.shape} dtype {scores.dtype}")
        scores = scores.astype(np.float64)
        if "layers" in f:
            layers = np.asarray(f["layers"][()])
        elif "layers" in f.attrs:
            layers = np.asarray(f.attrs["layers"])
        else:
            layers = np.arange(scores.shape[0])
        layers = np.atleast_1d(layers)
        if layers.shape != (scores.shape[0],) or not np.issubdtype(layers.dtype, np.integer):
            raise InputError(f"{path}: 'layers' must hold {scores.shape[0]} integer layer indices "
                             f"(one per row of 'scores'), got shape {layers.shape} "
                             f"dtype {layers.dtype}")
        target = None
        if "target_layer" in f.attrs and "target_expert" in f.attrs:
            layer, expert = int(f.attrs["target_layer"]), int(f.attrs["target_expert"])
            if expert >= 0:
                rows = np.flatnonzero(layers == layer)
                if rows.size == 0 or expert >= scores.shape[1]:
                    raise InputError(f"{path}: target (layer {layer}, expert {expert}) is outside "
                                     f"the table (layers {layers.tolist()}, "
                                     f"{scores.shape[1]} experts)")
                target = (int(rows[0]), expert)
        details = [f"{key} {int(f.attrs[key])}" for key in ("num_sequences", "num_tokens")
                   if key in f.attrs]
    title = "expert attribution" + (f" ({', '.join(details)})" if details else "")
    if target is not None:
        title += f"\ntarget: layer {layers[target[0]]}, expert {target[1]}"
    return scores, layers, target, title


def plot(scores, layers, target, title, out_path):
    num_layers, num_experts = scores.shape
    width = min(16.0, max(6.0, 0.25 * num_experts + 2.5))
    height = min(12.0, max(3.0, 0.35 * num_layers + 1.8))
    fig, ax = plt.subplots(figsize=(width, height))
    image = ax.imshow(scores, aspect="auto", cmap="viridis", interpolation="nearest")
    fig.colorbar(image, ax=ax, label="attribution score")
    ax.set_xlabel("expert")
    ax.set_ylabel("layer")
    rows = list(range(0, num_layers, max(1, num_layers // 32)))
    ax.set_yticks(rows)
    ax.set_yticklabels([str(layers[r]) for r in rows])
    if target is not None:
        row, expert = target
        ax.add_patch(Rectangle((expert - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="red",
                               linewidth=2.5))
    ax.set_title(title)
    fig.tight_layout()
    save_atomic(fig, out_path)


def main(argv):
    if len(argv) != 3:
        raise InputError("usage: plot_attribution.py <attribution.h5> <out.png>")
    scores, layers, target, title = read_attribution(argv[1])
    plot(scores, layers, target, title, argv[2])


if __name__ == "__main__":
    run_cli(main)
