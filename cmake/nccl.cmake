# NCCL backend detection. UOE_WITH_NCCL=AUTO builds it when the CUDA toolkit and NCCL are found,
# ON requires them, OFF skips them. The result is printed at configure time.
set(UOE_HAVE_NCCL OFF)
if(NOT UOE_WITH_NCCL STREQUAL "OFF")
  find_package(CUDAToolkit QUIET)
  find_path(NCCL_INCLUDE_DIR nccl.h
    HINTS ${CUDAToolkit_INCLUDE_DIRS} ENV NCCL_HOME PATH_SUFFIXES include)
  find_library(NCCL_LIBRARY nccl
    HINTS ${CUDAToolkit_LIBRARY_DIR} ENV NCCL_HOME PATH_SUFFIXES lib lib64)
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
