#!/usr/bin/env bash
# Packs what run_gpu_check.sh runs from a build made here against the GPU machine's exact torch
# (today 2.11.0+cu130: `bash launch/setup.sh --torch-wheel=2.11.0`, then configure with
# -DUOE_WITH_NCCL=ON -DTORCH_CUDA_ARCH_LIST=9.0 -DUOE_BUILD_BENCHMARKS=ON into build-torch211/ and
# build uoe, moe_layer_bench and the tests) into .gpu_prebuilt/ (git-ignored; name it in the device
# tool's carry): prebuilt.tar.xz with uoe, benchmarks/moe_layer_bench and every tests/*/test_*
# executable, stripped, at their paths in the build folder, and MANIFEST.txt (torch version, CUDA
# architectures, source folder and commit). It refuses (exit 1) a build folder that is not up to
# date or a checkout with uncommitted changes under src, tests, benchmarks, CMakeLists.txt or
# cmake, since the MANIFEST would then name a commit the binaries are not from. The binaries
# link LibTorch, CUDA and NCCL from the GPU machine's torch wheel and everything else from the
# .gpu_deps bundle (run_gpu_check.sh sets LD_LIBRARY_PATH). About 5.5 MB packed (35 MB unpacked).
#   bash benchmarks/gpu/make_gpu_prebuilt.sh [build dir (build-torch211)] [output dir (.gpu_prebuilt)]
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$(cd "${1:-$repo/build-torch211}" && pwd)
out=${2:-$repo/.gpu_prebuilt}
cache=$build/CMakeCache.txt
[[ -f $cache ]] || { echo "make_gpu_prebuilt.sh: $build is no CMake build folder" >&2; exit 2; }
cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$cache" | head -n 1; }
source_dir=$(cache_value CMAKE_HOME_DIRECTORY)
torch_dir=$(cache_value Torch_DIR)
# Torch_DIR is <torch>/share/cmake/Torch of a torch wheel; its version.py names the version.
torch_version=$(sed -n "s/^__version__ = '\(.*\)'/\1/p" "$torch_dir/../../../version.py" 2>/dev/null || true)

# The MANIFEST names the commit the binaries are from: refuse a build folder with work left to do
# or a tree with changes to what is compiled (or to the benchmark and test scripts beside it).
[[ -f $build/build.ninja ]] ||
  { echo "make_gpu_prebuilt.sh: $build is no Ninja build: cannot tell whether it is up to date" >&2; exit 1; }
dry_run=$(ninja -C "$build" -n 2>&1) || true
[[ $dry_run == *"ninja: no work to do"* ]] ||
  { echo "make_gpu_prebuilt.sh: $build is not up to date (ninja -C $build -n): build it first" >&2; exit 1; }
changes=$(git -C "$source_dir" status --porcelain -- src tests benchmarks CMakeLists.txt cmake) ||
  { echo "make_gpu_prebuilt.sh: $source_dir is no git checkout: no commit to name" >&2; exit 1; }
[[ -z $changes ]] ||
  { echo "make_gpu_prebuilt.sh: uncommitted changes in $source_dir ($(wc -l <<<"$changes") paths; git status): commit, rebuild, then pack" >&2; exit 1; }

staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
cd "$build"
files=(uoe benchmarks/moe_layer_bench)
while IFS= read -r f; do files+=("${f#./}"); done < <(find tests -maxdepth 2 -type f -name 'test_*' -perm -u+x | sort)
for f in "${files[@]}"; do
  [[ -x $f ]] || { echo "make_gpu_prebuilt.sh: $build/$f is missing: build it first" >&2; exit 2; }
  mkdir -p "$staging/$(dirname "$f")"
  strip -o "$staging/$f" "$f"
done
rm -rf "$out" && mkdir -p "$out"
tar -cJf "$out/prebuilt.tar.xz" -C "$staging" .
{
  echo "# uoe GPU-check prebuilt binaries, packed $(date -u +%FT%TZ) from $build"
  echo "torch_version $torch_version"
  echo "torch_cuda_arch_list $(cache_value TORCH_CUDA_ARCH_LIST)"
  echo "uoe_with_nccl $(cache_value UOE_WITH_NCCL)"
  echo "source_dir $source_dir"
  echo "commit $(git -C "$source_dir" rev-parse HEAD)"
  echo "files ${#files[@]}: unpacked $(du -sh "$staging" | cut -f1), packed $(du -sh "$out/prebuilt.tar.xz" | cut -f1)"
} >"$out/MANIFEST.txt"
cat "$out/MANIFEST.txt"
