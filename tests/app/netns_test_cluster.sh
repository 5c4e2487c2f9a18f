# Sourced by the tests that run on a cluster of network namespaces (launch/netns_cluster.sh) with
# `uoe=$1 root=$2` set: starts a cluster of its own of $1 nodes (UOE_CLUSTER=<$2><pid>, so a
# running `uoe` cluster is left alone), stops it on exit, failure and SIGTERM, and sets $work (a
# temporary directory removed at exit, with the Open MPI hostfile $work/hosts of 2 slots per node)
# and $cluster_sh, and defines wait_for (a bounded poll). Exits 77 (ctest skip) where the machine
# does not allow network namespaces.
cluster_sh=$root/launch/netns_cluster.sh
export UOE_CLUSTER=$2$$
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d)
trap '"$cluster_sh" stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
trap 'exit 143' TERM INT  # runs the EXIT trap too

rc=0
"$cluster_sh" start "$1" > "$work/start.log" 2>&1 || rc=$?
if [[ $rc -eq 3 ]]; then
  echo "SKIP: $(cat "$work/start.log")"
  exit 77
fi
[[ $rc -eq 0 ]] || { cat "$work/start.log"; exit 1; }
"$cluster_sh" hostfile 2 > "$work/hosts"

# wait_for [-i INTERVAL] SECONDS CMD...: runs CMD every INTERVAL seconds (default 0.2) until it
# succeeds; status 1 once SECONDS have passed. A short INTERVAL (0.01) where what follows must come
# within a few steps of the run: 0.2 s is many steps on a fast machine.
wait_for() {
  local interval=0.2
  [[ $1 == -i ]] && { interval=$2; shift 2; }
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep "$interval"
  done
}
