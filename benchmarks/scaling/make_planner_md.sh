#!/usr/bin/env bash
# Writes benchmarks/scaling/PLANNER.md: the planner's assumptions (planner_notes.md), its tables for
# the five models on 8 to 1024 H100s, and the calibration against this machine (calibration.md
# from calibrate.py, when present).
#   benchmarks/scaling/make_planner_md.sh [uoe binary] [calibration.md]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
uoe=${1:-$root/build/uoe}
calibration=${2:-$root/runs/scaling/calibration.md}
hf=$root/../shared/data/hf
[ -d "$hf" ] || hf=/work/shared/data/hf
fixtures=$root/tests/fixtures/hf_configs
models=("$fixtures/DeepSeek-V2-Lite" "$fixtures/Qwen1.5-MoE-A2.7B" "$hf/Mixtral-8x7B-v0.1"
        "$fixtures/Qwen3-30B-A3B" "$hf/DeepSeek-V3")
tmp=$(mktemp)
{
  cat "$here/planner_notes.md"
  for workload in "uoe today|workload.attention=eager workload.recompute=false" \
                  "with fused attention and per-layer recompute|workload.attention=fused workload.recompute=true"; do
    title=${workload%%|*}
    read -r -a keys <<< "${workload#*|}"
    echo
    echo "## Tables: $title (H100 DGX, bf16, 2 x 2048 tokens per GPU)"
    echo
    echo "Command: \`uoe plan <model> configs/clusters/h100_dgx.yaml workload.seq_len=2048 workload.sequences_per_rank=2 ${keys[*]}\`"
    for model in "${models[@]}"; do
      echo
      "$uoe" plan "$model" "$root/configs/clusters/h100_dgx.yaml" workload.seq_len=2048 \
        workload.sequences_per_rank=2 "${keys[@]}" | sed "s|$root/||; s|$(dirname "$hf")/||"
    done
  done
  echo
  echo "## Calibration on this machine (predicted vs measured)"
  echo
  echo "\`configs/clusters/cpu.yaml\` was fitted on the three runs marked \"fit\" (how: benchmarks/scaling/README.md, \"Planner calibration\"); every other row is a prediction. This machine has 2 cores shared with other jobs, so the multi-rank rows measure scheduling waits more than communication (same README)."
  echo
  if [ -f "$calibration" ]; then cat "$calibration"; else echo "(not run: see benchmarks/scaling/README.md)"; fi
} > "$tmp"
mv "$tmp" "$here/PLANNER.md"
