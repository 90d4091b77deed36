#!/usr/bin/env python3
"""Compiles every ```cpp block of a Markdown file (the docs/<file> ctests, tests/CMakeLists.txt).

Each block becomes one translation unit: the prelude (the umbrella header and the standard headers
the docs use), then the block's hidden context, then the block itself under a #line directive, so
that a diagnostic points at the Markdown file and line. It is compiled with -fsyntax-only and the
project's warnings as errors. Markers, HTML comments on the lines right before a block (invisible
once rendered), in any order:

    <!-- no-compile -->          skip the block (pseudo-code with `...`; keep these few)
    <!-- cpp-prefix             code placed before the block (declarations it refers to, or the
    ...                          opening of a function whose body the block is)
    -->
    <!-- cpp-suffix             code placed after it (e.g. the closing brace of that function)
    ...
    -->

Exit status 0 if every block compiled, 1 otherwise (every failing block is reported)."""

import argparse
import os
import re
import subprocess
import sys

PRELUDE = """// The #line directive before the block makes GCC take it for a header, and a lambda inside a
// coroutine of a header is what -Wsubobject-linkage warns about (at the instantiation in the
// library's headers, hence before them); in a real .cpp file it does not.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wsubobject-linkage"
#endif
#include <cotrait/cotrait.hpp>

#include <chrono>
#include <cstddef>
#include <iostream>
#include <map>
#include <memory>
#include <memory_resource>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>
using namespace std::chrono_literals;

"""

MARKER = re.compile(r"^\s*<!--\s*(no-compile|cpp-prefix|cpp-suffix)\b(.*)$")


def blocks(path):
    """Yields (first code line number, code, skip, prefix, suffix) for each ```cpp block."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    pending = {"skip": False, "prefix": "", "suffix": ""}
    i = 0
    while i < len(lines):
        line = lines[i]
        m = MARKER.match(line)
        if m:
            kind, rest = m.group(1), m.group(2)
            if kind == "no-compile":
                if "-->" not in rest:
                    sys.exit(f"{path}:{i + 1}: unterminated <!-- no-compile --> marker")
                pending["skip"] = True
                i += 1
                continue
            body = []
            i += 1
            while i < len(lines) and lines[i].strip() != "-->":
                body.append(lines[i])
                i += 1
            if i == len(lines):
                sys.exit(f"{path}: <!-- {kind} without a closing --> line")
            pending["prefix" if kind == "cpp-prefix" else "suffix"] = "\n".join(body) + "\n"
            i += 1
            continue
        stripped = line.strip()
        if stripped.startswith("```"):
            lang = stripped[3:].strip()
            start = i + 1
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                i += 1
            if i == len(lines):
                sys.exit(f"{path}:{start}: unterminated code block")
            if lang in ("cpp", "c++"):
                code = "\n".join(lines[start:i]) + "\n"
                yield start + 1, code, pending["skip"], pending["prefix"], pending["suffix"]
            elif pending["skip"] or pending["prefix"] or pending["suffix"]:
                sys.exit(f"{path}:{start}: snippet marker before a block that is not ```cpp")
            pending = {"skip": False, "prefix": "", "suffix": ""}
            i += 1
            continue
        if stripped and (pending["skip"] or pending["prefix"] or pending["suffix"]):
            sys.exit(f"{path}:{i + 1}: snippet marker not directly followed by a ```cpp block")
        i += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cxx", required=True)
    ap.add_argument("--std", default="-std=c++20")
    ap.add_argument("--include", action="append", default=[])
    ap.add_argument("--work-dir", required=True)
    ap.add_argument("--flag", action="append", default=[], help="extra compiler flag")
    ap.add_argument("markdown")
    args = ap.parse_args()

    os.makedirs(args.work_dir, exist_ok=True)
    name = os.path.basename(args.markdown)
    failed = compiled = skipped = 0
    for n, (line, code, skip, prefix, suffix) in enumerate(blocks(args.markdown), 1):
        if skip:
            skipped += 1
            continue
        tu = os.path.join(args.work_dir, f"{os.path.splitext(name)[0]}_{n}.cpp")
        with open(tu, "w", encoding="utf-8") as f:
            f.write(PRELUDE)
            f.write(prefix)
            f.write(f'#line {line} "{os.path.abspath(args.markdown)}"\n')
            f.write(code)
            f.write(suffix)
        cmd = [args.cxx, args.std, "-fsyntax-only", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]
        cmd += [f"-I{d}" for d in args.include] + args.flag + [tu]
        r = subprocess.run(cmd, capture_output=True, text=True,
                           env=dict(os.environ, LC_ALL="C"))
        compiled += 1
        if r.returncode != 0:
            failed += 1
            print(f"FAIL {args.markdown}:{line}: block {n} does not compile ({tu})")
            print(r.stdout + r.stderr)
    print(f"{name}: {compiled} block(s) compiled, {failed} failed, {skipped} skipped "
          "(<!-- no-compile -->)")
    if compiled + skipped == 0:
        print(f"{name}: no ```cpp block (is the file still expected to have some?)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
