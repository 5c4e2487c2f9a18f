#!/usr/bin/env bash
# gradient_checkpointing: true (per-layer recomputation, src/model/recompute.h) must not change
# what training computes: `uoe pretrain` (aux + z loss, 2 accumulation micro-batches) and
# `uoe unlearn` (SEUF: one expert + router, anchor loss, gdiff with retain batches) on 2 ranks
# with EP=2 write the same metrics.jsonl with it on as off (every field but times and rates), and
# the resolved config records the key. The step breakdowns agree on what the replayed exchanges
# must not repeat: bytes per collective and tokens per expert (no second exchange, no double count).
# Usage: recompute_parity.sh <uoe binary> <repo root>
set -euo pipefail
uoe=$1
root=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cfg="$root/configs/tiny"
d="$work/data"
files=(dataset.tokenizer="$d/vocab.json")  # what make-data wrote
for f in forget.h5 retain.h5 forget_mc.jsonl retain_mc.jsonl; do files+=(dataset.${f%.*}="$d/$f"); done
source "$(dirname "${BASH_SOURCE[0]}")/run_uoe.sh"  # run <log name> <ranks> <args...>

run data 1 make-data "$cfg/facts.yaml" output_dir="$d"
run base 2 pretrain "$cfg/pretrain_facts.yaml" output_dir="$work/base" max_steps=10 \
  dataset.train="$d/train.h5" "${files[@]}"
for gc in false true; do
  run "pretrain_$gc" 2 pretrain "$cfg/pretrain.yaml" output_dir="$work/pretrain_$gc" \
    max_steps=6 logging_steps=1 router_aux_loss_coef=0.01 router_z_loss_coef=0.001 \
    gradient_accumulation_steps=2 per_device_train_batch_size=4 gradient_checkpointing=$gc
  run "unlearn_$gc" 2 unlearn "$cfg/unlearn_seuf.yaml" output_dir="$work/unlearn_$gc" \
    model_name_or_path="$work/base/checkpoint" max_steps=6 logging_steps=1 unlearn.method=gdiff \
    gradient_checkpointing=$gc "${files[@]}"
done

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
def records(name):
    with open(f"{work}/{name}/metrics.jsonl") as f:
        rows = [json.loads(line) for line in f]
    timing = ("time", "second", "per_s", "elapsed", "eta")
    return [{k: v for k, v in r.items() if not any(t in k for t in timing)} for r in rows]
for kind in ["pretrain", "unlearn"]:
    off, on = records(f"{kind}_false"), records(f"{kind}_true")
    assert len(off) == 6, f"{kind}: expected 6 logged steps, got {len(off)}"
    assert on == off, f"{kind}: metrics differ with gradient_checkpointing\n{off}\n{on}"
    cfg = open(f"{work}/{kind}_true/config.yaml").read()
    assert "gradient_checkpointing: true" in cfg, f"{kind}: resolved config lacks the key"
    def moved(name):
        with open(f"{work}/{name}/breakdown.jsonl") as f:
            rows = [json.loads(line) for line in f]
        return [(r["bytes"], {l: v["tokens_per_expert"] for l, v in r["layers"].items()
                              if "tokens_per_expert" in v}) for r in rows]
    assert moved(f"{kind}_true") == moved(f"{kind}_false"), f"{kind}: bytes or tokens per expert differ"
    assert moved(f"{kind}_false")[0][0].get("token_all_to_all", 0) > 0, f"{kind}: no exchange recorded"
    print(f"{kind}: {len(off)} steps, {len(off[0])} fields each, identical with gradient_checkpointing")
PY
