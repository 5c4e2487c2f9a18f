#!/usr/bin/env python3
"""How concentrated expert attribution is, per MoE layer, for the forget and the retain set.

Usage: attribution_concentration.py [--json OUT.json] NAME=attribution.h5 [NAME=attribution.h5 ...]
Reads what `uoe attribute` (or `uoe unlearn`) writes with a retain set: scores and retain_scores
[layers, experts]. Per layer and set, the score shares s_e / sum(s) give: the top-1 expert and its
share, the effective number of experts exp(H) (E when uniform, 1 when one expert takes all) and
H / ln E; then whether the top forget expert is also the top retain expert, and whether the two
halves of the forget set (half_scores, when present) have the same top expert. Prints a Markdown
table (one row per model and layer, with the expert SEUF selects, attrs target_layer /
target_expert); --json writes the same numbers.
"""
import argparse
import json
import math

import h5py
import numpy as np
from figures import InputError, run_cli


def concentration(scores):
    """Shares of one layer's scores -> top expert, top share, effective experts, H / ln E."""
    total = float(np.sum(scores))
    if not total > 0:
        raise InputError("an attribution layer has no positive score")
    shares = np.asarray(scores, dtype=np.float64) / total
    nonzero = shares[shares > 0]
    entropy = float(-np.sum(nonzero * np.log(nonzero)))
    return {"top_expert": int(np.argmax(shares)), "top_share": float(np.max(shares)),
            "effective_experts": math.exp(entropy),
            "normalized_entropy": entropy / math.log(len(shares)) if len(shares) > 1 else 0.0}


def read(path):
    try:
        with h5py.File(path, "r") as f:
            if "retain_scores" not in f:
                raise InputError(f"{path} has no retain_scores (run uoe attribute with dataset.retain)")
            return {"layers": [int(x) for x in f["layers"][()]],
                    "forget": np.asarray(f["scores"][()]), "retain": np.asarray(f["retain_scores"][()]),
                    "halves": np.asarray(f["half_scores"][()]) if "half_scores" in f else None,
                    "target": [int(f.attrs["target_layer"]), int(f.attrs["target_expert"])]}
    except OSError as e:
        raise InputError(f"cannot read {path}: {e}") from e


def report(name, path):
    data = read(path)
    return from_scores(name, path, data["layers"], data["forget"], data["retain"], data["target"],
                       data["halves"])


def from_scores(name, source, layers, forget_scores, retain_scores, target, halves=None):
    """The report of one model from its scores [layers, experts] (halves: [2, layers, experts] or
    None; target: [layer, expert] or None when unknown)."""
    rows = []
    for i, layer in enumerate(layers):
        forget, retain = concentration(forget_scores[i]), concentration(retain_scores[i])
        rows.append({"model": name, "layer": int(layer), "forget": forget, "retain": retain,
                     "same_top": forget["top_expert"] == retain["top_expert"],
                     "halves_agree": None if halves is None
                     else bool(np.argmax(halves[0][i]) == np.argmax(halves[1][i]))})
    return {"model": name, "file": source, "target": target, "layers": rows}


def markdown(models):
    lines = ["| model | target (layer, expert) | layer | forget top expert (share) "
             "| forget eff. experts | forget H/lnE | retain top expert (share) | retain eff. experts "
             "| retain H/lnE | same top | forget halves agree |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    yes_no = {True: "yes", False: "no", None: "–"}
    for m in models:
        target = f"({m['target'][0]}, {m['target'][1]})" if m["target"] else "–"
        for r in m["layers"]:
            f, t = r["forget"], r["retain"]
            lines.append(f"| {m['model']} | {target} | {r['layer']} "
                         f"| {f['top_expert']} ({f['top_share']:.3f}) "
                         f"| {f['effective_experts']:.2f} | {f['normalized_entropy']:.3f} "
                         f"| {t['top_expert']} ({t['top_share']:.3f}) | {t['effective_experts']:.2f} "
                         f"| {t['normalized_entropy']:.3f} | {yes_no[r['same_top']]} "
                         f"| {yes_no[r['halves_agree']]} |")
    return "\n".join(lines)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json")
    parser.add_argument("runs", nargs="+", metavar="NAME=attribution.h5")
    args = parser.parse_args(argv[1:])
    models = []
    for spec in args.runs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise InputError(f"'{spec}' is not NAME=attribution.h5")
        models.append(report(name, path))
    print(markdown(models))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(models, f, indent=1)


if __name__ == "__main__":
    run_cli(main)
