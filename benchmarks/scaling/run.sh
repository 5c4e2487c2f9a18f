#!/usr/bin/env bash
# Weak and strong scaling of a full SEUF step (and a full-model step, weak only) and of the MoE
# layer's token exchange at 1, 2 and 4 ranks, EP and EP x DP layouts, on this machine.
#   benchmarks/scaling/run.sh [build dir] [output dir] [repeats]
# Writes <output dir>/results.json (medians over the repeats, each run's step breakdown, the load
# average before and after each run) and plots them with plot.py. The model is
# benchmarks/scaling/bench_model.json (seuf_step_bench's default: 8 layers, 64 experts top-6).
# Weak: 4 sequences of 64 tokens per rank. Strong: 8 sequences in all, split over the ranks.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
out=${2:-$root/runs/scaling}
repeats=${3:-2}
steps=${STEPS:-4}
mkdir -p "$out/raw"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
load() { cut -d' ' -f1 /proc/loadavg; }

# step <name> <ranks> <ep> <mode> <batch per rank>
step() {
  local name=$1 np=$2 ep=$3 mode=$4 batch=$5
  for r in $(seq 1 "$repeats"); do
    local file="$out/raw/step_${name}_r$r.json" before
    before=$(load)
    mpiexec -np "$np" --oversubscribe --bind-to none "$build/benchmarks/seuf_step_bench" --mode "$mode" \
      --ep "$ep" --batch "$batch" --steps "$steps" --threads 1 --out "$file" > "$out/raw/step_${name}_r$r.log" 2>&1
    /usr/bin/python3 - "$file" "$before" "$(load)" "$name" <<'PY'
import json, os, sys
path, before, after, name = sys.argv[1:]
d = json.load(open(path))
d.update(name=name, load_before=float(before), load_after=float(after))
json.dump(d, open(path + ".tmp", "w"), indent=1)
os.replace(path + ".tmp", path)
PY
    echo "$name r$r: $(/usr/bin/python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['step_time_s']*1e3,1), 'ms')" "$file"), load $before"
  done
}

# exchange <ranks>: dispatch + combine of 512 tokens per rank (hidden 256, 64 experts top-6)
exchange() {
  local np=$1 before
  before=$(load)
  mpiexec -np "$np" --oversubscribe --bind-to none "$build/benchmarks/dispatch_bench" --hidden 256 \
    --experts 64 --top-k 6 --tokens 512 --iters 7 --threads 1 --json "$out/raw/exchange_np$np.json" \
    > "$out/raw/exchange_np$np.log" 2>&1
  echo "exchange np$np: done, load $before"
}

for np in 1 2 4; do exchange "$np"; done
# Weak scaling: 4 sequences per rank.
step weak_np1_ep1 1 1 seuf 4
step weak_np2_ep2 2 2 seuf 4
step weak_np4_ep4 4 4 seuf 4
step weak_np4_ep2dp2 4 2 seuf 4
step weak_full_np1_ep1 1 1 full 4
step weak_full_np2_ep2 2 2 full 4
# Strong scaling: 8 sequences in all.
step strong_np1_ep1 1 1 seuf 8
step strong_np2_ep2 2 2 seuf 4
step strong_np4_ep4 4 4 seuf 2
step strong_np4_ep2dp2 4 2 seuf 2

/usr/bin/python3 "$here/collect.py" "$out" "$repeats"
/usr/bin/python3 "$here/plot.py" "$out/results.json" "$out"
