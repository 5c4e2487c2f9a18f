#!/usr/bin/env bash
# Install what is missing, build, and run the whole test suite (MPI tests at 1, 2 and 4 ranks; the
# command-line, resume, failure and local-Slurm tests), then the short fuzzing run (about a
# minute per the three libFuzzer targets, ASan + UBSan, in build-sanitize/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh
bash launch/build.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
status=0
ctest --test-dir build --output-on-failure --timeout 900 || status=$?
bash launch/fuzz.sh || status=$?
exit "$status"
