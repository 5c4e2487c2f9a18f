#!/usr/bin/env bash
# A real single-node Slurm (launch/slurm/local_cluster.sh starts munged, slurmctld and slurmd on
# this machine) runs the batch script launch/slurm/uoe.sbatch for the built-in default pretraining
# with 2 tasks, once with `srun --mpi=pmix` and once with the mpirun variant; both must give
# parameters bitwise equal to the same run under plain mpirun.
# Usage: slurm_test.sh <uoe binary> <repo root>
set -euo pipefail
uoe=$1
root=$2
work=$(mktemp -d)
cluster=$root/launch/slurm/local_cluster.sh
eval "$("$cluster" env)"
# This cluster's slurmctld, not any: that of a namespace cluster (slurm_two_nodes.sh, maybe running
# at the same time under ctest -j) would leave this one running after the test.
was_running=0
pgrep -f "slurmctld -f $SLURM_CONF" > /dev/null && was_running=1
cleanup() {
  ((was_running)) || "$cluster" stop
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$cluster" start
args=(pretrain configs/tiny/pretrain.yaml max_steps=20 logging_steps=5)

cd "$root"
echo "reference: mpirun -np 2, 1 thread per rank"
timeout 300 mpiexec -np 2 -x OMP_NUM_THREADS=1 "$uoe" "${args[@]}" output_dir="$work/mpirun" \
  > "$work/mpirun.log" 2>&1 || { tail -20 "$work/mpirun.log"; fail "mpirun reference failed"; }

for launcher in srun mpirun; do
  echo "sbatch launch/slurm/uoe.sbatch (UOE_LAUNCHER=$launcher)"
  timeout 300 sbatch --wait --job-name="$launcher" --output="$work/$launcher-%j.out" \
    --export=ALL,UOE_LAUNCHER=$launcher,UOE_OUTPUT_ROOT=$work,UOE_BIN=$uoe \
    launch/slurm/uoe.sbatch "${args[@]}" > "$work/sbatch.txt" \
    || { cat "$work/sbatch.txt" "$work/$launcher"-*.out 2>/dev/null | tail -30; fail "sbatch ($launcher) failed"; }
  job_id=$(grep -oE '[0-9]+' "$work/sbatch.txt" | tail -n 1)
  out=$work/$launcher-$job_id
  [[ -f $out/summary.json ]] || { cat "$work/$launcher-$job_id.out"; fail "no summary.json in $out"; }
  grep -q '"world_size": 2' "$out/summary.json" || fail "$launcher job did not run 2 ranks"
  for f in dense.h5 experts-0.h5 experts-1.h5; do
    /usr/bin/python3 "$root/tools/h5_same_tensors.py" "$work/mpirun/checkpoint/$f" "$out/checkpoint/$f" \
      || fail "$launcher job: checkpoint/$f differs from the mpirun run"
  done
  echo "  job $job_id: checkpoint bitwise equal to mpirun's"
done
echo "slurm test OK"
