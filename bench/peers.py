#!/usr/bin/env python3
"""The peers table: cotrait next to Rust's async_trait and asio, timed in the same run.

    bench/peers.py --probe <path/to/cotrait_probe> --out DIR [--quick] [--rounds R]
                   [--rust-build DIR] [--label TEXT]

Each language's rows are ratios to that language's own plain virtual call (`&dyn` in Rust),
measured in the same round, so that the machine's speed of the moment cancels out; rounds
alternate between the languages (C++ rows, then Rust rows, then again). Every row is timed with
`--time <row> <calls> <reps>` (the least time per call over reps runs of calls calls, after a
warm-up run), by cotrait_probe for C++ and by bench/peers/rust for Rust. The table reports, per row,
the median over rounds of the ratio, its spread (lowest and highest), and the least ns per call.

The Rust program is built with cargo, offline, against the crate sources that Debian's
librust-async-trait-dev installs under /usr/share/cargo/registry (packages rustc, cargo,
librust-async-trait-dev). Without them the Rust rows are skipped with a note: the bench never
fails for a missing toolchain. Writes DIR/peers.json and DIR/peers.md (bench/report.py includes it).
"""
import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
RUST_SRC = HERE / "peers" / "rust"
DEBIAN_REGISTRY = pathlib.Path("/usr/share/cargo/registry")

# (what, C++ row of cotrait_probe, Rust row of cotrait_rust_peers)
ROWS = [
    ("plain virtual call (`&dyn` in Rust): the baseline of its language", "plain_virtual",
     "plain_dyn"),
    ("async method through dynamic dispatch: cotrait `boxed_task<int>` (default allocator) / "
     "`#[async_trait]` via `&dyn`", "boxed_virtual", "async_trait_dyn"),
    ("8 nested dynamic async calls", "boxed_nested8", "async_trait_nested8"),
    ("static async call, implementation known: `static_task<int>` awaited directly / "
     "inherent `async fn`", "static_direct", "native_static"),
    ("the reference lazy task via virtual call (bench/support/reference_task.hpp)", "ref_virtual",
     None),
    ("`asio::awaitable<int>` via virtual call, in an asio coroutine", "asio_virtual", None),
    ("one 24-byte block from the global allocator and back (`operator new`+`delete` / `Box`)",
     "new_delete_24", "box24"),
]


def list_rows(exe):
    try:
        out = subprocess.run([exe, "--list"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return set()
    return set(out.split())


def build_rust(build_dir):
    """Path of the built Rust peers, or (None, reason)."""
    rustc = shutil.which("rustc", path="/usr/bin") or shutil.which("rustc")
    cargo = shutil.which("cargo", path="/usr/bin") or shutil.which("cargo")
    if not rustc or not cargo:
        return None, "rustc/cargo not installed (Debian: rustc cargo librust-async-trait-dev)"
    if not any(DEBIAN_REGISTRY.glob("async-trait-*")):
        return None, ("the async-trait crate sources are not installed "
                      "(Debian: librust-async-trait-dev)")
    build_dir.mkdir(parents=True, exist_ok=True)
    src = build_dir / "src-copy"  # cargo writes Cargo.lock next to the manifest: not in the tree
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(RUST_SRC, src)
    home = build_dir / "cargo-home"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(
        '[source.crates-io]\nreplace-with = "debian"\n'
        f'[source.debian]\ndirectory = "{DEBIAN_REGISTRY}"\n')
    env = dict(os.environ, CARGO_HOME=str(home), RUSTC=rustc)
    r = subprocess.run([cargo, "build", "--release", "--offline", "--quiet", "--manifest-path",
                        str(src / "Cargo.toml"), "--target-dir", str(build_dir / "target")],
                       capture_output=True, text=True, env=env, check=False)
    exe = build_dir / "target" / "release" / "cotrait_rust_peers"
    if r.returncode != 0 or not exe.exists():
        return None, "cargo build failed:\n" + r.stdout + r.stderr
    version = subprocess.run([rustc, "--version"], capture_output=True, text=True).stdout.strip()
    return (str(exe), version), None


def time_row(exe, row, calls, reps):
    p = subprocess.run([exe, "--time", row, str(calls), str(reps)], capture_output=True, text=True,
                       check=False)
    if p.returncode != 0:
        raise RuntimeError(f"{exe} --time {row}: exit {p.returncode}\n{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])["ns_per_call"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--probe", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--label", default="")
    ap.add_argument("--rust-build", help="where to build the Rust peers (default: OUT/rust-peers)")
    a = ap.parse_args()
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    calls, reps, rounds = (20000, 2, 2) if a.quick else (400000, 5, 7)
    rounds = a.rounds or rounds

    notes = []
    cpp_rows = list_rows(a.probe)
    rust, why = build_rust(pathlib.Path(a.rust_build) if a.rust_build else out / "rust-peers")
    if why:
        notes.append("Rust rows skipped: " + why.strip().splitlines()[0])
        print("peers: " + why, file=sys.stderr)
    rust_rows = list_rows(rust[0]) if rust else set()
    for _, c, _ in ROWS:
        if c not in cpp_rows:
            notes.append(f"C++ row `{c}` not built (e.g. asio not installed)")

    # samples[lang][row] = list of (ns, ratio to that language's plain call of the same round)
    samples = {"cpp": {}, "rust": {}}
    for rnd in range(rounds):
        for lang, exe, have, col, base in (("cpp", a.probe, cpp_rows, 1, "plain_virtual"),
                                           ("rust", rust[0] if rust else None, rust_rows, 2,
                                            "plain_dyn")):
            if exe is None or base not in have:
                continue
            ns = {}
            for r in ROWS:
                row = r[col]
                if row and row in have:
                    ns[row] = time_row(exe, row, calls // 8 if "nested8" in row else calls, reps)
            for row, v in ns.items():
                samples[lang].setdefault(row, []).append((v, v / ns[base]))
        print(f"peers: round {rnd + 1}/{rounds} done", file=sys.stderr)

    def summary(lang, row):
        s = samples[lang].get(row)
        if not s:
            return None
        ratios = [x[1] for x in s]
        return {"median_ratio": statistics.median(ratios), "min_ratio": min(ratios),
                "max_ratio": max(ratios), "min_ns": min(x[0] for x in s), "rounds": len(s)}

    result = {"label": a.label, "rust": rust[1] if rust else None, "calls": calls, "reps": reps,
              "rounds": rounds, "quick": a.quick, "notes": notes, "rows": []}
    for what, c, r in ROWS:
        result["rows"].append({"what": what, "cpp_row": c, "rust_row": r,
                               "cpp": summary("cpp", c), "rust": summary("rust", r) if r else None})
    (out / "peers.json").write_text(json.dumps(result, indent=1) + "\n")

    def cell(s):
        if not s:
            return "-", "-"
        return (f"{s['median_ratio']:.2f}× ({s['min_ratio']:.2f}-{s['max_ratio']:.2f})",
                f"{s['min_ns']:.2f}")

    lines = [f"Peers, {a.label or 'C++'} vs {result['rust'] or 'Rust (not built)'}: "
             f"{rounds} interleaved rounds, each row the least time per call over {reps} runs "
             f"of {calls} calls (nested rows: {calls // 8}); ratios to the plain virtual call of "
             "the same language in the same round: median (lowest-highest).", "",
             "| call | C++ row | C++ ratio | C++ ns | Rust row | Rust ratio | Rust ns |",
             "|---|---|---|---|---|---|---|"]
    for row in result["rows"]:
        cr, cn = cell(row["cpp"])
        rr, rn = cell(row["rust"])
        lines.append(f"| {row['what']} | `{row['cpp_row']}` | {cr} | {cn} | "
                     f"{'`' + row['rust_row'] + '`' if row['rust_row'] else '-'} | {rr} | {rn} |")
    if a.quick:
        lines += ["", "(quick run: too short to read the numbers)"]
    lines += [""] + [f"- {n}" for n in notes]
    (out / "peers.md").write_text("\n".join(lines).rstrip() + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
