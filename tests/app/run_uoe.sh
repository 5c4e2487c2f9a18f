# Sourced by app tests. run <log name> <ranks> <uoe arguments...>: uoe under mpiexec with a 300 s
# limit, its output in $work/<log name>.log; on failure the log's tail is printed and the test
# exits 1. Needs $uoe (the binary) and $work (the test's scratch directory).
run() {
  local name=$1 np=$2
  shift 2
  timeout 300 mpiexec -np "$np" --oversubscribe "$uoe" "$@" > "$work/$name.log" 2>&1 \
    || { echo "uoe $* failed:"; tail -30 "$work/$name.log"; exit 1; }
}
