#!/usr/bin/env bash
# Open MPI's remote launcher for the namespace cluster (launch/netns_cluster.sh), in place of ssh:
#   mpirun --mca plm_rsh_agent launch/netns_rsh_agent.sh --hostfile <nodes> ...
# Open MPI calls it as `<agent> <host> <command words...>`; like ssh, it joins the words and runs
# them with sh on that node (its network namespace, hostname and /etc/hosts). No sshd involved.
set -euo pipefail
[[ $# -ge 2 ]] || { echo "usage: $0 <node> <command...>" >&2; exit 2; }
host=$1
shift
exec "$(dirname "$0")/netns_cluster.sh" exec "$host" sh -c "$*"
