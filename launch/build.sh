#!/usr/bin/env bash
# Configures and builds uoe into build/ (Release, Ninja, ccache when present). Extra arguments go
# to CMake, e.g. launch/build.sh -DCMAKE_PREFIX_PATH=/path/to/libtorch -DUOE_WITH_NCCL=ON
# UOE_TORCH=wheel: the GPU build, against the LibTorch of PyPI's torch wheel in the venv
# $UOE_TORCH_VENV (default .venv-torch, made by launch/setup.sh --torch-wheel), into build-torch2/,
# with NCCL when the CUDA toolkit is found and TORCH_CUDA_ARCH_LIST (default 9.0: H100/H200).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=build
torch_args=()
if [ "${UOE_TORCH:-debian}" = wheel ]; then
  venv=${UOE_TORCH_VENV:-$PWD/.venv-torch}
  prefix=$("$venv/bin/python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)' 2> /dev/null) || {
    echo "build: no torch in $venv (launch/setup.sh --torch-wheel installs it)" >&2
    exit 2
  }
  command -v nvcc > /dev/null || [ ! -x /usr/local/cuda/bin/nvcc ] || PATH=/usr/local/cuda/bin:$PATH
  build_dir=build-torch2
  torch_args=(-DCMAKE_PREFIX_PATH="$prefix" -DTORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}")
elif [ "${UOE_TORCH:-debian}" != debian ]; then
  echo "build: UOE_TORCH=${UOE_TORCH} (debian or wheel)" >&2
  exit 2
fi
build_dir=${UOE_BUILD_DIR:-$build_dir}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "${torch_args[@]}" "$@"
cmake --build "$build_dir" -j "$(nproc)"
