#!/usr/bin/env bash
# HF directories through the command line, on the Mixtral parity fixture (made by transformers):
# unlearn it with 2 ranks (EP=2), export the result with `uoe export`, and check that
#  - the exported directory has the original files and tensors, with only the delta's tensors
#    changed (in their original BF16 dtype),
#  - `uoe eval` of the exported directory matches `uoe eval` of the original + delta (up to the
#    BF16 rounding of the trained tensors) and differs from the original alone,
#  - the rounding to BF16 reported in export_report.json (and logged) is what
#    tools/check_export_rounding.py recomputes from the files, and exactly 0 for an F32 copy of the
#    model,
#  - export ignores parallel.ep_size: 1 rank with the config's ep_size=2 writes the same directory
#    as 2 ranks,
#  - exporting again without export.overwrite, and a delta that does not fit the model (found by
#    rank 0 only, while reading), end both ranks with exit code 2 and one error line.
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
source "$(dirname "${BASH_SOURCE[0]}")/run_uoe.sh"  # run <log name> <ranks> <args...>

# A fact set small enough for the fixture's 128-token vocabulary.
run data 1 make-data "$root/configs/tiny/facts.yaml" output_dir="$d" facts.num_clusters=2 \
  facts.entities_per_cluster=4 facts.relations_per_cluster=2 facts.values_per_relation=4 \
  facts.forget_entities=2
run unlearn 2 unlearn "$cfg" output_dir="$work/seuf" model_name_or_path="$hf" max_steps=5 \
  learning_rate=0.05 "${files[@]}"
run export 2 export "$cfg" output_dir="$work/export_run" model_name_or_path="$hf" \
  delta="$work/seuf/delta.h5" export.output_dir="$work/exported" data.vocab_size=64
grep -q "parallel:" "$cfg" && grep -q "ep_size: 2" "$cfg"  # the config asks for EP=2
run export_1rank 1 export "$cfg" output_dir="$work/export_run" model_name_or_path="$hf" \
  delta="$work/seuf/delta.h5" export.output_dir="$work/exported_1rank" data.vocab_size=64
cmp "$work/exported_1rank/model.safetensors" "$work/exported/model.safetensors" \
  && cmp "$work/exported_1rank/export_report.json" "$work/exported/export_report.json" \
  || { echo "FAIL: export at 1 rank (config ep_size=2) differs from 2 ranks"; exit 1; }
echo "ok: export at 1 rank with parallel.ep_size=2 in the config writes what 2 ranks write"
/usr/bin/python3 "$root/tools/check_export_rounding.py" check "$hf" "$work/seuf/delta.h5" \
  "$work/exported" || { echo "FAIL: BF16 export's rounding report"; exit 1; }
echo "ok: the reported BF16 rounding is what the files give"
/usr/bin/python3 "$root/tools/check_export_rounding.py" to-f32 "$hf" "$work/hf_f32"
run export_f32 1 export "$cfg" output_dir="$work/export_run" model_name_or_path="$work/hf_f32" \
  delta="$work/seuf/delta.h5" export.output_dir="$work/exported_f32" data.vocab_size=64
/usr/bin/python3 "$root/tools/check_export_rounding.py" check "$work/hf_f32" "$work/seuf/delta.h5" \
  "$work/exported_f32" --zero || { echo "FAIL: F32 export's rounding report"; exit 1; }
grep -q "largest rounding: rel_max_error 0 " "$work/export_f32.log" \
  || { echo "FAIL: F32 export does not log rel_max_error 0:"; cat "$work/export_f32.log"; exit 1; }
echo "ok: an F32 export reports (and logs) 0 rounding"
# bf16: true on the BF16 fixture: the delta stays bfloat16 and the export writes it unrounded (every
# rounding measure exactly 0), in BF16.
run unlearn_bf16 2 unlearn "$cfg" output_dir="$work/seuf_bf16" model_name_or_path="$hf" \
  max_steps=5 learning_rate=0.05 bf16=true "${files[@]}"
/usr/bin/python3 - "$work/seuf_bf16/delta.h5" <<'PY' || { echo "FAIL: bf16 delta"; exit 1; }
import sys
import h5py
with h5py.File(sys.argv[1], "r") as f:
    kinds = {name: (f[name].dtype.str, f[name].attrs.get("dtype")) for name in f}
bad = {k: v for k, v in kinds.items() if v[0] != "<u2" or v[1] not in ("bfloat16", b"bfloat16")}
sys.exit(1 if bad or not kinds else 0)
PY
echo "ok: the delta of a bf16 run is bfloat16"
run export_bf16 1 export "$cfg" output_dir="$work/export_run" model_name_or_path="$hf" \
  delta="$work/seuf_bf16/delta.h5" export.output_dir="$work/exported_bf16" data.vocab_size=64 \
  bf16=true
/usr/bin/python3 "$root/tools/check_export_rounding.py" check "$hf" "$work/seuf_bf16/delta.h5" \
  "$work/exported_bf16" --zero || { echo "FAIL: BF16 export of a bf16 delta"; exit 1; }
echo "ok: the BF16 export of a bf16 delta writes it exactly"
run eval_delta 2 eval "$cfg" output_dir="$work/eval_delta" model_name_or_path="$hf" \
  delta="$work/seuf/delta.h5" "${files[@]}"
run eval_exported 2 eval "$cfg" output_dir="$work/eval_exported" \
  model_name_or_path="$work/exported" "${files[@]}"
run eval_original 2 eval "$cfg" output_dir="$work/eval_original" model_name_or_path="$hf" \
  "${files[@]}"

# expect_exit2 <log name> <text the error names> <args...>: 2 ranks, exit 2 (agreed, not MPI_Abort),
# one error line.
expect_exit2() {
  local name=$1 text=$2 code=0
  shift 2
  timeout 300 mpiexec -np 2 --oversubscribe "$uoe" "$@" > "$work/$name.log" 2>&1 || code=$?
  [[ $code == 2 ]] && grep -q "$text" "$work/$name.log" && [[ $(grep -c "error:" "$work/$name.log") == 1 ]] \
    && ! grep -qE "MPI_ABORT|ORTE_ERROR" "$work/$name.log" \
    || { echo "FAIL: $name gave exit $code (expected 2, one error naming $text):"; cat "$work/$name.log"; exit 1; }
  echo "ok: $name: exit 2 on both ranks, one error line naming $text"
}
expect_exit2 again "export.overwrite" export "$cfg" output_dir="$work/export_run" \
  model_name_or_path="$hf" delta="$work/seuf/delta.h5" export.output_dir="$work/exported" \
  data.vocab_size=64
# A delta with a tensor the model lacks: found by rank 0 while exporting, after the collective checks.
/usr/bin/python3 - "$work/seuf/delta.h5" "$work/alien.h5" <<'PY'
import shutil, sys
import h5py
shutil.copy(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "r+") as f:
    f.move(sorted(f.keys())[0], "layers.99.mlp.gate.weight")
PY
expect_exit2 alien "layers.99.mlp.gate.weight" export "$cfg" output_dir="$work/export_run" \
  model_name_or_path="$hf" delta="$work/alien.h5" export.output_dir="$work/exported_alien" \
  data.vocab_size=64
[[ ! -e "$work/exported_alien" && ! -e "$work/exported_alien.tmp" ]] \
  || { echo "FAIL: a rejected export left a directory"; exit 1; }

/usr/bin/python3 - "$work" "$hf" "$root/tools" <<'PY'
import json, os, sys
import torch
work, hf = sys.argv[1], sys.argv[2]
sys.path.insert(0, sys.argv[3])
from check_export_rounding import read_safetensors
exported = f"{work}/exported"

def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        sys.exit(1)

expected_files = sorted([f for f in os.listdir(hf) if f != "reference.safetensors"] + ["export_report.json"])
check(sorted(os.listdir(exported)) == expected_files, f"exported files {sorted(os.listdir(exported))}")
check(open(f"{hf}/config.json").read() == open(f"{exported}/config.json").read(), "config.json copied")
meta_a, a, _ = read_safetensors(f"{hf}/model.safetensors")
meta_b, b, _ = read_safetensors(f"{exported}/model.safetensors")
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
worst = json.load(open(f"{exported}/export_report.json"))["worst"]["rel_max_error"]
line = f"largest rounding: rel_max_error {worst['value']:.6g} ({worst['name']})"
check(worst["value"] > 0 and line in open(f"{work}/export.log").read(), f"the log says '{line}'")

ev = {k: json.load(open(f"{work}/eval_{k}/summary.json"))["eval"] for k in ("delta", "exported", "original")}
nll = {k: ev[k]["forget"]["answer_nll"] for k in ev}
check(abs(nll["exported"] - nll["delta"]) <= 0.02 * abs(nll["delta"] - nll["original"]) + 1e-4,
      f"forget answer NLL: original {nll['original']:.5f}, original+delta {nll['delta']:.5f}, exported {nll['exported']:.5f}")
PY
