#!/usr/bin/env bash
# Bundles the C++ dependencies that a GPU machine without package access lacks (yaml-cpp, HDF5,
# OpenMPI with PMIx, nlohmann-json, GoogleTest) from Debian 12 packages into .gpu_deps/ (git-ignored;
# it travels with the working tree, so it must stay well under 64 MiB), packed as
# .gpu_deps/gpu_deps.tar.xz (about 10 MB; gpu_deps_env.sh unpacks it) holding
#   root/   the packages unpacked with `dpkg -x` (docs, Fortran/Java bindings, static
#                     libraries other than GoogleTest's, and MPI transport plugins for InfiniBand /
#                     UCX / libfabric / PSM and OpenSHMEM removed: one node needs shared memory only)
#   extra/            the shared libraries these need beyond glibc, libstdc++ and libgcc (found with
#                     ldd here, copied from this machine's Debian packages); gpu_deps_env.sh links
#                     only those that the target machine lacks
#   and .gpu_deps/MANIFEST.txt: package versions and sizes
# Runs on Debian 12 (this project's build machine) with apt; needs no root.
#   bash benchmarks/gpu/make_gpu_deps.sh [output dir]
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${1:-$repo/.gpu_deps}
packages=(libyaml-cpp-dev libyaml-cpp0.7 nlohmann-json3-dev libgtest-dev libhdf5-dev libhdf5-103-1
          libopenmpi-dev libopenmpi3 openmpi-bin openmpi-common libpmix2 libhwloc15
          libevent-core-2.1-7 libevent-pthreads-2.1-7)
# Libraries every Linux with a C++ compiler has; never bundled (an older copy would shadow them).
core='^(linux-vdso|ld-linux|libc|libm|libdl|libpthread|librt|libresolv|libutil|libstdc\+\+|libgcc_s)\.so'
# Transports a single-node run never uses; plugins that need them are dropped.
network='lib(ucp|ucs|uct|ucm|fabric|ibverbs|rdmacm|psm|psm2|psm_infinipath|infinipath|efa|nl-3|nl-route-3)\.so'

rm -rf "$out"
mkdir -p "$out/debs" "$out/root" "$out/extra"
(cd "$out/debs" && apt-get download "${packages[@]}" >/dev/null)
for deb in "$out"/debs/*.deb; do dpkg -x "$deb" "$out/root"; done
{
  echo "# uoe GPU-check dependency bundle, made $(date -u +%F) on $(. /etc/os-release; echo "$PRETTY_NAME")"
  for deb in "$out"/debs/*.deb; do dpkg-deb -f "$deb" Package Version | paste -sd' '; done
} >"$out/MANIFEST.txt"
rm -rf "$out/debs"

usr=$out/root/usr
lib=$usr/lib/x86_64-linux-gnu
rm -rf "$usr/share/doc" "$usr/share/man" "$usr/share/lintian" "$lib/fortran" "$usr/bin/mpijavac"*
find "$out/root" \( -name '*fortran*' -o -name '*java*' -o -name '*.mod' \) -prune -exec rm -rf {} +
find "$out/root" -name '*.a' ! -name 'libgtest*.a' -exec rm -f {} +
find "$out/root" \( -name '*oshmem*' -o -name 'osh*' -o -name 'shmem*' -o -name 'mca_spml_*' -o -name 'mca_sshmem_*' \
  -o -name 'mca_atomic_*' -o -name 'mca_scoll_*' -o -name 'mca_memheap_*' \) -prune -exec rm -rf {} +
# Absolute links would point into the machine's own /usr: make them relative.
while IFS= read -r link; do
  ln -sfn "$(realpath --relative-to="$(dirname "$link")" -m "$out/root$(readlink "$link")")" "$link"
done < <(find "$out/root" -type l -lname '/*')

search_path=$lib:$lib/openmpi/lib:$lib/pmix2/lib:$lib/hdf5/serial
elf_files() { find "$out/root" -type f \( -name '*.so*' -o -path '*/bin/*' \) -exec sh -c \
  'head -c4 "$1" | grep -q ELF && echo "$1"' _ {} \; ; }
while IFS= read -r f; do
  if LD_LIBRARY_PATH=$search_path ldd "$f" 2>/dev/null | grep -qE "$network"; then rm -f "$f"; fi
done < <(elf_files)
find "$out/root" -xtype l -delete  # links to what was removed

while IFS= read -r f; do
  LD_LIBRARY_PATH=$search_path ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}'
done < <(elf_files) | sort -u | while read -r soname path; do
  [[ $path == "$out"/* ]] && continue
  [[ $soname =~ $core ]] && continue
  cp -L "$path" "$out/extra/$soname"
done

tar -cJf "$out/gpu_deps.tar.xz" -C "$out" root extra
{
  echo "# extra (used only where the target machine lacks them): $(ls "$out/extra" | paste -sd' ')"
  echo "# unpacked: root $(du -sh "$out/root" | cut -f1), extra $(du -sh "$out/extra" | cut -f1);" \
       "packed $(du -sh "$out/gpu_deps.tar.xz" | cut -f1)"
} >>"$out/MANIFEST.txt"
rm -rf "$out/root" "$out/extra"
cat "$out/MANIFEST.txt"
