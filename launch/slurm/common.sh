# shellcheck shell=bash
# Sourced by launch/slurm/local_cluster.sh and launch/slurm/netns_slurm.sh: munged and the
# slurm.conf lines both clusters share.

# Starts munged (shared by every cluster on this machine; its socket is a file, so the daemons in
# network namespaces reach it too). Idempotent.
start_munge() {
  if pgrep -x munged > /dev/null; then return; fi
  [[ -f /etc/munge/munge.key ]] || { mungekey --create --force 2>/dev/null || create-munge-key -f; }
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge /etc/munge
  chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
  runuser -u munge -- /usr/sbin/munged
}

# common_conf STATE SLURMD_SUFFIX: the slurm.conf lines other than the cluster's name, controller
# and nodes; SLURMD_SUFFIX makes the slurmd files per node ("-%n") where several slurmd share STATE.
common_conf() {
  local state=$1 suffix=$2
  cat <<CONF
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d$suffix
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd$suffix.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd$suffix.log
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
CONF
}

# The hardware part of the node line slurmd detects (CPUs, sockets, cores, threads, memory), so
# that a node registers without a mismatch.
node_hardware() {
  slurmd -C | head -n 1 | sed 's/^NodeName=[^ ]* //'
}
