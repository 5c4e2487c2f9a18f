#!/usr/bin/env bash
# Configures build-sanitize/ (clang; AddressSanitizer + UBSan on all of uoe's code; the libFuzzer
# targets of fuzz/) and builds the given targets only. Arguments starting with -D go to CMake.
#   launch/sanitize_build.sh [-DNAME=VALUE ...] <target>...
# Used by launch/test_sanitizers.sh and launch/fuzz.sh; docs/sanitizers_and_fuzzing.md explains.
# Warnings stay warnings here (UOE_WERROR=OFF): -Werror is checked by the GCC build of build.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake_args=()
targets=()
for arg in "$@"; do
  if [[ $arg == -D* ]]; then cmake_args+=("$arg"); else targets+=("$arg"); fi
done
((${#targets[@]})) || { echo "usage: $0 [-DNAME=VALUE ...] <target>..." >&2; exit 2; }
cmake -S . -B build-sanitize -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUOE_SANITIZE=address,undefined -DUOE_FUZZ=ON \
  -DUOE_WITH_NCCL=OFF -DUOE_BUILD_BENCHMARKS=OFF -DUOE_WERROR=OFF "${cmake_args[@]}" >/dev/null
cmake --build build-sanitize -j "$(nproc)" --target "${targets[@]}"
