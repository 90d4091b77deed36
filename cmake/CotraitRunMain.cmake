# Defines the custom target `cotrait_run_main` (included from the top-level CMakeLists.txt after
# examples/ and bench/ have been added):
#
#   1. runs every example   (targets registered in the global property COTRAIT_EXAMPLE_TARGETS)
#   2. runs every benchmark (global property COTRAIT_BENCH_TARGETS) through bench/run.py, which
#      pins to one CPU (taskset), repeats, reruns the allocation suite's new_delete rows with
#      mimalloc/jemalloc/tcmalloc preloaded, and writes <builddir>/bench-results/*.json
#      ([--quick] if COTRAIT_BENCH_QUICK; ${COTRAIT_BENCH_ARGS} go to every benchmark binary);
#      without python3, each benchmark binary once, directly, and no step 3
#   3. runs `python3 bench/report.py <builddir>/bench-results`, which writes report.md and the
#      PNG plots into that folder and prints where.
#
# <builddir>/bench-results is emptied at the start of every run so that results of renamed or
# removed benchmarks never reach the report.

option(COTRAIT_BENCH_QUICK "cotrait_run_main: run benchmarks briefly (smoke run, not numbers)" OFF)
set(COTRAIT_BENCH_ARGS "" CACHE STRING
    "cotrait_run_main: extra arguments (;-list) for every benchmark binary, after the defaults")

set(COTRAIT_BENCH_RESULTS_DIR "${PROJECT_BINARY_DIR}/bench-results")
get_property(_cotrait_examples GLOBAL PROPERTY COTRAIT_EXAMPLE_TARGETS)
get_property(_cotrait_benches GLOBAL PROPERTY COTRAIT_BENCH_TARGETS)

set(_cotrait_cmds "")
foreach(_t IN LISTS _cotrait_examples)
    list(APPEND _cotrait_cmds
         COMMAND "${CMAKE_COMMAND}" -E echo "== example ${_t}"
         COMMAND "$<TARGET_FILE:${_t}>")
endforeach()

set(_cotrait_runner "${PROJECT_SOURCE_DIR}/bench/run.py")
set(_cotrait_report "${PROJECT_SOURCE_DIR}/bench/report.py")
if(_cotrait_benches)
    # The runner and the report need Python; the report plots with matplotlib. The python3 first
    # on PATH (e.g. a pyenv shim) does not necessarily have it while Debian's /usr/bin/python3
    # (python3-matplotlib) does, so prefer the first interpreter that can import matplotlib.
    # Override with -DCOTRAIT_PYTHON=...
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
        if(_cotrait_python_found)
            set(COTRAIT_PYTHON "${_cotrait_python_found}" CACHE FILEPATH
                "Python interpreter that runs bench/run.py and bench/report.py" FORCE)
        endif()
        unset(_cotrait_path_python CACHE)
    endif()
endif()
if(_cotrait_benches AND NOT COTRAIT_PYTHON)
    # Without Python the main job still measures: each benchmark runs once, unpinned, with its
    # JSON in bench-results/, and the run says what it left out. COTRAIT_PYTHON stays unset,
    # so the next configure looks again.
    message(STATUS "cotrait: python3 not found: cotrait_run_main runs each benchmark once "
                   "without bench/run.py (no pinning, repetitions or preloaded allocators) and "
                   "writes no report; install python3 (and python3-matplotlib for plots)")
    set(_cotrait_direct_args "")
    if(COTRAIT_BENCH_QUICK)
        set(_cotrait_direct_args "--benchmark_min_time=0.01")
    endif()
    list(APPEND _cotrait_cmds
         COMMAND "${CMAKE_COMMAND}" -E rm -rf "${COTRAIT_BENCH_RESULTS_DIR}"
         COMMAND "${CMAKE_COMMAND}" -E make_directory "${COTRAIT_BENCH_RESULTS_DIR}")
    foreach(_t IN LISTS _cotrait_benches)
        list(APPEND _cotrait_cmds
             COMMAND "${CMAKE_COMMAND}" -E echo "== benchmark ${_t}"
             COMMAND "$<TARGET_FILE:${_t}>" ${_cotrait_direct_args}
                     "--benchmark_out=${COTRAIT_BENCH_RESULTS_DIR}/${_t}.json"
                     --benchmark_out_format=json ${COTRAIT_BENCH_ARGS})
    endforeach()
    list(APPEND _cotrait_cmds
         COMMAND "${CMAKE_COMMAND}" -E echo
                 "cotrait: no report.md: python3 was not found when this tree was configured")
elseif(_cotrait_benches)
    message(STATUS "cotrait: cotrait_run_main runs the benchmarks with ${COTRAIT_PYTHON}")

    set(_cotrait_bench_files "")
    foreach(_t IN LISTS _cotrait_benches)
        list(APPEND _cotrait_bench_files "$<TARGET_FILE:${_t}>")
    endforeach()
    string(TOUPPER "${CMAKE_BUILD_TYPE}" _cotrait_bt)
    set(_cotrait_runner_opts
        --compiler "${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}"
        --flags "${CMAKE_CXX_FLAGS} ${CMAKE_CXX_FLAGS_${_cotrait_bt}} -std=c++20")
    if(COTRAIT_BENCH_QUICK)
        list(APPEND _cotrait_runner_opts "--quick")
    endif()
    # Instructions per call under callgrind (exact, unlike time on a shared machine): only when
    # valgrind is installed; the report says so otherwise.
    set(_cotrait_callgrind_cmds "")
    find_program(COTRAIT_VALGRIND valgrind)
    if(TARGET cotrait_probe AND COTRAIT_VALGRIND)
        set(_cotrait_callgrind_calls 2000 6000)
        if(COTRAIT_BENCH_QUICK)
            set(_cotrait_callgrind_calls 200 600)
        endif()
        set(_cotrait_callgrind_cmds
            COMMAND "${CMAKE_COMMAND}" -E echo "== callgrind"
            COMMAND "${COTRAIT_PYTHON}" "${PROJECT_SOURCE_DIR}/bench/callgrind.py"
                    "$<TARGET_FILE:cotrait_probe>" --calls ${_cotrait_callgrind_calls}
                    --label "${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}"
                    --out "${COTRAIT_BENCH_RESULTS_DIR}/callgrind.json")
        list(APPEND _cotrait_benches cotrait_probe) # built with the benchmarks
    elseif(TARGET cotrait_probe)
        set(_cotrait_callgrind_cmds
            COMMAND "${CMAKE_COMMAND}" -E echo
                    "== callgrind: skipped, valgrind not found (instructions per call not measured)")
    endif()
    # The peers table (bench/peers.py): cotrait's probe rows timed in rounds interleaved with the
    # Rust async_trait program of bench/peers/rust, which it builds offline when rustc, cargo and
    # Debian's librust-async-trait-dev are installed (the Rust rows are skipped otherwise).
    if(TARGET cotrait_probe)
        set(_cotrait_peers_opts "")
        if(COTRAIT_BENCH_QUICK)
            set(_cotrait_peers_opts --quick)
        endif()
        list(APPEND _cotrait_callgrind_cmds
            COMMAND "${CMAKE_COMMAND}" -E echo "== peers"
            COMMAND "${COTRAIT_PYTHON}" "${PROJECT_SOURCE_DIR}/bench/peers.py"
                    --probe "$<TARGET_FILE:cotrait_probe>" --out "${COTRAIT_BENCH_RESULTS_DIR}"
                    --rust-build "${PROJECT_BINARY_DIR}/rust-peers" ${_cotrait_peers_opts}
                    --label "${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}")
        list(APPEND _cotrait_benches cotrait_probe)
        list(REMOVE_DUPLICATES _cotrait_benches)
    endif()
    # kv_server against redis-server (bench/redis_compare.py, issue 18): only when redis-server
    # and redis-benchmark are installed; the report says so otherwise. Never fails the run.
    set(_cotrait_redis_cmds "")
    find_program(COTRAIT_REDIS_SERVER redis-server)
    find_program(COTRAIT_REDIS_BENCHMARK redis-benchmark)
    if(TARGET kv_server AND COTRAIT_REDIS_SERVER AND COTRAIT_REDIS_BENCHMARK)
        set(_cotrait_redis_args --requests 200000 --rounds 3)
        if(COTRAIT_VALGRIND)
            list(APPEND _cotrait_redis_args --callgrind 5000,25000) # instructions per request
        endif()
        if(COTRAIT_BENCH_QUICK)
            set(_cotrait_redis_args --requests 2000 --rounds 1)
        endif()
        set(_cotrait_redis_cmds
            COMMAND "${CMAKE_COMMAND}" -E echo "== redis compare"
            COMMAND "${COTRAIT_PYTHON}" "${PROJECT_SOURCE_DIR}/bench/redis_compare.py"
                    --kv-server "$<TARGET_FILE:kv_server>"
                    --redis-server "${COTRAIT_REDIS_SERVER}"
                    --redis-benchmark "${COTRAIT_REDIS_BENCHMARK}" ${_cotrait_redis_args}
                    --out "${COTRAIT_BENCH_RESULTS_DIR}/redis.json")
    elseif(TARGET kv_server)
        set(_cotrait_redis_cmds
            COMMAND "${CMAKE_COMMAND}" -E echo
                    "== redis compare: skipped, redis-server or redis-benchmark not found")
    endif()
    list(APPEND _cotrait_cmds
         COMMAND "${CMAKE_COMMAND}" -E rm -rf "${COTRAIT_BENCH_RESULTS_DIR}"
         COMMAND "${CMAKE_COMMAND}" -E make_directory "${COTRAIT_BENCH_RESULTS_DIR}"
         COMMAND "${COTRAIT_PYTHON}" "${_cotrait_runner}"
                 --results "${COTRAIT_BENCH_RESULTS_DIR}" ${_cotrait_runner_opts}
                 ${_cotrait_bench_files} -- ${COTRAIT_BENCH_ARGS}
         ${_cotrait_callgrind_cmds}
         ${_cotrait_redis_cmds}
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
