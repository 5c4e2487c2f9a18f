#!/usr/bin/env bash
# Configures and builds uoe into build/ (Release, Ninja, ccache when present). Extra arguments go
# to CMake, e.g. launch/build.sh -DCMAKE_PREFIX_PATH=/path/to/libtorch -DUOE_WITH_NCCL=ON
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build -j "$(nproc)"
