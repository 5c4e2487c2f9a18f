#!/usr/bin/env python3
"""Side-by-side table of `uoe unlearn` runs: compare_runs.py <label>=<output_dir> [...] [--json out]

Reads <output_dir>/summary.json of each run and prints forget / retain quality before and after
unlearning, routing metrics, the trainable-parameter count and the step time. Standard library only.
"""
import json
import os
import sys


def load(spec):
    label, sep, path = spec.partition("=")
    if not sep:
        sys.exit(f"error: expected <label>=<output_dir>, got '{spec}'")
    summary_path = os.path.join(path, "summary.json")
    try:
        with open(summary_path) as f:
            summary = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"error: cannot read {summary_path}: {e}")
    if summary.get("command") != "unlearn":
        sys.exit(f"error: {summary_path} is not the summary of a `uoe unlearn` run")
    return label, summary


def get(summary, phase, section, key):
    return summary.get(phase, {}).get(section, {}).get(key)


ROWS = [
    ("forget MC accuracy", "forget_mc", "accuracy", "{:.3f}"),
    ("retain MC accuracy", "retain_mc", "accuracy", "{:.3f}"),
    ("forget ROUGE-L recall", "forget", "rouge_l_recall", "{:.3f}"),
    ("retain ROUGE-L recall", "retain", "rouge_l_recall", "{:.3f}"),
    ("forget answer prob", "forget", "answer_prob", "{:.3f}"),
    ("retain answer prob", "retain", "answer_prob", "{:.3f}"),
    ("forget answer NLL (nats)", "forget", "answer_nll", "{:.3f}"),
    ("retain answer NLL (nats)", "retain", "answer_nll", "{:.3f}"),
    ("target-expert selection (forget)", "forget", "target_selection_rate", "{:.3f}"),
    ("top-K overlap with original (forget)", "forget", "topk_overlap", "{:.3f}"),
    ("top-K overlap with original (retain)", "retain", "topk_overlap", "{:.3f}"),
]


def cell(fmt, before, after):
    show = lambda v: "-" if v is None else fmt.format(v)
    return show(after) if before is None else f"{show(before)} -> {show(after)}"


def main(argv):
    out_json = None
    if "--json" in argv:
        i = argv.index("--json")
        out_json = argv[i + 1]
        argv = argv[:i] + argv[i + 2:]
    if not argv:
        sys.exit(__doc__.strip().splitlines()[0])
    runs = [load(spec) for spec in argv]
    header = ["metric (before -> after)"] + [label for label, _ in runs]
    table = []
    for name, section, key, fmt in ROWS:
        cells = []
        for _, s in runs:
            before = get(s, "before", section, key)
            after = get(s, "after", section, key)
            if key == "topk_overlap":
                before = None
            cells.append(cell(fmt, before, after))
        if any(c not in ("-", "- -> -") for c in cells):
            table.append([name] + cells)
    for label_key, fmt in (("trainable_parameters", "{:,}"),):
        table.append(["trainable parameters"] + [fmt.format(s.get(label_key, 0)) for _, s in runs])
    table.append(["target (layer, expert)"] + [
        ", ".join(f"({t['layer']}, {t['expert']})" for t in s["selection"]["experts"]) or "all"
        for _, s in runs])
    table.append(["step time (s)"] + ["{:.3f}".format(s["training"]["step_time_s"]) for _, s in runs])
    table.append(["optimizer state, largest rank (bytes)"] + [
        "{:,}".format(s["training"]["optimizer_state_bytes_max_rank"]) for _, s in runs])
    widths = [max(len(str(row[c])) for row in [header] + table) for c in range(len(header))]
    line = lambda row: "  ".join(str(v).ljust(w) for v, w in zip(row, widths))
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in table:
        print(line(row))
    if out_json:
        tmp = out_json + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"header": header, "rows": table}, f, indent=2)
        os.replace(tmp, out_json)


if __name__ == "__main__":
    main(sys.argv[1:])
