#!/usr/bin/env bash
# 20 steps of `uoe pretrain` on the same global batch under different layouts must give the same
# losses (relative difference <= 1e-4): 1 rank; 2 ranks EP=2; 2 ranks EP=1 x DP=2;
# 4 ranks EP=4; 4 ranks EP=2 x DP=2.
# Usage: pretrain_parity.sh <uoe binary> <repo root>
set -euo pipefail
uoe=$1
root=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
global_batch=8
common=(max_steps=20 logging_steps=1 seed=7 warmup_ratio=0.1)

run() {  # run <name> <ranks> <ep_size>
  local name=$1 np=$2 ep=$3
  timeout 300 mpiexec -np "$np" --oversubscribe "$uoe" pretrain "$root/configs/tiny/pretrain.yaml" \
    output_dir="$work/$name" parallel.ep_size="$ep" \
    per_device_train_batch_size=$((global_batch / np)) "${common[@]}" > "$work/$name.log" 2>&1 \
    || { echo "run $name failed:"; cat "$work/$name.log"; exit 1; }
}

run np1_ep1 1 1
run np2_ep2 2 2
run np2_ep1 2 1
run np4_ep4 4 4
run np4_ep2 4 2

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
def losses(name):
    with open(f"{work}/{name}/metrics.jsonl") as f:
        return [json.loads(line)["step_loss"] for line in f]
reference = losses("np1_ep1")
assert len(reference) == 20, f"expected 20 logged steps, got {len(reference)}"
assert reference[-1] < reference[0] - 0.5, f"loss did not go down: {reference[0]} -> {reference[-1]}"
worst = 0.0
for name in ["np2_ep2", "np2_ep1", "np4_ep4", "np4_ep2"]:
    other = losses(name)
    assert len(other) == len(reference), name
    diff = max(abs(a - b) / abs(b) for a, b in zip(other, reference))
    print(f"{name}: max relative loss difference vs 1 rank = {diff:.2e}")
    worst = max(worst, diff)
    assert diff <= 1e-4, f"{name} differs from the 1-rank run by {diff:.2e} > 1e-4"
print(f"pretrain parity OK (worst {worst:.2e}); loss {reference[0]:.4f} -> {reference[-1]:.4f}")
PY
