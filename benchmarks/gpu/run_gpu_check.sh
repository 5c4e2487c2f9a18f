#!/usr/bin/env bash
# GPU check for a machine with one NVIDIA GPU, the CUDA toolkit (nvcc), CMake, a C++ compiler and a
# Python whose PyTorch is a CUDA build, but no package access. Under 8 minutes on an H100/H200.
#
#   bash benchmarks/gpu/run_gpu_check.sh
#
# 1. builds uoe against that PyTorch's LibTorch with the NCCL backend (cmake/nccl.cmake takes the
#    nvidia-nccl wheel that PyTorch loads, else the CUDA toolkit's NCCL), taking yaml-cpp, HDF5, OpenMPI,
#    nlohmann-json and GoogleTest from .gpu_deps/ (made beforehand by make_gpu_deps.sh on Debian 12
#    and carried along);
# 2. runs the GPU tests at 1 rank: the communicator collectives on the NCCL backend with CUDA
#    tensors (and on MPI), the MoE layer on CUDA with the NCCL EP group against the CPU reference,
#    the CPU EP parity tests; then tries the NCCL tests at 2 ranks on the one GPU (NCCL refuses
#    two ranks on one device; the outcome is recorded, not judged);
# 3. benchmarks the MoE layer forward+backward in bf16 on the GPU against the HF-style PyTorch
#    reference (benchmarks/moe_reference.py) in the same run, after an fp32 correctness check.
#
# Writes gpu_check.json (and the logs) into $OUT when set, else runs/gpu_check/. Exit code 0 only
# when the build, the tests and the benchmarks' correctness checks passed.
#
# Environment (optional): UOE_GPU_PYTHON (default python3), UOE_GPU_BUILD (default build-gpu),
# UOE_GPU_JOBS (default nproc), UOE_GPU_TOKENS (default 16384), UOE_GPU_ITERS (default 20),
# UOE_GPU_SHAPES (benchmark shapes, default "fine_grained mixtral qwen3_30b_a3b"),
# UOE_GPU_DEPS / UOE_GPU_DEPS_UNPACKED (see gpu_deps_env.sh), NCCL_HOME (another NCCL).
# UOE_GPU_CHECK_DEVICE=cpu rehearses every step on a machine without a GPU (NCCL backend only if
# found, benchmarks on the CPU; the GPU tests then skip, which is reported but not a failure).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${OUT:-$repo/runs/gpu_check}
mkdir -p "$out" && out=$(cd "$out" && pwd)
python=${UOE_GPU_PYTHON:-python3}
build=${UOE_GPU_BUILD:-$repo/build-gpu}
jobs=${UOE_GPU_JOBS:-$(nproc)}
tokens=${UOE_GPU_TOKENS:-16384}
iters=${UOE_GPU_ITERS:-20}
shape_names=${UOE_GPU_SHAPES:-fine_grained mixtral qwen3_30b_a3b}
device=${UOE_GPU_CHECK_DEVICE:-cuda}
results=$out/steps.jsonl
: >"$results"
start=$(date +%s)

step() { printf '\n== [%3ds] %s\n' "$(( $(date +%s) - start ))" "$*"; }
# record <name> <status> <seconds> [detail]: one JSON line per step.
record() {
  "$python" -c 'import json, sys; print(json.dumps(dict(step=sys.argv[1], status=sys.argv[2],
    seconds=int(sys.argv[3]), detail=sys.argv[4] if len(sys.argv) > 4 else "")))' "$@" >>"$results"
}
# The summary decides the exit code (every step but the 2-rank NCCL attempt must be ok).
finish() {
  "$python" "$repo/benchmarks/gpu/summarize_gpu_check.py" "$out" "$(( $(date +%s) - start ))"
  exit $?
}
# run <name> <timeout s> <command...>: logs to $out/<name>.log, records ok / failed / timeout.
run() {
  local name=$1 limit=$2 t0 code status
  shift 2
  t0=$(date +%s)
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  code=$?
  case $code in 0) status=ok ;; 124) status=timeout ;; *) status=failed ;; esac
  record "$name" "$status" "$(( $(date +%s) - t0 ))" "exit code $code"
  tail -n 15 "$out/$name.log"
  return "$code"
}

step "machine"
"$python" - "$out/env.json" "$device" <<'EOF' || { echo "no usable torch for $device in $python" >&2; record env failed 0; finish; }
import json, os, platform, subprocess, sys, torch
env = {"device": sys.argv[2], "torch": torch.__version__, "torch_cuda": torch.version.cuda,
       "cxx11_abi": torch.compiled_with_cxx11_abi(), "cores": os.cpu_count(),
       "os": platform.platform(), "python": sys.executable}
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
record env ok 0
torch_prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')
if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
tools=(cmake c++)
[[ $device == cuda ]] && tools+=(nvcc)
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; record tools failed 0 "missing $tool"; finish; }
done
generator=(-G "Unix Makefiles")
command -v ninja >/dev/null && generator=(-G Ninja)

step "dependency bundle"
# shellcheck source=gpu_deps_env.sh
source "$repo/benchmarks/gpu/gpu_deps_env.sh" || { record bundle failed 0; finish; }
record bundle ok 0 "missing system libraries taken from the bundle: $(ls "$UOE_GPU_DEPS_UNPACKED/missing" 2>/dev/null | paste -sd' ')"

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

step "build (-j$jobs)"
run build 330 cmake --build "$build" -j "$jobs" --target test_parallel test_moe_parallel moe_layer_bench \
  || finish

mpirun=("$UOE_MPIRUN" --oversubscribe)
step "tests at 1 rank: collectives (MPI and NCCL with CUDA tensors)"
run test_parallel_np1 120 "${mpirun[@]}" -np 1 "$build/tests/parallel/test_parallel" \
    --gtest_color=no --gtest_output="json:$out/test_parallel_np1.json"
step "tests at 1 rank: MoE layer parity (CPU EP parity; CUDA + NCCL vs CPU reference)"
run test_moe_np1 180 "${mpirun[@]}" -np 1 "$build/tests/moe/test_moe_parallel" \
    --gtest_filter='MoELayerParity.*' --gtest_color=no --gtest_output="json:$out/test_moe_np1.json"
step "NCCL at 2 ranks on one GPU (expected: NCCL refuses duplicate devices)"
run test_parallel_nccl_np2 60 "${mpirun[@]}" -np 2 "$build/tests/parallel/test_parallel" \
    --gtest_filter='*/nccl' --gtest_color=no --gtest_output="json:$out/test_parallel_nccl_np2.json"

# name, hidden H, expert FFN F, experts E, top-k K, norm_topk_prob
shapes=("fine_grained 1024 704 16 4 0" "mixtral 1024 3584 8 2 1" "qwen3_30b_a3b 2048 768 128 8 1")
for entry in "${shapes[@]}"; do
  read -r name hidden ffn experts top_k norm <<<"$entry"
  [[ " $shape_names " == *" $name "* ]] || continue
  step "MoE layer bf16 $name on $device: uoe vs PyTorch reference, T=$tokens"
  run "bench_$name" 150 "$build/benchmarks/moe_layer_bench" --name "$name" --hidden "$hidden" \
      --ffn "$ffn" --experts "$experts" --top-k "$top_k" --tokens "$tokens" \
      --norm-topk-prob "$norm" --device "$device" --dtype bfloat16 --warmup 3 --iters "$iters" \
      --pause 0 --threads 4 --tolerance 1e-4 --python "$python" \
      --reference-script "$repo/benchmarks/moe_reference.py" \
      --reference-prefix "$build/bench_ref/$name" --json "$out/moe_layer_$name.json"
done
finish
