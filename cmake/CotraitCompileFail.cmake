# cmake -P script behind the compile_fail/<stem> ctests (see tests/CMakeLists.txt).
#
#   cmake -DCXX=<compiler> -DSTD_FLAG=-std=c++20 -DINCLUDE_DIRS=<dir>|<dir>... -DSOURCE=<file.cpp>
#         -P CotraitCompileFail.cmake
#
# SOURCE's first line must be `// expect-error: <regex>` (CMake regex syntax). The test passes
# only if `<CXX> <STD_FLAG> -fsyntax-only -I... <SOURCE>` fails AND its output matches <regex>.
# A file that compiles, or that fails for a different reason, makes the test fail. A compiler that
# cannot perform a file's check is stopped by the file with
# `#error cotrait-compile-fail-skip: <reason>`, and the test is reported as skipped.

foreach(_var IN ITEMS CXX SOURCE)
    if(NOT DEFINED ${_var} OR "${${_var}}" STREQUAL "")
        message(FATAL_ERROR "CotraitCompileFail.cmake: -D${_var}=... is required")
    endif()
endforeach()
if(NOT STD_FLAG)
    set(STD_FLAG "-std=c++20")
endif()

file(READ "${SOURCE}" _head LIMIT 4096)
string(FIND "${_head}" "\n" _eol)
if(_eol GREATER_EQUAL 0)
    string(SUBSTRING "${_head}" 0 ${_eol} _first)
else()
    set(_first "${_head}")
endif()
string(REGEX REPLACE "\r$" "" _first "${_first}")
if(NOT _first MATCHES "^[ \t]*//[ \t]*expect-error:[ \t]*(.*)$")
    message(FATAL_ERROR "${SOURCE}: first line must be `// expect-error: <regex>`, got:\n"
                        "  ${_first}")
endif()
string(STRIP "${CMAKE_MATCH_1}" _regex)
if(_regex STREQUAL "")
    message(FATAL_ERROR "${SOURCE}: empty expect-error regex")
endif()

set(_include_flags "")
string(REPLACE "|" ";" _dirs "${INCLUDE_DIRS}")
foreach(_dir IN LISTS _dirs)
    if(NOT _dir STREQUAL "")
        list(APPEND _include_flags "-I${_dir}")
    endif()
endforeach()

set(_cmd "${CXX}" ${STD_FLAG} -fsyntax-only ${_include_flags} "${SOURCE}")
# LC_ALL=C: plain ASCII quotes in GCC diagnostics ('x', not the UTF-8 quotes it uses under a
# UTF-8 locale), so that a regex behaves the same on every machine.
execute_process(COMMAND "${CMAKE_COMMAND}" -E env LC_ALL=C ${_cmd}
                RESULT_VARIABLE _rc
                OUTPUT_VARIABLE _out
                ERROR_VARIABLE _out)
list(JOIN _cmd " " _cmd_str)

if(_out MATCHES "cotrait-compile-fail-skip: ([^\n]*)")
    # The ctest's SKIP_REGULAR_EXPRESSION sees this line and reports the test as skipped.
    message(STATUS "cotrait-compile-fail-skip: ${CMAKE_MATCH_1}")
    return()
endif()
if(_rc EQUAL 0)
    message(NOTICE "command: ${_cmd_str}\n${_out}")
    message(FATAL_ERROR "${SOURCE} compiled, but it must fail with an error matching\n"
                        "  ${_regex}")
endif()
if(NOT _out MATCHES "${_regex}")
    # Raw compiler output first (FATAL_ERROR would re-wrap it).
    message(NOTICE "command: ${_cmd_str}\n--- compiler output ---\n${_out}-----------------------")
    message(FATAL_ERROR "${SOURCE} failed to compile as expected, but its output did not match\n"
                        "  ${_regex}")
endif()
message(STATUS "${SOURCE}: failed to compile as expected (matched `${_regex}`)")
