#!/usr/bin/env bash
# GPU check (issue 18, part 9) for a machine with one NVIDIA GPU, the CUDA toolkit, CMake and a
# Python whose PyTorch is a CUDA build (with transformers, tokenizers, safetensors), but no
# package access. One command: 540 s of checks (UOE_GPU_BUDGET_S) plus the summary, inside the
# device tool's 600 s limit of one command.
#
# The device tool call for the next session with a GPU (from the repository root, after
# `bash benchmarks/gpu/make_gpu_deps.sh` and
# `bash benchmarks/gpu/make_gpu_prebuilt.sh build-torch211` here, build-torch211 built from the
# commit to check; carried, measured 2026-12-05: .gpu_deps 10.5 MB + .gpu_prebuilt 5.3 MB + the
# tracked tree 10.8 MB = 26.6 MB of the 64 MiB):
#
#   run(command="bash benchmarks/gpu/run_gpu_check.sh", carry=[".gpu_deps", ".gpu_prebuilt"],
#       timeout_s=600)
#
# timeout_s=600, the tool's most for one command: the checks end by 540 s, the summary and the
# copies into $OUT take seconds, and what a step writes reaches $OUT as it comes (console.log,
# steps.jsonl, gpu_check_logs.tar.gz), so even a call killed at its limit brings back every step
# finished by then. No kind: an H100 or an H200, whichever is free; the DeepSeek-V2-Lite-shaped
# step needs 31 GB of weights plus activations and fits either; gpu_check.md names the GPU. The
# machine's start costs 1-2 more minutes of the session's 15, so a full run leaves no room for a
# second one: give the machine back after it. What comes back in $OUT: gpu_check.json,
# gpu_check.md (the block for benchmarks/gpu/RESULTS.md), gpu_check_logs.tar.gz (every log and
# report), console.log, steps.jsonl (5 of the tool's 8 files).
#
# Steps, most valuable first (each logged and given its own time limit, never more than what is
# left of the budget; a step that no longer fits is recorded as skipped):
#  1. env: GPU, driver, torch, CUDA, NCCL, glibc, free disk, the commits of the binaries and of
#     this tree.
#  2. binaries: unpacks the dependency bundle (.gpu_deps, make_gpu_deps.sh: yaml-cpp, HDF5,
#     OpenMPI, nlohmann-json, GoogleTest; gpu_deps_env.sh unpacks it and sets the paths), then
#     .gpu_prebuilt/prebuilt.tar.xz (make_gpu_prebuilt.sh: uoe, moe_layer_bench and the test
#     executables, built here against the same torch) into $UOE_GPU_BUILD when its torch version
#     is this Python's, and checks that uoe loads with every symbol bound; else (fallback)
#     configures and builds uoe against this torch's LibTorch with NCCL and the bundle.
#  3. GPU tests at 1 rank: every GoogleTest test whose full name contains Cuda, CUDA, cuda, Gpu,
#     GPU, Nccl, NCCL or nccl (the naming convention of GPU tests: they GTEST_SKIP without a GPU).
#     Each test executable lists its tests first (--gtest_list_tests, cheap), and only those that
#     hold such a test run under mpirun; a skipped GPU test fails the check on a GPU.
#  4. SEUF step on a DeepSeek-V2-Lite-shaped model (make_seuf_model.py: 27 layers, random bf16
#     weights, one HF directory in the work folder, 31 GB, written with weights drawn on the GPU;
#     fewer layers, said so, where the disk has no room for 27), sequence 2048: uoe
#     (benchmarks/gpu/seuf_step.yaml: GA + router anchor on layer 16's expert 20 and router,
#     bf16, 4 steps), its tokens/s and peak memory against `uoe plan` for one such GPU
#     (configs/clusters/h200_dgx.yaml or h100_dgx.yaml, gpu_counts=[1]; goal within 20 %) and its
#     own start-up memory plan; the peer, HF transformers on the same directory
#     (hf_seuf_step.py); then the full-model step (or the plan's refusal).
#     Goal: uoe >= 2x the peer's tokens/s at no more memory.
#  5. The MPI backend's GPU tests (the NCCL ones left out) at 2 ranks on the one GPU; then the
#     NCCL tests at 2 ranks, which NCCL refuses on one GPU ("Duplicate GPU detected"; recorded,
#     not judged).
#  6. tests/app/cuda_parity.sh (judged): the tiny SEUF unlearning on the CPU, on CUDA with MPI
#     host staging at EP 2 (2 ranks on the one GPU) and with NCCL at EP 1, metrics compared
#     within the script's stated tolerances.
#  7. MoE layer bf16 forward+backward (moe_layer_bench, after its fp32 check against the HF-style
#     reference moe_reference.py) at the fine-grained, DeepSeek-V2-Lite (H2048 F1408 E64 K6;
#     routed experts only: the 2 shared experts are a dense MLP) and Mixtral (H4096 F14336 E8 K2)
#     shapes, T = 16384 tokens; then cublas_gemm.py: the same FLOPs as dense cuBLAS GEMMs.
#     Goals: uoe layer >= 60 % of the cuBLAS rate, >= 3x the PyTorch reference.
#  8. End to end: the tiny demo data and a short CPU pretraining, then
#     `uoe unlearn configs/tiny/unlearn_seuf.yaml device=cuda parallel.backend=nccl` (1 rank,
#     parallel.ep_size=1) and the same on the CPU beside it (step 6 covers more; this one is
#     the command of the issue).
#  9. summarize_gpu_check.py: gpu_check.json, gpu_check.md, a table.
# Exit code 0 only when every judged step passed (the goals are reported, not judged).
#
# Environment (optional):
#   UOE_GPU_PYTHON       Python with the torch the binaries use (default python3)
#   UOE_GPU_PEER_PYTHON  Python with transformers, tokenizers, safetensors (default UOE_GPU_PYTHON)
#   UOE_GPU_BUILD        build folder (default <repo>/build-gpu)
#   UOE_GPU_PREBUILT     folder with prebuilt.tar.xz (default <repo>/.gpu_prebuilt; "none": build)
#   UOE_GPU_JOBS         build jobs (nproc); UOE_GPU_BUILD_TARGETS (all: a fallback build of
#     everything takes minutes of the budget, and the last steps are then skipped)
#   UOE_GPU_BUDGET_S     total seconds (540; the summary and the copies take a few more)
#   UOE_GPU_WORK         scratch for the model and runs (default /tmp/uoe_gpu_check, 31 GB;
#     /dev/shm/uoe_gpu_check where /tmp has less than 40 GB free and /dev/shm more)
#   UOE_GPU_TOKENS (16384), UOE_GPU_ITERS (20), UOE_GPU_SHAPES ("fine_grained deepseek_v2_lite
#     mixtral"; also qwen3_30b_a3b)
#   UOE_GPU_TINY_STEPS   pretraining steps of the tiny model for step 8 (100)
#   UOE_GPU_SEUF_MODEL_ARGS  make_seuf_model.py flags (default: none, DeepSeek-V2-Lite's shape)
#   UOE_GPU_SEUF_SEQ (2048), UOE_GPU_SEUF_STEPS (4), UOE_GPU_SEUF_LAYER (16),
#   UOE_GPU_SEUF_EXPERT (20)
#   UOE_GPU_CHECK_DEVICE=cpu rehearses every step without a GPU (GPU tests skip, reported but not
#     judged; benchmarks and steps on the CPU; step 6 not run; step 8 without
#     parallel.backend=nccl)
#   UOE_GPU_DEPS / UOE_GPU_DEPS_UNPACKED (gpu_deps_env.sh), NCCL_HOME (another NCCL)
#   OUT                  where the device tool collects files (unset: results stay in the work
#     folder's results/)
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
python=${UOE_GPU_PYTHON:-python3}
peer_python=${UOE_GPU_PEER_PYTHON:-$python}
build=${UOE_GPU_BUILD:-$repo/build-gpu}
prebuilt=${UOE_GPU_PREBUILT:-$repo/.gpu_prebuilt}
jobs=${UOE_GPU_JOBS:-$(nproc)}
budget=${UOE_GPU_BUDGET_S:-540}
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

# free_mb <path>: MB free on the file system that holds <path> (or its nearest existing parent).
free_mb() {
  local p=$1 mb
  until [[ -e $p || $p == / ]]; do p=$(dirname "$p"); done
  mb=$(df -Pk "$p" 2>/dev/null | awk 'NR == 2 {print int($4 / 1000)}')
  echo "${mb:-0}"
}
# The full-size model is 31.4 GB (make_seuf_model.py's defaults); with the runs' output beside it
# 40 GB. The device tool's disk is 64 GiB in all; where /tmp is short of that and /dev/shm (RAM,
# 128 GiB there) has more room, the model goes there.
seuf_need_mb=40000
work=${UOE_GPU_WORK:-/tmp/uoe_gpu_check}
work_why="UOE_GPU_WORK"
if [[ -z ${UOE_GPU_WORK:-} ]]; then
  work_why="default"
  if (( $(free_mb "$work") < seuf_need_mb && $(free_mb /dev/shm) > $(free_mb "$work") )); then
    work_why="/tmp has $(free_mb "$work") MB free, less than $seuf_need_mb; /dev/shm has $(free_mb /dev/shm) MB"
    work=/dev/shm/uoe_gpu_check
  fi
fi

# Only what this script writes there (UOE_GPU_WORK may be a folder that holds other things).
scratch=(results bin tiny bench_ref lists seuf_model seuf_data seuf_uoe seuf_uoe_full seuf_tokenize.yaml
         logs.tar.gz)
rm -rf "${scratch[@]/#/$work/}" && mkdir -p "$work/results" || exit 1
out=$work/results   # everything; $OUT gets the summary, the Markdown block, the records, one tarball
results=$out/steps.jsonl
: >"$results"
if [[ -n ${OUT:-} ]]; then
  mkdir -p "$OUT" || exit 1
  rm -f "$OUT"/{console.log,steps.jsonl,gpu_check.json,gpu_check.md,gpu_check_logs.tar.gz}
fi
start=$(date +%s)
# The console goes to results/ and, as it comes, to $OUT (a call killed at its limit still brings
# it back); fds 3 and 4 keep the original ones for finish().
exec 3>&1 4>&2 > >(tee "$out/console.log" ${OUT:+"$OUT/console.log"}) 2>&1
tee_pid=$!

elapsed() { echo $(( $(date +%s) - start )); }
step() { printf '\n== [%3ds] %s\n' "$(elapsed)" "$*"; }
# publish: the records and a tarball of every log so far into $OUT, after each step, so that what
# finished survives a call killed at its limit (the tarball is written beside and moved in).
publish() {
  [[ -n ${OUT:-} ]] || return 0
  cp "$results" "$OUT/steps.jsonl"
  tar -czf "$work/logs.tar.gz" -C "$work" results 2>/dev/null  # console.log grows meanwhile: fine
  [[ -s $work/logs.tar.gz ]] && mv -f "$work/logs.tar.gz" "$OUT/gpu_check_logs.tar.gz"
}
# record <name> <status> <seconds> [detail]: one JSON line per step.
record() {
  "$python" -c 'import json, sys; print(json.dumps(dict(step=sys.argv[1], status=sys.argv[2],
    seconds=int(sys.argv[3]), detail=sys.argv[4] if len(sys.argv) > 4 else "")))' "$@" >>"$results"
  publish
}
# env_set <key> <value> ...: strings into env.json (no torch import: cheap).
env_set() {
  "$python" -c 'import json, sys; e = json.load(open(sys.argv[1])); e.update(zip(sys.argv[2::2], sys.argv[3::2]))
json.dump(e, open(sys.argv[1], "w"), indent=2)' "$out/env.json" "$@"
}
# The summary decides the exit code; $OUT gets what the device tool can bring back (8 files).
finish() {
  "$python" "$repo/benchmarks/gpu/summarize_gpu_check.py" "$out" "$(elapsed)"
  local code=$? i=0
  rm -rf "$work/seuf_model"  # 31 GB
  # End the tee (its input closes) and wait for it, so that console.log is complete in the
  # tarball and in $OUT; what follows goes to the original stdout.
  exec >&3 2>&4 3>&- 4>&-
  while kill -0 "$tee_pid" 2>/dev/null && (( i++ < 100 )); do sleep 0.1; done
  if [[ -n ${OUT:-} ]]; then
    cp "$out/gpu_check.json" "$out/gpu_check.md" "$OUT/" 2>/dev/null
    publish
  fi
  exit "$code"
}
# run <name> <timeout s> <command...>: logs to $out/<name>.log, records ok / failed / timeout /
# skipped; the time limit is cut to what is left of the budget (less 15 s for the summary).
# run_note, when set, is added to the record's detail (then cleared).
run_note=""
run() {
  local name=$1 limit=$2 t0 code status left note=${run_note:+; $run_note}
  shift 2
  run_note=""
  left=$(( budget - $(elapsed) - 15 ))
  (( limit > left )) && limit=$left
  if (( limit < 10 )); then
    record "$name" skipped 0 "budget of ${budget} s spent$note"
    echo "skipped: $name (budget spent)"
    return 125
  fi
  t0=$(date +%s)
  timeout -k 10 "$limit" "$@" >"$out/$name.log" 2>&1
  code=$?
  case $code in 0) status=ok ;; 124 | 137) status=timeout ;; *) status=failed ;; esac
  record "$name" "$status" "$(( $(date +%s) - t0 ))" "exit code $code (limit ${limit} s)$note"
  tail -n 12 "$out/$name.log"
  return "$code"
}

step "machine"
# The commit of the binaries is the prebuilt's (MANIFEST.txt) when they are used, else this
# tree's; the device tool's copy of the tree may have no .git.
tree_commit=$(git -C "$repo" rev-parse --short=12 HEAD 2>/dev/null) || tree_commit="unknown (no git)"
if [[ $tree_commit != unknown* ]] && ! git -C "$repo" diff --quiet HEAD 2>/dev/null; then
  tree_commit="$tree_commit (with uncommitted changes)"
fi
glibc=$(ldd --version 2>/dev/null | head -n 1)
echo "glibc: $glibc"
echo "work folder: $work ($work_why)"
df -h /tmp /dev/shm "$work"
# One Python start initialises CUDA (seconds; a broken driver can hang it: the time limit) and
# writes env.json and, one a line, what the script needs of torch: version, CMake prefix, library
# folder, compute capability.
run env 120 "$python" - "$out" "$device" "$budget" "$tree_commit" "$glibc" "$work" "$(free_mb "$work")" <<'PY' ||
import json, os, platform, subprocess, sys, torch, torch.utils
out, device = sys.argv[1], sys.argv[2]
env = {"device": device, "torch": torch.__version__, "torch_cuda": torch.version.cuda,
       "cxx11_abi": torch.compiled_with_cxx11_abi(), "cores": os.cpu_count(),
       "os": platform.platform(), "glibc": sys.argv[5], "python": sys.executable,
       "budget_s": int(sys.argv[3]), "tree_commit": sys.argv[4], "work": sys.argv[6],
       "work_free_mb": int(sys.argv[7] or 0)}
capability = ""
if device == "cuda":
    assert torch.cuda.is_available(), "torch sees no CUDA device"
    p = torch.cuda.get_device_properties(0)
    capability = f"{p.major}.{p.minor}"
    env.update(gpu=p.name, gpu_memory_gib=round(p.total_memory / 2**30, 1), compute_capability=capability)
    try:  # a tuple in torch 2.x, an int in older ones; absent in builds without NCCL
        v = torch.cuda.nccl.version()
        env["nccl"] = ".".join(map(str, v)) if isinstance(v, tuple) else str(v)
    except Exception as e:  # noqa: BLE001 - any failure here is only a missing label
        env["nccl"] = f"unknown ({type(e).__name__}: {e})"
    try:
        env["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version",
                                        "--format=csv,noheader"], capture_output=True,
                                       text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
json.dump(env, open(f"{out}/env.json", "w"), indent=2)
with open(f"{out}/torch.txt", "w") as f:
    print(torch.__version__, torch.utils.cmake_prefix_path,
          os.path.join(os.path.dirname(torch.__file__), "lib"), capability, sep="\n", file=f)
PY
  { echo "no usable torch for $device in $python" >&2; finish; }
cat "$out/env.json"
{ read -r torch_version; read -r torch_prefix; read -r torch_lib; read -r torch_capability; } <"$out/torch.txt"
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
  env_set binaries "prebuilt ($(sed -n '1s/^# //p' "$prebuilt/MANIFEST.txt"))" \
    binaries_commit "$(sed -n 's/^commit //p' "$prebuilt/MANIFEST.txt")"
  step "prebuilt binaries ($prebuilt, torch $prebuilt_version) into $build"
  # ldd finds the libraries; LD_BIND_NOW makes the loader resolve every symbol at start, so a
  # LibTorch ABI mismatch shows here once, not as one failure per test executable.
  run prebuilt 60 bash -c 'rm -rf "$1" && mkdir -p "$1" && tar -xJf "$2/prebuilt.tar.xz" -C "$1" &&
    cat "$2/MANIFEST.txt" && ! ldd "$1/uoe" | grep "not found" &&
    LD_BIND_NOW=1 "$1/uoe" --help >/dev/null' _ "$build" "$prebuilt" || finish
  # Tests read fixtures from the source folder compiled into them: point it here.
  source_dir=$(sed -n 's/^source_dir //p' "$prebuilt/MANIFEST.txt")
  if [[ -n $source_dir && ! -e $source_dir ]]; then
    mkdir -p "$(dirname "$source_dir")" && ln -s "$repo" "$source_dir" && echo "linked $source_dir -> $repo"
  fi
else
  [[ -f $prebuilt/prebuilt.tar.xz ]] && echo "prebuilt binaries are for torch '$prebuilt_version', this is $torch_version: building"
  env_set binaries "built here" binaries_commit "$tree_commit"
  generator=(-G "Unix Makefiles")
  command -v ninja >/dev/null && generator=(-G Ninja)
  gpu_args=(-DUOE_WITH_NCCL=AUTO)
  [[ $device == cuda ]] && gpu_args=(-DUOE_WITH_NCCL=ON -DTORCH_CUDA_ARCH_LIST="$torch_capability")
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
uoe=("${mpirun[@]}" -np 1 "$build/uoe")
test_bins=()
while IFS= read -r f; do test_bins+=("$f"); done < <(find "$build/tests" -maxdepth 2 -type f -name 'test_*' -perm -u+x | sort)
# has_tests <gtest JSON report>: true when it ran at least one test.
has_tests() { "$python" -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1])).get("tests", 0) else 1)' "$1" 2>/dev/null; }

step "GPU tests at 1 rank (filter $gpu_filter): listing the tests of ${#test_bins[@]} test executables"
# Each mpirun start loads LibTorch with CUDA; only the executables that hold a GPU-named test get
# one. The tests' main (tests/test_main.cpp) starts MPI before GoogleTest lists anything: without
# mpirun OpenMPI starts as a singleton, cheaper than a launch. Where that fails here, the listing
# runs under mpirun -np 1 (the first executable decides); 8 listings at a time.
list=()
if (( ${#test_bins[@]} )) && ! timeout 60 "${test_bins[0]}" --gtest_list_tests --gtest_filter=none >/dev/null 2>&1; then
  list=("${mpirun[@]}" -np 1)
  echo "listing without mpirun failed: listing under mpirun -np 1"
fi
t0=$(date +%s)
mkdir -p "$work/lists"
pids=()  # waited for by id: a bare `wait` could wait for the console's tee
for bin in "${test_bins[@]}"; do
  # stdout holds only the names (indented test lines); MPI's warnings go to stderr
  { timeout 45 "${list[@]}" "$bin" --gtest_list_tests --gtest_filter="$gpu_filter"
    echo "exit $?"; } >"$work/lists/${bin##*/}.txt" 2>"$work/lists/${bin##*/}.err" &
  pids+=($!)
  (( ${#pids[@]} >= 8 )) && wait "${pids[${#pids[@]} - 8]}"
done
(( ${#pids[@]} )) && wait "${pids[@]}"
gpu_bins=() without=() list_failed=()
for bin in "${test_bins[@]}"; do
  f=$work/lists/${bin##*/}.txt
  { echo "# ${bin##*/}"; cat "$f" "${f%.txt}.err"; } >>"$out/gpu_test_list.log"
  if ! grep -qx "exit 0" "$f"; then
    list_failed+=("${bin##*/}") gpu_bins+=("$bin")  # run anyway: its log says what is wrong
  elif grep -q '^  ' "$f"; then
    gpu_bins+=("$bin")
  else
    without+=("${bin##*/}")
  fi
done
record gpu_test_list "$( ((${#list_failed[@]})) && echo failed || echo ok)" "$(( $(date +%s) - t0 ))" \
  "${#gpu_bins[@]} of ${#test_bins[@]} executables hold GPU-named tests${list_failed[*]:+; listing failed: ${list_failed[*]}}; without: ${without[*]:-none}"
echo "executables with GPU tests: ${gpu_bins[*]##*/}"
echo "without: ${without[*]:-none}${list_failed[*]:+; listing failed: ${list_failed[*]}}"
np1_ok=()
for bin in "${gpu_bins[@]}"; do
  name=test_gpu_$(basename "$bin")_np1
  run "$name" 90 "${mpirun[@]}" -np 1 "$bin" --gtest_filter="$gpu_filter" --gtest_color=no \
      --gtest_output="json:$out/$name.json" >/dev/null
  if has_tests "$out/$name.json"; then np1_ok+=("$bin"); else rm -f "$out/$name.json"; fi
done

step "SEUF step: DeepSeek-V2-Lite-shaped model ${seuf_model_args[*]:-(full size)}, sequence $seuf_seq, in $work"
model=$work/seuf_model
seuf_target=(unlearn.selection.layer="$seuf_layer" "unlearn.selection.experts=[$seuf_expert]")
seuf_common=(model_name_or_path="$model" dataset.forget="$work/seuf_data/forget.h5"
             max_steps="$seuf_steps" device="$device" "${seuf_target[@]}")
printf 'output_dir: %s\ntokenize:\n  tokenizer: %s\n  input: %s\n  output: forget.h5\n  format: text\n  max_length: %s\n' \
  "$work/seuf_data" "$model/tokenizer.json" "$model/forget.txt" "$seuf_seq" >"$work/seuf_tokenize.yaml"
# Where the work folder cannot hold the full-size model (31.4 GB: embeddings and head 839 MB,
# dense layer 0 162 MB, each MoE layer 1170 MB; 2 GB kept for the runs), fewer layers, as many as
# fit, still past the target layer; else the step is skipped. Only for the default shape, whose
# sizes these are.
seuf_fits=1
free=$(free_mb "$work")
if (( ${#seuf_model_args[@]} == 0 && free < 31421 + 2000 )); then
  layers=$(( 1 + (free - 2000 - 839 - 162) / 1170 ))
  if (( layers > seuf_layer + 1 )); then
    seuf_model_args=(--layers "$layers")
    run_note="$layers of 27 layers: $free MB free in $work"
    echo "only $free MB free in $work: $layers layers instead of 27"
  else
    seuf_fits=0
    record seuf_model skipped 0 "$free MB free in $work: too little even for $(( seuf_layer + 2 )) layers"
    echo "skipped: seuf_model ($free MB free in $work)"
  fi
fi
(( seuf_fits )) &&
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
  # The peer before the full-model step: uoe against HF is a goal; the full-model step is
  # expected to be refused by the plan at this size.
  run seuf_hf 240 "$peer_python" "$repo/benchmarks/gpu/hf_seuf_step.py" "$model" \
      --layer "$seuf_layer" --expert "$seuf_expert" --steps "$seuf_steps" --seq-len "$seuf_seq" \
      --device "$device" --json "$out/seuf_hf.json"
  run seuf_uoe_full 120 "${uoe[@]}" unlearn "$repo/benchmarks/gpu/seuf_step.yaml" "${seuf_common[@]}" \
      output_dir="$work/seuf_uoe_full" unlearn.selection.mode=full
  for f in summary.json metrics.jsonl; do cp "$work/seuf_uoe_full/$f" "$out/seuf_uoe_full_$f" 2>/dev/null; done
}
rm -rf "$model"  # 31 GB, in RAM where the work folder is /dev/shm

step "GPU tests of the MPI backend at 2 ranks on one device (NCCL ones left out)"
for bin in "${np1_ok[@]}"; do
  name=test_gpu_$(basename "$bin")_np2
  run "$name" 90 "${mpirun[@]}" -np 2 "$bin" --gtest_filter="$gpu_filter-$nccl_names" \
      --gtest_color=no --gtest_output="json:$out/$name.json"
  has_tests "$out/$name.json" || rm -f "$out/$name.json"
done
step "NCCL at 2 ranks on one GPU (expected: NCCL refuses duplicate devices)"
run test_parallel_nccl_np2 45 "${mpirun[@]}" -np 2 "$build/tests/parallel/test_parallel" \
    --gtest_filter="$nccl_names" --gtest_color=no --gtest_output="json:$out/test_parallel_nccl_np2.json"

if [[ $device == cuda ]]; then
  step "app_cuda_parity: uoe unlearn on CUDA (MPI staging at EP 2, NCCL at EP 1) against the CPU"
  mkdir -p "$work/bin" && printf '#!/bin/sh\nexec "%s" "$@"\n' "$UOE_MPIRUN" >"$work/bin/mpiexec" &&
    chmod +x "$work/bin/mpiexec"  # the test calls mpiexec; the bundle's is orterun
  run cuda_parity 150 env PATH="$work/bin:$PATH" bash "$repo/tests/app/cuda_parity.sh" "$build/uoe" "$repo"
fi

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
finish
