#!/usr/bin/env bash
# mpirun wrapper for uoe on one node or a cluster allocation.
#   launch/uoe_mpirun.sh -np <ranks> [--hostfile <file>] [--mca <name> <value>]... <command> [args...]
# Sets the root-run variables only when running as root and does not bind ranks to cores.
# Without a hostfile (one node): oversubscribes when there are more ranks than cores and gives
# every rank cores / ranks threads. With a hostfile (nodes and their slots, docs/multinode.md) the
# ranks are placed by it and each rank takes its node's cores / ranks on that node (uoe does this
# itself); --mca options go to mpirun as given (e.g. plm_rsh_agent, btl_tcp_if_include).
# With a hostfile, Open MPI's control connections get TCP keepalive (oob_tcp_keepalive_time 5,
# _intvl 2, _probes 3, unless given): a node that stops answering (cut link, dead host) ends the
# job about 11 s after its last message instead of ~8 min (Open MPI's defaults 300, 20, 9), see
# docs/multinode.md "Network faults".
set -euo pipefail
usage() {
  echo "usage: $0 -np <ranks> [--hostfile <file>] [--mca <name> <value>]... <command> [args...]" >&2
  exit 2
}
[[ $# -ge 3 && $1 == "-np" ]] || usage
ranks=$2
shift 2
hostfile=""
keepalive_given=false
extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --hostfile)
      [[ $# -ge 2 && -f $2 ]] || { echo "$0: --hostfile needs an existing file" >&2; exit 2; }
      hostfile=$2
      extra+=(--hostfile "$2")
      shift 2 ;;
    --mca)
      [[ $# -ge 3 ]] || usage
      [[ $2 == oob_tcp_keepalive_* ]] && keepalive_given=true
      extra+=(--mca "$2" "$3")
      shift 3 ;;
    *) break ;;
  esac
done
[[ $# -ge 1 ]] || usage
if [[ $(id -u) -eq 0 ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
if [[ -z $hostfile ]]; then
  cores=$(nproc)
  threads=$(( cores / ranks > 0 ? cores / ranks : 1 ))
  (( ranks > cores )) && extra+=(--oversubscribe)
  extra+=(-x OMP_NUM_THREADS="$threads" -x OPENBLAS_NUM_THREADS="$threads")
elif ! $keepalive_given; then
  extra+=(--mca oob_tcp_keepalive_time 5 --mca oob_tcp_keepalive_intvl 2 --mca oob_tcp_keepalive_probes 3)
fi
exec mpirun -np "$ranks" "${extra[@]}" --bind-to none "$@"
