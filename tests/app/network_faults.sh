#!/usr/bin/env bash
# Network faults between 2 nodes (network namespaces, launch/netns_cluster.sh) x 2 ranks, EP 2 x
# DP 2, `uoe pretrain` launched by launch/uoe_mpirun.sh (Open MPI, TCP between the nodes). Each
# case must end in bounded time, measured from the fault:
#   1. link cut: node 1's port on the bridge goes down after checkpoint-10. The job ends (exit
#      non-zero) within 40 s and every process on both nodes within ddp_timeout + 15 s; with the
#      link back up, resume_from_checkpoint=auto continues from the newest complete checkpoint and
#      finishes, each step in metrics.jsonl once;
#   2. link cut with ddp_timeout=5: node 0's ranks each print the watchdog line naming the
#      collective and the step; the job ends within 40 s (TCP retries lowered, see the case);
#   3. node 1's processes killed (kill -9 of everything in its namespace): the job ends within 20 s;
#   4. node 1's link slowed both ways (netem delay 50 ms, or where the kernel lacks netem a tbf rate
#      limit of 100 Mbit/s) for 5 steps, then restored: the job finishes (exit 0, no error
#      line: no watchdog timeout) and the slowed steps are slower.
# Prints each case's measured time. Skips (77) where the machine does not allow network namespaces.
# Usage: network_faults.sh <uoe binary> <repo root>
set -euo pipefail
uoe=$1
root=$2
source "$root/tests/app/netns_test_cluster.sh" 2 nf
bridge=$UOE_CLUSTER-bridge
node1=$UOE_CLUSTER-node1
ddp_timeout=30  # above Open MPI's keepalive detection (~11 s, uoe_mpirun.sh)

fail() { echo "FAIL: $*"; exit 1; }

link_up() {  # node 1's link back: port forwarding again, the cut's failed ARP entries forgotten
  local i
  ip -n "$bridge" link set v1 up
  for ((i = 0; i < 100; i++)); do
    bridge -n "$bridge" link show dev v1 | grep -q "state forwarding" \
      && ip -n "$node1" link show eth0 | grep -q LOWER_UP && break
    sleep 0.1
  done
  for node in 0 1; do ip -n "$UOE_CLUSTER-node$node" neigh flush all; done
}

start_job() {  # start_job <name> <overrides...>: 2 nodes x 2 ranks in the background, pid in $job
  local name=$1
  shift
  timeout 300 "$cluster_sh" exec 0 "$root/launch/uoe_mpirun.sh" -np 4 --hostfile "$work/hosts" \
    --mca plm_rsh_agent "$root/launch/netns_rsh_agent.sh" --mca btl tcp,self,vader \
    --mca btl_tcp_if_include 10.250.0.0/24 --mca oob_tcp_if_include 10.250.0.0/24 \
    "$uoe" pretrain "$root/configs/tiny/pretrain.yaml" output_dir="$work/$name" \
    parallel.ep_size=2 per_device_train_batch_size=2 logging_steps=1 seed=7 "$@" \
    > "$work/$name.log" 2>&1 &
  job=$!
}

step_logged() {  # step_logged <name> <step>: rank 0 logged that step; FAIL once the job has ended
  grep -q "^pretrain step $2/" "$work/$1.log" 2>/dev/null && return
  kill -0 "$job" 2>/dev/null || { cat "$work/$1.log"; fail "$1 ended before step $2"; }
  return 1
}

# wait_for_step <name> <step>: until rank 0 logged that step (60 s at most, polled every 10 ms: the
# fault must come within a step or two of it, whatever the machine's speed).
wait_for_step() {
  wait_for -i 0.01 60 step_logged "$1" "$2" || { cat "$work/$1.log"; fail "$1 did not reach step $2 within 60 s"; }
}

finish() {  # finish <name>: waits for the job; sets $code and $elapsed (seconds since $fault_at)
  code=0
  wait "$job" || code=$?
  elapsed=$((SECONDS - fault_at))
  [[ $code -ne 124 ]] || { cat "$work/$1.log"; fail "$1 was still running after 300 s"; }
}

gone_after() {  # gone_after <bound>: seconds since $fault_at until no process is left on the nodes
  local n
  while true; do
    n=0
    for node in 0 1; do
      n=$((n + $(ip netns pids "$UOE_CLUSTER-node$node" | wc -l)))
    done
    [[ $n -eq 0 ]] && { echo $((SECONDS - fault_at)); return; }
    ((SECONDS - fault_at <= $1)) || fail "processes left on the nodes $1 s after the fault"
    sleep 0.2
  done
}

steps=40
echo "1. link cut after checkpoint-10 (ddp_timeout=$ddp_timeout)"
start_job cut max_steps=$steps save_steps=5 ddp_timeout=$ddp_timeout
wait_for_step cut 11
ip -n "$bridge" link set v1 down
fault_at=$SECONDS
finish cut
[[ $code -ne 0 ]] || fail "the job went on without node 1"
((elapsed <= 40)) || fail "the job took $elapsed s > 40 s to end after the cut"
gone=$(gone_after $((ddp_timeout + 15)))
echo "  mpirun exit $code after $elapsed s, every process gone after $gone s; saw:" \
  "$(grep -E 'error:|lost communication' "$work/cut.log" | sort -u | tr '\n' ' ')"
link_up
last=$(ls -d "$work"/cut/checkpoint-*/COMPLETE | sed -E 's|.*/checkpoint-([0-9]+)/COMPLETE|\1|' | sort -n | tail -1)
((last >= 10)) || fail "no complete checkpoint at or after step 10"
start_job cut resume_from_checkpoint=auto max_steps=$steps save_steps=5 ddp_timeout=$ddp_timeout
fault_at=$SECONDS
finish cut
[[ $code -eq 0 ]] || { cat "$work/cut.log"; fail "resumed run: exit $code"; }
grep -q "resuming from $work/cut/checkpoint-$last after step $last of $steps" "$work/cut.log" \
  || { cat "$work/cut.log"; fail "did not resume from checkpoint-$last"; }
python3 - "$work/cut/metrics.jsonl" "$steps" <<'PY'
import json, sys
steps = [json.loads(line)["step"] for line in open(sys.argv[1])]
assert steps == list(range(1, int(sys.argv[2]) + 1)), f"steps in metrics.jsonl: {steps}"
PY
echo "  link restored: resumed from checkpoint-$last, finished step $steps in $elapsed s"

echo "2. link cut with ddp_timeout=5, below Open MPI's keepalive detection, TCP retries lowered"
# The watchdogs fire first; mpirun's abort message to node 1 then stays unacknowledged, which
# keepalive does not cover: the job ends when TCP gives up (tcp_retries2=5: ~13 s; Linux's
# default 15: ~15 min).
for node in 0 1; do ip netns exec "$UOE_CLUSTER-node$node" sysctl -qw net.ipv4.tcp_retries2=5; done
start_job cut5 max_steps=100000 ddp_timeout=5
wait_for_step cut5 3
ip -n "$bridge" link set v1 down
fault_at=$SECONDS
finish cut5
[[ $code -ne 0 ]] || fail "the job went on without node 1"
((elapsed <= 5 + 35)) || fail "the job took $elapsed s > 40 s to end after the cut"
gone=$(gone_after 45)
grep -qE "^\[rank [01]@$UOE_CLUSTER-node0\] error: collective [a-z_ -]+ on [a-z_ ]+ \([0-9] ranks\) did not complete within ddp_timeout=5 s at step [0-9]+$" \
  "$work/cut5.log" || { cat "$work/cut5.log"; fail "no watchdog line from node 0's ranks"; }
echo "  mpirun exit $code after $elapsed s, every process gone after $gone s; saw:"
grep "error:" "$work/cut5.log" | sed 's/^/    /'
link_up
for node in 0 1; do ip netns exec "$UOE_CLUSTER-node$node" sysctl -qw net.ipv4.tcp_retries2=15; done

echo "3. node 1's processes killed"
start_job kill max_steps=100000 ddp_timeout=$ddp_timeout
wait_for_step kill 3
kill -9 $(ip netns pids "$node1")
fault_at=$SECONDS
finish kill
[[ $code -ne 0 ]] || fail "the job went on without node 1"
((elapsed <= 20)) || fail "the job took $elapsed s > 20 s to end after the kill"
gone=$(gone_after 20)
echo "  mpirun exit $code after $elapsed s, every process gone after $gone s"

# netem delay where the kernel has it (sch_netem), otherwise a token-bucket rate limit (sch_tbf).
slow_link() {  # slow_link <namespace> <device>: prints what it did
  if ip netns exec "$1" tc qdisc add dev "$2" root netem delay 50ms 2>/dev/null; then
    echo "netem delay 50ms"
  else
    ip netns exec "$1" tc qdisc add dev "$2" root tbf rate 100mbit burst 128kb latency 200ms
    echo "tbf rate 100mbit (this kernel has no netem)"
  fi
}

echo "4. node 1's link slowed both ways for 5 steps, then restored (ddp_timeout=10)"
# The slowed steps are those that started after the slowdown and ended before its removal, as
# logged, whatever the machine's speed.
last_step() {
  grep -oE "^pretrain step [0-9]+/" "$work/slow.log" | tail -n 1 | grep -oE '[0-9]+' || echo 0
}
if ! command -v tc > /dev/null; then
  echo "  SKIP: no tc (Debian: iproute2)"
else
  start_job slow max_steps=40 ddp_timeout=10
  wait_for_step slow 3
  before=$(last_step)  # steps 2..before ran at full speed
  how=$(slow_link "$bridge" v1)
  slow_link "$node1" eth0 > /dev/null
  slowed_from=$(($(last_step) + 1))  # steps after this one started on the slowed link
  wait_for_step slow $((slowed_from + 5))
  slowed_to=$(last_step)
  ip netns exec "$bridge" tc qdisc del dev v1 root
  ip netns exec "$node1" tc qdisc del dev eth0 root
  fault_at=$SECONDS
  finish slow
  [[ $code -eq 0 ]] && ! grep -q "error:" "$work/slow.log" \
    || { cat "$work/slow.log"; fail "the slowed job failed (exit $code)"; }
  python3 - "$work/slow/metrics.jsonl" "$how" "$before" "$slowed_from" "$slowed_to" <<'PY'
import json, sys
elapsed = {r["step"]: r["elapsed_s"] for r in map(json.loads, open(sys.argv[1]))}
before, slowed_from, slowed_to = map(int, sys.argv[3:])
def per_step(a, b):  # mean seconds of steps a+1..b
    return (elapsed[b] - elapsed[a]) / (b - a)
normal, slowed = per_step(1, before), per_step(slowed_from, slowed_to)
after = per_step(slowed_to + 1, max(elapsed))
print(f"  {sys.argv[2]}: finished all {max(elapsed)} steps, no timeout; seconds per step: "
      f"{normal:.2f} before (steps 2-{before}), {slowed:.2f} slowed (steps {slowed_from + 1}-"
      f"{slowed_to}), {after:.2f} after")
assert slowed > normal + 0.1, "the slowed link did not slow the steps"
PY
fi
echo "network faults OK"
