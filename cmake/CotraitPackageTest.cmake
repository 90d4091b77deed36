# cmake -P script behind the `package` ctest (see tests/CMakeLists.txt).
#
# 1. `cmake --install <COTRAIT_BINARY_DIR> --component cotrait --prefix <WORK_DIR>/prefix`
# 2. configure + build + run the consumer project in CONSUMER_DIR (tests/package) three ways:
#      find_package     find_package(cotrait CONFIG REQUIRED) with CMAKE_PREFIX_PATH=<prefix>
#      add_subdirectory add_subdirectory(<COTRAIT_SOURCE_DIR>)
#      fetchcontent     FetchContent_Declare(cotrait SOURCE_DIR <COTRAIT_SOURCE_DIR>)
#    each with the same compiler (CXX_COMPILER) and generator as the outer build.
#
# Required: COTRAIT_SOURCE_DIR COTRAIT_BINARY_DIR COTRAIT_VERSION CONSUMER_DIR WORK_DIR
#           CXX_COMPILER GENERATOR.  Optional: MAKE_PROGRAM, CONFIG, MODES (;-list subset).

foreach(_var IN ITEMS COTRAIT_SOURCE_DIR COTRAIT_BINARY_DIR COTRAIT_VERSION CONSUMER_DIR WORK_DIR
                      CXX_COMPILER GENERATOR)
    if(NOT DEFINED ${_var} OR "${${_var}}" STREQUAL "")
        message(FATAL_ERROR "CotraitPackageTest.cmake: -D${_var}=... is required")
    endif()
endforeach()
if(NOT CONFIG)
    set(CONFIG Release)
endif()
if(NOT MODES)
    set(MODES find_package add_subdirectory fetchcontent)
endif()

function(run_step what)
    string(TIMESTAMP _t0 "%s")
    execute_process(COMMAND ${ARGN}
                    RESULT_VARIABLE _rc
                    OUTPUT_VARIABLE _out
                    ERROR_VARIABLE _out)
    string(TIMESTAMP _t1 "%s")
    math(EXPR _dt "${_t1} - ${_t0}")
    if(NOT _rc EQUAL 0)
        list(JOIN ARGN " " _cmd)
        message(FATAL_ERROR "package test: ${what} FAILED (exit ${_rc})\n"
                            "command: ${_cmd}\n${_out}")
    endif()
    message(STATUS "package test: ${what}: ok (${_dt}s)")
endfunction()

set(_prefix "${WORK_DIR}/prefix")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

# Only the `cotrait` component: if Catch2 had to be fetched (FetchContent fallback), its install
# rules are part of this build tree too, and they are not ours to install.
run_step("install into ${_prefix}"
    "${CMAKE_COMMAND}" --install "${COTRAIT_BINARY_DIR}" --config "${CONFIG}"
                       --component cotrait --prefix "${_prefix}")

file(GLOB_RECURSE _config_files "${_prefix}/*/cotraitConfig.cmake")
if(NOT _config_files)
    message(FATAL_ERROR "package test: no cotraitConfig.cmake under ${_prefix}")
endif()
if(NOT EXISTS "${_prefix}/include/cotrait/cotrait.hpp")
    message(FATAL_ERROR "package test: ${_prefix}/include/cotrait/cotrait.hpp was not installed")
endif()

set(_common_args
    -G "${GENERATOR}"
    "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
    "-DCMAKE_BUILD_TYPE=${CONFIG}"
    "-DCOTRAIT_SOURCE_DIR=${COTRAIT_SOURCE_DIR}"
    "-DCOTRAIT_EXPECTED_VERSION=${COTRAIT_VERSION}"
    # Never pick up a cotrait registered elsewhere on the machine.
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
    -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF
    # A consumer needs none of the test/benchmark dependencies: make them unfindable and
    # unfetchable, so that any attempt to get them fails this test.
    -DCMAKE_DISABLE_FIND_PACKAGE_Catch2=ON
    -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON
    -DFETCHCONTENT_FULLY_DISCONNECTED=ON)
if(MAKE_PROGRAM)
    list(APPEND _common_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()

foreach(_mode IN LISTS MODES)
    set(_bin "${WORK_DIR}/${_mode}")
    set(_args ${_common_args} "-DCOTRAIT_CONSUME_MODE=${_mode}")
    if(_mode STREQUAL "find_package")
        list(APPEND _args "-DCMAKE_PREFIX_PATH=${_prefix}" "-DCOTRAIT_EXPECTED_PREFIX=${_prefix}")
    endif()
    run_step("${_mode}: configure"
        "${CMAKE_COMMAND}" -S "${CONSUMER_DIR}" -B "${_bin}" ${_args})
    run_step("${_mode}: build"
        "${CMAKE_COMMAND}" --build "${_bin}" --config "${CONFIG}")
    # The consumer must not have built any of cotrait's own tests/benchmarks/examples.
    file(GLOB_RECURSE _stray "${_bin}/test_*" "${_bin}/bench_*") # recursive: any subdirectory
    if(_stray)
        message(FATAL_ERROR "package test: ${_mode}: consumer build produced cotrait test or "
                            "benchmark files:\n${_stray}")
    endif()
    file(GLOB_RECURSE _exe "${_bin}/cotrait_consumer" "${_bin}/cotrait_consumer.exe")
    if(NOT _exe)
        message(FATAL_ERROR "package test: ${_mode}: cotrait_consumer executable not found")
    endif()
    list(GET _exe 0 _exe)
    run_step("${_mode}: run" "${_exe}")
endforeach()

message(STATUS "package test: all consumer variants passed (${MODES})")
