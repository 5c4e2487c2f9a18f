#!/usr/bin/env bash
# A Slurm cluster of N nodes on one machine: on the namespace cluster of launch/netns_cluster.sh,
# slurmctld in node 0 and one slurmd per node (its own hostname, address and spool directory), all
# sharing this machine's munged. Needs root and the Debian packages slurm-wlm and munge.
#   launch/slurm/netns_slurm.sh start N     start the namespace cluster (N = 2..4 nodes) and Slurm on
#                                            it (idempotent), wait until every node is idle
#   launch/slurm/netns_slurm.sh slurmd NODE (re)start the slurmd of node NODE (0, 1, ...)
#   launch/slurm/netns_slurm.sh steps JOB   list the step daemons of job JOB still on the nodes
#   launch/slurm/netns_slurm.sh stop        stop Slurm and the namespace cluster
#   launch/slurm/netns_slurm.sh env         print the line that points sbatch/squeue at this cluster
# The Slurm commands reach slurmctld only from inside the cluster, so run them on a node:
#   eval "$(launch/slurm/netns_slurm.sh env)"
#   launch/netns_cluster.sh exec 0 sbatch --nodes=2 launch/slurm/uoe.sbatch unlearn ...
# UOE_CLUSTER names the cluster as for netns_cluster.sh; state, logs and slurm.conf live in
# $UOE_SLURM_DIR (default /tmp/uoe-slurm-<cluster>). Exit codes as netns_cluster.sh (3: this machine
# does not allow network namespaces).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cluster_sh=$here/../netns_cluster.sh
cluster=${UOE_CLUSTER:-uoe}
state=${UOE_SLURM_DIR:-/tmp/uoe-slurm-$cluster}
conf=$state/slurm.conf
export SLURM_CONF=$conf

die() { echo "netns_slurm: $*" >&2; exit 2; }
source "$here/common.sh"

on_node() { "$cluster_sh" exec "$@"; }  # on_node NODE CMD...

# start_slurmd NODE, in a mount namespace of the node's own (from `ip netns exec`):
# - /sys is fresh there, without the cgroup (v1) mounts slurmd checks at start: a tmpfs with the
#   machine's name=systemd hierarchy is all the plugins of this cluster (proctrack/linuxproc,
#   task/none) need;
# - TmpFS ($state/node-tmp), where the PMIx plugin makes per-step directories named by job and
#   step only, is the node's own directory $state/tmp-<node>, as on nodes with a local /tmp.
start_slurmd() {
  local name=$cluster-node$1
  mkdir -p "$state/node-tmp" "$state/tmp-$name"
  on_node "$1" sh -c 'mount -t tmpfs cgroup /sys/fs/cgroup && mkdir /sys/fs/cgroup/systemd &&
    mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd &&
    mount --bind "$2/tmp-$1" "$2/node-tmp" && exec slurmd -f "$2/slurm.conf" -N "$1"' \
    "$name" "$name" "$state"
}

write_conf() {  # write_conf N
  local n=$1 i hardware
  hardware=$(node_hardware)
  mkdir -p "$state/ctld"
  for ((i = 0; i < n; i++)); do mkdir -p "$state/d-$cluster-node$i"; done
  {
    echo "ClusterName=$cluster"
    echo "SlurmctldHost=$cluster-node0(10.250.0.1)"
    common_conf "$state" "-%n"
    # A node that stops answering is DOWN (and its jobs requeued) after 10 s, not 5 min.
    echo "SlurmdTimeout=10"
    echo "TmpFS=$state/node-tmp"
    for ((i = 0; i < n; i++)); do
      echo "NodeName=$cluster-node$i $hardware NodeAddr=10.250.0.$((i + 1)) State=UNKNOWN"
    done
    echo "PartitionName=debug Nodes=$cluster-node[0-$((n - 1))] Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES"
  } > "$conf"
}

# The daemons are found by their pid files in $state: DAEMON is slurmctld or slurmd-<node name>.
running() { kill -0 "$(cat "$state/$1.pid" 2>/dev/null)" 2>/dev/null; }
stop_daemon() {  # stop_daemon DAEMON: SIGTERM, then wait up to 10 s
  running "$1" || return 0
  kill "$(cat "$state/$1.pid")" 2>/dev/null || return 0
  for _ in $(seq 100); do running "$1" || return 0; sleep 0.1; done
}

idle_nodes() { on_node 0 sinfo -h -N -o '%N %T' 2>/dev/null | grep -cE ' (idle|mixed|allocated)$' || true; }

start() {  # start N
  local n=$1 i
  [[ $(id -u) -eq 0 ]] || { echo "netns_slurm: needs root" >&2; exit 3; }
  command -v slurmctld > /dev/null || die "slurm-wlm is not installed: run launch/setup.sh"
  "$cluster_sh" start "$n"
  start_munge
  if ! running slurmctld; then
    write_conf "$n"
    on_node 0 slurmctld -f "$conf"
  fi
  for ((i = 0; i < n; i++)); do running "slurmd-$cluster-node$i" || start_slurmd "$i"; done
  for _ in $(seq 60); do
    if [[ $(idle_nodes) -eq $n ]]; then
      echo "netns_slurm: $n nodes up ($conf)"
      return
    fi
    sleep 1
  done
  die "not all $n nodes became idle within 60 s; see $state/slurmctld.log and $state/slurmd-*.log"
}

# job_steps JOB: one line "<node> <pid> slurmstepd: [JOB.STEP]" per step daemon of job JOB still
# on this cluster's nodes (found by network namespace: the process ids are the machine's). A requeued
# job reuses its job and step ids, so its new steps must not start on a node where a step of the
# killed run is still ending: e.g. the PMIx server socket stepd.slurm.pmix.JOB.STEP is taken.
job_steps() {
  local job=$1 node pid title
  for node in $("$cluster_sh" hostfile 1 | cut -d' ' -f1); do
    for pid in $(ip netns pids "$node"); do
      title=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null) || continue  # ended meanwhile
      if [[ $title == "slurmstepd: [$job."* ]]; then echo "$node $pid $title"; fi
    done
  done
}

restart_slurmd() {  # restart_slurmd NODE
  stop_daemon "slurmd-$cluster-node$1"
  start_slurmd "$1"
}

stop() {
  local pid_file
  for pid_file in "$state"/slurmd-*.pid; do
    [[ -e $pid_file ]] && stop_daemon "$(basename "$pid_file" .pid)"
  done
  stop_daemon slurmctld
  "$cluster_sh" stop
}

case "${1:-}" in
  start) [[ $# -eq 2 ]] || die "usage: $0 start N"; start "$2" ;;
  slurmd) [[ $# -eq 2 ]] || die "usage: $0 slurmd NODE"; restart_slurmd "$2" ;;
  steps) [[ $# -eq 2 && $2 =~ ^[0-9]+$ ]] || die "usage: $0 steps JOB"; job_steps "$2" ;;
  stop) stop ;;
  env) echo "export SLURM_CONF=$conf" ;;
  *) die "usage: $0 start N | slurmd NODE | steps JOB | stop | env" ;;
esac
