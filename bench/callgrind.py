#!/usr/bin/env python3
"""Instructions per call of each probe of cotrait_probe, measured with callgrind.

    bench/callgrind.py <path/to/cotrait_probe> [--out FILE.json] [--calls N1 N2] [--probe NAME...]

Runs every probe under `valgrind --tool=callgrind` at two call counts; instructions per call =
(Ir(N2) - Ir(N1)) / (N2 - N1), which removes start-up, the warm-up call and the exit exactly.
Unlike time on a shared VM the result does not move from run to run. Allocations per call are the
global operator new calls the probe counted, the same way. Without valgrind it prints a note and
exits 0: the bench never fails for a missing tool.
"""
import argparse
import json
import re
import shutil
import subprocess
import sys

# probe -> (row label, the reference probe its ratio is taken against)
ROWS = [
    ("plain_virtual", "plain virtual call `int compute(int)`", None),
    ("ref_virtual", "reference task via virtual call", None),
    ("boxed_virtual", "boxed_task<int> via virtual call (default allocator)", "ref_virtual"),
    ("ref_nested8", "8 nested virtual calls, reference task", None),
    ("boxed_nested8", "8 nested virtual calls, boxed_task<int>", "ref_nested8"),
    ("ref_direct", "reference task awaited directly (static)", None),
    ("static_direct", "static_task<int> awaited directly", "ref_direct"),
    ("static_direct_nd", "static_task<int, new_delete_allocator<>> awaited directly", "ref_direct"),
    ("static_in_sync_wait", "static_task<int> awaited in a static_task run by sync_wait",
     "ref_direct"),
    ("static_in_sync_wait_nd", "same, new_delete_allocator<>", "ref_direct"),
    ("asio_virtual", "peer: asio::awaitable<int> via virtual call, awaited in an asio coroutine",
     "ref_virtual"),
    ("new_delete_24", "24-byte global operator new + delete (one Box::pin of async_trait)", None),
]


def run_probe(valgrind, exe, probe, calls):
    cmd = [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", exe, probe, str(calls)]
    p = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    m = re.search(r"Collected\s*:\s*(\d+)", p.stderr)
    a = re.search(r"allocs (\d+)", p.stdout)
    if not m or not a:
        raise RuntimeError(f"cannot parse the output of {' '.join(cmd)}:\n{p.stdout}\n{p.stderr}")
    return int(m.group(1)), int(a.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("probe_exe")
    ap.add_argument("--out", help="write the rows as JSON here (bench/report.py reads it)")
    ap.add_argument("--calls", nargs=2, type=int, default=[2000, 6000], metavar=("N1", "N2"))
    ap.add_argument("--probe", nargs="*", help="only these probes")
    ap.add_argument("--label", default="", help="compiler label for the JSON")
    args = ap.parse_args()

    valgrind = shutil.which("valgrind")
    if not valgrind:
        print("callgrind: valgrind not found, instruction counts skipped "
              "(install valgrind: .ci/install-deps)")
        return 0
    n1, n2 = args.calls
    if n2 <= n1:
        ap.error("--calls N1 N2 needs N2 > N1")
    listed = subprocess.run([args.probe_exe, "--list"], capture_output=True, text=True,
                            check=True).stdout.split()
    rows = []
    ipc = {}
    for probe, label, ref in ROWS:
        if probe not in listed or (args.probe and probe not in args.probe):
            continue
        ir1, al1 = run_probe(valgrind, args.probe_exe, probe, n1)
        ir2, al2 = run_probe(valgrind, args.probe_exe, probe, n2)
        per_call = (ir2 - ir1) / (n2 - n1)
        allocs = (al2 - al1) / (n2 - n1)
        ipc[probe] = per_call
        ratio = per_call / ipc[ref] if ref and ipc.get(ref) else None
        rows.append({"probe": probe, "label": label, "instructions_per_call": per_call,
                     "allocs_per_call": allocs, "reference": ref, "ratio_to_reference": ratio})

    print(f"callgrind instructions per call ({args.label or args.probe_exe}; "
          f"(Ir({n2}) - Ir({n1})) / {n2 - n1})")
    print(f"{'probe':<24} {'instr/call':>10} {'allocs/call':>11} {'x ref':>6}  what")
    for r in rows:
        ratio = f"{r['ratio_to_reference']:.2f}" if r["ratio_to_reference"] else "-"
        print(f"{r['probe']:<24} {r['instructions_per_call']:>10.1f} "
              f"{r['allocs_per_call']:>11.2f} {ratio:>6}  {r['label']}")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"label": args.label, "calls": [n1, n2], "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
