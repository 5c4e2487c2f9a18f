#!/usr/bin/env bash
# 2 ranks on 1 node vs 2 ranks on 2 nodes (1 each; the namespace cluster of launch/netns_cluster.sh,
# TCP over a veth pair and a bridge): the raw exchange rate of dispatch_bench and the SEUF step
# breakdown of seuf_step_bench (EP 2, 4 sequences of 64 tokens per rank, 1 thread per rank).
#   benchmarks/scaling/two_nodes.sh [build dir] [output dir]     (root)
# Prints, medians over 3 repeats: the exchange's link rate (2 x bytes per rank / raw
# 2 x MPI_Alltoallv, as README.md's "Planner calibration" defines it), the step and its phases
# (ms per step), and `uoe plan`'s prediction with configs/clusters/cpu.yaml for 1 node
# (gpus_per_node=2) and for 2 nodes (gpus_per_node=1, inter_node bandwidth = the measured 2-node
# rate, latency 100 us nominal).
set -euo pipefail
build=${1:-build}
out=${2:-runs/scaling_two_nodes}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$build" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
export UOE_CLUSTER=sc$$ OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cluster_sh=$root/launch/netns_cluster.sh
trap '"$cluster_sh" stop > /dev/null 2>&1 || true' EXIT
"$cluster_sh" start 2
"$cluster_sh" hostfile 1 > "$out/hosts"

# run <name> <nodes> <bench> <args...>: 2 ranks on 1 node (root namespace) or on the 2 nodes
run() {
  local name=$1 nodes=$2 bench=$build/benchmarks/$3
  shift 3
  echo "$name: load $(cut -d' ' -f1 /proc/loadavg)"
  if [[ $nodes == 1 ]]; then
    mpiexec -np 2 --bind-to none "$bench" "$@" > "$out/$name.log" 2>&1
  else
    "$cluster_sh" exec 0 mpirun -np 2 --hostfile "$out/hosts" --bind-to none \
      --mca plm_rsh_agent "$root/launch/netns_rsh_agent.sh" --mca btl tcp,self,vader \
      -x OMPI_ALLOW_RUN_AS_ROOT -x OMPI_ALLOW_RUN_AS_ROOT_CONFIRM \
      "$bench" "$@" > "$out/$name.log" 2>&1
  fi
}
exchange=(dispatch_bench --hidden 256 --experts 64 --top-k 6 --tokens 512 --iters 7 --threads 1)
step=(seuf_step_bench --mode seuf --ep 2 --batch 4 --steps 4 --threads 1)
for repeat in 1 2 3; do
  for nodes in 1 2; do
    run "exchange_nodes${nodes}_r$repeat" "$nodes" "${exchange[@]}" --json "$out/exchange_nodes${nodes}_r$repeat.json"
    run "step_nodes${nodes}_r$repeat" "$nodes" "${step[@]}" --out "$out/step_nodes${nodes}_r$repeat.json"
  done
done
"$cluster_sh" stop > /dev/null
/usr/bin/python3 - "$out" "$build/uoe" "$root" <<'PY'
import json, statistics, subprocess, sys
out, uoe, root = sys.argv[1:]
median = statistics.median
def runs(kind, nodes):
    return [json.load(open(f"{out}/{kind}_nodes{nodes}_r{r}.json")) for r in (1, 2, 3)]
rate = {}
for nodes in (1, 2):
    ex = runs("exchange", nodes)
    raw = median(e["raw_alltoallv_x2"]["median_s"] for e in ex)
    rate[nodes] = 2 * ex[0]["bytes_sent_per_rank_per_exchange"] / raw
    print(f"exchange, {nodes} node(s): raw 2 x MPI_Alltoallv {raw * 1e3:.2f} ms -> {rate[nodes] / 1e9:.2f} GB/s")
phases = ["attention", "router", "count_exchange", "token_all_to_all", "expert_compute", "backward",
          "backward_token_all_to_all", "grad_reduction", "optimizer"]
print("| nodes x ranks | step ms (median; runs) | " + " | ".join(phases) + " |")
print("|---" * (len(phases) + 2) + "|")
for nodes in (1, 2):
    st = runs("step", nodes)
    steps = [s["step_time_s"] * 1e3 for s in st]
    cells = [f"{median(s['breakdown']['phases_s'].get(p, 0) for s in st) * 1e3:.0f}"
             for p in phases]
    print(f"| {nodes} x {2 // nodes} | {median(steps):.0f} ({', '.join(f'{t:.0f}' for t in steps)}) | "
          + " | ".join(cells) + " |")
for nodes, extra in ((1, ["gpus_per_node=2"]),
                     (2, ["gpus_per_node=1", f"inter_node={{bandwidth: {rate[2]:.3g}, latency: 100.0e-6}}"])):
    path = f"{out}/plan_nodes{nodes}.json"
    subprocess.run([uoe, "plan", f"{root}/benchmarks/scaling/bench_model.json",
                    f"{root}/configs/clusters/cpu.yaml", "gpu_counts=[2]", "workload.sequences_per_rank=4",
                    "workload.seq_len=64", f"output={path}", *extra], check=True, stdout=subprocess.DEVNULL)
    layout = next(l for l in json.load(open(path))["layouts"] if l["method"] == "seuf" and l["ep"] == 2)
    t = layout["time_s"]
    print(f"plan, {nodes} node(s): {t['total'] * 1e3:.0f} ms (compute {t['compute'] * 1e3:.0f}, weights "
          f"{t['weight_streaming'] * 1e3:.0f}, all-to-all {t['all_to_all'] * 1e3:.0f}, grad sync "
          f"{t['grad_sync'] * 1e3:.1f}, optimizer {t['optimizer'] * 1e3:.1f})")
PY
echo "results in $out"
