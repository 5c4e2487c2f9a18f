#!/usr/bin/env bash
# Multi-node for real on one machine: 2 nodes (network namespaces, launch/netns_cluster.sh) x 2
# ranks, Open MPI launching through launch/netns_rsh_agent.sh, TCP between the nodes and shared
# memory within each. `uoe pretrain` with
#   EP 4        : the EP group spans both nodes, tokens by MPI all-to-all over TCP;
#   EP 2 x DP 2 : each EP group inside a node, tokens through node-shared memory, gradients by
#                 MPI all-reduce over TCP;
# must give the losses of the same layouts on one node (relative difference <= 1e-4, same global
# batch), print those transports in its start-up line, and move its traffic over the nodes' links.
# Skips (77) where the machine does not allow network namespaces.
# Usage: multinode.sh <uoe binary> <repo root>
set -euo pipefail
uoe=$1
root=$2
source "$root/tests/app/netns_test_cluster.sh" 2 mn
node1=$UOE_CLUSTER-node1

global_batch=8
common=(max_steps=10 logging_steps=1 seed=7 warmup_ratio=0.1
        per_device_train_batch_size=$((global_batch / 4)))
subnet=10.250.0.0/24
mca=(--mca plm_rsh_agent "$root/launch/netns_rsh_agent.sh" --mca btl tcp,self,vader
     --mca btl_tcp_if_include "$subnet" --mca oob_tcp_if_include "$subnet")

fail() { echo "run $1 failed:"; cat "$work/$1.log"; exit 1; }

one_node() {  # one_node <name> <ep_size>: 4 ranks in the root namespace
  timeout 120 mpiexec -np 4 --oversubscribe "$uoe" pretrain "$root/configs/tiny/pretrain.yaml" \
    output_dir="$work/$1" parallel.ep_size="$2" "${common[@]}" > "$work/$1.log" 2>&1 || fail "$1"
}

link_bytes() {  # bytes node1's eth0 has sent and received
  ip -n "$node1" -s -j link show eth0 | python3 -c \
    'import json,sys; s=json.load(sys.stdin)[0]["stats64"]; print(s["rx"]["bytes"]+s["tx"]["bytes"])'
}

two_nodes() {  # two_nodes <name> <ep_size>: 2 nodes x 2 ranks, mpirun on node 0
  local before
  before=$(link_bytes)
  timeout 120 "$cluster_sh" exec 0 "$root/launch/uoe_mpirun.sh" -np 4 --hostfile "$work/hosts" \
    "${mca[@]}" "$uoe" pretrain "$root/configs/tiny/pretrain.yaml" \
    output_dir="$work/$1" parallel.ep_size="$2" "${common[@]}" > "$work/$1.log" 2>&1 || fail "$1"
  echo $(( $(link_bytes) - before )) > "$work/$1.bytes"
}

expect_line() {  # expect_line <name> <text>: the start-up line of run <name> contains <text>
  grep -qF -- "$2" "$work/$1.log" \
    || { echo "run $1: start-up line lacks '$2':"; grep "^uoe pretrain" "$work/$1.log"; exit 1; }
}

one_node node1_ep4 4
one_node node1_ep2 2
two_nodes nodes2_ep4 4
two_nodes nodes2_ep2 2

expect_line node1_ep4 "4 ranks on 1 node (ep_size=4, dp_size=1; tokens through node-shared memory"
expect_line node1_ep2 "gradients: dense by MPI all-reduce within a node, experts by MPI all-reduce within a node"
expect_line nodes2_ep4 "4 ranks on 2 nodes (ep_size=4, dp_size=1; tokens by MPI all-to-all (the EP group spans nodes); gradients: dense by MPI all-reduce across 2 nodes"
expect_line nodes2_ep2 "4 ranks on 2 nodes (ep_size=2, dp_size=2; tokens through node-shared memory; gradients: dense by MPI all-reduce across 2 nodes, experts by MPI all-reduce across 2 nodes)"
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
def losses(name):
    with open(f"{work}/{name}/metrics.jsonl") as f:
        return [json.loads(line)["step_loss"] for line in f]
for two, one in [("nodes2_ep4", "node1_ep4"), ("nodes2_ep2", "node1_ep2")]:
    reference, other = losses(one), losses(two)
    assert len(reference) == 10 and len(other) == 10, (one, len(reference), two, len(other))
    diff = max(abs(a - b) / abs(b) for a, b in zip(other, reference))
    traffic = int(open(f"{work}/{two}.bytes").read())
    print(f"{two} vs {one}: max relative loss difference {diff:.2e}, "
          f"{traffic / 1e6:.1f} MB over node 1's link, loss {other[0]:.4f} -> {other[-1]:.4f}")
    assert diff <= 1e-4, f"{two} differs from {one} by {diff:.2e} > 1e-4"
    # The tokens (EP 4) or the gradients (both) cross the link every step: far more than the
    # launch's few kilobytes.
    assert traffic > 1_000_000, f"{two}: only {traffic} bytes crossed node 1's link"
print("multinode parity OK")
PY
