#!/usr/bin/env python3
"""Turns the Google Benchmark JSON files of a cotrait benchmark run into a report.

    report.py RESULTS_DIR

Reads RESULTS_DIR/*.json (written by bench/run.py) and writes, into the same folder:

    report.md                 markdown tables: per-call time and its ratio to the sync virtual call
                              of the same run, allocations, bytes and frame bytes per call, the
                              performance targets met or missed, and every other benchmark found
    dispatch_allocator.png    ns/call by dispatch x allocator
    state.png                 ns/call and bytes/call vs bytes captured across a suspension
    depth.png                 ns/call vs depth of nested async calls

Times are medians over the repetitions of a row (real time). Only matplotlib is needed (Debian:
python3-matplotlib); without it the tables are still written and the plots are skipped.
"""

import glob
import json
import os
import platform
import re
import statistics
import sys

UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
DISPATCH_ORDER = ["sync_inline", "sync_virtual", "ref_direct", "static_direct", "static_adapter",
                  "ref_virtual", "boxed_virtual", "boxed_macro", "bare_new_delete"]
ALLOC_ORDER = ["-", "freelist", "new_delete", "new_delete+mimalloc", "new_delete+jemalloc",
               "new_delete+tcmalloc", "recycling", "arena", "pmr_pool", "inline_resource"]
DISPATCH_TEXT = {
    "sync_inline": "sync inline call",
    "sync_virtual": "sync virtual call (the floor)",
    "static_direct": "static_task, direct call",
    "ref_direct": "reference task, direct call (bench/support/reference_task.hpp)",
    "ref_virtual": "reference task through a virtual method",
    "static_adapter": "static_task through cotrait::adapter (virtual)",
    "boxed_virtual": "boxed_task through a virtual method",
    "boxed_macro": "boxed_task through a COTRAIT_INTERFACE method",
    "bare_new_delete": "bare operator new + delete of the frame block",
}
PLOT_LABEL = {
    "sync_inline": "sync\ninline",
    "sync_virtual": "sync\nvirtual",
    "static_direct": "static_task\ndirect",
    "ref_direct": "reference\ndirect",
    "ref_virtual": "reference\nvirtual",
    "static_adapter": "static_task via\ncotrait::adapter",
    "boxed_virtual": "boxed_task via\nvirtual method",
    "boxed_macro": "boxed_task via\nCOTRAIT_INTERFACE",
    "bare_new_delete": "bare new + delete\nof the frame block",
}
DECORATIONS = re.compile(r"^(real_time|manual_time|threads:\d+|iterations:\d+|repeats:\d+|"
                         r"min_time:.*|process_time)$")


def order_key(order, value):
    return (order.index(value), value) if value in order else (len(order), value)


class Row:
    """One benchmark (all repetitions) of one run file."""

    def __init__(self, run, name, threads):
        self.run = run
        self.name = name
        self.threads = threads
        parts = [p for p in name.split("/") if not DECORATIONS.match(p)]
        self.family = parts[0] if parts else name
        self.dispatch = parts[1] if len(parts) > 1 else ""
        self.alloc = parts[2] if len(parts) > 2 else ""
        self.param = parts[3] if len(parts) > 3 else ""
        self.real = []
        self.cpu = []
        self.counters = {}

    def add(self, entry):
        unit = UNIT_NS.get(entry.get("time_unit", "ns"), 1.0)
        self.real.append(entry["real_time"] * unit)
        self.cpu.append(entry["cpu_time"] * unit)
        skip = {"name", "run_name", "run_type", "family_index", "per_family_instance_index",
                "repetitions", "repetition_index", "threads", "iterations", "real_time",
                "cpu_time", "time_unit", "aggregate_name", "aggregate_unit", "label",
                "error_occurred", "error_message"}
        for k, v in entry.items():
            if k not in skip and isinstance(v, (int, float)):
                self.counters.setdefault(k, []).append(float(v))

    @property
    def uses_real_time(self):
        # I/O rows wait on purpose; other benchmarks that asked Google Benchmark for real time
        # (UseRealTime: "/real_time" in the name) are reported in real time too.
        # The threads family uses real time only to size its runs; it reports CPU time.
        return self.family == "io" or ("/real_time" in self.name and self.family != "threads")

    @property
    def ns(self):
        """Median time per call. CPU time of the calling thread(s), so that time taken from the
        benchmark by other processes on a shared machine does not count; multi-threaded rows
        report each thread's CPU time per call (Google Benchmark sums the threads' CPU times and
        their iterations). Calls that wait for I/O use real time: the wait is the point."""
        if self.uses_real_time:
            return statistics.median(self.real)
        return statistics.median(self.cpu)

    def c(self, key, default=None):
        vals = self.counters.get(key)
        return statistics.median(vals) if vals else default


def load(results):
    runs = {}
    contexts = {}
    for path in sorted(glob.glob(os.path.join(results, "*.json"))):
        if os.path.basename(path) == "run-info.json":
            continue
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            print(f"report: skipping {path}: {e}", file=sys.stderr)
            continue
        run = os.path.splitext(os.path.basename(path))[0]
        contexts[run] = data.get("context", {})
        rows = {}
        for b in data.get("benchmarks", []):
            if b.get("run_type", "iteration") != "iteration" or b.get("error_occurred"):
                continue
            key = b.get("run_name", b["name"])
            if key not in rows:
                rows[key] = Row(run, key, int(b.get("threads", 1)))
            rows[key].add(b)
        runs[run] = list(rows.values())
    return runs, contexts


def fmt(v, digits=2):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if v == int(v) and abs(v) < 100:
        return f"{int(v)}"
    return f"{v:.{digits}f}"


def fmt_ratio(v):
    return "-" if v is None else f"{v:.2f}×"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


class Report:
    def __init__(self, results):
        self.results = results
        self.runs, self.contexts = load(results)
        info_path = os.path.join(results, "run-info.json")
        self.info = {}
        if os.path.exists(info_path):
            with open(info_path, encoding="utf-8") as f:
                self.info = json.load(f)
        self.main = self.runs.get("bench_alloc", [])
        self.floor = self.find(self.main, "matrix", "sync_virtual")

    @staticmethod
    def find(rows, family, dispatch, alloc=None, param=None, threads=None):
        for r in rows:
            if (r.family == family and r.dispatch == dispatch and
                    (alloc is None or r.alloc == alloc) and (param is None or r.param == param) and
                    (threads is None or r.threads == threads)):
                return r
        return None

    def ratio(self, row, floor=None):
        floor = floor or self.floor
        if floor is None or floor.ns <= 0:
            return None
        return row.ns / floor.ns

    # ---- rows of the dispatch x allocator matrix, preloaded mallocs merged in -------------------
    def matrix_rows(self):
        rows = []
        for r in self.main:
            if r.family == "matrix":
                rows.append((r.dispatch, r.alloc, r, self.floor))
        for run, rs in sorted(self.runs.items()):
            m = re.match(r"^bench_alloc\.(mimalloc|jemalloc|tcmalloc)$", run)
            if not m:
                continue
            floor = self.find(rs, "matrix", "sync_virtual")
            for r in rs:
                if r.family == "matrix" and r.dispatch != "sync_virtual":
                    rows.append((r.dispatch, f"{r.alloc}+{m.group(1)}", r, floor))
        rows.sort(key=lambda t: (order_key(DISPATCH_ORDER, t[0]), order_key(ALLOC_ORDER, t[1])))
        return rows

    def context_lines(self):
        ctx = self.contexts.get("bench_alloc") or next(iter(self.contexts.values()), {})
        lines = [
            f"- CPU: {cpu_model()}, {ctx.get('num_cpus', '?')} CPUs, "
            f"{ctx.get('mhz_per_cpu', '?')} MHz (as reported), load average at start "
            f"{', '.join(f'{x:.2f}' for x in ctx.get('load_avg', []))}",
            f"- compiler: {ctx.get('cotrait_compiler', self.info.get('compiler', '?'))}",
        ]
        if self.info.get("flags"):
            lines.append(f"- flags: `{self.info['flags']}`")
        lines.append(f"- date: {ctx.get('date', '?')}")
        lines.append("- the floor (sync virtual call) is a real indirect call: implementations in "
                     "a separate translation unit, no LTO, GCC's speculative devirtualization "
                     "off (`-fno-devirtualize-speculatively`)")
        if self.info.get("pinning"):
            lines.append(f"- {self.info['pinning']}; threads family not pinned")
        if self.info.get("quick"):
            lines.append("- **quick run** (CI smoke test): one short repetition per row; "
                         "do not read these numbers")
        else:
            reps = self.info.get("repetitions")
            lines.append(f"- times: median of {reps or 'the'} repetitions per row "
                         "(randomly interleaved); CPU time of the calling thread (real time for "
                         "the I/O rows)")
        return lines

    def section_matrix(self):
        out = ["## Dispatch × allocator", "",
               "Each row: one call (create the task, `co_await` it from a coroutine, destroy it). "
               "`× floor` is the time divided by the sync virtual call of the same run; "
               "allocs, frees and bytes are global `operator new`/`delete` calls per call, "
               "counted exactly; frame bytes is what the call's frame(s) request from their "
               "allocator (frame + 16-byte allocation record where the allocator is chosen at "
               "run time).", ""]
        rows = []
        for dispatch, alloc, r, floor in self.matrix_rows():
            rows.append([DISPATCH_TEXT.get(dispatch, dispatch), alloc, fmt(r.ns),
                         fmt_ratio(self.ratio(r, floor)), fmt(r.c("allocs/call")),
                         fmt(r.c("frees/call")), fmt(r.c("bytes/call")), fmt(r.c("frame_bytes"))])
        out.append(table(["dispatch", "allocator", "ns/call", "× floor", "allocs/call",
                          "frees/call", "bytes/call", "frame bytes"], rows))
        return out

    def section_param(self, family, title, text, param_name):
        rows = [r for r in self.main if r.family == family]
        if not rows:
            return []
        rows.sort(key=lambda r: (order_key(ALLOC_ORDER, r.alloc), float(r.param or 0)))
        body = []
        for r in rows:
            extra = []
            if family == "depth":
                d = float(r.param or 1)
                extra = [fmt(r.ns / d)]
            body.append([r.alloc, r.param, fmt(r.ns), fmt_ratio(self.ratio(r)),
                         fmt(r.c("allocs/call")), fmt(r.c("bytes/call")),
                         fmt(r.c("frames/call")), fmt(r.c("frame_bytes"))] + extra)
        header = ["allocator", param_name, "ns/call", "× floor", "allocs/call", "bytes/call",
                  "frames/call", "frame bytes"] + (["ns/level"] if family == "depth" else [])
        return ["", f"## {title}", "", text, "", table(header, body)]

    def section_threads(self):
        rows = self.runs.get("bench_alloc.threads", [])
        if not rows:
            return []
        body = []
        for r in sorted(rows, key=lambda r: (order_key(ALLOC_ORDER, r.alloc), r.threads)):
            one = self.find(rows, "threads", r.dispatch, r.alloc, threads=1)
            body.append([r.alloc, r.threads, fmt(r.ns),
                         fmt_ratio(r.ns / one.ns if one else None), fmt(r.c("allocs/call"))])
        return ["", "## Threads", "",
                "boxed_task through a virtual method on 1 and 2 threads at once (not pinned). "
                "ns/call is each thread's CPU time per call; `× 1 thread` compares it with the same "
                "allocator on one thread (1.00× = no contention).", "",
                table(["allocator", "threads", "ns/call per thread", "× 1 thread",
                       "allocs/call"], body)]

    def section_pool_fanout(self):
        """pool_fanout/boxed_virtual/<alloc>/<threads>/<fan>: per call = per iteration / fan."""
        runs = sorted(k for k in self.runs if k.startswith("bench_alloc.pool_fanout"))
        rows = []
        for run in runs:
            malloc = run[len("bench_alloc.pool_fanout"):].lstrip(".") or "glibc"
            for r in self.runs[run]:
                parts = [p for p in r.name.split("/") if not DECORATIONS.match(p)]
                if r.family != "pool_fanout" or len(parts) < 5:
                    continue
                calls = r.c("calls/iteration") or float(parts[4])
                label = r.alloc if r.alloc != "new_delete" else f"new_delete ({malloc})"
                rows.append((label, int(parts[3]), int(parts[4]), r, statistics.median(r.real) / calls))
        if not rows:
            return []

        def ns_of(label, threads, fan):
            for l, t, f, _, ns in rows:
                if l == label and t == threads and f == fan:
                    return ns
            return None

        body = []
        for label, threads, fan, r, ns in sorted(rows, key=lambda x: (x[1], x[2], x[0])):
            same = ns_of(label, 0, fan)
            mi = ns_of("new_delete (mimalloc)", threads, fan)
            body.append([label, threads if threads else "same thread", fan, fmt(ns),
                         fmt_ratio(ns / same if same and threads else None),
                         fmt_ratio(ns / mi if mi else None), fmt(r.c("allocs/call"), 3)])
        return ["", "## Fan-out onto a thread pool", "",
                "`fan` virtual calls made on one thread and awaited with `when_all`; each "
                "implementation hops onto a `thread_pool`, so its frame is made on the caller and "
                "destroyed on a worker. Wall time per call (the pool's hop dominates); allocs/call "
                "counts the global operator new on every thread. `× same thread` compares with the "
                "same fan-out without the hop; `× mimalloc` with new_delete under a preloaded "
                "mimalloc at the same size. Not pinned.", "",
                table(["allocator", "threads", "fan-out", "ns/call", "× same thread",
                       "× mimalloc", "allocs/call"], body)]

    def section_io(self):
        rows = [r for r in self.main if r.family == "io"]
        if not rows:
            return []
        sync = self.find(rows, "io", "sync_virtual")
        body = []
        for r in sorted(rows, key=lambda r: (order_key(DISPATCH_ORDER, r.dispatch),
                                             order_key(ALLOC_ORDER, r.alloc))):
            share = None
            if sync and r is not sync and r.ns > 0:
                share = (r.ns - sync.ns) / r.ns * 100
            what = ("sync virtual call doing the round trip" if r.dispatch == "sync_virtual"
                    else DISPATCH_TEXT.get(r.dispatch, r.dispatch))
            body.append([what, r.alloc, fmt(r.ns),
                         "-" if share is None else f"{share:+.1f} %",
                         fmt(r.c("allocs/call"))])
        return ["", "## I/O-bound calls", "",
                "A call that really waits: an eventfd write, `epoll_wait` in a one-descriptor "
                "event loop, a read, then the coroutine is resumed. `overhead` is the extra time "
                "of the async call over the same round trip done synchronously, as a share of "
                "the async call (within noise when it is near zero, and it can be negative).", "",
                table(["call", "allocator", "ns/call", "overhead", "allocs/call"], body)]

    def section_memory(self):
        rows = []
        for run, rs in sorted(self.runs.items()):
            if run.startswith("bench_alloc.memory-"):
                rows += [r for r in rs if r.family == "memory"]
        if not rows:
            return []
        body = []
        for r in sorted(rows, key=lambda r: order_key(ALLOC_ORDER, r.alloc)):
            growth = r.c("peak_rss_growth_kib")
            body.append([r.alloc, fmt(r.c("calls")), fmt(r.c("ns/call")), f"{r.c('allocs/call'):.4f}",
                         fmt((r.c("peak_heap_live_bytes") or 0) / 1024, 0),
                         fmt((r.c("retained_heap_bytes") or 0) / 1024, 0),
                         "-" if growth is None or growth < 0 else fmt(growth, 0),
                         fmt(r.c("peak_rss_kib"), 0)])
        return ["", "## Fragmentation and memory", "",
                "Mixed frame sizes (5 implementations holding 0 to 2000 bytes), one call in "
                "eight kept alive, not yet awaited, in a 1024-slot table until a later call "
                "evicts it, so frames are freed out of order. One process per allocator. "
                "Heap live is what the global heap has handed out and not taken back "
                "(malloc_usable_size), including what the allocator caches; retained is what is "
                "still out after the run; peak RSS growth is the high-water mark of resident "
                "memory during the run over the resident memory before it.", "",
                table(["allocator", "calls", "ns/call", "allocs/call", "peak heap live KiB",
                       "retained KiB", "peak RSS growth KiB", "peak RSS KiB"], body)]

    def section_others(self):
        out = []
        for run, rows in sorted(self.runs.items()):
            if run.startswith("bench_alloc"):
                continue
            keys = sorted({k for r in rows for k in r.counters})
            body = [[r.name, fmt(r.ns)] + [fmt(r.c(k)) for k in keys] for r in rows]
            out += ["", f"## Other benchmarks: {run}", "",
                    table(["benchmark", "ns/iteration"] + keys, body)]
        return out

    # ---- targets ------------------------------------------------------------------------------
    def targets(self):
        ctx = self.contexts.get("bench_alloc", {})
        clang = ctx.get("cotrait_compiler", "").startswith("clang")
        m = lambda d, a: self.find(self.main, "matrix", d, a)  # noqa: E731
        out = []

        def add(target, measured, ok):
            verdict = "n/a" if ok is None else ("met" if ok else "**missed**")
            out.append([target, measured, verdict])

        boxed = m("boxed_virtual", "recycling")
        limit = 3.5 if clang else 4.5
        if boxed and self.floor:
            ratio = self.ratio(boxed)
            allocs = boxed.c("allocs/call")
            add(f"boxed via virtual, default allocator ≤ {limit}× sync virtual "
                f"({'Clang 19' if clang else 'GCC 12'}), 0 global allocs/call",
                f"{fmt(boxed.ns)} ns = {ratio:.2f}× {fmt(self.floor.ns)} ns; "
                f"{fmt(allocs)} allocs/call", ratio <= limit and allocs == 0)
        nd = m("boxed_virtual", "new_delete")
        bare = m("bare_new_delete", "new_delete")
        if nd:
            a, f = nd.c("allocs/call"), nd.c("frees/call")
            add("new_delete: exactly 1 global alloc + 1 free per call",
                f"{fmt(a)} alloc + {fmt(f)} free per call", a == 1 and f == 1)
        if nd and boxed and bare:
            extra = nd.ns - boxed.ns
            add("new_delete: extra time over default ≤ a bare operator new + delete of the "
                "frame block",
                f"{fmt(nd.ns)} − {fmt(boxed.ns)} = {fmt(extra)} ns vs bare {fmt(bare.ns)} ns "
                f"({fmt(bare.c('frame_bytes'))} bytes)", extra <= bare.ns)
        snd = m("static_direct", "new_delete")
        if nd and snd:
            over = nd.c("frame_bytes") - snd.c("frame_bytes")
            add("frame overhead of the allocator machinery ≤ 16 bytes",
                f"boxed frame block {fmt(nd.c('frame_bytes'))} B vs the same body as "
                f"static_task<int, new_delete_allocator<>> {fmt(snd.c('frame_bytes'))} B: "
                f"{fmt(over)} B", over <= 16)
        d8 = self.find(self.main, "depth", "boxed_virtual", "recycling", "8")
        if d8 and self.floor:
            ratio = self.ratio(d8)
            add("depth 8 through virtual methods, default allocator ≤ 25× sync virtual, "
                "0 global allocs/call",
                f"{fmt(d8.ns)} ns = {ratio:.1f}×; {fmt(d8.c('allocs/call'))} allocs/call",
                ratio <= 25 and d8.c("allocs/call") == 0)
        th = self.runs.get("bench_alloc.threads", [])
        t1 = self.find(th, "threads", "boxed_virtual", "recycling", threads=1)
        t2 = self.find(th, "threads", "boxed_virtual", "recycling", threads=2)
        if t1 and t2:
            add("2 threads, recycling: per-call time within 1.2× of 1 thread",
                f"{fmt(t2.ns)} vs {fmt(t1.ns)} ns = {t2.ns / t1.ns:.2f}×", t2.ns <= 1.2 * t1.ns)
        for alloc in ("recycling", "new_delete"):
            s, b = m("static_direct", alloc), m("boxed_virtual", alloc)
            if s and b:
                add(f"static_task direct no slower than boxed ({alloc})",
                    f"{fmt(s.ns)} vs {fmt(b.ns)} ns", s.ns <= b.ns)
        if snd:
            elided = snd.c("allocs/call") < 1
            add("HALO (frame elision) of a static_task awaited in a coroutine",
                f"static_task<int, new_delete_allocator<>>: {fmt(snd.c('allocs/call'))} "
                f"allocs/call ({'elided' if elided else 'not elided'})", None)
        return out

    def write(self):
        md = ["# cotrait benchmark report", ""] + self.context_lines() + [""]
        if not self.main:
            md.append("No bench_alloc results found.")
        else:
            tgt = self.targets()
            md += ["## Targets", "",
                   "Reported, not asserted: one run on a shared machine. See docs/benchmarks.md.",
                   "", table(["target", "measured", "verdict"], tgt), ""]
            md += self.section_matrix()
            md += self.section_param(
                "state", "Captured state",
                "bytes held across a suspension point in a boxed_task called through a virtual "
                "method; frame bytes grow with them. Blocks over the recycling limit "
                "(COTRAIT_RECYCLING_MAX_BLOCK, 4096 bytes with the record) go to the global heap.",
                "state bytes")
            md += self.section_param(
                "depth", "Call depth",
                "a call that awaits itself through the interface `depth` − 1 times: `depth` "
                "frames and virtual calls per call.", "depth")
            md += self.section_threads()
            md += self.section_pool_fanout()
            md += self.section_io()
            md += self.section_memory()
        md += self.section_others()
        md += self.section_redis()
        md += self.section_callgrind()
        md += self.section_peers()
        path = os.path.join(self.results, "report.md")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(md) + "\n")
        print(f"report: wrote {path}")
        return path

    def section_redis(self):
        """The table bench/redis_compare.py wrote (redis.json), if it ran."""
        title = "## kv_server against redis-server (redis-benchmark)"
        path = os.path.join(self.results, "redis.json")
        if not os.path.exists(path):
            return [title, "",
                    "Not measured: redis-server or redis-benchmark was not installed "
                    "(Debian: redis-server, redis-tools), or kv_server was not built.", ""]
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if not data.get("rows"):
            return [title, ""] + [f"Not measured: {n}" for n in data.get("notes", [])] + [""]
        rows = {(r["config"], r["pipeline"], r["test"]): r for r in data["rows"]}
        configs = list(dict.fromkeys(r["config"] for r in data["rows"]))
        body = []
        for c in configs:
            for p in data["pipelines"]:
                cells = [c if not rows[(c, p, "SET")]["baseline"] else f"**{c}**", f"{p}"]
                for t in data["tests"]:
                    r = rows[(c, p, t)]
                    cells += [fmt(r["rps_median"]), fmt_ratio(r["ratio_median"])]
                body.append(cells)
        md = [title, "",
              f"`bench/redis_compare.py`: `redis-benchmark -t set,get -n {data['requests']:,} "
              f"-c {data['clients']} -P 1|16` against each server, started fresh on a loopback "
              f"port; {data['rounds']} interleaved round(s), medians of requests/s and of the "
              "per-round ratio to the group's redis-server (bold) of the same round. Memory "
              "group: `redis-server --save \"\" --appendonly no`; file group: `--appendonly "
              "yes --appendfsync everysec` against kv_server `--file --sync batch` (which, unlike "
              f"everysec, fsyncs before every acknowledgement). {data.get('redis_version', '')}",
              "", table(["configuration", "-P", "SET/s", "× redis", "GET/s", "× redis"], body),
              ""]
        out = []

        def add(target, measured, ok):
            out.append([target, measured,
                        "n/a" if ok is None else ("met" if ok else "**missed**")])

        def ratio(c, p, t):
            r = rows.get((c, p, t))
            return r["ratio_median"] if r else None

        for storage in ("virtual", "static"):
            rs = [(p, t, ratio(f"kv_server memory {storage} 1t", p, t))
                  for p in data["pipelines"] for t in data["tests"]]
            if all(r is not None for _, _, r in rs):
                add(f"memory store, 1 I/O thread, {storage}: ≥ 0.8× redis-server at -P 1 and "
                    "-P 16", ", ".join(f"{t} -P {p}: {fmt_ratio(r)}" for p, t, r in rs),
                    all(r >= 0.8 for _, _, r in rs))
        vs = data.get("virtual_over_static", [])
        for threads in sorted({v["threads"] for v in vs}):
            mine = [v for v in vs if v["threads"] == threads and v["ratio_median"] is not None]
            if mine:
                add(f"virtual within 3 % of static: requests/s, {threads} I/O thread(s) "
                    "(median of per-round virtual/static)",
                    ", ".join(f"{v['test']} -P {v['pipeline']}: {v['ratio_median']:.3f}"
                              for v in mine),
                    all(v["ratio_median"] >= 0.97 for v in mine))
        cg = data.get("callgrind", {}).get("rows", [])
        cgi = {(r["config"], r["pipeline"]): r["instructions_per_request"] for r in cg}
        for p in data["pipelines"]:
            v = cgi.get(("kv_server memory virtual 1t", p))
            st = cgi.get(("kv_server memory static 1t", p))
            if v and st:
                add(f"virtual within 3 % of static: user-space instructions per request "
                    f"(callgrind, -P {p})", f"{fmt(v)} vs {fmt(st)} = {v / st:.3f}",
                    v <= 1.03 * st)
        rs = [(p, ratio("kv_server file batch 1t", p, "SET")) for p in data["pipelines"]]
        if all(r is not None for _, r in rs):
            add("file store, --sync batch, SET ≥ 0.8× redis-server appendfsync everysec",
                ", ".join(f"-P {p}: {fmt_ratio(r)}" for p, r in rs),
                all(r >= 0.8 for _, r in rs))
        if cg:
            n1, n2 = data["callgrind"]["requests"]
            base = {r["pipeline"]: r["instructions_per_request"] for r in cg
                    if r["config"] == "redis-server"}
            md += ["Instructions per request in user space under callgrind (exact, unlike the "
                   f"requests/s of a shared machine): (Ir after {n2:,} − Ir after {n1:,} "
                   "requests of each of SET and GET) / requests; the kernel's share (the system "
                   "calls, most of the time per request) is not counted.", "",
                   table(["server", "-P", "instructions/request", "× redis-server"],
                         [[r["config"], r["pipeline"], fmt(r["instructions_per_request"]),
                           fmt_ratio(r["instructions_per_request"] / base[r["pipeline"]])
                           if base.get(r["pipeline"]) else "-"] for r in cg]), ""]
        md += ["Targets (issue 18; reported, not asserted):", "",
               table(["target", "measured", "verdict"], out), ""]
        md += [f"Note: {n}" for n in data.get("notes", [])]
        return md + [""] if data.get("notes") else md

    def section_callgrind(self):
        """The table bench/callgrind.py wrote (callgrind.json), if it ran."""
        path = os.path.join(self.results, "callgrind.json")
        if not os.path.exists(path):
            return ["## Instructions per call (callgrind)", "",
                    "Not measured: valgrind was not installed (or cotrait_probe not built).", ""]
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        n1, n2 = data["calls"]
        # Labels name C++ templates: `<` would start an HTML tag in the markdown.
        rows = [[f"`{r['probe']}`", r["label"].replace("<", "&lt;"),
                 fmt(r["instructions_per_call"], 1),
                 fmt(r["allocs_per_call"]),
                 fmt_ratio(r["ratio_to_reference"]) if r["ratio_to_reference"] else "-"]
                for r in data["rows"]]
        md = ["## Instructions per call (callgrind)", "",
              f"Exact and stable from run to run: (Ir({n2}) − Ir({n1})) / {n2 - n1} of "
              "`bench/callgrind.py build/.../bench/cotrait_probe`; × ref is the ratio to the "
              "reference task (bench/support/reference_task.hpp) of the same shape "
              "(`boxed_ready`: to the plain virtual call).", "",
              table(["probe", "what", "instr/call", "allocs/call", "× ref"], rows), ""]
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from callgrind import target_verdicts  # pylint: disable=import-outside-toplevel
        verdicts = target_verdicts(data["rows"], data.get("label", ""))
        if verdicts:
            md += ["Instruction targets (issue 16; the reasons for each miss are in "
                   "docs/benchmarks.md):", "",
                   table(["row", "target", "result"],
                         [[f"`{p}`", w, "met" if m else "**missed**"] for p, w, m in verdicts]),
                   ""]
        return md

    def section_peers(self):
        """The table bench/peers.py wrote (peers.md): cotrait next to Rust's async_trait and asio."""
        path = os.path.join(self.results, "peers.md")
        if not os.path.exists(path):
            return ["## Peers: Rust's async_trait and asio, same run", "",
                    "Not measured: bench/peers.py did not run (cotrait_probe not built).", ""]
        with open(path, encoding="utf-8") as f:
            body = f.read().rstrip("\n")
        return ["## Peers: Rust's async_trait and asio, same run", "",
                body, ""]  # `<` only inside code spans, where markdown keeps it literal

    # ---- plots --------------------------------------------------------------------------------
    def plots(self):
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("report: matplotlib not found (Debian: python3-matplotlib): no plots")
            return []
        if not self.main:
            return []
        ctx = self.contexts.get("bench_alloc", {})
        subtitle = f"{ctx.get('cotrait_compiler', '')}, {cpu_model()}"
        written = []

        # ns/call by dispatch x allocator
        rows = self.matrix_rows()
        dispatches = sorted({d for d, _, _, _ in rows}, key=lambda d: order_key(DISPATCH_ORDER, d))
        allocs = sorted({a for _, a, _, _ in rows}, key=lambda a: order_key(ALLOC_ORDER, a))
        fig, ax = plt.subplots(figsize=(13, 6))
        cmap = plt.get_cmap("tab10")
        colour = {a: cmap(j % 10) for j, a in enumerate(allocs)}
        width = 0.8 / max(1, max(sum(1 for t in rows if t[0] == d) for d in dispatches))
        seen = set()
        for i, d in enumerate(dispatches):
            group = [t for t in rows if t[0] == d]
            group.sort(key=lambda t: order_key(ALLOC_ORDER, t[1]))
            start = i - width * len(group) / 2
            for j, (_, a, r, _) in enumerate(group):
                bars = ax.bar(start + width * (j + 0.5), r.ns, width, color=colour[a],
                              label=None if a in seen else ("no frame" if a == "-" else a))
                seen.add(a)
                ax.bar_label(bars, labels=[f"{r.ns:.1f}"], fontsize=7, padding=2, rotation=90)
        if self.floor:
            ax.axhline(self.floor.ns, color="grey", linestyle=":", linewidth=1,
                       label=f"sync virtual = {self.floor.ns:.1f} ns")
        ax.set_xticks(range(len(dispatches)))
        ax.set_xticklabels([PLOT_LABEL.get(d, d) for d in dispatches], fontsize=9)
        ax.margins(y=0.12)
        ax.set_ylabel("ns per call (median)")
        ax.set_title(f"cotrait: one async call by dispatch × frame allocator\n{subtitle}",
                     fontsize=10)
        ax.legend(fontsize=8, ncol=2)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        written.append(self.save(fig, "dispatch_allocator.png"))
        plt.close(fig)

        # captured state
        st = [r for r in self.main if r.family == "state"]
        if st:
            fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5))
            for a in sorted({r.alloc for r in st}, key=lambda a: order_key(ALLOC_ORDER, a)):
                rs = sorted((r for r in st if r.alloc == a), key=lambda r: float(r.param))
                xs = [max(float(r.param), 1) for r in rs]
                a1.plot(xs, [r.ns for r in rs], marker="o", label=a)
                a2.plot(xs, [r.c("bytes/call") for r in rs], marker="o",
                        label=f"{a}: global heap bytes/call")
            rs = sorted((r for r in st if r.alloc == "recycling"), key=lambda r: float(r.param))
            if rs:
                a2.plot([max(float(r.param), 1) for r in rs], [r.c("frame_bytes") for r in rs],
                        linestyle="--", color="black", label="frame bytes")
            params = sorted({float(r.param) for r in st})
            for ax in (a1, a2):
                ax.set_xscale("log", base=2)
                ax.set_xticks([max(p, 1) for p in params])
                ax.set_xticklabels([f"{p:g}" for p in params])
                ax.set_xlabel("bytes held across a suspension point")
                ax.grid(alpha=0.3)
                ax.legend(fontsize=8)
            a1.set_ylabel("ns per call (median)")
            a1.set_ylim(bottom=0)
            a2.set_ylabel("bytes per call")
            a2.set_yscale("symlog", linthresh=16)
            a2.set_ylim(bottom=0)
            fig.suptitle(f"cotrait: captured state, boxed_task via virtual\n{subtitle}",
                         fontsize=10)
            fig.tight_layout()
            written.append(self.save(fig, "state.png"))
            plt.close(fig)

        # depth
        dp = [r for r in self.main if r.family == "depth"]
        if dp:
            fig, ax = plt.subplots(figsize=(7.5, 4.5))
            for a in sorted({r.alloc for r in dp}, key=lambda a: order_key(ALLOC_ORDER, a)):
                rs = sorted((r for r in dp if r.alloc == a), key=lambda r: float(r.param))
                ax.plot([float(r.param) for r in rs], [r.ns for r in rs], marker="o", label=a)
            if self.floor:
                xs = sorted({float(r.param) for r in dp})
                ax.plot(xs, [x * self.floor.ns for x in xs], linestyle=":", color="grey",
                        label="depth × sync virtual call")
            ax.set_xscale("log", base=2)
            depths = sorted({float(r.param) for r in dp})
            ax.set_xticks(depths)
            ax.set_xticklabels([f"{d:g}" for d in depths])
            ax.set_yscale("log")
            ax.set_xlabel("nested async calls through the interface (depth)")
            ax.set_ylabel("ns per call (median)")
            ax.set_title(f"cotrait: call depth, boxed_task via virtual\n{subtitle}", fontsize=10)
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8)
            fig.tight_layout()
            written.append(self.save(fig, "depth.png"))
            plt.close(fig)
        return written

    def save(self, fig, name):
        path = os.path.join(self.results, name)
        fig.savefig(path, dpi=110)
        print(f"report: wrote {path}")
        return path


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    results = sys.argv[1]
    if not os.path.isdir(results):
        print(f"report: {results} is not a directory", file=sys.stderr)
        return 1
    rep = Report(results)
    rep.write()
    rep.plots()
    print(f"report: open {os.path.join(results, 'report.md')} (plots beside it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
