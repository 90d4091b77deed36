# cmake -P script behind the abi/<case> ctests (see tests/CMakeLists.txt, "ABI tag").
#
#   cmake -DCXX=<compiler> -DSTD_FLAG=-std=c++20 -DINCLUDE_DIRS=<dir>|<dir>...
#         -DSOURCE_A=<a.cpp> -DFLAGS_A=<f>|<f>... -DSOURCE_B=<b.cpp> -DFLAGS_B=<f>|<f>...
#         -DEXPECT=link|no-link -DWORK_DIR=<dir> -P CotraitLinkCheck.cmake
#
# Compiles SOURCE_A with FLAGS_A and SOURCE_B with FLAGS_B to objects (both must compile), then
# links them. EXPECT=link: the link must succeed and the program must exit 0 (the control case:
# it proves that a link failure in the other case comes from the mismatch, not from the sources).
# EXPECT=no-link: the link must fail with an undefined-symbol diagnostic.

foreach(_var IN ITEMS CXX SOURCE_A SOURCE_B EXPECT WORK_DIR)
    if(NOT DEFINED ${_var} OR "${${_var}}" STREQUAL "")
        message(FATAL_ERROR "CotraitLinkCheck.cmake: -D${_var}=... is required")
    endif()
endforeach()
if(NOT EXPECT MATCHES "^(link|no-link)$")
    message(FATAL_ERROR "CotraitLinkCheck.cmake: EXPECT must be link or no-link, got ${EXPECT}")
endif()
if(NOT STD_FLAG)
    set(STD_FLAG "-std=c++20")
endif()

set(_include_flags "")
string(REPLACE "|" ";" _dirs "${INCLUDE_DIRS}")
foreach(_dir IN LISTS _dirs)
    if(NOT _dir STREQUAL "")
        list(APPEND _include_flags "-I${_dir}")
    endif()
endforeach()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

function(_compile src flags obj)
    string(REPLACE "|" ";" _flags "${flags}")
    set(_cmd "${CXX}" ${STD_FLAG} -Wall -Wextra -Wpedantic -Werror -pthread ${_flags}
             ${_include_flags} -c "${src}" -o "${obj}")
    execute_process(COMMAND "${CMAKE_COMMAND}" -E env LC_ALL=C ${_cmd}
                    RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _out)
    if(NOT _rc EQUAL 0)
        list(JOIN _cmd " " _str)
        message(NOTICE "command: ${_str}\n${_out}")
        message(FATAL_ERROR "${src} must compile (the check is about linking)")
    endif()
endfunction()

_compile("${SOURCE_A}" "${FLAGS_A}" "${WORK_DIR}/a.o")
_compile("${SOURCE_B}" "${FLAGS_B}" "${WORK_DIR}/b.o")

set(_link "${CXX}" -pthread "${WORK_DIR}/a.o" "${WORK_DIR}/b.o" -o "${WORK_DIR}/prog")
execute_process(COMMAND "${CMAKE_COMMAND}" -E env LC_ALL=C ${_link}
                RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _out)
list(JOIN _link " " _link_str)

if(EXPECT STREQUAL "no-link")
    if(_rc EQUAL 0)
        message(FATAL_ERROR "the objects linked, but they were built with different settings "
                            "(A: ${FLAGS_A}; B: ${FLAGS_B}) and must not: a layout-changing "
                            "option is missing from the ABI tag (config.hpp)")
    endif()
    if(NOT _out MATCHES "undefined reference|Undefined symbols|unresolved external")
        message(NOTICE "command: ${_link_str}\n${_out}")
        message(FATAL_ERROR "the link failed, but not with an undefined-symbol error")
    endif()
    message(STATUS "mismatched settings fail to link, as expected")
else()
    if(NOT _rc EQUAL 0)
        message(NOTICE "command: ${_link_str}\n${_out}")
        message(FATAL_ERROR "the objects must link (same settings on both sides)")
    endif()
    execute_process(COMMAND "${WORK_DIR}/prog" RESULT_VARIABLE _rc)
    if(NOT _rc EQUAL 0)
        message(FATAL_ERROR "the linked program exited with ${_rc}, expected 0")
    endif()
    message(STATUS "matching settings link and run")
endif()
