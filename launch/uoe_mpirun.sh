#!/usr/bin/env bash
# mpirun wrapper for uoe on one node or a cluster allocation.
#   launch/uoe_mpirun.sh -np <ranks> <command> [args...]
# Sets the root-run variables only when running as root, oversubscribes when there are more ranks
# than cores, and gives every rank cores / ranks-per-node threads (uoe also sets this itself).
set -euo pipefail
if [[ $# -lt 3 || $1 != "-np" ]]; then
  echo "usage: $0 -np <ranks> <command> [args...]" >&2
  exit 2
fi
ranks=$2
shift 2
if [[ $(id -u) -eq 0 ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
cores=$(nproc)
threads=$(( cores / ranks > 0 ? cores / ranks : 1 ))
extra=()
(( ranks > cores )) && extra+=(--oversubscribe)
exec mpirun -np "$ranks" "${extra[@]}" --bind-to none \
  -x OMP_NUM_THREADS="$threads" -x OPENBLAS_NUM_THREADS="$threads" "$@"
