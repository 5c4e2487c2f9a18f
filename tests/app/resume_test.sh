#!/usr/bin/env bash
# Checkpoint and resume: runs that are interrupted and resumed with resume_from_checkpoint=auto end
# with parameters bitwise equal to an uninterrupted run (every tensor compared by tools/h5_same_tensors.py):
#   1. pretraining, one rank SIGKILLed at a random moment;
#   2. pretraining, rank 1 SIGKILLed while writing checkpoint 8 (UOE_INJECT_FAULT): the half-written
#      checkpoint-8.tmp is never picked, the run resumes from checkpoint-4;
#   3. pretraining stopped by SIGTERM (Slurm preemption): a last checkpoint, exit code 143;
#   4. unlearning (NPO + SEUF), SIGKILLed at a random step, resumed: same delta as uninterrupted.
# Also checks save_total_limit and that metrics.jsonl has each step exactly once.
# Usage: resume_test.sh <uoe binary> <repo root>
set -euo pipefail
uoe=$1
root=$2
work=$(mktemp -d)
trap 'pkill -9 -f "$work/" 2>/dev/null || true; [[ -n ${KEEP:-} ]] || rm -rf "$work"' EXIT
steps=24
pretrain=(pretrain "$root/configs/tiny/pretrain.yaml" max_steps=$steps logging_steps=1 seed=3)

fail() { echo "FAIL: $*"; exit 1; }
launch() {  # launch <log> <args...>: 2 ranks in the background; sets $job
  local log=$1
  shift
  mpiexec -np 2 --oversubscribe "$uoe" "$@" > "$log" 2>&1 &
  job=$!
}
run() {  # run <log> <args...>: 2 ranks, must succeed
  local log=$1
  shift
  local code=0
  timeout 300 mpiexec -np 2 --oversubscribe "$uoe" "$@" > "$log" 2>&1 || code=$?
  ((code == 0)) || { tail -20 "$log"; fail "uoe $* exited with $code"; }
}
same_tensors() {  # same_tensors <dir a> <dir b>: every .h5 under a equals its twin under b
  local a=$1 b=$2 n=0
  for f in $(cd "$a" && find . -name '*.h5' | sort); do
    /usr/bin/python3 "$root/tools/h5_same_tensors.py" "$a/$f" "$b/$f" || fail "$b/$f differs from $a/$f"
    n=$((n + 1))
  done
  ((n > 0)) || fail "no tensors found in $a"
  echo "  $n tensor files bitwise equal: $b"
}
# kill_one_rank_after <dir> <first> <last>: SIGKILL one rank of $job once <dir>/metrics.jsonl has
# a random step of <first>..<last> (polled every 5 ms), so that it lands at a random step, maybe
# in a checkpoint's write. Counted in steps, not seconds: the steps after <last> are left to run
# whatever the machine's speed (a window in seconds missed the end of the run on a faster CPU).
kill_one_rank_after() {
  local dir=$1 step=$(($2 + RANDOM % ($3 - $2 + 1)))
  for _ in $(seq 12000); do
    grep -qs "\"step\":${step}[,}]" "$dir/metrics.jsonl" && break
    kill -0 "$job" 2> /dev/null || break
    sleep 0.005
  done
  local pid
  pid=$(pgrep -n -P "$job") || fail "no rank of $dir to kill after step $step: the run ended first"
  kill -9 "$pid"
  echo "  killed rank pid $pid after step $step," \
    "at $(ls "$dir" | grep -c '^checkpoint-[0-9]*$') checkpoint(s)"
}
metrics_once() {  # each step 1..steps exactly once in <dir>/metrics.jsonl and breakdown.jsonl
  python3 - "$1" "$2" <<'PY'
import json, sys
for name in ("metrics.jsonl", "breakdown.jsonl"):
    steps = [json.loads(l)["step"] for l in open(f"{sys.argv[1]}/{name}")]
    assert steps == list(range(1, int(sys.argv[2]) + 1)), f"{name} steps: {steps}"
PY
}

echo "reference: uninterrupted pretraining"
run "$work/ref.log" "${pretrain[@]}" output_dir="$work/ref"

echo "1. SIGKILL of one rank at a random step"
d=$work/kill
launch "$work/kill.log" "${pretrain[@]}" output_dir="$d" save_steps=3 save_total_limit=2
kill_one_rank_after "$d" 7 10  # checkpoint-6 complete, 14 or more steps left
wait $job && fail "the killed run exited 0"
run "$work/kill_resume.log" "${pretrain[@]}" output_dir="$d" save_steps=3 save_total_limit=2 \
  resume_from_checkpoint=auto
grep -q "resuming from .*checkpoint-" "$work/kill_resume.log" || fail "run 1 did not resume"
same_tensors "$work/ref/checkpoint" "$d/checkpoint"
metrics_once "$d" $steps
[[ $(ls -d "$d"/checkpoint-* | wc -l) -eq 2 ]] || fail "save_total_limit=2 kept: $(ls "$d")"

echo "2. SIGKILL while writing checkpoint 8"
d=$work/torn
UOE_INJECT_FAULT=kill:checkpoint_write@8@1 timeout 300 mpiexec -np 2 --oversubscribe -x UOE_INJECT_FAULT \
  "$uoe" "${pretrain[@]}" output_dir="$d" save_steps=4 > "$work/torn.log" 2>&1 \
  && fail "the run with an injected kill exited 0"
[[ -d $d/checkpoint-8.tmp && ! -e $d/checkpoint-8 && -e $d/checkpoint-4/COMPLETE ]] \
  || fail "expected complete checkpoint-4 and torn checkpoint-8.tmp, found: $(ls "$d")"
run "$work/torn_resume.log" "${pretrain[@]}" output_dir="$d" save_steps=4 resume_from_checkpoint=auto
grep -q "resuming from .*checkpoint-4 after step 4" "$work/torn_resume.log" || fail "run 2 did not resume from checkpoint-4"
same_tensors "$work/ref/checkpoint" "$d/checkpoint"

echo "3. SIGTERM (preemption)"
d=$work/term
launch "$work/term.log" "${pretrain[@]}" output_dir="$d"
# Polled every 10 ms: 19 steps are left, ~0.3 s on a CPU 3x faster than the one this was tuned on.
for _ in $(seq 6000); do grep -q "pretrain step 5/" "$work/term.log" && break; sleep 0.01; done
# The ranks, as Slurm signals every task.
pkill -TERM -P "$job" || fail "no rank to send SIGTERM to: the run ended first"
code=0
wait $job || code=$?
[[ $code -eq 143 ]] || { cat "$work/term.log"; fail "SIGTERM run exited $code, expected 143"; }
grep -q "stopped: received signal 15" "$work/term.log" || fail "no stop message"
run "$work/term_resume.log" "${pretrain[@]}" output_dir="$d" resume_from_checkpoint=auto
same_tensors "$work/ref/checkpoint" "$d/checkpoint"
metrics_once "$d" $steps

echo "4. unlearning: SIGKILL at a random step, resume"
run "$work/data.log" make-data "$root/configs/tiny/facts.yaml" output_dir="$work/data"
run "$work/pre.log" pretrain "$root/configs/tiny/pretrain_facts.yaml" output_dir="$work/pre" \
  dataset.train="$work/data/train.h5" max_steps=40 dataset.forget= dataset.retain= \
  dataset.forget_mc= dataset.retain_mc=
unlearn=(unlearn "$root/configs/tiny/unlearn_seuf.yaml" model_name_or_path="$work/pre/checkpoint"
         dataset.forget="$work/data/forget.h5" dataset.retain="$work/data/retain.h5"
         dataset.forget_mc= dataset.retain_mc= unlearn.method=npo max_steps=40 logging_steps=1
         dataset.tokenizer="$work/data/vocab.json")
run "$work/u_ref.log" "${unlearn[@]}" output_dir="$work/u_ref"
d=$work/u_kill
launch "$work/u_kill.log" "${unlearn[@]}" output_dir="$d" save_steps=2
kill_one_rank_after "$d" 3 8  # checkpoint-2 at least, 32 steps left
wait $job && fail "the killed unlearning run exited 0"
run "$work/u_resume.log" "${unlearn[@]}" output_dir="$d" save_steps=2 resume_from_checkpoint=auto
grep -q "resuming from .*checkpoint-" "$work/u_resume.log" || fail "run 4 did not resume"
/usr/bin/python3 "$root/tools/h5_same_tensors.py" "$work/u_ref/delta.h5" "$d/delta.h5" || fail "resumed unlearning delta differs"
echo "  delta.h5 bitwise equal"
echo "resume test OK"
