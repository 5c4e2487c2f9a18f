#!/usr/bin/env bash
# A cluster of N "nodes" on one machine, for multi-node tests (docs/multinode.md):
#   launch/netns_cluster.sh start N          N = 2..4 nodes (idempotent)
#   launch/netns_cluster.sh stop             removes everything start made (idempotent)
#   launch/netns_cluster.sh status           one line per node; exit 1 when not running
#   launch/netns_cluster.sh exec NODE CMD... runs CMD on NODE (0, 1, ... or uoe-node0, ...)
#   launch/netns_cluster.sh hostfile SLOTS   prints an Open MPI hostfile of the running nodes
# Node i is the network namespace uoe-node<i> with address 10.250.0.<i+1>/24 on its eth0, up
# loopback, hostname uoe-node<i> (a UTS namespace per command) and /etc/hosts naming every node
# (from /etc/netns/uoe-node<i>/hosts, which `ip netns exec` mounts over /etc/hosts). Each eth0 is a
# veth whose peer is a port of the bridge br0 in the namespace uoe-bridge: the bridge lives in its
# own namespace, so the root namespace gets no links, addresses or routes, and nothing of the
# cluster can reach another network. The filesystem, CPUs and /dev/shm stay shared, as does the
# process id space. UOE_CLUSTER (default uoe) names a second, independent cluster.
# Exit codes: 0 done, 1 not running (status, exec, hostfile), 2 usage, 3 this machine does not allow
# network namespaces (not root, or `ip netns add` fails); tests skip on 3.
set -euo pipefail

cluster=${UOE_CLUSTER:-uoe}
[[ $cluster =~ ^[a-z][a-z0-9]{0,7}$ ]] || { echo "netns_cluster: UOE_CLUSTER must be 1-8 lowercase letters/digits, got '$cluster'" >&2; exit 2; }
bridge=$cluster-bridge
subnet=10.250.0
max_nodes=4

usage() {
  echo "usage: $0 start N (N=2..$max_nodes) | stop | status | exec NODE CMD... | hostfile SLOTS" >&2
  exit 2
}

unavailable() {
  echo "netns_cluster: network namespaces are not available here ($1); cluster not started" >&2
  exit 3
}

node_name() { echo "$cluster-node$1"; }

# Names of this cluster's namespaces that exist, nodes in index order.
existing_nodes() {
  ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$cluster-node[0-9]+\$" | sort -V || true
}

write_hosts() {  # write_hosts N
  local n=$1 i
  for ((i = 0; i < n; i++)); do
    mkdir -p "/etc/netns/$(node_name "$i")"
    {
      echo "127.0.0.1 localhost"
      echo "::1 localhost"
      for ((j = 0; j < n; j++)); do echo "$subnet.$((j + 1)) $(node_name "$j")"; done
    } > "/etc/netns/$(node_name "$i")/hosts"
  done
}

# Exit 0 when exactly nodes 0..N-1, the bridge and their hosts files exist.
running_with() {  # running_with N
  local n=$1 i
  [[ $(existing_nodes | wc -l) -eq $n ]] || return 1
  ip netns list | awk '{print $1}' | grep -qx "$bridge" || return 1
  for ((i = 0; i < n; i++)); do
    [[ -f /etc/netns/$(node_name "$i")/hosts ]] || return 1
    ip -n "$(node_name "$i")" -br addr show eth0 2>/dev/null | grep -q "$subnet.$((i + 1))/24" || return 1
  done
}

# Ends processes still inside a namespace (orphans of a killed job), then deletes it.
delete_namespace() {  # delete_namespace NAME
  local name=$1 pids tries
  pids=$(ip netns pids "$name" 2>/dev/null || true)
  if [[ -n $pids ]]; then
    kill -TERM $pids 2>/dev/null || true
    for ((tries = 0; tries < 50; tries++)); do
      pids=$(ip netns pids "$name" 2>/dev/null || true)
      [[ -z $pids ]] && break
      sleep 0.1
    done
    [[ -n $pids ]] && kill -KILL $pids 2>/dev/null || true
  fi
  ip netns delete "$name" 2>/dev/null || true
  rm -rf "/etc/netns/$name"
}

stop_cluster() {
  local name
  for name in $(existing_nodes) $bridge; do
    ip netns list | awk '{print $1}' | grep -qx "$name" && delete_namespace "$name"
  done
  rm -rf /etc/netns/"$cluster"-node*
  # `ip netns add` made /etc/netns (ours) and /run/netns (a bind mount of itself); remove them
  # when no other namespace uses them.
  rmdir /etc/netns 2>/dev/null || true
  if [[ -d /run/netns && -z $(ls -A /run/netns) ]]; then
    while mountpoint -q /run/netns; do umount /run/netns; done
    rmdir /run/netns
  fi
}

start_cluster() {  # start_cluster N
  local n=$1 i name
  [[ $(id -u) -eq 0 ]] || unavailable "needs root, running as uid $(id -u)"
  if running_with "$n"; then
    echo "netns_cluster: $n nodes already running"
    return
  fi
  stop_cluster
  local error
  error=$(ip netns add "$bridge" 2>&1) || { stop_cluster; unavailable "ip netns add: ${error//$'\n'/ }"; }
  # From here a failure is a bug, not a machine without namespaces: clean up and report it.
  trap 'echo "netns_cluster: start failed at line $LINENO; cleaned up" >&2; stop_cluster' ERR
  ip -n "$bridge" link set lo up
  ip -n "$bridge" link add br0 type bridge
  ip -n "$bridge" link set br0 up
  for ((i = 0; i < n; i++)); do
    name=$(node_name "$i")
    ip netns add "$name"
    ip -n "$name" link set lo up
    ip -n "$bridge" link add "v$i" type veth peer name eth0 netns "$name"
    ip -n "$bridge" link set "v$i" master br0 up
    ip -n "$name" addr add "$subnet.$((i + 1))/24" dev eth0
    ip -n "$name" link set eth0 up
  done
  write_hosts "$n"
  trap - ERR
  echo "netns_cluster: started $n nodes ($(node_name 0)..$(node_name $((n - 1))), $subnet.0/24)"
}

status_cluster() {
  local names name n=0 addr
  names=$(existing_nodes)
  if [[ -z $names ]]; then
    echo "netns_cluster: not running"
    return 1
  fi
  for name in $names; do
    addr=$(ip -n "$name" -br addr show eth0 2>/dev/null | awk '{print $3}')
    echo "$name ${addr:-no-address} lo=$(ip -n "$name" -br link show lo | awk '{print $2}')"
    n=$((n + 1))
  done
  running_with "$n" || { echo "netns_cluster: incomplete (run stop, then start)"; return 1; }
}

# exec NODE CMD...: CMD runs in the node's network namespace, with its /etc/hosts and, in a UTS
# namespace of its own, the node's hostname; the exit code is CMD's.
exec_on() {
  [[ $# -ge 2 ]] || usage
  local node=$1
  shift
  [[ $node =~ ^[0-9]+$ ]] && node=$(node_name "$node")
  # A full name may belong to any cluster (UOE_CLUSTER), as mpirun's hostfile gives it.
  [[ $node =~ ^[a-z][a-z0-9]{0,7}-node[0-9]+$ ]] && ip netns list | awk '{print $1}' | grep -qx "$node" \
    || { echo "netns_cluster: no node '$node' (is the cluster started?)" >&2; exit 1; }
  exec ip netns exec "$node" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$node" "$@"
}

hostfile() {  # hostfile SLOTS
  [[ $# -eq 1 && $1 =~ ^[1-9][0-9]*$ ]] || usage
  local names name
  names=$(existing_nodes)
  [[ -n $names ]] || { echo "netns_cluster: not running" >&2; exit 1; }
  for name in $names; do echo "$name slots=$1"; done
}

[[ $# -ge 1 ]] || usage
command=$1
shift
case $command in
  start)
    [[ $# -eq 1 && $1 =~ ^[0-9]+$ && $1 -ge 2 && $1 -le $max_nodes ]] || usage
    # One start or stop at a time (they share /run/netns and /etc/netns).
    exec 9< "$0"
    flock 9
    start_cluster "$1" ;;
  stop)
    [[ $# -eq 0 ]] || usage
    exec 9< "$0"
    flock 9
    stop_cluster ;;
  status) [[ $# -eq 0 ]] || usage; status_cluster ;;
  exec) exec_on "$@" ;;
  hostfile) hostfile "$@" ;;
  *) usage ;;
esac
