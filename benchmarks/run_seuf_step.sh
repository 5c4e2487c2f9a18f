#!/usr/bin/env bash
# SEUF step vs full-model unlearning step on the same model, each in its own process:
# step time, optimizer state and peak RSS per rank, with the ratios (targets: >= 1.8x faster
# steps, >= 100x less optimizer state), and the analytic FLOPs of both steps (`uoe plan`'s model)
# beside the measured time ratio.
#   benchmarks/run_seuf_step.sh [build dir] [output dir] [ranks]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}
out=${2:-$root/runs/bench}
ranks=${3:-2}
mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
for mode in seuf full; do
  mpiexec -np "$ranks" --oversubscribe "$build/benchmarks/seuf_step_bench" --mode "$mode" \
    --out "$out/seuf_step_$mode.json" | grep -E "^(seuf|full):"
done
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
seuf, full = (json.load(open(f"{out}/seuf_step_{m}.json")) for m in ("seuf", "full"))
speed = full["step_time_s"] / seuf["step_time_s"]
state = full["optimizer_state_bytes_max_rank"] / max(seuf["optimizer_state_bytes_max_rank"], 1)
rss = full["peak_rss_bytes_max_rank"] / seuf["peak_rss_bytes_max_rank"]
print(f"model {seuf['model']}, {seuf['ranks']} ranks")
print(f"step time     SEUF {seuf['step_time_s']*1e3:8.1f} ms   full {full['step_time_s']*1e3:8.1f} ms   "
      f"full/SEUF {speed:5.2f}x (target >= 1.8x: {'met' if speed >= 1.8 else 'NOT met'})")
print(f"optim. state  SEUF {seuf['optimizer_state_bytes_max_rank']:>10,} B  full "
      f"{full['optimizer_state_bytes_max_rank']:>12,} B  full/SEUF {state:7.0f}x "
      f"(target >= 100x: {'met' if state >= 100 else 'NOT met'})")
flops = full["analytic_flops_per_rank_step"] / seuf["analytic_flops_per_rank_step"]
print(f"FLOPs/rank    SEUF {seuf['analytic_flops_per_rank_step']/1e9:8.2f} G    full "
      f"{full['analytic_flops_per_rank_step']/1e9:8.2f} G    full/SEUF {flops:5.2f}x (analytic) vs "
      f"{speed:5.2f}x measured time")
print(f"peak RSS      SEUF {seuf['peak_rss_bytes_max_rank']/2**20:8.0f} MiB  full "
      f"{full['peak_rss_bytes_max_rank']/2**20:8.0f} MiB  full/SEUF {rss:5.2f}x")
result = {"seuf": seuf, "full": full, "step_speedup": speed, "optimizer_state_ratio": state,
          "peak_rss_ratio": rss, "analytic_flops_ratio": flops}
with open(f"{out}/seuf_step.json.tmp", "w") as f:
    json.dump(result, f, indent=2)
import os
os.replace(f"{out}/seuf_step.json.tmp", f"{out}/seuf_step.json")
PY
