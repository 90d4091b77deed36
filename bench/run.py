#!/usr/bin/env python3
"""Runs cotrait's benchmark executables and writes Google Benchmark JSON files.

    run.py --results DIR [--quick] BINARY... [-- EXTRA_ARGS...]

Every run is pinned to one CPU with taskset when it exists (except the threads family, which needs
two), repeated (medians are taken by report.py) and written to DIR/<run>.json. bench_alloc is split
into several runs:

    bench_alloc.json                 matrix, state, depth and io families, pinned
    bench_alloc.threads.json         threads family, not pinned (1 and 2 threads)
    bench_alloc.pool_fanout[.<malloc>].json  fan-out onto a thread pool, not pinned; the new_delete
                                     rows again under each preloaded malloc
    bench_alloc.memory-<alloc>.json  fragmentation family, one process per allocator so that each
                                     peak RSS is its own
    bench_alloc.<malloc>.json        the new_delete rows of the matrix again with mimalloc, jemalloc
                                     and tcmalloc preloaded (LD_PRELOAD); skipped with a message
                                     when the library is not installed

Other executables (bench_*.cpp of other topics) get one run each, repeated but not pinned (they may
use threads of their own). EXTRA_ARGS are passed
to every executable after the defaults (Google Benchmark keeps the last value of a repeated flag).
--quick runs each benchmark briefly, once, for CI: the numbers are not meant to be read.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

# Debian 12 package -> shared object, for the system-allocator runs.
PRELOADS = [
    ("mimalloc", "libmimalloc2.0", "libmimalloc.so.2"),
    ("jemalloc", "libjemalloc2", "libjemalloc.so.2"),
    ("tcmalloc", "libtcmalloc-minimal4", "libtcmalloc_minimal.so.4"),
]
LIB_DIRS = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib",
            "/usr/local/lib"]

MAIN_FILTER = "^(matrix|state|depth|io)/"
PRELOAD_FILTER = "^matrix/(sync_virtual|bare_new_delete|[a-z_]+/new_delete)"


def find_library(soname):
    for d in LIB_DIRS:
        path = os.path.join(d, soname)
        if os.path.exists(path):
            return path
    try:
        out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return None
    for line in out.splitlines():
        if line.strip().startswith(soname + " ") and "=>" in line:
            return line.split("=>", 1)[1].strip()
    return None


def pin_prefix():
    """taskset prefix pinning to one CPU: the last one this process may use (CPU 0 tends to take
    more interrupts)."""
    taskset = shutil.which("taskset")
    if taskset is None:
        return [], "not pinned (taskset not found)"
    cpus = sorted(os.sched_getaffinity(0))
    return [taskset, "-c", str(cpus[-1])], f"pinned to CPU {cpus[-1]} with taskset"


def list_benchmarks(binary, bfilter):
    out = subprocess.run([binary, "--benchmark_list_tests=true", f"--benchmark_filter={bfilter}"],
                         capture_output=True, text=True, check=True).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


class Runner:
    def __init__(self, results, quick, extra):
        self.results = results
        self.quick = quick
        self.extra = extra
        self.failures = []
        self.pin, self.pin_note = pin_prefix()
        if quick:
            self.common = ["--benchmark_min_time=0.01", "--benchmark_repetitions=1"]
        else:
            # Five repetitions, interleaved at random with the other benchmarks of the run, so a
            # burst of noise from a shared machine hits one repetition of several rows rather than
            # all repetitions of one row; report.py takes the median.
            self.common = ["--benchmark_min_time=0.1", "--benchmark_repetitions=5",
                           "--benchmark_enable_random_interleaving=true",
                           "--benchmark_display_aggregates_only=true"]

    def run(self, label, binary, args, pinned=True, env_extra=None):
        out = os.path.join(self.results, label + ".json")
        cmd = (self.pin if pinned else []) + [binary] + self.common + args + [
            f"--benchmark_out={out}", "--benchmark_out_format=json"] + self.extra
        env = dict(os.environ)
        if env_extra:
            env.update(env_extra)
        where = self.pin_note if pinned else "not pinned (uses every CPU)"
        pre = " ".join(f"{k}={v}" for k, v in (env_extra or {}).items())
        print(f"== {label}: {where}", flush=True)
        print(f"   {pre + ' ' if pre else ''}{' '.join(cmd)}", flush=True)
        t0 = time.monotonic()
        rc = subprocess.run(cmd, env=env, check=False).returncode
        print(f"== {label}: exit {rc} after {time.monotonic() - t0:.1f}s", flush=True)
        if rc != 0:
            self.failures.append(label)

    def run_alloc_suite(self, binary):
        self.run("bench_alloc", binary, [f"--benchmark_filter={MAIN_FILTER}"])
        self.run("bench_alloc.threads", binary, ["--benchmark_filter=^threads/"], pinned=False)
        # Fan-out onto a thread pool: needs more than one CPU, so not pinned.
        self.run("bench_alloc.pool_fanout", binary, ["--benchmark_filter=^pool_fanout/"],
                 pinned=False)
        calls = "100000" if self.quick else "10000000"
        for name in list_benchmarks(binary, "^memory/"):
            alloc = name.split("/")[2]
            self.run(f"bench_alloc.memory-{alloc}", binary,
                     [f"--benchmark_filter=^{name}$", "--benchmark_repetitions=1"],
                     env_extra={"COTRAIT_BENCH_MEMORY_CALLS": calls})
        for label, package, soname in PRELOADS:
            lib = find_library(soname)
            if lib is None:
                print(f"== bench_alloc.{label}: SKIPPED: {soname} not found "
                      f"(Debian package {package}; .ci/install-deps installs it)", flush=True)
                continue
            self.run(f"bench_alloc.{label}", binary, [f"--benchmark_filter={PRELOAD_FILTER}"],
                     env_extra={"LD_PRELOAD": lib})
            self.run(f"bench_alloc.pool_fanout.{label}", binary,
                     ["--benchmark_filter=^pool_fanout/boxed_virtual/new_delete/"],
                     pinned=False, env_extra={"LD_PRELOAD": lib})


def main():
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", required=True, help="directory for the JSON files")
    ap.add_argument("--quick", action="store_true", help="brief smoke run (CI)")
    ap.add_argument("--compiler", default="", help="recorded in run-info.json for the report")
    ap.add_argument("--flags", default="", help="compile flags, recorded in run-info.json")
    ap.add_argument("binaries", nargs="+")
    args = ap.parse_args(argv)

    os.makedirs(args.results, exist_ok=True)
    runner = Runner(args.results, args.quick, [a for a in extra if a])
    info = {"quick": args.quick, "pinning": runner.pin_note, "compiler": args.compiler,
            "flags": " ".join(args.flags.split()),
            "repetitions": 1 if args.quick else 5, "extra_args": runner.extra}
    with open(os.path.join(args.results, "run-info.json"), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)
    t0 = time.monotonic()
    for binary in args.binaries:
        if os.path.basename(binary) == "bench_alloc":
            runner.run_alloc_suite(binary)
        else:
            # Not pinned: other benchmarks may run servers and clients on threads of their own.
            runner.run(os.path.basename(binary), binary, [], pinned=False)
    print(f"== benchmarks finished in {time.monotonic() - t0:.1f}s", flush=True)
    if runner.failures:
        print(f"== FAILED: {', '.join(runner.failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
