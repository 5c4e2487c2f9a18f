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

start_munge() {
  if pgrep -x munged > /dev/null; then return; fi
  [[ -f /etc/munge/munge.key ]] || { mungekey --create --force 2>/dev/null || create-munge-key -f; }
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge /etc/munge
  chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
  runuser -u munge -- /usr/sbin/munged
}

write_conf() {
  local host node_line
  host=$(hostname -s)
  # The hardware line slurmd detects (CPUs, sockets, cores, threads, memory), so that the node
  # registers without a mismatch.
  node_line=$(slurmd -C | head -n 1)
  mkdir -p "$state/ctld" "$state/d"
  cat > "$conf" <<CONF
ClusterName=uoe-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
JobRequeue=1
KillWait=30
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
}

start() {
  [[ $(id -u) -eq 0 ]] || die "needs root (it starts munged, slurmctld and slurmd)"
  command -v slurmctld > /dev/null || die "slurm-wlm is not installed: run launch/setup.sh"
  start_munge
  if ! pgrep -f "slurmctld.*$conf" > /dev/null; then
    write_conf
    slurmctld -f "$conf"
    slurmd -f "$conf"
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
