#!/usr/bin/env bash
# A single-node Slurm on this machine (munged, slurmctld and slurmd on localhost), for the tests
# and for trying the batch scripts before a real cluster. Needs root and the Debian packages
# slurm-wlm and munge (launch/setup.sh installs them).
#   launch/slurm/local_cluster.sh start    configure and start (idempotent), wait until the node is idle
#   launch/slurm/local_cluster.sh stop     stop the daemons
#   launch/slurm/local_cluster.sh env      print the line that points sbatch/squeue at this cluster
# State, logs and the generated slurm.conf live in $UOE_SLURM_DIR (default /tmp/uoe-slurm).
set -euo pipefail
state=${UOE_SLURM_DIR:-/tmp/uoe-slurm}
conf=$state/slurm.conf
export SLURM_CONF=$conf

die() { echo "local_cluster: $*" >&2; exit 2; }
source "$(dirname "$0")/common.sh"

write_conf() {
  local host
  host=$(hostname -s)
  mkdir -p "$state/ctld" "$state/d"
  {
    echo "ClusterName=uoe-local"
    echo "SlurmctldHost=$host(127.0.0.1)"
    common_conf "$state" ""
    echo "NodeName=$host $(node_hardware) NodeAddr=127.0.0.1 State=UNKNOWN"
    echo "PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES"
  } > "$conf"
}

start() {
  [[ $(id -u) -eq 0 ]] || die "needs root (it starts munged, slurmctld and slurmd)"
  command -v slurmctld > /dev/null || die "slurm-wlm is not installed: run launch/setup.sh"
  start_munge
  if ! pgrep -f "slurmctld.*$conf" > /dev/null; then
    write_conf
    # -c: a fresh start discards the jobs a killed earlier run left in $state; a stale job would
    # keep the node allocated and every new job pending.
    slurmctld -f "$conf" -c
    slurmd -f "$conf" -c
  fi
  for _ in $(seq 60); do
    if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      echo "local_cluster: up ($conf)"
      return
    fi
    scontrol update nodename="$(hostname -s)" state=resume > /dev/null 2>&1 || true
    sleep 1
  done
  die "the node did not become idle within 60 s; see $state/slurmctld.log and $state/slurmd.log"
}

stop() {
  pkill -f "slurmd -f $conf" || true
  pkill -f "slurmctld -f $conf" || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) echo "export SLURM_CONF=$conf" ;;
  *) die "usage: $0 start|stop|env" ;;
esac
