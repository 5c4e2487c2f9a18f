# shellcheck shell=bash
# Shared by the benchmark run.sh scripts (source it after setting UOE, NP and OUT):
# builds $UOE when missing, creates $OUT/logs and defines run_uoe, which runs one uoe command
# under mpiexec with its output in $OUT/logs/<name>.log, appends the command to
# $OUT/commands.txt, and on failure prints the log's tail and exits 1.
if [[ ! -x $UOE ]]; then
  echo "== building $UOE"
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
  cmake --build build --target uoe -j "$(nproc)"
fi
mkdir -p "$OUT/logs"
COMMANDS=$OUT/commands.txt
run_uoe() {  # run_uoe <log name> <uoe command> <config> [overrides...]
  local log=$OUT/logs/$1.log
  shift
  echo "mpiexec -np $NP $UOE $*" >> "$COMMANDS"
  if ! mpiexec -np "$NP" "$UOE" "$@" > "$log" 2>&1; then
    echo "error: uoe $1 failed, see $log" >&2
    tail -5 "$log" >&2
    exit 1
  fi
}
