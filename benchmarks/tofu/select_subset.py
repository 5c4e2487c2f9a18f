#!/usr/bin/env python3
"""Writes the TOFU training sets of the benchmark as JSON-lines files.

scale=full : full.json and retain90.json as they are (4,000 and 3,600 QA pairs).
scale=small: the records of full.json whose question is in forget10 or retain_perturbed
             (800 pairs: the 20 forget authors and the ~20 retain authors of the utility set), and
             its retain part (the 400 retain_perturbed questions with their original answers).
Usage: select_subset.py <tofu data dir> <scale> <output dir>
"""
import json
import os
import sys


def read(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write(path, records):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps({"question": r["question"], "answer": r["answer"]}) + "\n")
    os.replace(tmp, path)


def main():
    if len(sys.argv) != 4 or sys.argv[2] not in ("full", "small"):
        sys.exit("usage: select_subset.py <tofu data dir> full|small <output dir>")
    data, scale, out = sys.argv[1:]
    full = read(os.path.join(data, "full.json"))
    retain90 = read(os.path.join(data, "retain90.json"))
    if scale == "small":
        forget = {r["question"] for r in read(os.path.join(data, "forget10.json"))}
        utility = {r["question"] for r in read(os.path.join(data, "retain_perturbed.json"))}
        full = [r for r in full if r["question"] in forget | utility]
        retain90 = [r for r in retain90 if r["question"] in utility]
        assert len(retain90) >= len(utility) and len(full) >= len(forget) + len(utility)
    os.makedirs(out, exist_ok=True)
    write(os.path.join(out, "train_full.jsonl"), full)
    write(os.path.join(out, "train_retain.jsonl"), retain90)
    print(f"scale={scale}: {len(full)} training pairs, {len(retain90)} retain pairs -> {out}")


if __name__ == "__main__":
    main()
