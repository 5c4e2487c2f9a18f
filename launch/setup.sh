#!/usr/bin/env bash
# Installs every Debian 12 package uoe needs to build, test and run. Idempotent: packages that are
# already installed are skipped, and apt-get runs only when something is missing.
#   launch/setup.sh                          the Debian packages (LibTorch 1.13, CPU)
#   launch/setup.sh --torch-wheel[=VERSION]  also PyPI's torch wheel (LibTorch 2.x with CUDA) in the
#                                            venv $UOE_TORCH_VENV (default .venv-torch), for the GPU
#                                            build: UOE_TORCH=wheel launch/build.sh. A venv that
#                                            already has torch (of VERSION when given) is used as is.
set -euo pipefail
cd "$(dirname "$0")/.."

torch_wheel=""
for arg in "$@"; do
  case $arg in
    --torch-wheel) torch_wheel=latest ;;
    --torch-wheel=*) torch_wheel=${arg#--torch-wheel=} ;;
    *) echo "setup: unknown argument '$arg' (only --torch-wheel[=VERSION])" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential cmake ninja-build ccache git pkg-config
  libtorch-dev libopenblas0-pthread
  libopenmpi-dev openmpi-bin
  libyaml-cpp-dev libhdf5-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev llvm   # sanitizer builds, libFuzzer targets, llvm-symbolizer
  clang-format-14                 # launch/check_format.sh (the code_format test)
  python3 python3-torch python3-numpy python3-h5py python3-matplotlib python3-scipy
  slurm-wlm munge
)
[ -z "$torch_wheel" ] || packages+=(python3-venv python3-pip)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "[setup] installing: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "[setup] all packages present"
fi

if [ -n "$torch_wheel" ]; then
  venv=${UOE_TORCH_VENV:-$PWD/.venv-torch}
  want=""
  [ "$torch_wheel" = latest ] || want=$torch_wheel
  have=$("$venv/bin/python" -c 'import torch; print(torch.__version__)' 2>/dev/null || true)
  if [ -n "$have" ] && [[ -z $want || $have == "$want" || $have == "$want"+* ]]; then
    echo "[setup] torch $have already in $venv"
  else
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    echo "[setup] installing torch${want:+==$want} from PyPI into $venv (several GB with CUDA)"
    "$venv/bin/python" -m pip install -q "torch${want:+==$want}"
  fi
fi
