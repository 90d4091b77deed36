#!/usr/bin/env python3
"""Checks that every compile-fail pattern matches the diagnostic's meaning, not just any error.

For each tests/compile_fail/<name>.cpp with an entry in MUTATIONS, and each compiler given:
  1. the file as is must pass its ctest check (fail to compile, output matches the pattern);
  2. the file with the forbidden construct replaced by its allowed counterpart must compile;
  3. that allowed version plus one unrelated error must NOT pass the check (pattern must not match).
The copies keep the original file name (GCC prints it in every diagnostic).

  python3 tests/compile_fail/check_patterns.py g++ clang++-14 clang++-19
"""
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
UNRELATED = '\nint unrelated_error_here = "not an int";\n'

# name: (forbidden text, allowed replacement)
MUTATIONS = {
    "local_task_not_boxed": ("cotrait::boxed_task<int> escaped = local();",
                             "cotrait::local_task<int> escaped = local();"),
    "interface_no_copy": ("Impl copy = impl;", "[[maybe_unused]] Impl& copy = impl;"),
    "interface_concept_rejects": ("int find_user(int /*id*/) const { return 0; }",
                                  "cotrait::static_task<std::string> find_user(int /*id*/) const "
                                  "{ co_return \"x\"; }\n"
                                  "    cotrait::static_task<void> save_user(int, std::string) "
                                  "{ co_return; }"),
    "interface_missing_method": ("{ co_return \"x\"; }\n};",
                                 "{ co_return \"x\"; }\n"
                                 "    cotrait::static_task<void> save_user(int, std::string) "
                                 "{ co_return; }\n};"),
    "interface_not_awaitable": ("void save_user(int /*id*/, std::string /*name*/) {}",
                                "cotrait::static_task<void> save_user(int, std::string) "
                                "{ co_return; }"),
    "interface_not_const": ("find_user(int /*id*/) {", "find_user(int /*id*/) const {"),
    "interface_param_syntax": ("(int step)", "((int)step)"),
    "interface_result_syntax": ("(add, int,", "(add, (int),"),
    "interface_wrong_result": ("cotrait::static_task<int*> find_user(int /*id*/) const "
                               "{ co_return nullptr; }",
                               "cotrait::static_task<std::string> find_user(int /*id*/) const "
                               "{ co_return \"x\"; }"),
    "interface_wrong_signature": ("int* /*name*/", "std::string /*name*/"),
    "interface_check_implements": (
        "cotrait::static_task<std::string> find_user(int /*id*/) const { co_return \"x\"; }\n};",
        "cotrait::static_task<std::string> find_user(int /*id*/) const { co_return \"x\"; }\n"
        "    cotrait::static_task<void> save_user(int, std::string) { co_return; }\n};"),
    "interface_check_implements_wrong_result": (
        "cotrait::static_task<int*> find_user(int /*id*/) const { co_return nullptr; }",
        "cotrait::static_task<std::string> find_user(int /*id*/) const { co_return \"x\"; }"),
    "interface_concept_hint": (
        "int find_user(int /*id*/) const { return 0; }",
        "cotrait::static_task<std::string> find_user(int /*id*/) const { co_return \"x\"; }"),
    "interface_converting_result": ("cotrait::static_task<int> size() { co_return 7; }",
                                    "cotrait::static_task<std::size_t> size() { co_return 7; }"),
    "interface_unsupported_qualifier": ("((int)step) const&)", "((int)step) const)"),
    "deprecated_functions": ('#pragma GCC diagnostic error "-Wdeprecated-declarations"',
                             '#pragma GCC diagnostic ignored "-Wdeprecated-declarations"'),
    "deprecated_types": ('#pragma GCC diagnostic error "-Wdeprecated-declarations"',
                         '#pragma GCC diagnostic ignored "-Wdeprecated-declarations"'),
}


def check(cxx, src):
    """True if the compile-fail check passes for src."""
    r = subprocess.run(["cmake", f"-DCXX={cxx}", "-DSTD_FLAG=-std=c++20",
                        f"-DINCLUDE_DIRS={ROOT / 'include'}", f"-DSOURCE={src}", "-P",
                        str(ROOT / "cmake" / "CotraitCompileFail.cmake")],
                       capture_output=True, text=True)
    return r.returncode == 0, r.stdout + r.stderr


def compiles(cxx, src):
    r = subprocess.run([cxx, "-std=c++20", "-fsyntax-only", f"-I{ROOT / 'include'}", str(src)],
                       capture_output=True, text=True, env=dict(os.environ, LC_ALL="C"))
    return r.returncode == 0, r.stdout + r.stderr


def main():
    only = set(os.environ.get("ONLY", "").split()) - {""}
    compilers = sys.argv[1:] or ["g++"]
    failures = 0
    for path in sorted((ROOT / "tests" / "compile_fail").glob("*.cpp")):
        name = path.stem
        if only and name not in only:
            continue
        if name not in MUTATIONS:
            print(f"?    {name}: no mutation listed, not checked")
            continue
        forbidden, allowed = MUTATIONS[name]
        text = path.read_text()
        if forbidden not in text:
            print(f"FAIL {name}: forbidden text not found: {forbidden!r}")
            failures += 1
            continue
        fixed = text.replace(forbidden, allowed, 1)
        with tempfile.TemporaryDirectory() as tmp:
            ok_src = pathlib.Path(tmp) / "ok" / path.name
            bad_src = pathlib.Path(tmp) / "unrelated" / path.name
            ok_src.parent.mkdir()
            bad_src.parent.mkdir()
            ok_src.write_text(fixed)
            bad_src.write_text(fixed + UNRELATED)
            for cxx in compilers:
                problems = []
                passed, out = check(cxx, path)
                if "cotrait-compile-fail-skip" in out:
                    print(f"skip {name} [{cxx}]: the file stops this compiler")
                    continue
                if not passed:
                    problems.append("the file itself does not pass its check:\n" + out)
                built, out = compiles(cxx, ok_src)
                if not built:
                    problems.append("the allowed version does not compile:\n" + out)
                passed, out = check(cxx, bad_src)
                if passed:
                    problems.append("an unrelated error matches the pattern:\n" + out)
                if problems:
                    failures += 1
                    print(f"FAIL {name} [{cxx}]:\n  " + "\n  ".join(problems))
                else:
                    print(f"ok   {name} [{cxx}]")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
