#!/usr/bin/env python3
"""kv_server against redis-server, measured by redis-benchmark (issue 18).

    redis_compare.py --kv-server PATH [--redis-server PATH] [--redis-benchmark PATH]
                     [--requests N] [--rounds R] [--clients C] [--out FILE]
                     [--callgrind N1,N2]

For each round, and in each round for -P 1 and -P 16, runs `redis-benchmark -t set,get -n N
-c C -P P --csv` once against every configuration below, each server started fresh by this
script on a free loopback port and stopped afterwards:

    memory group   redis-server --save "" --appendonly no                  (the baseline)
                   kv_server, memory store: virtual / static storage, 1 / 2 I/O threads
    file group     redis-server --appendonly yes --appendfsync everysec    (the baseline)
                   kv_server --file ... --sync batch (virtual storage; 1 / 2 I/O threads),
                   and --sync none (1 thread) for context

The order of the configurations rotates from round to round (interleaved rounds, so that a slow
phase of a shared machine does not land on one configuration). Every number is compared with its
group's baseline of the same round and pipeline depth; report.py shows the medians over rounds.

With --callgrind N1,N2 (valgrind installed), also counts the user-space instructions per
request of kv_server (memory store, virtual and static storage, 1 I/O thread) and of
redis-server under callgrind: (Ir after N2 - Ir after N1 requests of each test) / (2 (N2 - N1)),
at -P 1 and -P 16. Exact and repeatable where requests/s on a shared machine are not; it
leaves out the kernel's share (the system calls), which is most of the time per request.

Writes FILE (JSON; default redis.json) and prints a table. Never fails: a tool that is missing
or a configuration that does not run is recorded in the JSON's "notes" (exit status 0), so the
bench workflow goes on.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

PIPELINES = [1, 16]
TESTS = ["SET", "GET"]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ping(port, timeout=0.2):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class Server:
    """A server process on loopback; `port` is set once it answers PING."""

    def __init__(self, argv, port, workdir, log, startup=10):
        self.port = port
        self.log = open(log, "wb")
        self.proc = subprocess.Popen(argv, cwd=workdir, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + startup
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited with status {self.proc.returncode}")
            if ping(port):
                return
            time.sleep(0.02)  # polling a starting server, with a deadline
        self.stop()
        raise RuntimeError(f"{argv[0]} did not answer PING on port {port} within {startup} s")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def configurations(kv_server, redis_server):
    """(name, group, is_baseline, argv builder(port, dir))."""
    out = []
    if redis_server:
        out.append(("redis-server", "memory", True,
                    lambda p, d: [redis_server, "--port", str(p), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no", "--dir", d]))
    for threads in (1, 2):
        for storage in ("virtual", "static"):
            out.append((f"kv_server memory {storage} {threads}t", "memory", False,
                        lambda p, d, t=threads, s=storage: [
                            kv_server, "--serve", "--port", str(p), "--threads", str(t),
                            "--storage", s]))
    if redis_server:
        out.append(("redis-server aof everysec", "file", True,
                    lambda p, d: [redis_server, "--port", str(p), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "yes", "--appendfsync",
                                  "everysec", "--dir", d]))
    for threads in (1, 2):
        out.append((f"kv_server file batch {threads}t", "file", False,
                    lambda p, d, t=threads: [
                        kv_server, "--serve", "--port", str(p), "--threads", str(t),
                        "--file", os.path.join(d, "kv.log"), "--sync", "batch"]))
    # For context: acknowledged once in the page cache, as everysec does between its fsyncs.
    out.append(("kv_server file none 1t", "file", False,
                lambda p, d: [kv_server, "--serve", "--port", str(p), "--file",
                              os.path.join(d, "kv.log"), "--sync", "none"]))
    return out


def run_benchmark(redis_benchmark, port, requests, clients, pipeline):
    """requests/s per test, from redis-benchmark's CSV."""
    argv = [redis_benchmark, "-h", "127.0.0.1", "-p", str(port), "-t", "set,get", "-n",
            str(requests), "-c", str(clients), "-P", str(pipeline), "--csv"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=1800, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"redis-benchmark exited with {r.returncode}: {r.stderr.strip()}")
    rps = {}
    for line in r.stdout.splitlines():
        cells = [c.strip('"') for c in line.split(",")]
        if len(cells) >= 2 and cells[0] in TESTS:
            rps[cells[0]] = float(cells[1])
    if set(rps) != set(TESTS):
        raise RuntimeError(f"unexpected redis-benchmark output: {r.stdout[:200]!r}")
    return rps


def callgrind_ir(valgrind, argv, port, workdir, redis_benchmark, requests, clients, pipeline):
    """Total instructions (Ir) of a server under callgrind serving `requests` of set and get."""
    out = os.path.join(workdir, "callgrind.out")
    srv = Server([valgrind, "--tool=callgrind", f"--callgrind-out-file={out}"] + argv, port,
                 workdir, os.path.join(workdir, "server.log"), startup=120)
    try:
        run_benchmark(redis_benchmark, port, requests, clients, pipeline)
    finally:
        srv.stop()  # SIGTERM: both servers exit normally, and callgrind writes its file
    with open(out, encoding="utf-8") as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError("no instruction total in the callgrind output")


def measure_callgrind(a, result, n1, n2):
    valgrind = shutil.which("valgrind")
    if not valgrind:
        result["notes"].append("instructions per request not measured: valgrind not found")
        return
    servers = [
        ("kv_server memory virtual 1t",
         lambda p, d: [a.kv_server, "--serve", "--port", str(p), "--storage", "virtual"]),
        ("kv_server memory static 1t",
         lambda p, d: [a.kv_server, "--serve", "--port", str(p), "--storage", "static"]),
        ("redis-server", lambda p, d: [a.redis_server, "--port", str(p), "--bind", "127.0.0.1",
                                       "--save", "", "--appendonly", "no", "--dir", d]),
    ]
    rows = []
    for name, argv in servers:
        for p in PIPELINES:
            irs = []
            for n in (n1, n2):
                d = tempfile.mkdtemp(prefix="cotrait_redis_cg_")
                try:
                    port = free_port()
                    irs.append(callgrind_ir(valgrind, argv(port, d), port, d,
                                            a.redis_benchmark, n, a.clients, p))
                except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
                    result["notes"].append(f"callgrind, -P {p}, {name}: {e}")
                    break
                finally:
                    shutil.rmtree(d, ignore_errors=True)
            if len(irs) == 2:
                per = (irs[1] - irs[0]) / (2 * (n2 - n1))
                rows.append({"config": name, "pipeline": p, "instructions_per_request": per})
                print(f"callgrind -P {p:<2} {name:<28} {per:8.0f} instructions/request",
                      flush=True)
    result["callgrind"] = {"requests": [n1, n2], "rows": rows}


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kv-server", required=True)
    ap.add_argument("--redis-server", default=shutil.which("redis-server"))
    ap.add_argument("--redis-benchmark", default=shutil.which("redis-benchmark"))
    ap.add_argument("--requests", type=int, default=200000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--out", default="redis.json")
    ap.add_argument("--callgrind", metavar="N1,N2",
                    help="also count instructions per request under callgrind")
    a = ap.parse_args()

    result = {"requests": a.requests, "clients": a.clients, "rounds": a.rounds,
              "pipelines": PIPELINES, "tests": TESTS, "rows": [], "notes": []}

    def finish():
        with open(a.out, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)
        print(f"redis_compare: wrote {a.out}")
        return 0

    missing = [n for n, p in (("redis-benchmark", a.redis_benchmark),
                              ("redis-server", a.redis_server), ("kv_server", a.kv_server))
               if not p or not os.path.exists(p)]
    if missing:
        hint = " (Debian: redis-tools, redis-server)" if missing != ["kv_server"] else ""
        result["notes"].append(", ".join(missing) + " not found" + hint)
        print("redis_compare: skipped, not measured: " + result["notes"][-1])
        return finish()
    try:
        result["redis_version"] = subprocess.run(
            [a.redis_server, "--version"], capture_output=True, text=True,
            check=False).stdout.strip()
    except OSError:
        pass

    configs = configurations(a.kv_server, a.redis_server)
    # rps[(name, pipeline, test)] = [per round]
    rps = {(c[0], p, t): [None] * a.rounds for c in configs for p in PIPELINES for t in TESTS}
    with tempfile.TemporaryDirectory(prefix="cotrait_redis_compare_") as tmp:
        for rnd in range(a.rounds):
            for p in PIPELINES:
                shift = (rnd * len(PIPELINES) + PIPELINES.index(p)) % len(configs)
                for name, group, _base, argv in configs[shift:] + configs[:shift]:
                    d = tempfile.mkdtemp(dir=tmp)
                    port = free_port()
                    try:
                        srv = Server(argv(port, d), port, d, os.path.join(tmp, "server.log"))
                    except (OSError, RuntimeError) as e:
                        result["notes"].append(f"round {rnd + 1}, -P {p}, {name}: {e}")
                        continue
                    try:
                        got = run_benchmark(a.redis_benchmark, port, a.requests, a.clients, p)
                        for t in TESTS:
                            rps[(name, p, t)][rnd] = got[t]
                        print(f"round {rnd + 1} -P {p:<2} {name:<28} " +
                              "  ".join(f"{t} {got[t]:>10.0f}/s" for t in TESTS), flush=True)
                    except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
                        result["notes"].append(f"round {rnd + 1}, -P {p}, {name}: {e}")
                    finally:
                        srv.stop()
                        shutil.rmtree(d, ignore_errors=True)

    baseline = {g: n for n, g, b, _ in configs if b}
    for name, group, is_base, _ in configs:
        for p in PIPELINES:
            for t in TESTS:
                mine = rps[(name, p, t)]
                base = rps[(baseline[group], p, t)]
                ratios = [m / b if m and b else None for m, b in zip(mine, base)]
                result["rows"].append({
                    "config": name, "group": group, "baseline": is_base, "pipeline": p,
                    "test": t, "rps": mine, "rps_median": median(mine),
                    "ratio": ratios, "ratio_median": median(ratios)})
    # virtual vs static, per round: the same build, the same round.
    for threads in (1, 2):
        for p in PIPELINES:
            for t in TESTS:
                v = rps[(f"kv_server memory virtual {threads}t", p, t)]
                s = rps[(f"kv_server memory static {threads}t", p, t)]
                result.setdefault("virtual_over_static", []).append({
                    "threads": threads, "pipeline": p, "test": t,
                    "ratio_median": median([x / y if x and y else None for x, y in zip(v, s)])})
    print()
    print(f"{'configuration':<28} {'-P':>3} {'SET/s':>10} {'x redis':>8} {'GET/s':>10} "
          f"{'x redis':>8}")
    rows = {(r["config"], r["pipeline"], r["test"]): r for r in result["rows"]}
    for name, _g, _b, _ in configs:
        for p in PIPELINES:
            cells = []
            for t in TESTS:
                r = rows[(name, p, t)]
                cells.append(f"{r['rps_median'] or 0:>10.0f} {r['ratio_median'] or 0:>8.2f}")
            print(f"{name:<28} {p:>3} " + " ".join(cells))
    if a.callgrind:
        n1, n2 = (int(x) for x in a.callgrind.split(","))
        measure_callgrind(a, result, n1, n2)
    for n in result["notes"]:
        print("note:", n)
    return finish()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # pylint: disable=broad-except
        # The bench workflow must go on: say what broke, and leave no half-written results.
        print(f"redis_compare: not measured: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(0)
