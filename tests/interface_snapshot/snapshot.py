#!/usr/bin/env python3
"""Snapshot of the code ASYNC_INTERFACE generates (tests/interface_snapshot/expected.txt).

Preprocesses snapshot.cpp, keeps what follows its marker line, and lays the tokens out
deterministically (a line break after `;`, `{` and `}`, indentation by brace depth, one space
between tokens), so that the result depends on the macro only, not on the compiler's spacing.

  snapshot.py --cxx g++ --check    # ctest interface_snapshot: fails on any difference
  snapshot.py --cxx g++ --update   # rewrites expected.txt (commit it with the macro change)
"""
import argparse
import difflib
import pathlib
import re
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MARKER = "// cotrait-snapshot-begin"

TOKEN = re.compile(r'''
    "(?:\\.|[^"\\])*"            # string literal
  | '(?:\\.|[^'\\])*'            # character literal
  | [A-Za-z_][A-Za-z_0-9]*       # identifier or keyword
  | \d[\w.']*                    # number
  | ::|->\*?|\.\*|<=>|&&|\|\||<<=?|>>=?|[-+*/%&|^!=<>]=|\+\+|--|\.\.\.|\#\#
  | [^\s]                        # any other single character
''', re.VERBOSE)


def expand(cxx):
    src = (HERE / "snapshot.cpp").read_text()
    if MARKER not in src:
        sys.exit(f"snapshot.cpp has no line {MARKER!r}")
    # The marker is a comment, gone after preprocessing: put a token in its place.
    marked = src.replace(MARKER, "cotrait_snapshot_begin_marker")
    r = subprocess.run([cxx, "-std=c++20", "-E", "-P", f"-I{ROOT / 'include'}", "-x", "c++", "-"],
                       input=marked, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{cxx} -E failed:\n{r.stderr}")
    out = r.stdout
    return out[out.index("cotrait_snapshot_begin_marker") + len("cotrait_snapshot_begin_marker"):]


NO_SPACE_BEFORE = {",", ";", ")", "]", ".", "(", "->"}
NO_SPACE_AFTER = {"(", "[", ".", "::", "!", "~", "->"}


def join(tokens):
    out = ""
    for i, tok in enumerate(tokens):
        prev = tokens[i - 1] if i else ""
        # `a::b` and `x<T>::y` stay together; a leading `::` (global qualification) does not.
        qualified = tok == "::" and (prev == ">" or re.fullmatch(r"\w+", prev) is not None)
        if i and not qualified and tok not in NO_SPACE_BEFORE and prev not in NO_SPACE_AFTER:
            out += " "
        out += tok
    return out


def layout(text):
    """A line ends after `;`, `{`, or `}` (unless `;` or `,` follows); braces indent."""
    tokens = TOKEN.findall(text)
    lines, line, depth = [], [], 0

    def flush():
        if line:
            lines.append("    " * depth + join(line))
            line.clear()

    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok == "}":
            flush()
            depth = max(depth - 1, 0)
        line.append(tok)
        if tok == "{":
            flush()
            depth += 1
        elif tok == ";" or (tok == "}" and nxt not in (";", ",", ")")):
            flush()
    flush()
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cxx", default="c++")
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--update", action="store_true")
    args = ap.parse_args()
    actual = layout(expand(args.cxx))
    expected_path = HERE / "expected.txt"
    if args.update:
        expected_path.write_text(actual)
        print(f"wrote {expected_path} ({actual.count(chr(10))} lines)")
        return 0
    expected = expected_path.read_text() if expected_path.exists() else ""
    if actual == expected:
        print(f"ASYNC_INTERFACE expansion matches {expected_path.name}")
        return 0
    sys.stdout.writelines(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                               "expected.txt", "generated"))
    print("\nThe code ASYNC_INTERFACE generates changed. If intended, run\n"
          "  python3 tests/interface_snapshot/snapshot.py --cxx <compiler> --update\n"
          "and commit expected.txt with the change (docs/interfaces.md, \"Generated code\").")
    return 1


if __name__ == "__main__":
    sys.exit(main())
