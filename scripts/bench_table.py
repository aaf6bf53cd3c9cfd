#!/usr/bin/env python3
"""bench_table.py: prints JSON lines from `cnngpu bench --json` and
pytorch_reference.py (stdin) as one table. Each cnngpu row carries its
training throughput relative to PyTorch at the same batch size: to
PyTorch's first row (eager on a GPU) and, when present, to its CUDA-graph
row (its best), at the same precision where PyTorch ran it."""
import json
import sys

if len(sys.argv) > 2 or len(sys.argv) == 2 and sys.argv[1].startswith("-") and sys.argv[1] != "-":
    sys.exit(__doc__.strip() + "\n\nusage: bench_table.py [FILE] (default: standard input)")
try:
    src = open(sys.argv[1]) if len(sys.argv) == 2 and sys.argv[1] != "-" else sys.stdin
    lines = src.read().splitlines()
except OSError as e:
    sys.exit(f"bench_table.py: {e}")
rows = []
for n, l in enumerate(lines, 1):
    if not l.strip().startswith("{"):
        continue
    try:
        r = json.loads(l)
    except ValueError as e:  # a line cut short (a benchmark killed by its time limit)
        print(f"bench_table.py: line {n} left out, not whole JSON: {e}", file=sys.stderr)
        continue
    if not all(k in r for k in ("engine", "batch_size", "train_images_per_sec", "train_step_ms", "epoch_seconds_60000", "inference_images_per_sec")):
        print(f"bench_table.py: line {n} left out, not a benchmark's result: {l[:80]}", file=sys.stderr)
        continue
    rows.append(r)
if not rows:
    sys.exit("bench_table.py: no benchmark results in the input (cnngpu bench --json lines)")
# PyTorch's rows by (batch size, precision); a cnngpu row is compared with
# PyTorch's at its own precision (fp32: strict, no TF32; tf32), else with
# PyTorch's first row at that batch size (a line without "precision").
# Rows are compared on the same kind of device (GPU rows with GPU rows).
eager, graph = {}, {}


def device(r):
    return "gpu" if r["engine"].startswith("cuda") or " cuda" in r["engine"] else "cpu"


def precision(r):
    return "tf32" if "tf32" in r["engine"] else "fp32"


for r in rows:
    if r["engine"].startswith("pytorch"):
        ref = graph if "cuda-graph" in r["engine"] else eager
        ref.setdefault((device(r), r["batch_size"], r.get("precision", "default")), r)
        ref.setdefault((device(r), r["batch_size"], None), r)
print(f"{'engine':<66} {'batch':>5} {'train img/s':>12} {'ms/step':>8} {'epoch s':>8} {'infer img/s':>12}  train vs pytorch")
for r in rows:
    vs = []
    if not r["engine"].startswith("pytorch"):
        for name, ref in (("eager", eager), ("graph", graph)):
            p = ref.get((device(r), r["batch_size"], precision(r))) or ref.get((device(r), r["batch_size"], None))
            if p:
                label = name if " cuda" in p["engine"] else "pytorch"
                if p.get("precision", "default") not in ("default", precision(r)) or " cuda" in p["engine"] and "precision" in p:
                    label += " " + p["precision"]
                vs.append(f"{r['train_images_per_sec'] / p['train_images_per_sec']:.2f}x {label}")
    infer = r["inference_images_per_sec"]  # null: not timed (the run was stopped before)
    infer = f"{infer:>12.0f}" if infer is not None else f"{'-':>12}"
    print(f"{r['engine'][:66]:<66} {r['batch_size']:>5} {r['train_images_per_sec']:>12.0f} {r['train_step_ms']:>8.3f} "
          f"{r['epoch_seconds_60000']:>8.3f} {infer}  {', '.join(vs)}")
