# Sanitizer and fuzzing instrumentation for uoe's own code (the libraries under src/, the tests and
# the fuzz targets). LibTorch, OpenMPI, HDF5 and yaml-cpp are used as installed, uninstrumented.
#
#   -DUOE_SANITIZE=address,undefined   AddressSanitizer + UBSan (any -fsanitize= list; GCC or clang)
#   -DUOE_FUZZ=ON                      libFuzzer targets in fuzz/ (clang only; implies the above)
#
# UBSan findings abort (-fno-sanitize-recover) so that a test cannot pass with a report in its log.
# Run-time options and suppressions: cmake/sanitizers/ (see docs/sanitizers_and_fuzzing.md).
set(UOE_SANITIZE "" CACHE STRING "Sanitizers for uoe's code, e.g. address,undefined (empty: none)")
option(UOE_FUZZ "Build the libFuzzer targets in fuzz/ (clang only; adds address,undefined)" OFF)

if(UOE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "UOE_FUZZ=ON needs clang (libFuzzer): configure with "
                        "-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++")
  endif()
  if(NOT UOE_SANITIZE)
    set(UOE_SANITIZE address,undefined)
  endif()
  # Coverage feedback for libFuzzer in every uoe object; the targets link -fsanitize=fuzzer.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

if(UOE_SANITIZE)
  add_compile_options(-fsanitize=${UOE_SANITIZE} -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=${UOE_SANITIZE})
  if(UOE_SANITIZE MATCHES "undefined")
    add_compile_options(-fno-sanitize-recover=undefined)
  endif()
  message(STATUS "uoe: sanitizers ${UOE_SANITIZE}")
  # Run-time options for every ctest of this build (tests/ and fuzz/ add them to ENVIRONMENT).
  set(supp ${PROJECT_SOURCE_DIR}/cmake/sanitizers)
  string(JOIN ":" asan_options detect_stack_use_after_return=1 check_initialization_order=1
         strict_init_order=1)
  set(UOE_SANITIZER_ENV
      "ASAN_OPTIONS=${asan_options}"
      "LSAN_OPTIONS=suppressions=${supp}/lsan.supp:print_suppressions=0"
      "UBSAN_OPTIONS=print_stacktrace=1")
endif()
