#!/usr/bin/env bash
# Spread of the demo's outcome over BLAS kernels and seeds: for every OpenBLAS core type in
# CORETYPES and every seed in SEEDS, pretrain the tiny MoE on the built-in facts, then unlearn with
# GA + SEUF and with full-model GA (the demo's two runs, seed = the run's seed everywhere), and
# summarise the spread of every metric plus which end-to-end test assertions held in every run.
# OpenBLAS picks its kernels per CPU; OPENBLAS_CORETYPE forces another one (and with it another
# float summation order), so one machine can show what other CPUs would print.
#
# Settings (environment): UOE (binary, default build/uoe), OUT (default runs/spread),
# KERNELS: OpenBLAS core types, each optionally with ":<ATen CPU capability>" (ATEN_CPU_CAPABILITY:
# default | avx2 | avx512, LibTorch's own vectorised kernels), default
# "Haswell SkylakeX Sandybridge Haswell:default" (Zen is left out: OpenBLAS 0.3.21 runs the Haswell
# kernels on Zen and printed the same numbers); SEEDS (default "1234 1 2"); NP (2);
# EXTRA (overrides passed to both unlearning runs). Finished runs under OUT are reused.
# Writes OUT/spread.json and prints the table; benchmarks/spread/RESULTS.md holds a measured one.
set -euo pipefail
cd "$(dirname "$0")/../.."
uoe=${UOE:-build/uoe}
out=${OUT:-runs/spread}
kernels=${KERNELS:-Haswell SkylakeX Sandybridge Haswell:default}
seeds=${SEEDS:-1234 1 2}
np=${NP:-2}
read -r -a extra <<< "${EXTRA:-}"
cfg=configs/tiny
mpi=(launch/uoe_mpirun.sh -np "$np")
d="$out/data"
files=(dataset.forget="$d/forget.h5" dataset.retain="$d/retain.h5"
       dataset.forget_mc="$d/forget_mc.jsonl" dataset.retain_mc="$d/retain_mc.jsonl"
       dataset.tokenizer="$d/vocab.json")
mkdir -p "$out"
[[ -f "$d/train.h5" ]] || "$uoe" make-data "$cfg/facts.yaml" output_dir="$d" > "$out/make-data.log"

for kernel in $kernels; do
  for seed in $seeds; do
    run="$out/${kernel/:/-}/seed$seed"
    if [[ -f "$run/full_ga/summary.json" ]]; then echo "[spread] $kernel seed $seed: done before"; continue; fi
    mkdir -p "$run"
    echo "[spread] $kernel seed $seed"
    export OPENBLAS_CORETYPE=${kernel%%:*}
    if [[ $kernel == *:* ]]; then export ATEN_CPU_CAPABILITY=${kernel#*:}; else unset ATEN_CPU_CAPABILITY; fi
    "${mpi[@]}" "$uoe" pretrain "$cfg/pretrain_facts.yaml" output_dir="$run/pretrain" seed="$seed" \
      overwrite_output_dir=true dataset.train="$d/train.h5" "${files[@]}" > "$run/pretrain.log" 2>&1
    for variant in seuf full; do
      "${mpi[@]}" "$uoe" unlearn "$cfg/unlearn_$variant.yaml" output_dir="$run/${variant}_ga" seed="$seed" \
        overwrite_output_dir=true model_name_or_path="$run/pretrain/checkpoint" "${files[@]}" \
        "${extra[@]}" > "$run/${variant}_ga.log" 2>&1
    done
  done
done
/usr/bin/python3 benchmarks/spread/summarize.py "$out" --json "$out/spread.json"
