# cmake -P script behind the `setup/*` ctests (see tests/CMakeLists.txt): configures this source
# tree in scratch directories the way a fresh machine would, and checks what the user is told.
#
#   CASE=missing_deps   Catch2 and benchmark not installed (CMAKE_DISABLE_FIND_PACKAGE_*) and
#                       github.com unreachable (git's url.<base>.insteadOf points it at a path
#                       that does not exist): configure must fail with ONE error naming both
#                       and what to install on Debian/Ubuntu, Fedora and macOS.
#   CASE=missing_bench  same with tests off: the message names Google Benchmark only.
#   CASE=no_ninja       the Unix Makefiles generator (what a machine without Ninja gets):
#                       configure succeeds and says which generator it used.
#   CASE=no_build_tool  no make on the search path (system paths switched off): one error
#                       saying what to install, not CMake's "unable to find a build program".
#
# Required: SOURCE_DIR WORK_DIR CXX_COMPILER CASE. Optional: GENERATOR (default Unix Makefiles).

foreach(_var IN ITEMS SOURCE_DIR WORK_DIR CXX_COMPILER CASE)
    if(NOT DEFINED ${_var} OR "${${_var}}" STREQUAL "")
        message(FATAL_ERROR "CotraitSetupTest.cmake: -D${_var}=... is required")
    endif()
endforeach()

set(_bin "${WORK_DIR}/${CASE}")
file(REMOVE_RECURSE "${_bin}")

# Every URL under https://github.com/ resolves to a missing local path, so the FetchContent probe
# fails at once and without network, exactly as it does offline (GIT_CONFIG_* needs git 2.31,
# GIT_CONFIG_GLOBAL 2.32). The user's and the system's git configuration are ignored: a longer
# url.*.insteadOf there (a local mirror of Catch2, say) would win over this one.
set(_offline_git
    GIT_CONFIG_NOSYSTEM=1
    GIT_CONFIG_GLOBAL=/dev/null
    GIT_CONFIG_COUNT=1
    "GIT_CONFIG_KEY_0=url.${_bin}/no-such-mirror/.insteadOf"
    GIT_CONFIG_VALUE_0=https://github.com/)
# The outer build's generator, except where the case is about Unix Makefiles.
if(NOT GENERATOR OR CASE MATCHES "^no_(ninja|build_tool)$")
    set(GENERATOR "Unix Makefiles")
endif()
set(_common -S "${SOURCE_DIR}" -B "${_bin}" -G "${GENERATOR}"
            "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" -DCOTRAIT_INSTALL=OFF)

if(CASE STREQUAL "missing_deps")
    set(_cmd "${CMAKE_COMMAND}" -E env ${_offline_git} "${CMAKE_COMMAND}" ${_common}
             -DCMAKE_DISABLE_FIND_PACKAGE_Catch2=ON -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON)
    set(_expect_rc FAIL)
    set(_expect
        "cotrait: Catch2 v3 and Google Benchmark are missing[.]\n"
        "Catch2 v3: not installed, and fetching https://github.com/catchorg/Catch2.git v3[.0-9]+ failed: [^\n]*no-such-mirror"
        "Google Benchmark: not installed, and fetching https://github.com/google/benchmark.git"
        "sudo apt install catch2 libbenchmark-dev\n"
        "sudo dnf install catch-devel google-benchmark-devel\n"
        "brew install catch2 google-benchmark\n")
elseif(CASE STREQUAL "missing_bench")
    set(_cmd "${CMAKE_COMMAND}" -E env ${_offline_git} "${CMAKE_COMMAND}" ${_common}
             -DCOTRAIT_BUILD_TESTS=OFF -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON)
    set(_expect_rc FAIL)
    set(_expect
        "cotrait: Google Benchmark is missing[.]\n"
        "sudo apt install libbenchmark-dev\n"
        "sudo dnf install google-benchmark-devel\n"
        "brew install google-benchmark\n")
    set(_reject "Catch2")
elseif(CASE STREQUAL "no_ninja")
    set(_cmd "${CMAKE_COMMAND}" ${_common}
             -DCOTRAIT_BUILD_TESTS=OFF -DCOTRAIT_BUILD_BENCHMARKS=OFF)
    set(_expect_rc OK)
    set(_expect "cotrait: generator: Unix Makefiles")
elseif(CASE STREQUAL "no_build_tool")
    set(_cmd "${CMAKE_COMMAND}" ${_common}
             -DCMAKE_FIND_USE_SYSTEM_ENVIRONMENT_PATH=OFF -DCMAKE_FIND_USE_CMAKE_SYSTEM_PATH=OFF
             -DCOTRAIT_BUILD_TESTS=OFF -DCOTRAIT_BUILD_BENCHMARKS=OFF)
    set(_expect_rc FAIL)
    set(_expect
        "cotrait: the Unix Makefiles generator needs make, which is not installed[.]\n"
        "sudo apt install make "
        "sudo dnf install make ")
    set(_reject "unable to find a build program")
else()
    message(FATAL_ERROR "CotraitSetupTest.cmake: unknown CASE '${CASE}'")
endif()

execute_process(COMMAND ${_cmd} RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _out
                TIMEOUT 300)
if(_expect_rc STREQUAL "OK" AND NOT _rc EQUAL 0)
    message(FATAL_ERROR "setup test ${CASE}: configure failed (${_rc}):\n${_out}")
elseif(_expect_rc STREQUAL "FAIL" AND _rc EQUAL 0)
    message(FATAL_ERROR "setup test ${CASE}: configure succeeded, expected it to stop:\n${_out}")
endif()
foreach(_re IN LISTS _expect)
    if(NOT _out MATCHES "${_re}")
        message(FATAL_ERROR "setup test ${CASE}: output lacks /${_re}/:\n${_out}")
    endif()
endforeach()
if(_reject AND _out MATCHES "${_reject}")
    message(FATAL_ERROR "setup test ${CASE}: output mentions '${_reject}':\n${_out}")
endif()
# ONE message: a second CMake Error would mean FetchContent (or anything else) failed after it.
string(REGEX MATCHALL "CMake Error" _errors "${_out}")
list(LENGTH _errors _n)
if(_expect_rc STREQUAL "FAIL" AND NOT _n EQUAL 1)
    message(FATAL_ERROR "setup test ${CASE}: expected one CMake Error, got ${_n}:\n${_out}")
endif()
message(STATUS "setup test ${CASE}: ok")
file(REMOVE_RECURSE "${_bin}")
