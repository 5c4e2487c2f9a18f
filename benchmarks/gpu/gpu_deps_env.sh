# Sourced by run_gpu_check.sh (and usable by hand): unpacks the dependency bundle that
# make_gpu_deps.sh made and exports what building and running uoe with it takes.
#   UOE_GPU_DEPS           bundle folder (default <repo>/.gpu_deps, holding gpu_deps.tar.xz)
#   UOE_GPU_DEPS_UNPACKED  where it is unpacked (default /tmp/uoe_gpu_deps)
# Exports UOE_DEPS_USR (the unpacked usr/), UOE_DEPS_PREFIX_PATH (to add to CMAKE_PREFIX_PATH),
# UOE_DEPS_CMAKE_ARGS (further CMake cache arguments that point find_package at the bundle),
# UOE_MPIRUN, OPAL_* / PMIX_* (OpenMPI and PMIx look for their
# plugins, help texts and configuration under these instead of /usr), OMPI_MCA_* (one node, no
# core binding), and LD_LIBRARY_PATH (the bundle's libraries, plus those of its extra libraries
# that this machine lacks).

uoe_deps_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
uoe_deps_bundle=${UOE_GPU_DEPS:-$uoe_deps_repo/.gpu_deps}
uoe_deps_dest=${UOE_GPU_DEPS_UNPACKED:-/tmp/uoe_gpu_deps}
if [[ ! -f $uoe_deps_bundle/gpu_deps.tar.xz ]]; then
  echo "gpu_deps_env.sh: no $uoe_deps_bundle/gpu_deps.tar.xz; make it with" \
       "benchmarks/gpu/make_gpu_deps.sh on a Debian 12 machine" >&2
  return 1
fi
if [[ ! -f $uoe_deps_dest/.complete || $uoe_deps_bundle/gpu_deps.tar.xz -nt $uoe_deps_dest/.complete ]]; then
  rm -rf "$uoe_deps_dest" && mkdir -p "$uoe_deps_dest" &&
    tar -xJf "$uoe_deps_bundle/gpu_deps.tar.xz" -C "$uoe_deps_dest" &&
    touch "$uoe_deps_dest/.complete" || return 1
fi

export UOE_DEPS_USR=$uoe_deps_dest/root/usr
uoe_deps_lib=$UOE_DEPS_USR/lib/x86_64-linux-gnu

# Extra libraries only where the system has no library of that name.
rm -rf "$uoe_deps_dest/missing" && mkdir -p "$uoe_deps_dest/missing"
uoe_deps_known=$( (ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null) | awk 'NR > 1 {print $1}')
for uoe_deps_f in "$uoe_deps_dest"/extra/*; do
  if ! grep -qxF "${uoe_deps_f##*/}" <<<"$uoe_deps_known"; then
    ln -s "$uoe_deps_f" "$uoe_deps_dest/missing/"
  fi
done

export OPAL_PREFIX=$UOE_DEPS_USR
export OPAL_EXEC_PREFIX=$UOE_DEPS_USR
export OPAL_BINDIR=$UOE_DEPS_USR/bin
export OPAL_LIBDIR=$uoe_deps_lib/openmpi/lib
export OPAL_PKGLIBDIR=$uoe_deps_lib/openmpi/lib/openmpi3
export OPAL_INCLUDEDIR=$uoe_deps_lib/openmpi/include
export OPAL_PKGINCLUDEDIR=$uoe_deps_lib/openmpi/include/openmpi
export OPAL_DATADIR=$UOE_DEPS_USR/share
export OPAL_PKGDATADIR=$UOE_DEPS_USR/share/openmpi
export OPAL_SYSCONFDIR=$uoe_deps_dest/root/etc/openmpi
export PMIX_PREFIX=$uoe_deps_lib/pmix2
export PMIX_LIBDIR=$uoe_deps_lib/pmix2/lib
export PMIX_PKGLIBDIR=$uoe_deps_lib/pmix2/lib/pmix
export PMIX_DATADIR=$uoe_deps_lib/pmix2/share
export PMIX_PKGDATADIR=$uoe_deps_lib/pmix2/share/pmix
export PMIX_SYSCONFDIR=$uoe_deps_lib/pmix2/share
# PMIx looks for its plugins in the folder it was built for (/usr/lib/x86_64-linux-gnu/pmix2/lib/
# pmix), printing a help block in every process where that is absent: the bundle's.
export PMIX_MCA_mca_base_component_path=$uoe_deps_lib/pmix2/lib/pmix
# One node: shared memory and loopback only; root is allowed (containers run as root).
export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_mca_base_component_show_load_errors=0
# vader copies between processes with CMA (process_vm_readv) where it can; sandboxes that forbid
# that (ptrace restrictions) fail at the first large message: plain shared-memory copies.
export OMPI_MCA_btl_vader_single_copy_mechanism=none
# orterun binds each rank to one core (with -np 1 --oversubscribe: Cpus_allowed_list 0), and uoe
# sizes its CPU threads from that affinity (src/common/cpu_runtime.cpp): no binding. Also for the
# mpiexec wrapper tests/app/cuda_parity.sh calls.
export OMPI_MCA_hwloc_base_binding_policy=none
# hwloc would load the system's hwloc plugins (built against another hwloc, if any): none.
export HWLOC_PLUGINS_PATH=$uoe_deps_dest/no-hwloc-plugins
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export UOE_MPIRUN=$UOE_DEPS_USR/bin/orterun
export LD_LIBRARY_PATH=$uoe_deps_lib:$uoe_deps_lib/openmpi/lib:$uoe_deps_lib/pmix2/lib:$uoe_deps_dest/missing${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

export UOE_DEPS_PREFIX_PATH="$UOE_DEPS_USR;$uoe_deps_lib/cmake"
UOE_DEPS_CMAKE_ARGS=(
  "-DMPI_CXX_COMPILER=$UOE_DEPS_USR/bin/mpicxx.openmpi"
  "-DMPIEXEC_EXECUTABLE=$UOE_MPIRUN"
  "-DHDF5_C_COMPILER_EXECUTABLE=HDF5_C_COMPILER_EXECUTABLE-NOTFOUND"
  "-DHDF5_C_INCLUDE_DIR=$UOE_DEPS_USR/include/hdf5/serial"
  "-DHDF5_hdf5_LIBRARY_RELEASE=$uoe_deps_lib/hdf5/serial/libhdf5.so"
)
