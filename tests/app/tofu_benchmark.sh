#!/usr/bin/env bash
# The TOFU benchmark end to end at test scale (benchmarks/tofu/run.sh with TOFU_SCALE=tiny: 40
# forget and 40 retain questions, a few training epochs, GA with SEUF for a few steps): the report
# must come out with every metric computed and in range, also when the first run.sh was killed
# during training and run again. Skipped (77) without the TOFU data.
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
  TOFU_DATA=$data TOFU_SCALE=tiny EPOCHS=8 SAVE_STEPS=4 STEPS=3 SEEDS=1 METHODS=ga VARIANTS="full seuf" \
    ABLATIONS=0 OUT=$work/runs REPORT=$work/report UOE=$uoe "$root/benchmarks/tofu/run.sh"
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
assert set(r["rows"]) == {"ga_full", "ga_seuf"}, r["rows"].keys()
for name, row in r["rows"].items():
    s = row["seeds"][0]
    for key in ("model_utility", "forget_rouge_l", "retain_rouge_l", "forget_prob", "retain_prob",
                "forget_truth_ratio", "retain_truth_ratio", "forget_quality", "retain_topk_overlap",
                "selection_rate_before", "selection_rate_after", "trainable_share"):
        assert 0.0 <= s[key] <= 1.0, (name, key, s[key])
    assert s["log10_forget_quality"] <= 0.0 and s["step_time_s"] > 0, (name, s)
assert r["rows"]["ga_seuf"]["seeds"][0]["trainable_share"] < r["rows"]["ga_full"]["seeds"][0]["trainable_share"] == 1.0
for model in ("full", "retain"):
    t = r["models"][model]
    assert t["forget"]["questions"] == 40 and t["retain"]["questions"] == 40, t
    assert len(t["forget"]["truth_ratios"]) == 40
for name in ("RESULTS.md", "fq_vs_mu.png", "curves.png", "attribution_forget10.png"):
    assert os.path.getsize(os.path.join(out, name)) > 0, name
text = open(os.path.join(out, "RESULTS.md")).read()
assert "| GA | SEUF | 1 |" in text and "TEST scale" in text, text[:2000]
print("ok: TOFU benchmark report at test scale, metrics in range")
PY
