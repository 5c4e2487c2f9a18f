#!/usr/bin/env bash
# Peak RSS per rank of EP-aware HF checkpoint loading at 1, 2 and 4 ranks vs what each rank holds
# (dense + E/ep experts). Writes a synthetic BF16 checkpoint first (about 2.4 GB with the default
# shape; reused when present), then loads it in fresh processes for each rank count.
#   benchmarks/run_hf_load_memory.sh [build dir] [output dir] [extra flags, e.g. --layers 4]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}
out=${2:-$root/runs/bench}
shift $(( $# < 2 ? $# : 2 ))
bench="$build/benchmarks/hf_load_memory_bench"
ckpt="$out/hf_load_checkpoint"
mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
if [[ ! -f "$ckpt/model.safetensors.index.json" ]]; then
  "$bench" --mode write --dir "$ckpt" "$@"
fi
for np in 1 2 4; do
  mpiexec -np "$np" --oversubscribe "$bench" --mode load --dir "$ckpt" \
    --out "$out/hf_load_memory_np$np.json" "$@" | grep -E "^ep="
done
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
mib = 2 ** 20
print(f"{'ep':>3} {'rank':>4} {'holds MiB':>10} {'peak RSS MiB':>13} {'start MiB':>10} "
      f"{'(peak-start)/holds':>19} {'build s':>8} {'load s':>7}")
for np in (1, 2, 4):
    r = json.load(open(f"{out}/hf_load_memory_np{np}.json"))
    for rank in r["ranks"]:
        print(f"{np:>3} {rank['rank']:>4} {rank['held_bytes']/mib:>10.0f} {rank['peak_rss_bytes']/mib:>13.0f} "
              f"{rank['start_rss_bytes']/mib:>10.0f} {rank['peak_minus_start_over_held']:>19.3f} "
              f"{rank['build_s']:>8.2f} {rank['load_s']:>7.1f}")
print(f"checkpoint {r['checkpoint_bf16_bytes']/mib:.0f} MiB BF16; full model {r['full_model_fp32_bytes']/mib:.0f} MiB fp32")
PY
