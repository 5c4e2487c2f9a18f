"""Plots of benchmarks/scaling/run.sh results (PNG): step time vs ranks for weak and strong
scaling, and the per-phase breakdown of every configuration (median over the repeats).

usage: plot.py <results.json> <output dir>
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PHASES = ["attention", "router", "permutation", "count_exchange", "token_all_to_all",
          "expert_compute", "combine", "backward", "grad_reduction", "optimizer"]


def save(fig, path):
    fig.tight_layout()
    fig.savefig(path + ".tmp.png", dpi=110)
    os.replace(path + ".tmp.png", path)
    plt.close(fig)


def scaling_plot(steps, kind, out):
    fig, ax = plt.subplots(figsize=(6, 4))
    series = {}
    for s in steps:
        if not s["name"].startswith(kind):
            continue
        label = f"{s['mode']} " + ("EP x DP (ep 2)" if s["dp"] > 1 else "EP = ranks")
        series.setdefault(label, []).append((s["ranks"], s["step_time_s_median"] * 1e3))
    for label, points in sorted(series.items()):
        points.sort()
        ax.plot([p[0] for p in points], [p[1] for p in points], "o-", label=label)
    base = [s for s in steps if s["name"] == f"{kind}_np1_ep1"]
    if base:
        t1 = base[0]["step_time_s_median"] * 1e3
        ideal = [t1] * 3 if kind == "weak" else [t1, t1 / 2, t1 / 4]
        ax.plot([1, 2, 4], ideal, "k--", label="ideal")
    ax.set_xlabel("ranks")
    ax.set_ylabel("step time (ms, median)")
    ax.set_xticks([1, 2, 4])
    ax.set_title(f"{kind} scaling of a step (2 shared cores: 4 ranks oversubscribed; ideal: SEUF)", fontsize=8)
    ax.legend(fontsize=7)
    save(fig, f"{out}/{kind}_scaling.png")


def breakdown_plot(steps, out):
    fig, ax = plt.subplots(figsize=(8, 4.5))
    names = [s["name"] for s in steps]
    bottom = [0.0] * len(steps)
    for phase in PHASES:
        values = [s["phases_s_median"].get(phase, 0.0) * 1e3 for s in steps]
        if not any(values):
            continue
        ax.bar(names, values, bottom=bottom,
               label="backward (with its all-to-all)" if phase == "backward" else phase)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.plot(names, [s["step_time_s_median"] * 1e3 for s in steps], "k_", markersize=20, label="step wall")
    ax.set_ylabel("ms per step (rank 0, median)")
    ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    ax.legend(fontsize=6, ncol=2)
    ax.set_title("step breakdown per configuration", fontsize=9)
    save(fig, f"{out}/breakdown.png")


def main():
    results = json.load(open(sys.argv[1]))
    out = sys.argv[2]
    steps = results["steps"]
    scaling_plot(steps, "weak", out)
    scaling_plot(steps, "strong", out)
    breakdown_plot(steps, out)


if __name__ == "__main__":
    main()
