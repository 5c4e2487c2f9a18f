#!/usr/bin/env bash
# HF directories through the command line, on the Mixtral parity fixture (made by transformers):
# unlearn it with 2 ranks (EP=2), export the result with `uoe export`, and check that
#  - the exported directory has the original files and tensors, with only the delta's tensors
#    changed (in their original BF16 dtype),
#  - `uoe eval` of the exported directory matches `uoe eval` of the original + delta (up to the
#    BF16 rounding of the trained tensors) and differs from the original alone,
#  - exporting again without export.overwrite is refused with exit code 2.
# Usage: hf_export.sh <uoe binary> <repo root>
set -euo pipefail
uoe=$1
root=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
hf="$root/tests/fixtures/hf/mixtral"
cfg="$root/configs/tiny/unlearn_seuf.yaml"
d="$work/data"
files=(dataset.forget="$d/forget.h5" dataset.retain="$d/retain.h5"
       dataset.forget_mc="$d/forget_mc.jsonl" dataset.retain_mc="$d/retain_mc.jsonl"
       dataset.tokenizer="$d/vocab.json" data.vocab_size=64)
run() {  # run <log name> <ranks> <args...>
  local name=$1 np=$2
  shift 2
  timeout 300 mpiexec -np "$np" --oversubscribe "$uoe" "$@" > "$work/$name.log" 2>&1 \
    || { echo "uoe $* failed:"; tail -30 "$work/$name.log"; exit 1; }
}

# A fact set small enough for the fixture's 128-token vocabulary.
run data 1 make-data "$root/configs/tiny/facts.yaml" output_dir="$d" facts.num_clusters=2 \
  facts.entities_per_cluster=4 facts.relations_per_cluster=2 facts.values_per_relation=4 \
  facts.forget_entities=2
run unlearn 2 unlearn "$cfg" output_dir="$work/seuf" model_name_or_path="$hf" max_steps=5 \
  learning_rate=0.05 "${files[@]}"
run export 2 export "$cfg" output_dir="$work/export_run" model_name_or_path="$hf" \
  delta="$work/seuf/delta.h5" export.output_dir="$work/exported" data.vocab_size=64
run eval_delta 2 eval "$cfg" output_dir="$work/eval_delta" model_name_or_path="$hf" \
  delta="$work/seuf/delta.h5" "${files[@]}"
run eval_exported 2 eval "$cfg" output_dir="$work/eval_exported" \
  model_name_or_path="$work/exported" "${files[@]}"
run eval_original 2 eval "$cfg" output_dir="$work/eval_original" model_name_or_path="$hf" \
  "${files[@]}"

set +e
timeout 300 mpiexec -np 2 --oversubscribe "$uoe" export "$cfg" output_dir="$work/export_run" \
  model_name_or_path="$hf" delta="$work/seuf/delta.h5" export.output_dir="$work/exported" \
  data.vocab_size=64 > "$work/again.log" 2>&1
code=$?
set -e
[[ $code == 2 ]] && grep -q "export.overwrite" "$work/again.log" \
  || { echo "FAIL: exporting over an existing directory gave exit $code:"; cat "$work/again.log"; exit 1; }
echo "ok: exporting over an existing directory is refused (exit 2, names export.overwrite)"

/usr/bin/python3 - "$work" "$hf" <<'PY'
import json, os, sys
import torch
work, hf = sys.argv[1], sys.argv[2]
exported = f"{work}/exported"

def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        sys.exit(1)

def read_safetensors(path):  # the format, read independently of uoe (header + raw data)
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[b:e]), dtype=dtypes[info["dtype"]]) if e > b else torch.empty(0, dtype=dtypes[info["dtype"]])
        tensors[name] = t.reshape(info["shape"])
    return header.get("__metadata__"), tensors

expected_files = sorted(f for f in os.listdir(hf) if f != "reference.safetensors")
check(sorted(os.listdir(exported)) == expected_files, f"exported files {sorted(os.listdir(exported))}")
check(open(f"{hf}/config.json").read() == open(f"{exported}/config.json").read(), "config.json copied")
meta_a, a = read_safetensors(f"{hf}/model.safetensors")
meta_b, b = read_safetensors(f"{exported}/model.safetensors")
check(meta_a == meta_b, f"safetensors metadata kept ({meta_b})")
check(sorted(a) == sorted(b), f"same {len(a)} tensor names")
check(all(a[k].dtype == b[k].dtype for k in a), "same dtypes")
changed = sorted(k for k in a if not torch.equal(a[k], b[k]))
log = open(f"{work}/seuf/summary.json").read()
target = json.loads(log)["selection"]["experts"][0]
layer, expert = target["layer"], target["expert"]
allowed = {f"model.layers.{layer}.block_sparse_moe.gate.weight"} | {
    f"model.layers.{layer}.block_sparse_moe.experts.{expert}.{w}.weight" for w in ("w1", "w2", "w3")}
check(len(changed) > 0 and set(changed) <= allowed,
      f"changed tensors {changed} are the target expert (layer {layer}, expert {expert}) and its router")

ev = {k: json.load(open(f"{work}/eval_{k}/summary.json"))["eval"] for k in ("delta", "exported", "original")}
nll = {k: ev[k]["forget"]["answer_nll"] for k in ev}
check(abs(nll["exported"] - nll["delta"]) <= 0.02 * abs(nll["delta"] - nll["original"]) + 1e-4,
      f"forget answer NLL: original {nll['original']:.5f}, original+delta {nll['delta']:.5f}, exported {nll['exported']:.5f}")
PY
