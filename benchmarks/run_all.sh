#!/usr/bin/env bash
# Runs every uoe benchmark in one go, prints a table with the ratios and writes JSON.
#
#   benchmarks/run_all.sh [output_dir]        (default: runs/bench, git-ignored)
#
# Environment (all optional):
#   UOE_BENCH_BUILD=build-bench     build folder; the benchmark targets are (re)built there first
#   UOE_BENCH_SKIP_BUILD=1          use the binaries already in the build folder
#   UOE_BENCH_PYTHON=/usr/bin/python3   Python with torch (Debian python3-torch, same libtorch)
#   UOE_BENCH_WARMUP=1 UOE_BENCH_ITERS=5   rounds per measurement (median reported)
#   UOE_BENCH_MIXTRAL_TOKENS=4096   tokens of the Mixtral-like shape
#   UOE_BENCH_RANKS="2 4"           rank counts of the dispatch benchmark
#
# Threads: single-process runs use 2 threads (both cores); MPI runs use 1 thread per rank
# (4 ranks on 2 cores are oversubscribed). Exits non-zero as soon as a correctness check fails.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(mkdir -p "${1:-$root/runs/bench}" && cd "${1:-$root/runs/bench}" && pwd)
build=${UOE_BENCH_BUILD:-$root/build-bench}
python=${UOE_BENCH_PYTHON:-/usr/bin/python3}
warmup=${UOE_BENCH_WARMUP:-1}
iters=${UOE_BENCH_ITERS:-5}
mixtral_tokens=${UOE_BENCH_MIXTRAL_TOKENS:-4096}
ranks=${UOE_BENCH_RANKS:-2 4}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# name, hidden H, expert FFN F, experts E, top-k K, tokens T, norm_topk_prob
shapes=(
  "fine_grained 1024 704 16 4 4096 0"
  "mixtral 1024 3584 8 2 $mixtral_tokens 1"
)

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'run_all.sh: %s\n' "$*" >&2; exit 1; }
load_average() { cut -d' ' -f1-3 /proc/loadavg; }

"$python" -c 'import torch' 2>/dev/null || fail "$python cannot import torch (set UOE_BENCH_PYTHON)"
if [[ "${UOE_BENCH_SKIP_BUILD:-0}" != 1 ]]; then
  step "build ($build)"
  [[ -f "$build/CMakeCache.txt" ]] || cmake -S "$root" -B "$build" -G Ninja -DUOE_BUILD_TESTS=OFF
  cmake --build "$build" -j2 --target moe_layer_bench dispatch_bench
fi
for exe in moe_layer_bench dispatch_bench; do
  [[ -x "$build/benchmarks/$exe" ]] || fail "$build/benchmarks/$exe not found; build it first"
done

start=$(date +%s)
load_start=$(load_average)
rm -f "$out"/moe_layer_*.json "$out"/dispatch_*.json "$out"/summary.json
"$python" - "$out/env.json" "$load_start" <<'EOF'
import json, os, socket, sys, time, torch
json.dump({"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "host": socket.gethostname(),
           "cores": os.cpu_count(), "torch": torch.__version__, "load_start": sys.argv[2]},
          open(sys.argv[1], "w"), indent=2)
EOF
if awk -v l="${load_start%% *}" 'BEGIN { exit !(l > 0.5) }'; then
  echo "warning: load average $load_start before starting: other processes share the 2 cores," \
       "so timings will be noisy (ratios of minimums in the JSON are less affected)"
fi

for entry in "${shapes[@]}"; do
  read -r name hidden ffn experts top_k tokens norm <<< "$entry"
  common=(--name "$name" --hidden "$hidden" --ffn "$ffn" --experts "$experts" --top-k "$top_k"
          --tokens "$tokens" --norm-topk-prob "$norm" --warmup "$warmup" --iters "$iters"
          --threads 2)
  step "MoE layer $name: uoe::MoELayer vs the HF-style PyTorch reference, 2 threads"
  "$build/benchmarks/moe_layer_bench" "${common[@]}" --python "$python" \
      --reference-script "$root/benchmarks/moe_reference.py" --reference-prefix "$out/ref/$name" \
      --json "$out/moe_layer_$name.json" || fail "moe_layer_bench $name failed"
done

for np in $ranks; do
  for entry in "${shapes[@]}"; do
    read -r name hidden _ experts top_k tokens _ <<< "$entry"
    step "dispatch $name: $np ranks x 1 thread"
    mpirun -np "$np" --oversubscribe "$build/benchmarks/dispatch_bench" --name "$name" \
        --hidden "$hidden" --experts "$experts" --top-k "$top_k" --tokens "$tokens" \
        --warmup "$warmup" --iters "$iters" --threads 1 --json "$out/dispatch_${name}_np$np.json" \
      || fail "dispatch_bench $name at $np ranks failed"
  done
done

"$python" - "$out/env.json" "$(load_average)" "$(( $(date +%s) - start ))" <<'EOF'
import json, sys
env = json.load(open(sys.argv[1]))
env.update(load_end=sys.argv[2], elapsed_s=int(sys.argv[3]))
json.dump(env, open(sys.argv[1], "w"), indent=2)
EOF
step "summary ($(( $(date +%s) - start )) s)"
"$python" "$root/benchmarks/summarize.py" "$out"
