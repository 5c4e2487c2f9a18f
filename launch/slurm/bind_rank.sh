#!/usr/bin/env bash
# Per-rank environment under srun or mpirun: the local rank (SLURM_LOCALID, or Open MPI's
# OMPI_COMM_WORLD_LOCAL_RANK) picks the rank's GPU on GPU nodes, and the intra-op and BLAS threads
# are the CPUs Slurm gave the task. Then runs the command.
#   bind_rank.sh <command> [args...]
set -euo pipefail
local_rank=${SLURM_LOCALID:-${OMPI_COMM_WORLD_LOCAL_RANK:-0}}
if [[ -n ${SLURM_JOB_GPUS:-${SLURM_STEP_GPUS:-}} || -n ${UOE_GPUS_PER_NODE:-} ]] && [[ -z ${CUDA_VISIBLE_DEVICES:-} || ${CUDA_VISIBLE_DEVICES} == *,* ]]; then
  # Several GPUs visible to every task: give rank i the i-th of them.
  IFS=, read -r -a gpus <<< "${CUDA_VISIBLE_DEVICES:-$(seq -s, 0 $((${UOE_GPUS_PER_NODE:-1} - 1)))}"
  export CUDA_VISIBLE_DEVICES=${gpus[$((local_rank % ${#gpus[@]}))]}
fi
threads=${SLURM_CPUS_PER_TASK:-}
if [[ -n $threads ]]; then
  export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
fi
exec "$@"
