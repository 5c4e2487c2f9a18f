#!/usr/bin/env bash
# The main job on the built-in default: install what is missing, build, and pretrain the tiny MoE
# model with 2 ranks (experts split over both). Extra arguments are config overrides.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh
bash launch/build.sh
launch/uoe_mpirun.sh -np 2 build/uoe pretrain configs/tiny/pretrain.yaml "$@"
