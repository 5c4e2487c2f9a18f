#!/usr/bin/env bash
# Builds uoe with AddressSanitizer + UBSan (clang, build-sanitize/) and runs the test suite under
# them: every unit test at 1, 2 and 4 ranks and the command-line tests, except the ones listed in
# `excluded` (docs/sanitizers_and_fuzzing.md says why). Any ASan, UBSan or LeakSanitizer report
# fails the test that produced it. Extra arguments go to ctest, e.g. -R test_io.
set -euo pipefail
cd "$(dirname "$0")/.."
excluded=(
  app_seuf_end_to_end  # 600 pretraining steps: beyond its 300 s budget at ASan speed
  'fuzz_.*'            # the fuzz targets: launch/fuzz.sh
)
bash launch/setup.sh
bash launch/sanitize_build.sh all
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --test-dir build-sanitize --output-on-failure -E "^($(IFS='|'; echo "${excluded[*]}"))\$" "$@"
