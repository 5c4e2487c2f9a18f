#!/usr/bin/env python3
"""Summarise benchmarks/spread/run.sh: summarize.py <out dir> [--json file]

For every <core type>/seed<seed> run under <out dir>: the demo's metrics for SEUF GA and full GA,
their range over all runs (min, median, max), and which of the end-to-end test's outcome checks
(tests/app/seuf_outcome_checks.py, the same code the test runs) held in each run.
"""
import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "app"))
import seuf_outcome_checks  # noqa: E402

METRICS = [  # (label, section, key)
    ("forget MC accuracy", "forget_mc", "accuracy"),
    ("retain MC accuracy", "retain_mc", "accuracy"),
    ("forget ROUGE-L recall", "forget", "rouge_l_recall"),
    ("retain ROUGE-L recall", "retain", "rouge_l_recall"),
    ("forget answer NLL", "forget", "answer_nll"),
    ("retain answer NLL", "retain", "answer_nll"),
    ("target-expert selection (forget)", "forget", "target_selection_rate"),
    ("top-K overlap with original (retain)", "retain", "topk_overlap"),
]


def load(path):
    with open(path) as f:
        return json.load(f)


def collect(out):
    runs = []
    for core in sorted(os.listdir(out)):  # <OpenBLAS core type>[-<ATen capability>]
        core_dir = os.path.join(out, core)
        if not os.path.isdir(core_dir) or core == "data":
            continue
        for seed_dir in sorted(os.listdir(core_dir)):
            run = os.path.join(core_dir, seed_dir)
            if not os.path.exists(os.path.join(run, "full_ga", "summary.json")):
                continue
            runs.append({
                "core": core, "seed": seed_dir.removeprefix("seed"),
                "pretrain": load(os.path.join(run, "pretrain", "summary.json"))["eval"],
                "seuf": load(os.path.join(run, "seuf_ga", "summary.json")),
                "full": load(os.path.join(run, "full_ga", "summary.json")),
            })
    return runs


def value(summary, phase, section, key):
    return summary.get(phase, {}).get(section, {}).get(key)


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def fmt(s):
    return "-" if s is None else f"{s['min']:.3f} .. {s['max']:.3f} ({s['median']:.3f})"


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("out", help="OUT of benchmarks/spread/run.sh")
    parser.add_argument("--json", dest="out_json", help="write the summary here")
    args = parser.parse_args(argv)
    out_json = args.out_json
    runs = collect(args.out)
    if not runs:
        sys.exit(f"error: no finished runs under {args.out}")
    table = {}
    print(f"{len(runs)} runs: " + ", ".join(f"{r['core']}/{r['seed']}" for r in runs))
    print(f"{'metric (after unlearning)':40s}  {'SEUF GA min .. max (median)':32s}  full GA min .. max (median)")
    for label, section, key in METRICS:
        row = {v: spread([value(r[v], "after", section, key) for r in runs]) for v in ("seuf", "full")}
        table[label] = row
        print(f"{label:40s}  {fmt(row['seuf']):32s}  {fmt(row['full'])}")
    before = {label: spread([value(r["seuf"], "before", section, key) for r in runs])
              for label, section, key in METRICS if key != "topk_overlap"}
    print("before unlearning: " + "; ".join(f"{k} {fmt(v)}" for k, v in before.items()))
    targets = sorted({(e["layer"], e["expert"]) for r in runs for e in r["seuf"]["selection"]["experts"]})
    print(f"attributed (layer, expert): {targets}")
    per_run = []
    failures = {}
    for r in runs:
        results = seuf_outcome_checks.evaluate(r["pretrain"], r["seuf"], r["full"])
        per_run.append({"core": r["core"], "seed": r["seed"],
                        "target": [[e["layer"], e["expert"]] for e in r["seuf"]["selection"]["experts"]],
                        "checks": results,
                        "seuf_after": {l: value(r["seuf"], "after", s, k) for l, s, k in METRICS},
                        "full_after": {l: value(r["full"], "after", s, k) for l, s, k in METRICS}})
        for name, (ok, what) in results.items():
            if not ok:
                failures.setdefault(name, []).append(f"{r['core']}/{r['seed']}: {what}")
    print("per run (after unlearning; NLL = answer NLL in nats):")
    print(f"  {'kernel/seed':22s} {'target':8s} {'SEUF forget MC':>14s} {'retain MC':>9s} {'forget NLL':>10s}"
          f" {'retain NLL':>10s} {'selection':>15s} | {'full retain MC':>14s} {'retain NLL':>10s}")
    for r in runs:
        s, f = r["seuf"], r["full"]
        target = ",".join(f"({e['layer']},{e['expert']})" for e in s["selection"]["experts"])
        print(f"  {r['core'] + '/' + r['seed']:22s} {target:8s} {value(s, 'after', 'forget_mc', 'accuracy'):14.3f}"
              f" {value(s, 'after', 'retain_mc', 'accuracy'):9.3f} {value(s, 'after', 'forget', 'answer_nll'):10.3f}"
              f" {value(s, 'after', 'retain', 'answer_nll'):10.3f}"
              f" {value(s, 'before', 'forget', 'target_selection_rate'):6.3f} -> {value(s, 'after', 'forget', 'target_selection_rate'):5.3f}"
              f" | {value(f, 'after', 'retain_mc', 'accuracy'):14.3f} {value(f, 'after', 'retain', 'answer_nll'):10.3f}")
    print("outcome checks of tests/app/seuf_end_to_end.sh:")
    for name in seuf_outcome_checks.CHECK_NAMES:
        bad = failures.get(name, [])
        asserted = "asserted" if name in seuf_outcome_checks.ASSERTED_NAMES else "not asserted"
        print(f"  {'held in all runs' if not bad else f'FAILED in {len(bad)} of {len(runs)}'} ({asserted}): {name}")
        for b in bad:
            print(f"      {b}")
    if out_json:
        tmp = out_json + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"runs": per_run, "after": table, "before": before, "targets": targets}, f, indent=2)
        os.replace(tmp, out_json)


if __name__ == "__main__":
    main(sys.argv[1:])
