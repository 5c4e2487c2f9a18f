#!/usr/bin/env python3
"""Choose the load-balancing setting of the tiny balanced model on held-out validation data.

Usage: choose_balancing.py --grid DIR --names NAME... --violation-max X --out balancing.json
Each DIR/NAME holds a pretraining run (metrics.jsonl, summary.json) and validation/summary.json
(`uoe eval` on validation.h5: entities in no training file, loss on every token).

Rule: among the settings whose end-of-training load violation (max load / mean load - 1, averaged
over the MoE layers and over the logging records of the last 20 % of the steps) is below
--violation-max, the one with the lowest validation NLL per token; when none is below it, the one
with the lowest violation. Prints the chosen name; writes the table, the rule and the choice.
"""
import argparse
import json
import os
import sys


def end_violation(metrics_path):
    records = [json.loads(line) for line in open(metrics_path) if line.strip()]
    records = [r for r in records if "load" in r]
    if not records:
        sys.exit(f"error: {metrics_path} has no load records (logging_steps too large?)")
    last = records[-1]["step"]
    tail = [r for r in records if r["step"] > 0.8 * last] or records[-1:]
    values = [layer["max_violation"] for r in tail for layer in r["load"].values()]
    entropies = [layer["routing_entropy"] for r in tail for layer in r["load"].values()]
    return sum(values) / len(values), sum(entropies) / len(entropies)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grid", required=True)
    parser.add_argument("--names", nargs="+", required=True)
    parser.add_argument("--violation-max", type=float, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    rows = []
    for name in args.names:
        run = os.path.join(args.grid, name)
        violation, entropy = end_violation(os.path.join(run, "metrics.jsonl"))
        summary = json.load(open(os.path.join(run, "summary.json")))
        validation = json.load(open(os.path.join(run, "validation", "summary.json")))
        rows.append({"name": name, "end_max_violation": violation, "end_routing_entropy": entropy,
                     "validation_nll": validation["eval"]["forget"]["answer_nll"],
                     "train_loss": summary["final_loss"],
                     "forget_answer_prob": summary["eval"]["forget"]["answer_prob"],
                     "retain_answer_prob": summary["eval"]["retain"]["answer_prob"],
                     "eligible": violation < args.violation_max})
    eligible = [r for r in rows if r["eligible"]]
    if eligible:
        chosen = min(eligible, key=lambda r: r["validation_nll"])["name"]
        how = (f"lowest validation NLL among the {len(eligible)} settings whose end-of-training "
               f"mean max_violation is below {args.violation_max}")
    else:
        chosen = min(rows, key=lambda r: r["end_max_violation"])["name"]
        how = (f"no setting has an end-of-training mean max_violation below "
               f"{args.violation_max}: the one with the lowest violation")
    rule = ("among the settings whose end-of-training load violation (max load / mean load - 1, "
            "mean over the MoE layers and the logging records of the last 20 % of the steps) is "
            f"below {args.violation_max}, the lowest validation NLL per token (validation.h5: "
            "held-out entities, in no training file); when none is below it, the lowest violation")
    with open(args.out, "w") as f:
        json.dump({"rule": rule, "how": how, "chosen": chosen, "rows": rows}, f, indent=1)
    print(chosen)


if __name__ == "__main__":
    main()
