#!/usr/bin/env bash
# The TOFU benchmark end to end at test scale (benchmarks/tofu/run.sh with TOFU_SCALE=tiny: 40
# forget and 40 retain questions, a few training epochs, GA as the full model at one rate and with
# SEUF and a random expert over a 2-rate grid, a few steps): the report must come out with every
# metric computed and in range, each row's rate read from its run, the rate rule applied as
# stated and SEUF - random paired by seed, also when the first run.sh was killed during training
# and run again. Skipped (77) without the TOFU data.
# Usage: tofu_benchmark.sh <uoe binary> <repo root>
set -euo pipefail
uoe=$1
root=$2
data=${TOFU_DATA:-$root/../shared/data/tofu}
if [[ ! -r $data/full.json ]]; then
  echo "skipped: no TOFU data in $data"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() {
  TOFU_DATA=$data TOFU_SCALE=tiny EPOCHS=8 SAVE_STEPS=4 STEPS=3 SEEDS=1 METHODS=ga \
    VARIANTS="full seuf random" LR_GRID_EXPERT="3e-3 1e-2" ABLATIONS=0 OUT=$work/runs REPORT=$work/report \
    UOE=$uoe "$root/benchmarks/tofu/run.sh"
}
# A run killed while training the first model (retain: 16 steps, checkpoint every 4) ...
if UOE_INJECT_FAULT=kill:step@6 run > "$work/killed.out" 2>&1; then
  echo "FAIL: run.sh succeeded although its training was killed"; exit 1
fi
# ... continues from that model's newest training checkpoint when run again.
run
grep -q "resuming from .*checkpoint-4 after step 4 of 16" "$work/runs/logs/pretrain_retain.log" || {
  echo "FAIL: the second run.sh did not resume the retain model from checkpoint-4"; exit 1; }
/usr/bin/python3 - "$work/report" "$work/runs" <<'PY'
import json, os, sys
out, runs = sys.argv[1:3]
resumed = json.load(open(os.path.join(runs, "models", "retain", "summary.json")))["resumed_from_step"]
assert resumed == 4, resumed
r = json.load(open(os.path.join(out, "results.json")))
rows = r["rows"]
assert {name: sorted(rows[name]) for name in rows} == \
    {"ga_full": ["3e-4"], "ga_seuf": ["1e-2", "3e-3"], "ga_random": ["1e-2", "3e-3"]}, rows.keys()
for name, by_rate in rows.items():
    for label, row in by_rate.items():
        s = row["seeds"][0]
        assert os.path.isfile(os.path.join(runs, "unlearn", name, "lr" + label, "seed1", "summary.json"))
        assert abs(s["rate"] - float(label)) < 1e-12 and row["rate"] == s["rate"], (name, label, s["rate"])
        for key in ("model_utility", "forget_rouge_l", "retain_rouge_l", "forget_prob", "retain_prob",
                    "forget_truth_ratio", "retain_truth_ratio", "forget_quality", "retain_topk_overlap",
                    "selection_rate_before", "selection_rate_after", "trainable_share"):
            assert 0.0 <= s[key] <= 1.0, (name, label, key, s[key])
        assert s["log10_forget_quality"] <= 0.0 and s["step_time_s"] > 0, (name, s)
assert rows["ga_seuf"]["3e-3"]["seeds"][0]["trainable_share"] < rows["ga_full"]["3e-4"]["seeds"][0]["trainable_share"] == 1.0
# The rule, recomputed: among the rates whose utility >= 0.9 x the target's, the highest log10 FQ;
# else the highest utility.
floor = 0.9 * r["models"]["full"]["model_utility"]
for name, by_rate in rows.items():
    fq = {label: row["seeds"][0]["log10_forget_quality"] for label, row in by_rate.items()}
    mu = {label: row["seeds"][0]["model_utility"] for label, row in by_rate.items()}
    kept = [label for label in by_rate if mu[label] >= floor]
    expect = max(kept, key=fq.get) if kept else max(by_rate, key=mu.get)
    assert r["chosen"][name] == {"rate": expect, "qualified": bool(kept)}, (name, r["chosen"][name], fq, mu)
pairs = {(p["seuf_rate"], p["random_rate"]): p for p in r["seuf_minus_random"]}
for rate in (3e-3, 1e-2):
    label = "3e-3" if rate == 3e-3 else "1e-2"
    p = pairs.pop((rate, rate))
    seuf, rand = rows["ga_seuf"][label]["seeds"][0], rows["ga_random"][label]["seeds"][0]
    assert p["seeds"] == [1] and abs(p["delta_log10_forget_quality"][0] - (seuf["log10_forget_quality"] - rand["log10_forget_quality"])) < 1e-12
    assert abs(p["delta_model_utility"][0] - (seuf["model_utility"] - rand["model_utility"])) < 1e-12
    assert p["chosen"] == (label == r["chosen"]["ga_seuf"]["rate"] == r["chosen"]["ga_random"]["rate"])
assert all(p["chosen"] for p in pairs.values()) and len(pairs) <= 1, pairs
assert r["concentration"]["layers"] and r["concentration"]["target"][0] >= 0
for model in ("full", "retain"):
    t = r["models"][model]
    assert t["forget"]["questions"] == 40 and t["retain"]["questions"] == 40, t
    assert len(t["forget"]["truth_ratios"]) == 40
for name in ("RESULTS.md", "fq_vs_mu.png", "curves.png", "attribution_forget10.png"):
    assert os.path.getsize(os.path.join(out, name)) > 0, name
text = open(os.path.join(out, "RESULTS.md")).read()
chosen_seuf = r["chosen"]["ga_seuf"]["rate"]
for needle in ("TEST scale", "## How the rates were chosen", "not a held-out choice",
               f"| GA | SEUF | {chosen_seuf} | 1 |", f"| GA | SEUF | {chosen_seuf} **(chosen)** | 1 |",
               "## Attributed expert (SEUF) vs a random expert", "## Attribution concentration before unlearning"):
    assert needle in text, (needle, text[:3000])
print("ok: TOFU benchmark report at test scale, metrics in range")
PY
