# Defines the custom target `cotrait_run_main` (included from the top-level CMakeLists.txt after
# examples/ and bench/ have been added):
#
#   1. runs every example   (targets registered in the global property COTRAIT_EXAMPLE_TARGETS)
#   2. runs every benchmark (global property COTRAIT_BENCH_TARGETS) with
#        --benchmark_out=<builddir>/bench-results/<name>.json --benchmark_out_format=json
#        [--benchmark_min_time=0.01 if COTRAIT_BENCH_QUICK] ${COTRAIT_BENCH_ARGS}
#   3. runs `python3 bench/report.py <builddir>/bench-results` if bench/report.py existed at
#      configure time (re-run cmake after adding it).
#
# <builddir>/bench-results is emptied at the start of every run so that results of renamed or
# removed benchmarks never reach the report.

option(COTRAIT_BENCH_QUICK "cotrait_run_main: run benchmarks briefly (smoke run, not numbers)" OFF)
set(COTRAIT_BENCH_ARGS "" CACHE STRING
    "cotrait_run_main: extra arguments (;-list) for every benchmark binary, after the defaults")

set(_cotrait_bench_args "")
if(COTRAIT_BENCH_QUICK)
    # libbenchmark 1.7.x syntax: a plain number of seconds (1.8 also accepts "0.01s").
    list(APPEND _cotrait_bench_args "--benchmark_min_time=0.01")
endif()
# Appended after the defaults: for a repeated flag Google Benchmark keeps the last value, so
# COTRAIT_BENCH_ARGS can override the quick default.
list(APPEND _cotrait_bench_args ${COTRAIT_BENCH_ARGS})

set(COTRAIT_BENCH_RESULTS_DIR "${PROJECT_BINARY_DIR}/bench-results")
get_property(_cotrait_examples GLOBAL PROPERTY COTRAIT_EXAMPLE_TARGETS)
get_property(_cotrait_benches GLOBAL PROPERTY COTRAIT_BENCH_TARGETS)

set(_cotrait_cmds "")
foreach(_t IN LISTS _cotrait_examples)
    list(APPEND _cotrait_cmds
         COMMAND "${CMAKE_COMMAND}" -E echo "== example ${_t}"
         COMMAND "$<TARGET_FILE:${_t}>")
endforeach()

list(APPEND _cotrait_cmds
     COMMAND "${CMAKE_COMMAND}" -E rm -rf "${COTRAIT_BENCH_RESULTS_DIR}"
     COMMAND "${CMAKE_COMMAND}" -E make_directory "${COTRAIT_BENCH_RESULTS_DIR}")
foreach(_t IN LISTS _cotrait_benches)
    list(APPEND _cotrait_cmds
         COMMAND "${CMAKE_COMMAND}" -E echo "== benchmark ${_t}"
         COMMAND "$<TARGET_FILE:${_t}>"
                 "--benchmark_out=${COTRAIT_BENCH_RESULTS_DIR}/${_t}.json"
                 "--benchmark_out_format=json"
                 ${_cotrait_bench_args})
endforeach()

set(_cotrait_report "${PROJECT_SOURCE_DIR}/bench/report.py")
if(EXISTS "${_cotrait_report}")
    # The report may plot with matplotlib. The python3 first on PATH (e.g. a pyenv shim) does not
    # necessarily have it while Debian's /usr/bin/python3 (python3-matplotlib) does, so prefer
    # the first interpreter that can import matplotlib. Override with -DCOTRAIT_PYTHON=...
    if(NOT COTRAIT_PYTHON)
        find_program(_cotrait_path_python NAMES python3 python)
        set(_cotrait_python_found "")
        foreach(_py IN ITEMS "${_cotrait_path_python}" /usr/bin/python3)
            if(_py AND EXISTS "${_py}")
                if(NOT _cotrait_python_found)
                    set(_cotrait_python_found "${_py}") # fallback: first interpreter that exists
                endif()
                execute_process(COMMAND "${_py}" -c "import matplotlib"
                                RESULT_VARIABLE _rc OUTPUT_QUIET ERROR_QUIET)
                if(_rc EQUAL 0)
                    set(_cotrait_python_found "${_py}")
                    break()
                endif()
            endif()
        endforeach()
        if(NOT _cotrait_python_found)
            message(FATAL_ERROR "bench/report.py exists but no python3 interpreter was found; "
                                "set COTRAIT_PYTHON")
        endif()
        set(COTRAIT_PYTHON "${_cotrait_python_found}" CACHE FILEPATH
            "Python interpreter that runs bench/report.py" FORCE)
        unset(_cotrait_path_python CACHE)
    endif()
    message(STATUS "cotrait: cotrait_run_main will run bench/report.py with ${COTRAIT_PYTHON}")
    list(APPEND _cotrait_cmds
         COMMAND "${CMAKE_COMMAND}" -E echo "== report"
         COMMAND "${COTRAIT_PYTHON}" "${_cotrait_report}" "${COTRAIT_BENCH_RESULTS_DIR}")
endif()

list(APPEND _cotrait_cmds
     COMMAND "${CMAKE_COMMAND}" -E echo
             "cotrait: benchmark results written to ${COTRAIT_BENCH_RESULTS_DIR}")

add_custom_target(cotrait_run_main
    ${_cotrait_cmds}
    WORKING_DIRECTORY "${PROJECT_BINARY_DIR}"
    COMMENT "Running cotrait examples and benchmarks"
    USES_TERMINAL
    VERBATIM)
if(_cotrait_examples OR _cotrait_benches)
    add_dependencies(cotrait_run_main ${_cotrait_examples} ${_cotrait_benches})
endif()
