#!/usr/bin/python3
"""Training curves of one or more uoe runs, one subplot per metric.

Usage: plot_curves.py [--load] <out.png> <label1>=<metrics1.jsonl> [<label2>=<metrics2.jsonl> ...]

Each metrics.jsonl holds one JSON object per line. Records with a `step` are plotted: `loss` for
every run, plus `anchor_loss` and `target_selection_rate` for the runs that log them. With
--load, the expert load over steps instead: the per-MoE-layer `load.<layer>.max_violation`
(max load / mean load - 1) and `load.<layer>.routing_entropy` that uoe logs at every logging step,
one line per run and layer. The image is written atomically. Exits with status 2 and a one-line
message on a missing or malformed input.
"""
import json
import os

from figures import InputError, run_cli, save_atomic  # sets the Agg backend first
import matplotlib.pyplot as plt  # noqa: E402

METRICS = ("loss", "anchor_loss", "target_selection_rate")
LOAD_METRICS = ("max_violation", "routing_entropy")


def parse_run_argument(argument):
    label, sep, path = argument.partition("=")
    if not sep or not label or not path:
        raise InputError(f"expected <label>=<metrics.jsonl>, got '{argument}'")
    return label, path


def load_values(record, where):
    """{'load.<layer>.<metric>': value} of a record's `load` object ({} without one)."""
    load = record.get("load", {})
    if not isinstance(load, dict) or not all(isinstance(v, dict) for v in load.values()):
        raise InputError(f"{where}: 'load' must map each MoE layer to its metrics")
    return {f"load.{layer}.{metric}": values[metric]
            for layer, values in load.items() for metric in LOAD_METRICS if metric in values}


def read_metrics(path, required="loss"):
    """Returns {metric: ([steps], [values])} for the metrics in METRICS and the per-layer load
    metrics ('load.<layer>.<metric>') that the file logs; `required` ('loss' or 'load') must be
    among them."""
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
        values = {m: record[m] for m in METRICS if m in record}
        values.update(load_values(record, f"{path}:{number}"))
        for metric, value in values.items():
            step = record["step"]
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                       for v in (value, step)):
                raise InputError(f"{path}:{number}: 'step' and '{metric}' must be numbers")
            steps, values = curves.setdefault(metric, ([], []))
            steps.append(step)
            values.append(value)
    if required == "loss" and "loss" not in curves:
        raise InputError(f"{path}: no record has both 'step' and 'loss'")
    if required == "load" and not any(m.startswith("load.") for m in curves):
        raise InputError(f"{path}: no record has both 'step' and per-layer 'load' metrics")
    return curves


def layer_order(metric):
    """Sort key of 'load.<layer>.<name>': numeric layer order."""
    layer = metric.split(".")[1]
    return (0, int(layer), "") if layer.isdigit() else (1, 0, layer)


def subplots(runs, load):
    """[(y label, [(line label, (steps, values))])] of the figure."""
    if not load:
        return [(m, [(label, curves[m]) for label, curves in runs if m in curves])
                for m in METRICS if any(m in curves for _, curves in runs)]
    panels = []
    for metric in LOAD_METRICS:
        lines = []
        for label, curves in runs:
            names = sorted((n for n in curves if n.startswith("load.") and n.endswith("." + metric)),
                           key=layer_order)
            for name in names:
                layer = f"layer {name.split('.')[1]}"
                lines.append((f"{label} {layer}" if len(runs) > 1 else layer, curves[name]))
        if lines:
            panels.append((metric, lines))
    return panels


def plot(runs, out_path, load=False):
    panels = subplots(runs, load)
    fig, axes = plt.subplots(len(panels), 1, figsize=(7.5, 2.8 * len(panels) + 0.6),
                             sharex=True, squeeze=False)
    for ax, (metric, lines) in zip(axes[:, 0], panels):
        for label, (steps, values) in lines:
            ax.plot(steps, values, label=label, marker="." if len(steps) < 50 else None)
        ax.set_ylabel(metric)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
        if metric == "loss" and any(v < 0 for _, c in runs for v in c["loss"][1]):
            ax.axhline(0.0, color="grey", linewidth=0.8)  # gradient ascent drives loss below 0
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    save_atomic(fig, out_path)


def main(argv):
    load = len(argv) > 1 and argv[1] == "--load"
    args = argv[2:] if load else argv[1:]
    if len(args) < 2:
        raise InputError("usage: plot_curves.py [--load] <out.png> <label>=<metrics.jsonl> "
                         "[<label>=<metrics.jsonl> ...]")
    runs = []
    for argument in args[1:]:
        label, path = parse_run_argument(argument)
        runs.append((label, read_metrics(path, "load" if load else "loss")))
    plot(runs, args[0], load)


if __name__ == "__main__":
    run_cli(main)
