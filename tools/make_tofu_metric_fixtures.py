#!/usr/bin/env python3
"""Reference values for the TOFU metrics of src/eval/tofu_metrics, from the implementations
TOFU itself uses: ROUGE-L recall from Google's `rouge_score` (without stemming) and the
two-sample Kolmogorov-Smirnov p-value from scipy.stats.ks_2samp (method="exact").

Writes tests/unlearn/data/tofu_metrics.json. Needs rouge_score and scipy, e.g.
  python3 -m venv --system-site-packages /work/venv-tofu && /work/venv-tofu/bin/pip install rouge_score
  /work/venv-tofu/bin/python tools/make_tofu_metric_fixtures.py
"""
import json
import os

import numpy as np
import rouge_score
import scipy
from rouge_score import rouge_scorer
from scipy.stats import ks_2samp

ROUGE_PAIRS = [  # (generated, reference)
    ("The author's full name is Hsiao Yun-Hwa.", "The author's full name is Hsiao Yun-Hwa."),
    ("Hsiao Yun-Hwa is the complete name of the writer.", "The author's full name is Hsiao Yun-Hwa."),
    ("the AUTHOR, born in 1991, writes leadership books!", "The author was born in 1991 in Taipei."),
    ("", "Some reference answer."),
    ("An answer with words.", "!!! ... ???"),
    ("Café Müller wrote 'Die Straße' in 2001 (Köln).", "Müller's café novel Die Straße appeared in 2001."),
    ("a b a b a b", "b a b a"),
    ("His father was a dentist and his mother a painter, in Santiago, Chile.",
     "Jaime Vasquez's father was a chef and his mother was a painter, both in Santiago, Chile."),
    ("x1 y2 z3 x1", "x1 x1 z3"),
    ("Yes.", "Yes, the author has won the Pen/Faulkner Award for Fiction in 2010."),
]


def ks_cases():
    rng = np.random.default_rng(20240101)
    cases = [
        ("equal_sizes_same_distribution", rng.normal(size=40), rng.normal(size=40)),
        ("unequal_sizes_shift", rng.normal(size=25), rng.normal(0.8, 1.0, size=37)),
        ("ties", np.round(rng.normal(size=30), 1), np.round(rng.normal(0.3, 1.0, size=20), 1)),
        ("tofu_size_close", rng.lognormal(0.0, 0.5, size=400), rng.lognormal(0.05, 0.5, size=400)),
        ("tofu_size_far", rng.lognormal(0.0, 0.5, size=400), rng.lognormal(1.0, 0.5, size=400)),
        ("tiny", np.array([0.1, 0.5, 0.9]), np.array([0.2, 1.5])),
        ("disjoint", np.arange(10, dtype=float), np.arange(10, dtype=float) + 100.0),
    ]
    out = []
    for name, a, b in cases:
        result = ks_2samp(a, b, method="exact")
        out.append({"name": name, "a": a.tolist(), "b": b.tolist(),
                    "statistic": float(result.statistic), "p_value": float(result.pvalue)})
    return out


def main():
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    rouge = [{"generated": g, "reference": r,
              "recall": scorer.score(r, g)["rougeL"].recall} for g, r in ROUGE_PAIRS]
    fixture = {"made_by": f"tools/make_tofu_metric_fixtures.py (rouge_score {getattr(rouge_score, '__version__', '?')}, "
                          f"scipy {scipy.__version__})",
               "rouge_l": rouge, "ks_2samp": ks_cases()}
    path = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "tests", "unlearn", "data", "tofu_metrics.json"))
    with open(path, "w", encoding="utf-8") as f:
        json.dump(fixture, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {path}: {len(rouge)} ROUGE-L pairs, {len(fixture['ks_2samp'])} KS cases")
    for case in fixture["ks_2samp"]:
        print(f"  {case['name']}: D={case['statistic']:.4f} p={case['p_value']:.4g}")


if __name__ == "__main__":
    main()
