# NCCL backend detection. UOE_WITH_NCCL=AUTO builds it when the CUDA toolkit and NCCL are found,
# ON requires them, OFF skips them. The result is printed at configure time.
# NCCL is looked for in NCCL_HOME (CMake or environment variable), then next to a PyPI LibTorch
# (<site-packages>/nvidia/nccl, the nvidia-nccl wheel that torch itself loads: uoe must use the
# same libnccl.so.2, since a process loads only one), then in the CUDA toolkit.
set(UOE_HAVE_NCCL OFF)
if(NOT UOE_WITH_NCCL STREQUAL "OFF")
  find_package(CUDAToolkit QUIET)
  find_path(NCCL_INCLUDE_DIR nccl.h
    HINTS ${NCCL_HOME} ENV NCCL_HOME ${TORCH_INSTALL_PREFIX}/../nvidia/nccl
          ${CUDAToolkit_INCLUDE_DIRS} PATH_SUFFIXES include)
  find_library(NCCL_LIBRARY NAMES nccl libnccl.so.2 NAMES_PER_DIR
    HINTS ${NCCL_HOME} ENV NCCL_HOME ${TORCH_INSTALL_PREFIX}/../nvidia/nccl
          ${CUDAToolkit_LIBRARY_DIR} PATH_SUFFIXES lib lib64)
  if(CUDAToolkit_FOUND AND NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
    set(UOE_HAVE_NCCL ON)
  elseif(UOE_WITH_NCCL STREQUAL "ON")
    message(FATAL_ERROR "UOE_WITH_NCCL=ON but CUDA toolkit (${CUDAToolkit_FOUND}) / nccl.h "
                        "(${NCCL_INCLUDE_DIR}) / libnccl (${NCCL_LIBRARY}) were not all found")
  endif()
endif()
if(UOE_HAVE_NCCL)
  message(STATUS "uoe: NCCL backend ON (nccl.h in ${NCCL_INCLUDE_DIR}, ${NCCL_LIBRARY}, "
                 "CUDA ${CUDAToolkit_VERSION})")
else()
  message(STATUS "uoe: NCCL backend OFF (UOE_WITH_NCCL=${UOE_WITH_NCCL})")
endif()
