#!/usr/bin/env bash
# The Python tools of benchmarks/specialisation on hand-made inputs with hand-computed answers:
# tools/attribution_concentration.py (shares, effective experts, same top), random_expert.py
# (never the attributed expert), choose_balancing.py (the stated rule, and its fallback) and
# tools/rate_grid.py (the learning-rate rule of both reports, paired differences, mean ± std).
# Usage: specialisation_tools.sh <uoe binary (unused)> <repo root>
set -euo pipefail
root=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
py=/usr/bin/python3  # Debian python with h5py and numpy (launch/setup.sh)

"$py" - "$work" <<'PY'
import sys
import h5py
import numpy as np
with h5py.File(sys.argv[1] + "/a.h5", "w") as f:
    f["layers"] = np.array([1, 2])
    f["scores"] = np.array([[4.0, 0, 0, 0], [1, 1, 1, 1]])
    f["retain_scores"] = np.array([[1.0, 1, 1, 1], [0, 2, 1, 1]])
    f["half_scores"] = np.array([[[2.0, 0, 0, 0], [0, 0, 1, 0]], [[2.0, 0, 0, 0], [0, 1, 0, 0]]])
    f.attrs["target_layer"], f.attrs["target_expert"] = 1, 0
with h5py.File(sys.argv[1] + "/no_retain.h5", "w") as f:
    f["layers"] = np.array([1])
    f["scores"] = np.array([[1.0, 2]])
PY
"$py" "$root/tools/attribution_concentration.py" --json "$work/c.json" "m=$work/a.h5" > "$work/c.md"
grep -q '^| m | (1, 0) | 2 | 0 (0.250) | 4.00 | 1.000 | 1 (0.500) | 2.83 | 0.750 | no | no |$' "$work/c.md" \
  || { cat "$work/c.md"; echo "FAIL: layer 2 row"; exit 1; }
"$py" - "$work/c.json" <<'PY'
import json, math, sys
m = json.load(open(sys.argv[1]))[0]
assert m["target"] == [1, 0], m["target"]
one, two = m["layers"]
# Layer 1: all forget score on expert 0 -> share 1, one effective expert; retain uniform.
assert one["forget"] == {"top_expert": 0, "top_share": 1.0, "effective_experts": 1.0,
                         "normalized_entropy": 0.0}, one["forget"]
assert math.isclose(one["retain"]["effective_experts"], 4.0) and one["same_top"]
assert one["halves_agree"] is True and two["halves_agree"] is False
# Layer 2 retain shares (0, 1/2, 1/4, 1/4): H = 1.5 ln 2, exp(H) = 2 sqrt 2, H / ln 4 = 3/4.
assert two["retain"]["top_expert"] == 1 and math.isclose(two["retain"]["top_share"], 0.5)
assert math.isclose(two["retain"]["effective_experts"], 2 * math.sqrt(2))
assert math.isclose(two["retain"]["normalized_entropy"], 0.75) and not two["same_top"]
PY
if "$py" "$root/tools/attribution_concentration.py" "m=$work/no_retain.h5" 2> "$work/err"; then
  echo "FAIL: a file without retain_scores was accepted"; exit 1
fi
grep -q "no retain_scores" "$work/err" || { cat "$work/err"; echo "FAIL: error text"; exit 1; }

# random_expert.py: 7 candidates (2 layers x 4 experts but the target (1, 0)); 30 seeds reach
# several of them and never the target.
picks=$(for seed in $(seq 1 30); do "$py" "$root/benchmarks/specialisation/random_expert.py" "$work/a.h5" "$seed"; done | sort -u)
grep -qx "1 0" <<< "$picks" && { echo "FAIL: random_expert.py picked the attributed expert"; exit 1; }
[[ $(wc -l <<< "$picks") -ge 5 ]] || { echo "FAIL: random_expert.py picks: $picks"; exit 1; }

# choose_balancing.py: a has the lower validation NLL but violates; b and c qualify, c is lower.
make_run() {  # make_run <name> <max_violation> <validation nll>
  mkdir -p "$work/grid/$1/validation"
  for step in 10 50 100; do
    echo "{\"step\":$step,\"load\":{\"1\":{\"max_violation\":$2,\"routing_entropy\":0.9},\"2\":{\"max_violation\":$2,\"routing_entropy\":0.8}}}"
  done > "$work/grid/$1/metrics.jsonl"
  echo "{\"final_loss\":0.5,\"eval\":{\"forget\":{\"answer_prob\":0.9},\"retain\":{\"answer_prob\":0.9}}}" > "$work/grid/$1/summary.json"
  echo "{\"eval\":{\"forget\":{\"answer_nll\":$3}}}" > "$work/grid/$1/validation/summary.json"
}
make_run a 0.9 1.0
make_run b 0.3 2.0
make_run c 0.4 1.5
choose=("$py" "$root/benchmarks/specialisation/choose_balancing.py" --grid "$work/grid" --names a b c --out "$work/b.json")
[[ $("${choose[@]}" --violation-max 0.5) == c ]] || { echo "FAIL: rule"; exit 1; }
[[ $("${choose[@]}" --violation-max 0.2) == b ]] || { echo "FAIL: fallback (lowest violation)"; exit 1; }
[[ $("${choose[@]}" --violation-max 1.0) == a ]] || { echo "FAIL: all eligible"; exit 1; }

PYTHONPATH=$root/tools "$py" - <<'PY'
import math
from rate_grid import choose_rate, fmt_mean_std, mean_curve, mean_std, paired, rate_label
utility = {"1e-3": 0.9, "3e-3": 0.8, "1e-2": 0.5}
score = {"1e-3": -5.0, "3e-3": -2.0, "1e-2": 0.0}
rule = lambda floor, s=score: choose_rate(utility, utility.get, lambda r: floor, s.get)
assert rule(0.75) == ("3e-3", True), rule(0.75)     # 1e-2 scores best but loses the utility
assert rule(0.95) == ("1e-3", False), rule(0.95)    # none qualifies: the highest utility
assert rule(0.1) == ("1e-2", True)
tied = {"1e-3": -1.0, "3e-3": -1.0, "1e-2": -9.0}
assert rule(0.75, tied) == ("1e-3", True)           # a tie goes to the lower rate
assert paired({1: 5.0, 2: 1.0, 3: 2.0}, {2: 4.0, 3: 0.5, 4: 9.0}, lambda x: x) == [-3.0, 1.5]
assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0) and mean_std([4.0]) == (4.0, 0.0)
assert all(math.isnan(v) for v in mean_std([]))
assert fmt_mean_std([1.0, 3.0], 2) == "2.00 ± 1.41" and fmt_mean_std([1.0]) == "1.000"
assert fmt_mean_std([None]) == "-"
assert [rate_label(x) for x in (3e-4, 0.00029999999999999997, 2.5e-4, 0.01, 1)] == \
    ["3e-4", "3e-4", "2.5e-4", "1e-2", "1e0"]
steps, curve = mean_curve([[{"step": 1, "k": 1.0}, {"step": 2, "k": 3.0}], [{"step": 1, "k": 2.0}, {"step": 2}]], "k")
assert steps == [1, 2] and curve == [1.5, 3.0], (steps, curve)
PY
echo "specialisation tools: ok"
