#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) in build-sanitize/ and fuzzes each of them for
# SECONDS (default 20: the short run of the test suite), starting from the committed seeds in
# fuzz/corpus/<target>/ plus what earlier runs found (build-sanitize/fuzz/corpus/<target>/).
#   launch/fuzz.sh                  # about a minute in all
#   launch/fuzz.sh 600              # long run: 10 minutes per target
#   launch/fuzz.sh 600 fuzz_config  # one target
# Exits non-zero when a target finds a crash, a sanitizer report or a non-InputError exception;
# the input that triggered it is in build-sanitize/fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
shift || true
targets=("$@")
bash launch/setup.sh
if ((${#targets[@]})); then
  bash launch/sanitize_build.sh "-DUOE_FUZZ_SECONDS=$seconds" "${targets[@]}"
  pattern="^($(IFS='|'; echo "${targets[*]}"))\$"
else
  bash launch/sanitize_build.sh "-DUOE_FUZZ_SECONDS=$seconds" uoe_fuzzers
  pattern='^fuzz_'
fi
status=0
ctest --test-dir build-sanitize -R "$pattern" --output-on-failure || status=$?
# Executions per target, from the libFuzzer statistics in the ctest log.
awk '/^[0-9]+\/[0-9]+ Test: / {name = $3}
     /stat::number_of_executed_units/ {print name ": " $2 " executions"}' \
  build-sanitize/Testing/Temporary/LastTest.log
exit "$status"
