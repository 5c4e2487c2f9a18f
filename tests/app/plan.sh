#!/usr/bin/env bash
# `uoe plan` end to end: tables and a recommendation for a real config, JSON output that agrees
# with the table, a second rank that prints nothing extra, and bad cluster input as one error line
# naming the key with exit code 2 and no output file.
# Usage: plan.sh <uoe binary> <repo root>
set -euo pipefail
uoe=$1
root=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
model=$root/tests/fixtures/hf_configs/DeepSeek-V2-Lite
cluster=$root/configs/clusters/h100_dgx.yaml

mpiexec -np 1 "$uoe" plan "$model" "$cluster" workload.recompute=true workload.attention=fused \
  output="$work/plan.json" > "$work/out.txt"
grep -q "^- SEUF: \*\*8 GPUs" "$work/out.txt" || { echo "no SEUF recommendation"; cat "$work/out.txt"; exit 1; }
grep -q "^| 1024 |" "$work/out.txt" || { echo "no 1024-GPU row"; exit 1; }
/usr/bin/python3 - "$work/plan.json" <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))
seuf = plan["recommended"]["seuf"]
assert seuf["gpus"] == 8 and seuf["fits"], seuf
# Every layout: ep * dp = gpus, ep divides the 64 experts, memory terms add up.
for layout in plan["layouts"]:
    assert layout["ep"] * layout["dp"] == layout["gpus"] and 64 % layout["ep"] == 0, layout
    m = layout["memory_bytes"]
    parts = m["weights"] + m["grads_and_optimizer"] + m["activations"] + m["comm_buffers"]
    assert abs(parts - m["total"]) <= 1e-6 * m["total"], layout
PY

# Without a cluster file: the built-in H100 defaults, overrides still apply.
mpiexec -np 1 "$uoe" plan "$model" gpu_counts=[8] > "$work/defaults.txt"
grep -q "^| 8 |" "$work/defaults.txt" || { echo "defaults: no row for 8 GPUs"; exit 1; }

expect_error() {  # expect_error <expected text> <args...>
  local expected=$1
  shift
  set +e
  mpiexec -np 2 "$uoe" plan "$model" "$@" > "$work/err.txt" 2>&1
  local code=$?
  set -e
  [ "$code" -eq 2 ] || { echo "exit code $code, expected 2 for: $*"; cat "$work/err.txt"; exit 1; }
  grep -q "$expected" "$work/err.txt" || { echo "'$expected' not in:"; cat "$work/err.txt"; exit 1; }
  [ "$(grep -c "error:" "$work/err.txt")" -eq 1 ] || { echo "expected exactly one error line (2 ranks)"; cat "$work/err.txt"; exit 1; }
}
printf 'gpus_per_node: 8\nmfuu: 0.5\n' > "$work/typo.yaml"
expect_error "mfuu" "$work/typo.yaml" output="$work/bad.json"
expect_error "intra_node.bandwidth" "$cluster" intra_node.bandwidth=0
expect_error "workload.precision" "$cluster" workload.precision=fp8
expect_error "cannot read config file" "$work/missing.yaml"
[ ! -e "$work/bad.json" ] || { echo "a rejected plan wrote its output"; exit 1; }
echo "plan.sh: all checks passed"
