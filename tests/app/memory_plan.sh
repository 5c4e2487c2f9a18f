#!/usr/bin/env bash
# The start-up memory plan against the measured peak RSS (summary.json "memory"), for pretrain
# (full training) and SEUF unlearning, on a model big enough to dominate the process's memory
# (94M parameters: 16 experts of H 768, F 768, 1 GB per rank in pretraining; fp32; 2 ranks,
# ep_size 2).
# Tolerance: measured / (baseline + plan) in [0.8, 1.5]. The plan counts tensors: weights,
# gradients, AdamW state, activations kept for backward, all-to-all buffers. It leaves out what the
# CPU heap keeps (uoe keeps freed large blocks on the heap, common/cpu_runtime.h, and the block
# sizes change with the routing every step), backward's transient activation gradients, the
# evaluation passes and OpenBLAS's buffers.
# With one BLAS thread per rank (so the core count does not change the buffers): 1.21-1.23 and
# 1.05-1.07 over OPENBLAS_CORETYPE Haswell, SkylakeX and Zen (SEUF with 32 experts; with 80 here
# 1.03, also against LibTorch 2.11 with CUDA: 1.16-1.18 and 1.03); the bound leaves room for other
# machines' allocators. A plan 1.5x too low or 1.25x too high fails.
# Usage: memory_plan.sh <uoe binary> <repo root>
set -euo pipefail
uoe=$1
root=$2
work=$(mktemp -d)
cgroup=""  # the memory cgroup of the last case, removed at exit
trap '[[ -z $cgroup ]] || rmdir "$cgroup/job" "$cgroup" 2> /dev/null; rm -rf "$work"' EXIT
big=(parallel.threads_per_rank=1 model.hidden_size=768 model.moe_intermediate_size=768 model.num_experts=16
     model.intermediate_size=768 model.num_attention_heads=8 model.num_key_value_heads=4)

check() {  # check <what> <log> <summary.json>
  grep -q "^memory plan per rank" "$2" || { echo "FAIL: $1: no memory plan line"; cat "$2"; exit 1; }
  grep -q "device cpu (auto" "$2" || { echo "FAIL: $1: the start-up line names no device"; exit 1; }
  /usr/bin/python3 - "$1" "$3" <<'PY'
import json, sys
what, path = sys.argv[1], sys.argv[2]
m = json.load(open(path))["memory"]
expected, measured = m["expected_peak_rss_bytes"], m["measured_peak_rss_bytes_max_rank"]
ratio = measured / expected
print(f"{what}: plan {m['planned_bytes']['total'] / 2**20:.0f} MiB over a baseline of "
      f"{m['process_baseline_bytes'] / 2**20:.0f} MiB = {expected / 2**20:.0f} MiB; measured peak RSS "
      f"{measured / 2**20:.0f} MiB (largest rank): {ratio:.2f}x")
assert m["planned_bytes"]["total"] > 2 * m["process_baseline_bytes"], "the model does not dominate"
assert 0.8 <= ratio <= 1.5, f"{what}: measured / planned = {ratio:.2f}, outside [0.8, 1.5]"
PY
}

mpiexec -np 2 --oversubscribe "$uoe" pretrain "$root/configs/tiny/pretrain.yaml" \
  output_dir="$work/pre" max_steps=2 save_full_model=false "${big[@]}" > "$work/pre.log" 2>&1 \
  || { cat "$work/pre.log"; exit 1; }
check pretrain "$work/pre.log" "$work/pre/summary.json"

mpiexec -np 1 "$uoe" make-data "$root/configs/tiny/facts.yaml" output_dir="$work/data" > /dev/null 2>&1
# The tiny unlearning config on a model built from `model:` (random weights): no checkpoint needed.
{ grep -v '^model_name_or_path' "$root/configs/tiny/unlearn_seuf.yaml"
  sed -n '/^model:/,/^$/p' "$root/configs/tiny/pretrain.yaml"; } > "$work/unlearn.yaml"
d=$work/data
# SEUF's memory is mostly the weights: five times the experts, so that they dominate (0.85 GiB per
# rank; over twice the baseline of a LibTorch 2.x CUDA build, 0.36 GiB).
mpiexec -np 2 --oversubscribe "$uoe" unlearn "$work/unlearn.yaml" output_dir="$work/seuf" \
  max_steps=2 "${big[@]}" model.num_experts=80 dataset.forget="$d/forget.h5" dataset.retain="$d/retain.h5" \
  dataset.forget_mc="$d/forget_mc.jsonl" dataset.retain_mc="$d/retain_mc.jsonl" \
  dataset.tokenizer="$d/vocab.json" > "$work/seuf.log" 2>&1 || { cat "$work/seuf.log"; exit 1; }
check "SEUF unlearn" "$work/seuf.log" "$work/seuf/summary.json"
echo "memory plan within tolerance for pretrain and SEUF unlearn"

# The capacity is the tightest limit of the rank's cgroup and its ancestors (a Slurm job's cgroup
# sits below the limited one): the pretraining above, in a child of a cgroup limited to 600 MiB,
# is refused before it allocates. Needs root and a writable memory cgroup (v1 or v2).
if [[ -w /sys/fs/cgroup/memory ]]; then
  base=/sys/fs/cgroup/memory limit_file=memory.limit_in_bytes
elif [[ -w /sys/fs/cgroup ]] && grep -qw memory /sys/fs/cgroup/cgroup.subtree_control 2> /dev/null; then
  base=/sys/fs/cgroup limit_file=memory.max
else
  echo "SKIP cgroup case: no writable memory cgroup here"
  exit 0
fi
cgroup=$base/uoe_memory_plan_$$
if ! { mkdir "$cgroup" && echo $((600 << 20)) > "$cgroup/$limit_file" \
       && { [[ $limit_file != memory.max ]] || echo +memory > "$cgroup/cgroup.subtree_control"; } \
       && mkdir "$cgroup/job"; } 2> /dev/null; then
  echo "SKIP cgroup case: could not make a limited memory cgroup under $base"
  exit 0
fi
code=0
bash -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' _ "$cgroup/job" \
  mpiexec -np 2 --oversubscribe "$uoe" pretrain "$root/configs/tiny/pretrain.yaml" \
  output_dir="$work/cgroup" max_steps=2 "${big[@]}" > "$work/cgroup.log" 2>&1 || code=$?
[[ $code -eq 2 ]] && grep -q "the cgroup's memory limit" "$work/cgroup.log" \
  || { cat "$work/cgroup.log"; echo "FAIL: not refused under a 600 MiB parent cgroup (exit $code)"; exit 1; }
echo "refused under the parent cgroup's 600 MiB limit: $(grep -m1 error "$work/cgroup.log")"
