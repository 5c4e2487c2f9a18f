#!/usr/bin/env bash
# A two-node Slurm (launch/slurm/netns_slurm.sh: slurmctld in node 0, a slurmd per namespace node)
# runs the batch script launch/slurm/uoe.sbatch with --nodes=2 --ntasks-per-node=1 for a short SEUF
# unlearning (EP 2 across the nodes: tokens by MPI all-to-all over the nodes' TCP link):
#   1. with `srun --mpi=pmix` and with the mpirun variant: delta.h5 bitwise equal, and losses
#      equal, to the same run under plain mpirun on the same two nodes;
#   2. node 1 set DOWN mid-job (a node failure): Slurm requeues the job (--requeue), which runs
#      again once the node is back and the killed run has left both nodes, resumes from its newest
#      checkpoint (resume_from_checkpoint=auto) and ends with the delta of the uninterrupted run.
# Every wait is bounded; a failure prints the job's lines from the Slurm logs.
# Skips (77) where the machine does not allow network namespaces or has no Slurm.
# Usage: slurm_two_nodes.sh <uoe binary> <repo root>
set -euo pipefail
uoe=$1
root=$2
command -v slurmctld > /dev/null || { echo "SKIP: slurm-wlm is not installed"; exit 77; }
source "$root/tests/app/netns_test_cluster.sh" 2 s
slurm_sh=$root/launch/slurm/netns_slurm.sh
export UOE_SLURM_DIR=$work/slurm
trap '"$slurm_sh" stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
on_node0() { "$cluster_sh" exec 0 "$@"; }

timeout 120 "$slurm_sh" start 2 || fail "the Slurm cluster did not start"
eval "$("$slurm_sh" env)"
node1=$UOE_CLUSTER-node1
cd "$root"

echo "data and a pretrained model (one node, 2 ranks)"
mpiexec -np 2 --oversubscribe "$uoe" make-data configs/tiny/facts.yaml output_dir="$work/data" \
  > "$work/data.log" 2>&1 || { tail "$work/data.log"; fail "make-data"; }
mpiexec -np 2 --oversubscribe "$uoe" pretrain configs/tiny/pretrain_facts.yaml output_dir="$work/pre" \
  dataset.train="$work/data/train.h5" max_steps=40 dataset.forget= dataset.retain= \
  dataset.forget_mc= dataset.retain_mc= > "$work/pre.log" 2>&1 || { tail "$work/pre.log"; fail "pretrain"; }
steps=${UOE_SLURM_TEST_STEPS:-120}
args=(unlearn configs/tiny/unlearn_seuf.yaml model_name_or_path="$work/pre/checkpoint"
      dataset.forget="$work/data/forget.h5" dataset.retain="$work/data/retain.h5"
      dataset.forget_mc= dataset.retain_mc= dataset.tokenizer="$work/data/vocab.json"
      unlearn.method=npo max_steps=$steps logging_steps=1 save_steps=10)

echo "reference: plain mpirun, 2 nodes x 1 rank, 1 thread per rank"
"$cluster_sh" hostfile 1 > "$work/hosts1"
start=$SECONDS
timeout 300 "$cluster_sh" exec 0 mpirun -np 2 --hostfile "$work/hosts1" --bind-to none \
  --mca plm_rsh_agent "$root/launch/netns_rsh_agent.sh" --mca btl tcp,self,vader \
  -x OMP_NUM_THREADS=1 -x OPENBLAS_NUM_THREADS=1 -x OMPI_ALLOW_RUN_AS_ROOT -x OMPI_ALLOW_RUN_AS_ROOT_CONFIRM \
  "$uoe" "${args[@]}" output_dir="$work/mpirun" > "$work/mpirun.log" 2>&1 \
  || { tail -20 "$work/mpirun.log"; fail "the mpirun reference failed"; }
echo "  $((SECONDS - start)) s"
grep -q "2 ranks on 2 nodes" "$work/mpirun.log" || { grep "^uoe unlearn" "$work/mpirun.log"; fail "reference not on 2 nodes"; }

# same_as_reference <output dir>: delta.h5 bitwise and every step's losses equal to the reference.
same_as_reference() {
  /usr/bin/python3 "$root/tools/h5_same_tensors.py" "$work/mpirun/delta.h5" "$1/delta.h5" \
    || fail "$1/delta.h5 differs from the mpirun reference"
  python3 - "$work/mpirun/metrics.jsonl" "$1/metrics.jsonl" "$steps" <<'PY'
import json, sys
def losses(path):
    rows = [json.loads(line) for line in open(path)]
    assert len({r["step"] for r in rows}) == len(rows), f"{path}: a step logged twice"
    return {r["step"]: {k: v for k, v in r.items() if "loss" in k} for r in rows}
reference, other, steps = losses(sys.argv[1]), losses(sys.argv[2]), int(sys.argv[3])
assert sorted(other) == list(range(1, steps + 1)), f"{sys.argv[2]}: steps {sorted(other)[:5]}..."
assert other == reference, f"{sys.argv[2]}: losses differ from the reference"
PY
}

submit() {  # submit <name> <launcher> [sbatch options]: prints the job id
  local name=$1 launcher=$2
  shift 2
  timeout 300 "$cluster_sh" exec 0 sbatch --parsable --nodes=2 --ntasks-per-node=1 --job-name="$name" "$@" \
    --output="$work/$name.out" --export=ALL,UOE_LAUNCHER=$launcher,UOE_OUTPUT_ROOT=$work,UOE_BIN=$uoe \
    launch/slurm/uoe.sbatch "${args[@]}"
}

echo "1. sbatch --nodes=2 launch/slurm/uoe.sbatch with srun --mpi=pmix and with mpirun"
for launcher in srun mpirun; do
  start=$SECONDS
  job=$(submit "$launcher" "$launcher" --wait) || { tail -30 "$work/$launcher.out"; fail "sbatch ($launcher) failed"; }
  out=$work/$launcher-$job
  grep -q "2 ranks on 2 nodes" "$work/$launcher.out" || { cat "$work/$launcher.out"; fail "$launcher job not on 2 nodes"; }
  same_as_reference "$out"
  echo "  $launcher job $job ($((SECONDS - start)) s): delta.h5 bitwise and losses equal to plain mpirun's"
done

echo "2. node 1 DOWN mid-job: the job is requeued and resumes from its newest checkpoint"
# slurmctld logs each node's report that it has ended a job (epilog complete) at level verbose
# with DebugFlags=Route: "ROUTE: _slurm_rpc_epilog_complete: node_name = <node>, JobId=<job>".
# Set before the job starts: between checkpoint-20 and the DOWN there is no time to lose.
on_node0 scontrol setdebug verbose
on_node0 scontrol setdebugflags +Route
ctld_log_lines=$(wc -l < "$UOE_SLURM_DIR/slurmctld.log")
start=$SECONDS
job=$(submit requeue srun)
out=$work/requeue-$job
job_state() { on_node0 scontrol show job "$job" | grep -oE 'JobState=[A-Z_]+' | cut -d= -f2; }
state_is() { [[ $(job_state) =~ ^($1)$ ]]; }
requeue_fail() {  # requeue_fail MESSAGE: the job, its output and its lines in the Slurm logs; FAIL
  on_node0 scontrol show job "$job" || true
  tail -30 "$work/requeue.out"
  (cd "$UOE_SLURM_DIR" && grep -E "JobId=$job\b|StepId=$job\.|\[$job\.|job $job\b|node $node1\b" \
    slurmctld.log slurmd-*.log | tail -40) || true
  fail "requeue job $job: $*"
}
# Polled every 10 ms: the DOWN must come while the job's last 100 steps run (15 s on this 2-core
# machine under load, a few seconds or less on a fast idle one).
wait_for -i 0.01 180 test -d "$out/checkpoint-20" || requeue_fail "no checkpoint-20"
on_node0 scontrol update nodename="$node1" state=down reason=uoe-test
wait_for 120 state_is PENDING || requeue_fail "not requeued"
requeued=$SECONDS
echo "  node $node1 down at $(ls "$out" | grep -c '^checkpoint-[0-9]*$') checkpoint(s): job requeued"
# The node comes back by itself: slurmctld returns it to service as soon as its slurmd answers
# (ReturnToService=2; measured within 0.1 s of the DOWN). Resume it where it has not.
node1_back() {
  on_node0 sinfo -h -n "$node1" -o %T | grep -q down || return 0
  on_node0 scontrol update nodename="$node1" state=resume 2> /dev/null || true
  return 1
}
wait_for 60 node1_back || requeue_fail "$node1 could not be resumed"
# Slurm holds a requeued job back for 2 minutes (its BeginTime, the credential lifetime): the time
# the killed run has to leave its nodes. The test starts the job as soon as that has happened.
# Slurm requeues the job once node 0 has ended its part, but does not wait for node 1, which was
# DOWN then: there the rank goes on until it has ended its step (SIGTERM: last checkpoint; SIGKILL
# after KillWait=30 s), then slurmd reports the job ended. The requeued run keeps the job id, so
# - its step 0 started on node 1 while the old one runs fails ("pmixp_usock_create_srv: Cannot
#   bind() UNIX socket .../stepd.slurm.pmix.<job>.0: Address already in use"): job FAILED;
# - node 1's report arriving once the job runs again takes node 1 out of the job ("srun:
#   SLURM_JOB_NUM_NODES environment variable conflicts with allocated node count (2 != 1)",
#   then "step creation temporarily disabled" for ever).
# So wait for both: no step daemon of the job left on either node, and slurmctld has logged
# node 1's report (it logs it holding the job lock, so the job's update below comes after it).
no_steps_left() { [[ -z $("$slurm_sh" steps "$job") ]]; }
node1_reported() {
  tail -n "+$((ctld_log_lines + 1))" "$UOE_SLURM_DIR/slurmctld.log" \
    | grep -q "_slurm_rpc_epilog_complete: node_name = $node1, JobId=$job\$"
}
wait_for 120 no_steps_left || requeue_fail "steps of the killed run still running: $("$slurm_sh" steps "$job")"
wait_for 60 node1_reported || requeue_fail "slurmctld logged no epilog completion of $node1"
# The killed run's credential was revoked at a whole-second time no later than that report; slurmd
# also rejects a new credential made in that same second ("Job credential revoked": FAILED). So the
# release waits for the next second.
reported_at=$(date +%s)
later_second() { (($(date +%s) > reported_at)); }
wait_for -i 0.05 5 later_second || requeue_fail "the clock did not advance"
echo "  the killed run left $node1 $((SECONDS - requeued)) s after the requeue: job released"
on_node0 scontrol update jobid="$job" starttime=now 2> /dev/null || true  # unless it started already
wait_for 420 state_is 'COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE' \
  || requeue_fail "still $(job_state) after 420 s"
state_is COMPLETED || requeue_fail "$(job_state)"
grep -q "(restart 1)" "$work/requeue.out" || { cat "$work/requeue.out"; fail "job $job did not run a second time"; }
resumed=$(grep -oE "resuming from [^ ]*checkpoint-[0-9]+" "$work/requeue.out") \
  || { cat "$work/requeue.out"; fail "the requeued job did not resume from a checkpoint"; }
newest=$(grep -oE "checkpoint-[0-9]+" <<< "$resumed")
[[ ${newest#checkpoint-} -ge 20 ]] || fail "resumed from $newest, older than checkpoint-20"
same_as_reference "$out"
echo "  job $job ($((SECONDS - start)) s) resumed from $newest: delta.h5 bitwise and losses equal to plain mpirun's"
echo "slurm two-node test OK"
