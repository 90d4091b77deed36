# Dependencies of cotrait's own tests (Catch2 v3) and benchmarks (Google Benchmark), included
# from the top-level CMakeLists.txt only when those are built. Consumers of the library never
# reach this file: cotrait itself depends on nothing but a C++20 compiler.
#
# Each dependency is looked for with find_package first (the system's package), then fetched
# with FetchContent from its official repository at a pinned tag. Before FetchContent is asked
# to clone, the tag is probed with `git ls-remote`, because a failed clone inside
# FetchContent_MakeAvailable is a fatal error full of ExternalProject noise: when neither way
# works, configuring stops with ONE message naming every missing dependency and exactly what to
# install on Debian/Ubuntu, Fedora and macOS.
#
# Knobs (all standard CMake): FETCHCONTENT_TRY_FIND_PACKAGE_MODE=NEVER forces the fetch,
# FETCHCONTENT_SOURCE_DIR_CATCH2 / FETCHCONTENT_SOURCE_DIR_BENCHMARK use a local source tree,
# FETCHCONTENT_FULLY_DISCONNECTED=ON reuses what an earlier configure fetched.
#
# Defines `cotrait_catch2` (Catch2::Catch2WithMain) and `cotrait_benchmark` (benchmark::benchmark),
# each with what cotrait's warning flags need next to that library's macros.

set(COTRAIT_CATCH2_GIT_TAG v3.7.1)
set(COTRAIT_BENCHMARK_GIT_TAG v1.9.1)

include(FetchContent)

set(_cotrait_missing "")         # "Catch2 3;Google Benchmark" as shown to the user
set(_cotrait_missing_why "")     # one line per missing dependency
set(_cotrait_to_fetch "")        # FetchContent names whose probe succeeded
set(_cotrait_pkgs_apt "")        # what to install, per platform, for the missing ones only
set(_cotrait_pkgs_dnf "")
set(_cotrait_pkgs_brew "")

# _cotrait_dependency(<fetch name> <find_package name> <find_package version> <display name>
#                     <git repository> <git tag> <apt package> <dnf package> <brew formula>)
# Declares the dependency and decides whether it can be had; does not make it available yet,
# so that every missing dependency is reported in the same message.
function(_cotrait_dependency fc_name pkg version display repo tag apt dnf brew)
    string(TOUPPER "${fc_name}" _upper)
    string(TOLOWER "${fc_name}" _lower)
    set(_declare_args GIT_REPOSITORY "${repo}" GIT_TAG "${tag}" GIT_SHALLOW TRUE
                      FIND_PACKAGE_ARGS ${version})
    # SYSTEM (CMake >= 3.25): a fetched Catch2 or benchmark is not ours to warn about under
    # -Werror, exactly like the installed package whose headers live in /usr/include.
    if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.25)
        list(PREPEND _declare_args SYSTEM)
    endif()
    FetchContent_Declare(${fc_name} ${_declare_args})

    if(NOT FETCHCONTENT_TRY_FIND_PACKAGE_MODE STREQUAL "NEVER")
        find_package(${pkg} ${version} QUIET)
        if(${pkg}_FOUND)
            message(STATUS "cotrait: ${display}: found ${pkg} ${${pkg}_VERSION} in ${${pkg}_DIR}")
            set(_cotrait_to_fetch ${_cotrait_to_fetch} ${fc_name} PARENT_SCOPE)
            return()
        endif()
    endif()

    if(FETCHCONTENT_SOURCE_DIR_${_upper})
        message(STATUS "cotrait: ${display}: using FETCHCONTENT_SOURCE_DIR_${_upper}="
                       "${FETCHCONTENT_SOURCE_DIR_${_upper}}")
        set(_cotrait_to_fetch ${_cotrait_to_fetch} ${fc_name} PARENT_SCOPE)
        return()
    endif()
    # Fetched by an earlier configure: FetchContent does not need the network to reuse it.
    if(EXISTS "${FETCHCONTENT_BASE_DIR}/${_lower}-src/CMakeLists.txt")
        message(STATUS "cotrait: ${display}: using ${tag} fetched earlier into "
                       "${FETCHCONTENT_BASE_DIR}/${_lower}-src")
        set(_cotrait_to_fetch ${_cotrait_to_fetch} ${fc_name} PARENT_SCOPE)
        return()
    endif()

    set(_why "")
    if(CMAKE_VERSION VERSION_LESS 3.24)
        set(_why "FetchContent with FIND_PACKAGE_ARGS needs CMake >= 3.24")
    elseif(FETCHCONTENT_FULLY_DISCONNECTED)
        set(_why "FETCHCONTENT_FULLY_DISCONNECTED is ON and nothing was fetched before")
    else()
        find_package(Git QUIET)
        if(NOT GIT_EXECUTABLE)
            set(_why "git is not installed, so it cannot be fetched from ${repo}")
        else()
            message(STATUS "cotrait: ${display}: not installed; checking ${repo} ${tag}")
            execute_process(
                COMMAND "${GIT_EXECUTABLE}" ls-remote --exit-code "${repo}" "refs/tags/${tag}"
                RESULT_VARIABLE _rc
                OUTPUT_QUIET
                ERROR_VARIABLE _err
                TIMEOUT 60)
            if(NOT _rc EQUAL 0)
                string(REGEX REPLACE "\n.*" "" _err "${_err}") # git's first line says why
                if(_err STREQUAL "")
                    set(_err "git ls-remote: ${_rc}")
                endif()
                set(_why "fetching ${repo} ${tag} failed: ${_err}")
            endif()
        endif()
    endif()

    if(_why STREQUAL "")
        message(STATUS "cotrait: ${display}: fetching ${tag} from ${repo}")
        set(_cotrait_to_fetch ${_cotrait_to_fetch} ${fc_name} PARENT_SCOPE)
    else()
        set(_cotrait_missing ${_cotrait_missing} "${display}" PARENT_SCOPE)
        set(_cotrait_missing_why "${_cotrait_missing_why}  ${display}: not installed, and ${_why}\n"
            PARENT_SCOPE)
        set(_cotrait_pkgs_apt "${_cotrait_pkgs_apt} ${apt}" PARENT_SCOPE)
        set(_cotrait_pkgs_dnf "${_cotrait_pkgs_dnf} ${dnf}" PARENT_SCOPE)
        set(_cotrait_pkgs_brew "${_cotrait_pkgs_brew} ${brew}" PARENT_SCOPE)
    endif()
endfunction()

if(COTRAIT_BUILD_TESTS)
    _cotrait_dependency(Catch2 Catch2 3 "Catch2 v3" https://github.com/catchorg/Catch2.git
                        ${COTRAIT_CATCH2_GIT_TAG} catch2 catch-devel catch2)
endif()
if(COTRAIT_BUILD_BENCHMARKS)
    _cotrait_dependency(benchmark benchmark "" "Google Benchmark"
                        https://github.com/google/benchmark.git ${COTRAIT_BENCHMARK_GIT_TAG}
                        libbenchmark-dev google-benchmark-devel google-benchmark)
endif()

if(_cotrait_missing)
    list(JOIN _cotrait_missing " and " _cotrait_missing_list)
    list(LENGTH _cotrait_missing _n)
    if(_n EQUAL 1)
        set(_is "is")
    else()
        set(_is "are")
    endif()
    set(_debian12 "sudo bash .ci/install-deps")
    if("Catch2 v3" IN_LIST _cotrait_missing)
        string(APPEND _debian12 "  (Catch2 v3 is in bookworm-backports)")
    endif()
    # Every line after the first starts with spaces: CMake re-flows the others.
    message(FATAL_ERROR
        "cotrait: ${_cotrait_missing_list} ${_is} missing.\n"
        "${_cotrait_missing_why}"
        "  Install, then run the same command again:\n"
        "    Debian 13, Ubuntu 24.04:  sudo apt install${_cotrait_pkgs_apt}\n"
        "    Debian 12:                ${_debian12}\n"
        "    Fedora:                   sudo dnf install${_cotrait_pkgs_dnf}\n"
        "    macOS (Homebrew):         brew install${_cotrait_pkgs_brew}\n"
        "  Or let CMake reach github.com (FetchContent), or configure with\n"
        "  -DCOTRAIT_BUILD_TESTS=OFF -DCOTRAIT_BUILD_BENCHMARKS=OFF: the library needs neither.")
endif()

# The options of a fetched Catch2 / benchmark. Cache entries rather than normal variables
# because both projects' option() predate policy CMP0077; not FORCEd, so a user can override.
set(CATCH_INSTALL_DOCS OFF CACHE BOOL "cotrait: fetched Catch2 installs no docs")
set(CATCH_INSTALL_EXTRAS OFF CACHE BOOL "cotrait: fetched Catch2 installs no extras")
set(BENCHMARK_ENABLE_TESTING OFF CACHE BOOL "cotrait: fetched benchmark without its own tests")
set(BENCHMARK_ENABLE_GTEST_TESTS OFF CACHE BOOL "cotrait: fetched benchmark without gtest")
set(BENCHMARK_ENABLE_INSTALL OFF CACHE BOOL "cotrait: fetched benchmark is not installed")
set(BENCHMARK_INSTALL_DOCS OFF CACHE BOOL "cotrait: fetched benchmark installs no docs")
# Release candidates of benchmark build with -Werror; a newer compiler than it was tested with
# must not break cotrait's build through a dependency's warning.
set(BENCHMARK_ENABLE_WERROR OFF CACHE BOOL "cotrait: fetched benchmark without -Werror")

if(_cotrait_to_fetch)
    FetchContent_MakeAvailable(${_cotrait_to_fetch})
endif()

# Clang >= 22 reports __COUNTER__ as a C2y extension under -Wpedantic, and every Catch2
# TEST_CASE/SECTION and Google Benchmark BENCHMARK expands it in our own files, where the
# header's system status does not help. cotrait's headers do not use __COUNTER__, so the flag is
# only given to targets that use these macros, through cotrait_catch2 / cotrait_benchmark; those
# must come after cotrait_warnings in target_link_libraries, since -Wpedantic re-enables it.
add_library(cotrait_counter_macros INTERFACE)
include(CheckCXXCompilerFlag)
check_cxx_compiler_flag(-Wc2y-extensions COTRAIT_HAVE_WC2Y_EXTENSIONS)
if(COTRAIT_HAVE_WC2Y_EXTENSIONS)
    target_compile_options(cotrait_counter_macros INTERFACE -Wno-c2y-extensions)
endif()

if(COTRAIT_BUILD_TESTS)
    if(NOT TARGET Catch2::Catch2WithMain)
        message(FATAL_ERROR "cotrait: Catch2 was made available without Catch2::Catch2WithMain")
    endif()
    # catch_discover_tests (include(Catch)): the installed package keeps Catch.cmake beside its
    # config, a fetched source tree in extras/.
    # The config's own append happens inside find_package's caller (a function here), so it
    # is redone at this scope.
    if(catch2_SOURCE_DIR)
        list(APPEND CMAKE_MODULE_PATH "${catch2_SOURCE_DIR}/extras")
    elseif(Catch2_DIR)
        list(APPEND CMAKE_MODULE_PATH "${Catch2_DIR}")
    endif()
    add_library(cotrait_catch2 INTERFACE)
    target_link_libraries(cotrait_catch2 INTERFACE Catch2::Catch2WithMain cotrait_counter_macros)
endif()
if(COTRAIT_BUILD_BENCHMARKS)
    if(NOT TARGET benchmark::benchmark)
        message(FATAL_ERROR "cotrait: Google Benchmark was made available without "
                            "benchmark::benchmark")
    endif()
    add_library(cotrait_benchmark INTERFACE)
    target_link_libraries(cotrait_benchmark INTERFACE benchmark::benchmark cotrait_counter_macros)
endif()
