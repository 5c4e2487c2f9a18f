#!/usr/bin/env bash
# GPU check (issue 18, part 9) for a machine with one NVIDIA GPU, the CUDA toolkit, CMake and a
# Python whose PyTorch is a CUDA build (with transformers, tokenizers, safetensors), but no
# package access. One command, at most 8 minutes on one H200 (UOE_GPU_BUDGET_S).
#
# The device tool call for the next session with a GPU (from the repository root, after
# `bash benchmarks/gpu/make_gpu_deps.sh` and
# `bash benchmarks/gpu/make_gpu_prebuilt.sh build-torch211` here, build-torch211 built from the
# commit to check; carried, measured 2026-12-05: .gpu_deps 10.5 MB + .gpu_prebuilt 5.3 MB + the
# tracked tree 10.8 MB = 26.6 MB of the 64 MiB):
#
#   run(command="bash benchmarks/gpu/run_gpu_check.sh", carry=[".gpu_deps", ".gpu_prebuilt"],
#       timeout_s=540)
#
# (no kind: an H100 or an H200, whichever is free; the DeepSeek-V2-Lite-shaped step needs 31 GB
# of weights plus activations and fits either; gpu_check.md names the GPU; 480 s of checks plus
# the summary leave 540 s with room, and the machine's start costs 1-2 more minutes of the
# session's 15.) What comes back in $OUT: gpu_check.json, gpu_check.md (the block for
# benchmarks/gpu/RESULTS.md), gpu_check_logs.tar.gz (every log and report), console.log.
#
# Steps, each logged and given its own time limit (never more than what is left of the budget;
# a step that no longer fits is recorded as skipped):
#  1. env: GPU, driver, torch, CUDA, NCCL.
#  2. binaries: unpacks .gpu_prebuilt/prebuilt.tar.xz (make_gpu_prebuilt.sh: uoe, moe_layer_bench
#     and the test executables, built here against the same torch) into $UOE_GPU_BUILD when its
#     torch version is this Python's; else (fallback) configures and builds uoe against this
#     torch's LibTorch with NCCL, taking yaml-cpp, HDF5, OpenMPI, nlohmann-json and GoogleTest
#     from .gpu_deps (make_gpu_deps.sh; gpu_deps_env.sh unpacks it and sets the paths).
#  3. GPU tests: every GoogleTest test whose full name contains Cuda, CUDA, cuda, Gpu, GPU, Nccl,
#     NCCL or nccl (the naming convention of GPU tests: they GTEST_SKIP without a GPU), from every
#     test executable, at 1 rank (a skipped GPU test fails the check on a GPU), then those of the
#     MPI backend (the NCCL ones left out) at 2 ranks on the one GPU; then the NCCL tests at 2
#     ranks, which NCCL refuses on one GPU ("Duplicate GPU detected"; recorded, not judged).
#  4. MoE layer bf16 forward+backward (moe_layer_bench, after its fp32 check against the HF-style
#     reference moe_reference.py) at the fine-grained, DeepSeek-V2-Lite (H2048 F1408 E64 K6;
#     routed experts only: the 2 shared experts are a dense MLP) and Mixtral (H4096 F14336 E8 K2)
#     shapes, T = 16384 tokens; then cublas_gemm.py: the same FLOPs as dense cuBLAS GEMMs.
#     Goals: uoe layer >= 60 % of the cuBLAS rate, >= 3x the PyTorch reference.
#  5. End to end: the tiny demo data and a short CPU pretraining, then
#     `uoe unlearn configs/tiny/unlearn_seuf.yaml device=cuda parallel.backend=nccl` (1 rank,
#     parallel.ep_size=1). Then tests/app/cuda_parity.sh (judged): the tiny SEUF unlearning on the
#     CPU, on CUDA with MPI host staging at EP 2 (2 ranks on the one GPU) and with NCCL at EP 1,
#     metrics compared within the script's stated tolerances.
#  6. SEUF step on a DeepSeek-V2-Lite-shaped model (make_seuf_model.py: 27 layers, random bf16
#     weights, one HF directory in $UOE_GPU_WORK, 31 GB, written with weights drawn on the GPU),
#     sequence 2048: uoe (benchmarks/gpu/seuf_step.yaml: GA + router anchor on layer 16's expert
#     20 and router, bf16, 4 steps), its tokens/s and peak memory against `uoe plan` for one such
#     GPU (configs/clusters/h200_dgx.yaml or h100_dgx.yaml, gpu_counts=[1]; goal within 20 %) and
#     its own start-up memory plan; the full-model step beside it (or the plan's refusal); and
#     the peer, HF transformers on the same directory (hf_seuf_step.py).
#     Goal: uoe >= 2x the peer's tokens/s at no more memory.
#  7. summarize_gpu_check.py: gpu_check.json, gpu_check.md, a table.
# Exit code 0 only when every judged step passed (the goals are reported, not judged).
#
# Environment (optional):
#   UOE_GPU_PYTHON       Python with the torch the binaries use (default python3)
#   UOE_GPU_PEER_PYTHON  Python with transformers, tokenizers, safetensors (default UOE_GPU_PYTHON)
#   UOE_GPU_BUILD        build folder (default <repo>/build-gpu)
#   UOE_GPU_PREBUILT     folder with prebuilt.tar.xz (default <repo>/.gpu_prebuilt; "none": build)
#   UOE_GPU_JOBS         build jobs (nproc); UOE_GPU_BUILD_TARGETS (all: a fallback build of
#     everything takes minutes of the budget; raise UOE_GPU_BUDGET_S, at most ~560 in one call)
#   UOE_GPU_BUDGET_S     total seconds (480)
#   UOE_GPU_WORK         scratch for the model and runs (default /tmp/uoe_gpu_check; 31 GB)
#   UOE_GPU_TOKENS (16384), UOE_GPU_ITERS (20), UOE_GPU_SHAPES ("fine_grained deepseek_v2_lite
#     mixtral"; also qwen3_30b_a3b)
#   UOE_GPU_TINY_STEPS   pretraining steps of the tiny model for step 5 (100)
#   UOE_GPU_SEUF_MODEL_ARGS  make_seuf_model.py flags (default: none, DeepSeek-V2-Lite's shape)
#   UOE_GPU_SEUF_SEQ (2048), UOE_GPU_SEUF_STEPS (4), UOE_GPU_SEUF_LAYER (16),
#   UOE_GPU_SEUF_EXPERT (20)
#   UOE_GPU_CHECK_DEVICE=cpu rehearses every step without a GPU (GPU tests skip, reported but not
#     judged; benchmarks and steps on the CPU; step 5 without parallel.backend=nccl)
#   UOE_GPU_DEPS / UOE_GPU_DEPS_UNPACKED (gpu_deps_env.sh), NCCL_HOME (another NCCL)
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
python=${UOE_GPU_PYTHON:-python3}
peer_python=${UOE_GPU_PEER_PYTHON:-$python}
build=${UOE_GPU_BUILD:-$repo/build-gpu}
prebuilt=${UOE_GPU_PREBUILT:-$repo/.gpu_prebuilt}
jobs=${UOE_GPU_JOBS:-$(nproc)}
budget=${UOE_GPU_BUDGET_S:-480}
work=${UOE_GPU_WORK:-/tmp/uoe_gpu_check}
tokens=${UOE_GPU_TOKENS:-16384}
iters=${UOE_GPU_ITERS:-20}
shape_names=${UOE_GPU_SHAPES:-fine_grained deepseek_v2_lite mixtral}
tiny_steps=${UOE_GPU_TINY_STEPS:-100}
seuf_seq=${UOE_GPU_SEUF_SEQ:-2048}
seuf_steps=${UOE_GPU_SEUF_STEPS:-4}
seuf_layer=${UOE_GPU_SEUF_LAYER:-16}
seuf_expert=${UOE_GPU_SEUF_EXPERT:-20}
read -r -a seuf_model_args <<<"${UOE_GPU_SEUF_MODEL_ARGS:-}"
device=${UOE_GPU_CHECK_DEVICE:-cuda}
gpu_filter='*Cuda*:*CUDA*:*cuda*:*Gpu*:*GPU*:*Nccl*:*NCCL*:*nccl*'  # */mpi_cuda: MPI host staging
nccl_names='*Nccl*:*NCCL*:*nccl*'

# Only what this script writes there (UOE_GPU_WORK may be a folder that holds other things).
scratch=(results bin tiny bench_ref seuf_model seuf_data seuf_uoe seuf_uoe_full seuf_tokenize.yaml)
rm -rf "${scratch[@]/#/$work/}" && mkdir -p "$work/results" || exit 1
out=$work/results   # everything; $OUT gets the summary, the Markdown block and one tarball
results=$out/steps.jsonl
: >"$results"
start=$(date +%s)
exec > >(tee "$out/console.log") 2>&1

elapsed() { echo $(( $(date +%s) - start )); }
step() { printf '\n== [%3ds] %s\n' "$(elapsed)" "$*"; }
# record <name> <status> <seconds> [detail]: one JSON line per step.
record() {
  "$python" -c 'import json, sys; print(json.dumps(dict(step=sys.argv[1], status=sys.argv[2],
    seconds=int(sys.argv[3]), detail=sys.argv[4] if len(sys.argv) > 4 else "")))' "$@" >>"$results"
}
# The summary decides the exit code; $OUT gets what the device tool can bring back (8 files).
finish() {
  "$python" "$repo/benchmarks/gpu/summarize_gpu_check.py" "$out" "$(elapsed)"
  local code=$?
  rm -rf "$work/seuf_model"  # 31 GB
  if [[ -n ${OUT:-} ]]; then
    mkdir -p "$OUT"
    cp "$out/gpu_check.json" "$out/gpu_check.md" "$OUT/" 2>/dev/null
    tar -czf "$OUT/gpu_check_logs.tar.gz" -C "$work" results
    cp "$out/console.log" "$OUT/"
  fi
  exit "$code"
}
# run <name> <timeout s> <command...>: logs to $out/<name>.log, records ok / failed / timeout /
# skipped; the time limit is cut to what is left of the budget (less 15 s for the summary).
run() {
  local name=$1 limit=$2 t0 code status left
  shift 2
  left=$(( budget - $(elapsed) - 15 ))
  (( limit > left )) && limit=$left
  if (( limit < 10 )); then
    record "$name" skipped 0 "budget of ${budget} s spent"
    echo "skipped: $name (budget spent)"
    return 125
  fi
  t0=$(date +%s)
  timeout -k 10 "$limit" "$@" >"$out/$name.log" 2>&1
  code=$?
  case $code in 0) status=ok ;; 124 | 137) status=timeout ;; *) status=failed ;; esac
  record "$name" "$status" "$(( $(date +%s) - t0 ))" "exit code $code (limit ${limit} s)"
  tail -n 12 "$out/$name.log"
  return "$code"
}

step "machine"
"$python" - "$out/env.json" "$device" "$budget" <<'EOF' || { echo "no usable torch for $device in $python" >&2; record env failed 0; finish; }
import json, os, platform, subprocess, sys, torch
env = {"device": sys.argv[2], "torch": torch.__version__, "torch_cuda": torch.version.cuda,
       "cxx11_abi": torch.compiled_with_cxx11_abi(), "cores": os.cpu_count(),
       "os": platform.platform(), "python": sys.executable, "budget_s": int(sys.argv[3])}
if sys.argv[2] == "cuda":
    assert torch.cuda.is_available(), "torch sees no CUDA device"
    p = torch.cuda.get_device_properties(0)
    env.update(gpu=p.name, gpu_memory_gib=round(p.total_memory / 2**30, 1),
               compute_capability=f"{p.major}.{p.minor}",
               nccl=".".join(map(str, torch.cuda.nccl.version())))
    try:
        env["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version",
                                        "--format=csv,noheader"], capture_output=True,
                                       text=True).stdout.strip()
    except OSError:
        pass
json.dump(env, open(sys.argv[1], "w"), indent=2)
print(json.dumps(env, indent=2))
EOF
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$repo" diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"
"$python" -c 'import json, sys; e = json.load(open(sys.argv[1])); e["commit"] = sys.argv[2]
json.dump(e, open(sys.argv[1], "w"), indent=2)' "$out/env.json" "$commit"
record env ok 0
torch_version=$("$python" -c 'import torch; print(torch.__version__)')
torch_prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')
torch_lib=$("$python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi

step "dependency bundle"
# shellcheck source=gpu_deps_env.sh
source "$repo/benchmarks/gpu/gpu_deps_env.sh" || { record bundle failed 0; finish; }
record bundle ok 0 "missing system libraries taken from the bundle: $(ls "$UOE_DEPS_USR/../../missing" 2>/dev/null | paste -sd' ')"
# LibTorch, CUDA and NCCL from this Python's torch wheel (the prebuilt binaries' RUNPATH names
# the build machine's folders).
nvidia_libs=$(ls -d "$torch_lib"/../../nvidia/*/lib 2>/dev/null | paste -sd:)
export LD_LIBRARY_PATH=$torch_lib${nvidia_libs:+:$nvidia_libs}:$LD_LIBRARY_PATH

prebuilt_version=$(sed -n 's/^torch_version //p' "$prebuilt/MANIFEST.txt" 2>/dev/null)
if [[ -f $prebuilt/prebuilt.tar.xz && $prebuilt_version == "$torch_version" ]]; then
  step "prebuilt binaries ($prebuilt, torch $prebuilt_version) into $build"
  run prebuilt 60 bash -c 'rm -rf "$1" && mkdir -p "$1" && tar -xJf "$2/prebuilt.tar.xz" -C "$1" &&
    cat "$2/MANIFEST.txt" && ! ldd "$1/uoe" | grep "not found"' _ "$build" "$prebuilt" || finish
  # Tests read fixtures from the source folder compiled into them: point it here.
  source_dir=$(sed -n 's/^source_dir //p' "$prebuilt/MANIFEST.txt")
  if [[ -n $source_dir && ! -e $source_dir ]]; then
    mkdir -p "$(dirname "$source_dir")" && ln -s "$repo" "$source_dir" && echo "linked $source_dir -> $repo"
  fi
else
  [[ -f $prebuilt/prebuilt.tar.xz ]] && echo "prebuilt binaries are for torch '$prebuilt_version', this is $torch_version: building"
  generator=(-G "Unix Makefiles")
  command -v ninja >/dev/null && generator=(-G Ninja)
  gpu_args=(-DUOE_WITH_NCCL=AUTO)
  if [[ $device == cuda ]]; then
    gpu_args=(-DUOE_WITH_NCCL=ON -DTORCH_CUDA_ARCH_LIST="$("$python" -c \
              'import torch; print("%d.%d" % torch.cuda.get_device_capability())')")
  fi
  step "configure ($build, LibTorch at $torch_prefix)"
  run configure 180 cmake -S "$repo" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
      -DUOE_BUILD_BENCHMARKS=ON "${gpu_args[@]}" \
      -DCMAKE_PREFIX_PATH="$torch_prefix;$UOE_DEPS_PREFIX_PATH" "${UOE_DEPS_CMAKE_ARGS[@]}" || finish
  grep -E "uoe: (LibTorch|NCCL)" "$out/configure.log"
  read -r -a targets <<<"${UOE_GPU_BUILD_TARGETS:-all}"
  step "build (-j$jobs): ${targets[*]}"
  run build 420 cmake --build "$build" -j "$jobs" --target "${targets[@]}" || finish
fi

mpirun=("$UOE_MPIRUN" --oversubscribe)
test_bins=()
while IFS= read -r f; do test_bins+=("$f"); done < <(find "$build/tests" -maxdepth 2 -type f -name 'test_*' -perm -u+x | sort)
# has_tests <gtest JSON report>: true when it ran at least one test.
has_tests() { "$python" -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1])).get("tests", 0) else 1)' "$1" 2>/dev/null; }

step "GPU tests at 1 rank (filter $gpu_filter) in ${#test_bins[@]} test executables"
gpu_bins=()
for bin in "${test_bins[@]}"; do
  name=test_gpu_$(basename "$bin")_np1
  run "$name" 90 "${mpirun[@]}" -np 1 "$bin" --gtest_filter="$gpu_filter" --gtest_color=no \
      --gtest_output="json:$out/$name.json" >/dev/null
  if has_tests "$out/$name.json"; then gpu_bins+=("$bin"); else rm -f "$out/$name.json"; fi
done
echo "executables with GPU tests: ${gpu_bins[*]##*/}"
step "GPU tests of the MPI backend at 2 ranks on one device (NCCL ones left out)"
for bin in "${gpu_bins[@]}"; do
  name=test_gpu_$(basename "$bin")_np2
  run "$name" 90 "${mpirun[@]}" -np 2 "$bin" --gtest_filter="$gpu_filter-$nccl_names" \
      --gtest_color=no --gtest_output="json:$out/$name.json"
  has_tests "$out/$name.json" || rm -f "$out/$name.json"
done
step "NCCL at 2 ranks on one GPU (expected: NCCL refuses duplicate devices)"
run test_parallel_nccl_np2 45 "${mpirun[@]}" -np 2 "$build/tests/parallel/test_parallel" \
    --gtest_filter="$nccl_names" --gtest_color=no --gtest_output="json:$out/test_parallel_nccl_np2.json"

# name, hidden H, expert FFN F, experts E, top-k K, norm_topk_prob
shapes=("fine_grained 1024 704 16 4 0" "deepseek_v2_lite 2048 1408 64 6 0" "mixtral 4096 14336 8 2 1"
        "qwen3_30b_a3b 2048 768 128 8 1")
for entry in "${shapes[@]}"; do
  read -r name hidden ffn experts top_k norm <<<"$entry"
  [[ " $shape_names " == *" $name "* ]] || continue
  step "MoE layer bf16 $name on $device: uoe vs PyTorch reference, T=$tokens"
  mkdir -p "$work/bench_ref"
  run "bench_$name" 150 "$build/benchmarks/moe_layer_bench" --name "$name" --hidden "$hidden" \
      --ffn "$ffn" --experts "$experts" --top-k "$top_k" --tokens "$tokens" \
      --norm-topk-prob "$norm" --device "$device" --dtype bfloat16 --warmup 3 --iters "$iters" \
      --pause 0 --threads 4 --tolerance 1e-4 --python "$python" \
      --reference-script "$repo/benchmarks/moe_reference.py" \
      --reference-prefix "$work/bench_ref/$name" --json "$out/moe_layer_$name.json" || continue
  step "cuBLAS bf16 GEMMs of the same FLOPs ($name)"
  run "cublas_$name" 60 "$python" "$repo/benchmarks/gpu/cublas_gemm.py" "$out/moe_layer_$name.json" \
      --device "$device" --dtype bfloat16 --iters "$iters" --json "$out/cublas_$name.json"
done
rm -rf "$work/bench_ref"

uoe=("${mpirun[@]}" -np 1 "$build/uoe")
step "end to end: tiny data, CPU pretraining ($tiny_steps steps), unlearn on $device"
tiny=$work/tiny
e2e_args=(device="$device" parallel.ep_size=1)
[[ $device == cuda ]] && e2e_args+=(parallel.backend=nccl)
mkdir -p "$tiny" && cd "$tiny" || finish
if run tiny_data 60 "${uoe[@]}" make-data "$repo/configs/tiny/facts.yaml" &&
   run tiny_pretrain 150 "${uoe[@]}" pretrain "$repo/configs/tiny/pretrain_facts.yaml" \
       max_steps="$tiny_steps" parallel.ep_size=1 device=cpu logging_steps=50; then
  run unlearn_tiny_e2e 120 "${uoe[@]}" unlearn "$repo/configs/tiny/unlearn_seuf.yaml" "${e2e_args[@]}"
  cp "$tiny/runs/demo/seuf_ga/summary.json" "$out/unlearn_tiny_e2e_summary.json" 2>/dev/null
  # The same run on the CPU: the summary sets its metrics beside the device run's.
  run unlearn_tiny_cpu 90 "${uoe[@]}" unlearn "$repo/configs/tiny/unlearn_seuf.yaml" device=cpu \
      parallel.ep_size=1 output_dir=runs/demo/seuf_ga_cpu &&
    cp "$tiny/runs/demo/seuf_ga_cpu/summary.json" "$out/unlearn_tiny_cpu_summary.json"
fi
cd "$repo" || finish

if [[ $device == cuda ]]; then
  step "app_cuda_parity: uoe unlearn on CUDA (MPI staging at EP 2, NCCL at EP 1) against the CPU"
  mkdir -p "$work/bin" && printf '#!/bin/sh\nexec "%s" "$@"\n' "$UOE_MPIRUN" >"$work/bin/mpiexec" &&
    chmod +x "$work/bin/mpiexec"  # the test calls mpiexec; the bundle's is orterun
  run cuda_parity 150 env PATH="$work/bin:$PATH" bash "$repo/tests/app/cuda_parity.sh" "$build/uoe" "$repo"
fi

step "SEUF step: DeepSeek-V2-Lite-shaped model ${seuf_model_args[*]:-(full size)}, sequence $seuf_seq"
model=$work/seuf_model
seuf_target=(unlearn.selection.layer="$seuf_layer" "unlearn.selection.experts=[$seuf_expert]")
seuf_common=(model_name_or_path="$model" dataset.forget="$work/seuf_data/forget.h5"
             max_steps="$seuf_steps" device="$device" "${seuf_target[@]}")
printf 'output_dir: %s\ntokenize:\n  tokenizer: %s\n  input: %s\n  output: forget.h5\n  format: text\n  max_length: %s\n' \
  "$work/seuf_data" "$model/tokenizer.json" "$model/forget.txt" "$seuf_seq" >"$work/seuf_tokenize.yaml"
run seuf_model 200 "$peer_python" "$repo/benchmarks/gpu/make_seuf_model.py" "$model" \
    --seq-len "$seuf_seq" --sequences "$seuf_steps" --device "$device" "${seuf_model_args[@]}" &&
  cp "$model/config.json" "$out/seuf_model_config.json" &&
  cp "$model/make_seuf_model.json" "$out/seuf_model.json" &&
  run seuf_tokenize 60 "${uoe[@]}" tokenize "$work/seuf_tokenize.yaml" && {
  # `uoe plan` for this one device: memory and step time of the SEUF and the full-model step.
  cluster=$repo/configs/clusters/cpu.yaml
  [[ $device == cuda ]] && cluster=$repo/configs/clusters/h100_dgx.yaml
  [[ $(sed -n 's/.*"gpu": "\(.*\)".*/\1/p' "$out/env.json") == *H200* ]] && cluster=$repo/configs/clusters/h200_dgx.yaml
  run seuf_plan 30 "${uoe[@]}" plan "$model" "$cluster" "gpu_counts=[1]" gpus_per_node=1 \
      workload.seq_len="$seuf_seq" workload.sequences_per_rank=1 workload.precision=bf16 \
      workload.seuf_target_layer="$seuf_layer" workload.recompute=false output="$out/seuf_plan.json"
  run seuf_uoe 200 "${uoe[@]}" unlearn "$repo/benchmarks/gpu/seuf_step.yaml" "${seuf_common[@]}" \
      output_dir="$work/seuf_uoe"
  for f in summary.json metrics.jsonl; do cp "$work/seuf_uoe/$f" "$out/seuf_uoe_$f" 2>/dev/null; done
  run seuf_uoe_full 120 "${uoe[@]}" unlearn "$repo/benchmarks/gpu/seuf_step.yaml" "${seuf_common[@]}" \
      output_dir="$work/seuf_uoe_full" unlearn.selection.mode=full
  for f in summary.json metrics.jsonl; do cp "$work/seuf_uoe_full/$f" "$out/seuf_uoe_full_$f" 2>/dev/null; done
  run seuf_hf 240 "$peer_python" "$repo/benchmarks/gpu/hf_seuf_step.py" "$model" \
      --layer "$seuf_layer" --expert "$seuf_expert" --steps "$seuf_steps" --seq-len "$seuf_seq" \
      --device "$device" --json "$out/seuf_hf.json"
}
finish
