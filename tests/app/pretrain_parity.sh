#!/usr/bin/env bash
# 20 steps of `uoe pretrain` on the same global batch under different layouts must give the same
# losses (relative difference <= 1e-4): 1 rank; 2 ranks EP=2; 2 ranks EP=1 x DP=2;
# 4 ranks EP=4; 4 ranks EP=2 x DP=2. Then the same with the load-balancing losses on
# (global_batch aux loss + z-loss, 2 accumulation micro-batches): losses, aux_loss and z_loss
# must agree too, and so must a deepseek_v3 router with the aux-loss-free bias update (whose losses
# must differ from the same run without it). Last, configs/tiny/pretrain_facts.yaml with router_aux_loss_coef=0.01 must log
# aux_loss and the per-layer load metrics.
# Usage: pretrain_parity.sh <uoe binary> <repo root>
set -euo pipefail
uoe=$1
root=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
global_batch=8
common=(max_steps=20 logging_steps=1 seed=7 warmup_ratio=0.1)

run() {  # run <name> <ranks> <ep_size> [overrides...]
  local name=$1 np=$2 ep=$3
  shift 3
  timeout 300 mpiexec -np "$np" --oversubscribe "$uoe" pretrain "$root/configs/tiny/pretrain.yaml" \
    output_dir="$work/$name" parallel.ep_size="$ep" \
    per_device_train_batch_size=$((global_batch / np)) "${common[@]}" "$@" > "$work/$name.log" 2>&1 \
    || { echo "run $name failed:"; cat "$work/$name.log"; exit 1; }
}

balanced=(router_aux_loss_coef=0.01 router_z_loss_coef=0.001 moe_aux_loss_scope=global_batch
          gradient_accumulation_steps=2)
bias=(model.router_type=deepseek_v3 moe_router_bias_update_rate=0.01)
for layout in "np1_ep1 1 1" "np2_ep2 2 2" "np2_ep1 2 1" "np4_ep4 4 4" "np4_ep2 4 2"; do
  set -- $layout
  run "$1" "$2" "$3"
  run "balanced_$1" "$2" "$3" "${balanced[@]}"
  run "bias_$1" "$2" "$3" "${bias[@]}"
done
run nobias_np1_ep1 1 1 model.router_type=deepseek_v3

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
def column(name, key):
    with open(f"{work}/{name}/metrics.jsonl") as f:
        return [json.loads(line)[key] for line in f]
with_bias, without = column("bias_np1_ep1", "step_loss"), column("nobias_np1_ep1", "step_loss")
assert max(abs(a - b) for a, b in zip(with_bias, without)) > 1e-4, "the router bias update changed nothing"
for prefix, keys in [("", ["step_loss"]), ("balanced_", ["step_loss", "aux_loss", "z_loss"]),
                     ("bias_", ["step_loss"])]:
    for key in keys:
        reference = column(prefix + "np1_ep1", key)
        assert len(reference) == 20, f"expected 20 logged steps, got {len(reference)}"
        if key == "step_loss":
            assert reference[-1] < reference[0] - 0.5, f"loss did not go down: {reference[0]} -> {reference[-1]}"
        worst = 0.0
        for name in ["np2_ep2", "np2_ep1", "np4_ep4", "np4_ep2"]:
            other = column(prefix + name, key)
            assert len(other) == len(reference), name
            diff = max(abs(a - b) / abs(b) for a, b in zip(other, reference))
            print(f"{prefix}{name} {key}: max relative difference vs 1 rank = {diff:.2e}")
            worst = max(worst, diff)
            assert diff <= 1e-4, f"{prefix}{name} {key} differs from the 1-rank run by {diff:.2e} > 1e-4"
        print(f"{prefix or 'plain '}parity of {key} OK (worst {worst:.2e}); {reference[0]:.4f} -> {reference[-1]:.4f}")
PY

# The tiny facts config with the Switch loss: aux_loss and the load per MoE layer in metrics.jsonl.
"$uoe" make-data "$root/configs/tiny/facts.yaml" output_dir="$work/data" > "$work/data.log" 2>&1 \
  || { cat "$work/data.log"; exit 1; }
data=(dataset.train="$work/data/train.h5" dataset.forget="$work/data/forget.h5"
      dataset.retain="$work/data/retain.h5" dataset.forget_mc="$work/data/forget_mc.jsonl"
      dataset.retain_mc="$work/data/retain_mc.jsonl" dataset.tokenizer="$work/data/vocab.json")
timeout 300 mpiexec -np 2 --oversubscribe "$uoe" pretrain "$root/configs/tiny/pretrain_facts.yaml" \
  router_aux_loss_coef=0.01 output_dir="$work/facts" max_steps=4 logging_steps=2 "${data[@]}" \
  > "$work/facts.log" 2>&1 || { cat "$work/facts.log"; exit 1; }
python3 - "$work/facts" <<'PY'
import json, sys
records = [json.loads(line) for line in open(f"{sys.argv[1]}/metrics.jsonl")]
assert len(records) == 2, records
for r in records:
    assert r["aux_loss"] > 0 and "z_loss" not in r, r
    assert sorted(r["load"]) == ["1", "2", "3"], r["load"]  # layer 0 is dense
    for layer in r["load"].values():
        assert 0 <= layer["max_violation"] <= 3 and 0 < layer["routing_entropy"] <= 1, layer
    assert r["load_max_violation"] == max(l["max_violation"] for l in r["load"].values())
summary = json.load(open(f"{sys.argv[1]}/summary.json"))
assert "max_violation" in summary["breakdown"]["layers"]["1"], summary["breakdown"]
print("pretrain_facts with router_aux_loss_coef=0.01: aux_loss", records[-1]["aux_loss"],
      "load_max_violation", records[-1]["load_max_violation"])
PY
