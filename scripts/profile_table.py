#!/usr/bin/env python3
"""profile_table.py: the per-kernel device times of one training step from
Nsight Compute's CSV (`ncu --csv --metrics gpu__time_duration.sum`, as
scripts/device-check.sh writes to profile.log; several profiled processes
may follow one another in the file). For each process: the engine line
`cnngpu bench` printed, then each kernel of the steps recorded, from one
`gather` (the start of a step) to the next, with its time in µs (the median
over the complete steps found), and the step's total.

    scripts/profile_table.py profile.log
"""
import csv
import statistics
import sys


def runs(lines):
    """Yields (engine line, [(kernel, grid, µs)]) per profiled process."""
    engine, hdr, rows, pid = "", None, [], None
    for r in csv.reader(lines):
        if not r:
            continue
        if len(r) == 1 or not r[0].isdigit() and r[0] != "ID":
            text = ",".join(r).strip()
            if text.startswith("engine"):
                if rows:
                    yield engine, rows
                    rows = []
                engine = text.split(None, 1)[1] if " " in text else text
            continue
        if r[0] == "ID":
            hdr = r
            continue
        if hdr is None or len(r) != len(hdr):
            continue
        d = dict(zip(hdr, r))
        if d.get("Metric Name") != "gpu__time_duration.sum":
            continue
        if pid is not None and d["Process ID"] != pid and rows:
            yield engine, rows
            rows = []
        pid = d["Process ID"]
        scale = {"ns": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3}.get(d["Metric Unit"], 1e-3)
        rows.append((d["Kernel Name"], d["Grid Size"], float(d["Metric Value"].replace(",", "")) * scale))
    if rows:
        yield engine, rows


def steps(rows):
    """Splits rows into complete steps, each starting at a gather."""
    starts = [i for i, r in enumerate(rows) if r[0] == "gather"]
    return [rows[a:b] for a, b in zip(starts, starts[1:])]


def short(name):
    for cut in ("(", "<"):
        if cut in name and not name.startswith("void"):
            name = name.split(cut)[0]
    if name.startswith("void "):
        name = name[5:]
    return name[:60]


def main():
    if len(sys.argv) > 2 or len(sys.argv) == 2 and sys.argv[1].startswith("-") and sys.argv[1] != "-" or len(sys.argv) == 1 and sys.stdin.isatty():
        sys.exit(__doc__.strip() + "\n\n(or its CSV on standard input, or '-')")
    try:
        src = open(sys.argv[1], errors="replace") if len(sys.argv) == 2 and sys.argv[1] != "-" else sys.stdin
        lines = src.read().splitlines()
    except OSError as e:
        sys.exit(f"profile_table.py: {e}")
    found = False
    for engine, rows in runs(lines):
        st = steps(rows)
        if not st:
            print(f"profile ({engine or 'unknown engine'}): {len(rows)} kernels, no complete step (gather to gather)")
            continue
        found = True
        n = len(st[0])
        same = [s for s in st if len(s) == n and all(a[0] == b[0] for a, b in zip(s, st[0]))]
        times = [statistics.median(s[i][2] for s in same) for i in range(n)]
        print(f"profile ({engine}): one step, {n} kernels, {sum(times):.1f} µs (median of {len(same)} steps)")
        for (name, grid, _), t in zip(st[0], times):
            print(f"  {short(name):<60} {grid:>14} {t:8.1f}")
    if not found:
        sys.exit(1)


if __name__ == "__main__":
    main()
