#!/usr/bin/env python3
"""Writes the TOFU sets of the benchmark as JSON-lines files in <output dir>:

  train_full.jsonl    what the target model is trained on
  train_retain.jsonl  what the retain model (the forget-quality reference) is trained on
  forget_train.jsonl  forget10 (the questions and answers of forget10_perturbed): what is unlearned
  forget_eval.jsonl   forget10_perturbed (question, answer, paraphrased_answer, perturbed_answer[5]),
                      its first <forget eval questions> records (0: all)
  retain_eval.jsonl   retain_perturbed, the utility set, its first <retain eval questions> records

scale=full : full.json and retain90.json as they are (4,000 and 3,600 QA pairs).
scale=small: the records of full.json whose question is in forget10 or retain_perturbed (800
             pairs: the 20 forget authors and the ~20 retain authors of the utility set), and its
             retain part (the 400 retain_perturbed questions with their original answers).
scale=tiny : like small with only the first 40 questions of each eval file (2 authors each), for
             the test suite.
Usage: select_subset.py <tofu data dir> full|small|tiny <output dir> [<forget eval questions>
       <retain eval questions>]   (the eval sets keep whole authors: 20 questions each)
"""
import json
import os
import sys

TINY_QUESTIONS = 40


def read(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write(path, records, keys):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps({k: r[k] for k in keys}) + "\n")
    os.replace(tmp, path)


def main():
    if len(sys.argv) not in (4, 6) or sys.argv[2] not in ("full", "small", "tiny"):
        sys.exit("usage: select_subset.py <tofu data dir> full|small|tiny <output dir> "
                 "[<forget eval questions> <retain eval questions>]")
    data, scale, out = sys.argv[1:4]
    limits = [int(v) for v in sys.argv[4:6]] or [0, 0]
    full = read(os.path.join(data, "full.json"))
    retain90 = read(os.path.join(data, "retain90.json"))
    forget_eval = read(os.path.join(data, "forget10_perturbed.json"))
    retain_eval = read(os.path.join(data, "retain_perturbed.json"))
    if scale == "tiny":
        forget_eval, retain_eval = forget_eval[:TINY_QUESTIONS], retain_eval[:TINY_QUESTIONS]
    if scale != "full":
        forget = {r["question"] for r in forget_eval}
        utility = {r["question"] for r in retain_eval}
        full = [r for r in full if r["question"] in forget | utility]
        retain90 = [r for r in retain90 if r["question"] in utility]
        # A few questions occur twice in TOFU; every eval question must be trained on.
        assert {r["question"] for r in full} == forget | utility
        assert {r["question"] for r in retain90} == utility
    forget_train = forget_eval
    forget_eval = forget_eval[:limits[0]] if limits[0] > 0 else forget_eval
    retain_eval = retain_eval[:limits[1]] if limits[1] > 0 else retain_eval
    os.makedirs(out, exist_ok=True)
    qa = ("question", "answer")
    perturbed = qa + ("paraphrased_answer", "perturbed_answer")
    write(os.path.join(out, "train_full.jsonl"), full, qa)
    write(os.path.join(out, "train_retain.jsonl"), retain90, qa)
    write(os.path.join(out, "forget_train.jsonl"), forget_train, qa)
    write(os.path.join(out, "forget_eval.jsonl"), forget_eval, perturbed)
    write(os.path.join(out, "retain_eval.jsonl"), retain_eval, perturbed)
    print(f"scale={scale}: {len(full)} training pairs, {len(retain90)} retain pairs, "
          f"{len(forget_train)} forget pairs, {len(forget_eval)} forget / {len(retain_eval)} retain eval "
          f"questions -> {out}")


if __name__ == "__main__":
    main()
