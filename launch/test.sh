#!/usr/bin/env bash
# Install what is missing, build, and run the whole test suite (MPI tests at 1, 2 and 4 ranks; the
# command-line, resume, failure and local-Slurm tests), then the short fuzzing run (about a
# minute per the three libFuzzer targets, ASan + UBSan, in build-sanitize/).
#
# Then the same suite against LibTorch 2.x: the GPU build (PyPI's torch wheel with CUDA, the NCCL
# backend compiled) into build-torch2/, its tests run on the CPU (the GPU cases skip). The wheel is
# torch==$UOE_TEST_TORCH_VERSION (default 2.11.0, the GPU machine's, so that this build is the one
# carried there), installed once into $UOE_TORCH_VENV (default ~/.cache/uoe/venv-torch-<version>,
# several GB, reused by later runs). That stage is skipped, saying why, where no CUDA toolkit (nvcc)
# is installed or PyPI cannot be reached; UOE_TEST_TORCH2=0 skips it on purpose.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
start=$SECONDS
stage() { printf '\n[test] %s (%d min in)\n' "$*" $(((SECONDS - start) / 60)); }

bash launch/setup.sh
bash launch/build.sh
status=0
stage "test suite, Debian LibTorch 1.13 (build/)"
ctest --test-dir build --output-on-failure --timeout 900 || status=$?
stage "fuzzing (build-sanitize/)"
bash launch/fuzz.sh || status=$?

torch2_version=${UOE_TEST_TORCH_VERSION:-2.11.0}
export UOE_TORCH_VENV=${UOE_TORCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/uoe/venv-torch-$torch2_version}
if [ "${UOE_TEST_TORCH2:-1}" = 0 ]; then
  stage "SKIPPED LibTorch $torch2_version stage: UOE_TEST_TORCH2=0"
elif ! command -v nvcc > /dev/null && [ ! -x /usr/local/cuda/bin/nvcc ]; then
  stage "SKIPPED LibTorch $torch2_version stage: no CUDA toolkit (nvcc) to compile the GPU build"
elif ! bash launch/setup.sh --torch-wheel="$torch2_version"; then
  stage "SKIPPED LibTorch $torch2_version stage: launch/setup.sh --torch-wheel=$torch2_version" \
        "failed (above): torch could not be installed into $UOE_TORCH_VENV"
else
  stage "GPU build against LibTorch $torch2_version (build-torch2/)"
  UOE_TORCH=wheel bash launch/build.sh -DUOE_WITH_NCCL=ON || status=$?
  stage "test suite, LibTorch $torch2_version on the CPU (build-torch2/)"
  ctest --test-dir build-torch2 --output-on-failure --timeout 900 || status=$?
fi
stage "done, exit status $status"
exit "$status"
