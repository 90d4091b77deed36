# Included before project() when cotrait is the top-level project. The presets leave the
# generator to CMake (CMAKE_GENERATOR, else Unix Makefiles on Linux and macOS), and a machine
# with cmake and a compiler but no make would otherwise stop inside project() with CMake's
# "unable to find a build program", which does not say what to install.
if(CMAKE_MAKE_PROGRAM)
    return()
endif()
if(CMAKE_GENERATOR MATCHES "Makefiles")
    set(_cotrait_tool_names gmake make smake)
    set(_cotrait_tool "make")
elseif(CMAKE_GENERATOR MATCHES "^Ninja")
    set(_cotrait_tool_names ninja-build ninja samu)
    set(_cotrait_tool "ninja")
else()
    return()
endif()
find_program(_cotrait_build_tool NAMES ${_cotrait_tool_names})
if(NOT _cotrait_build_tool)
    unset(_cotrait_build_tool CACHE) # look again next time
    message(FATAL_ERROR
        "cotrait: the ${CMAKE_GENERATOR} generator needs ${_cotrait_tool}, which is not installed.\n"
        "  Install a build tool, then run the same command again:\n"
        "    Debian, Ubuntu:    sudo apt install make        (or ninja-build, then export CMAKE_GENERATOR=Ninja)\n"
        "    Fedora:            sudo dnf install make        (or ninja-build)\n"
        "    macOS:             xcode-select --install       (or brew install ninja)")
endif()
unset(_cotrait_build_tool CACHE)
