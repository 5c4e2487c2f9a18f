#!/usr/bin/python3
"""Training curves of one or more uoe runs, one subplot per metric.

Usage: plot_curves.py <out.png> <label1>=<metrics1.jsonl> [<label2>=<metrics2.jsonl> ...]

Each metrics.jsonl holds one JSON object per line. Records with a `step` are plotted: `loss` for
every run, plus `anchor_loss` and `target_selection_rate` for the runs that log them. The image is
written atomically. Exits with status 2 and a one-line message on a missing or malformed input.
"""
import json
import os

from figures import InputError, run_cli, save_atomic  # sets the Agg backend first
import matplotlib.pyplot as plt  # noqa: E402

METRICS = ("loss", "anchor_loss", "target_selection_rate")


def parse_run_argument(argument):
    label, sep, path = argument.partition("=")
    if not sep or not label or not path:
        raise InputError(f"expected <label>=<metrics.jsonl>, got '{argument}'")
    return label, path


def read_metrics(path):
    """Returns {metric: ([steps], [values])} for the metrics in METRICS that the file logs."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from e
    curves = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{number}: not valid JSON ({e.msg})") from e
        if not isinstance(record, dict):
            raise InputError(f"{path}:{number}: expected a JSON object")
        if "step" not in record:
            continue
        for metric in METRICS:
            if metric not in record:
                continue
            value, step = record[metric], record["step"]
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                       for v in (value, step)):
                raise InputError(f"{path}:{number}: 'step' and '{metric}' must be numbers")
            steps, values = curves.setdefault(metric, ([], []))
            steps.append(step)
            values.append(value)
    if "loss" not in curves:
        raise InputError(f"{path}: no record has both 'step' and 'loss'")
    return curves


def plot(runs, out_path):
    metrics = [m for m in METRICS if any(m in curves for _, curves in runs)]
    fig, axes = plt.subplots(len(metrics), 1, figsize=(7.5, 2.8 * len(metrics) + 0.6),
                             sharex=True, squeeze=False)
    for ax, metric in zip(axes[:, 0], metrics):
        for label, curves in runs:
            if metric in curves:
                steps, values = curves[metric]
                ax.plot(steps, values, label=label, marker="." if len(steps) < 50 else None)
        ax.set_ylabel(metric)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
        if metric == "loss" and any(v < 0 for _, c in runs for v in c[metric][1]):
            ax.axhline(0.0, color="grey", linewidth=0.8)  # gradient ascent drives loss below 0
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    save_atomic(fig, out_path)


def main(argv):
    if len(argv) < 3:
        raise InputError("usage: plot_curves.py <out.png> <label>=<metrics.jsonl> "
                         "[<label>=<metrics.jsonl> ...]")
    runs = []
    for argument in argv[2:]:
        label, path = parse_run_argument(argument)
        runs.append((label, read_metrics(path)))
    plot(runs, argv[1])


if __name__ == "__main__":
    run_cli(main)
