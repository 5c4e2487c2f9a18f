#!/usr/bin/env bash
# Fetches the TOFU JSON-lines files (Maini et al. 2024, MIT license) from the Hugging Face hub
# (dataset locuslab/TOFU) into a directory for TOFU_DATA of run.sh. Needs network access; the
# machines this project is developed on have none, which is why run.sh reads a local copy
# (../shared/data/tofu by default).
# Usage: benchmarks/tofu/fetch_tofu.sh [output dir, default data/tofu]
set -euo pipefail
out=${1:-data/tofu}
base=https://huggingface.co/datasets/locuslab/TOFU/resolve/main
mkdir -p "$out"
for name in full forget01 forget01_perturbed forget10 forget10_perturbed retain90 retain99 retain_perturbed; do
  echo "fetching $name.json"
  curl -fsSL --retry 3 -o "$out/$name.json.tmp" "$base/$name.json"
  mv "$out/$name.json.tmp" "$out/$name.json"
done
echo "TOFU in $out: run TOFU_DATA=$out benchmarks/tofu/run.sh"
