#!/usr/bin/env python3
"""bench_table.py: prints JSON lines from `cnngpu bench --json` and
pytorch_reference.py (stdin) as one table. Each cnngpu row carries its
training throughput relative to PyTorch at the same batch size: to
PyTorch's first row (eager on a GPU) and, when present, to its CUDA-graph
row (its best)."""
import json
import sys

rows = [json.loads(l) for l in sys.stdin if l.strip().startswith("{")]
eager, graph = {}, {}
for r in rows:
    if r["engine"].startswith("pytorch"):
        (graph if "cuda-graph" in r["engine"] else eager).setdefault(r["batch_size"], r)
print(f"{'engine':<66} {'batch':>5} {'train img/s':>12} {'ms/step':>8} {'epoch s':>8} {'infer img/s':>12}  train vs pytorch")
for r in rows:
    vs = []
    if not r["engine"].startswith("pytorch"):
        for name, ref in (("eager", eager), ("graph", graph)):
            p = ref.get(r["batch_size"])
            if p:
                label = name if " cuda" in p["engine"] else "pytorch"
                vs.append(f"{r['train_images_per_sec'] / p['train_images_per_sec']:.2f}x {label}")
    print(f"{r['engine'][:66]:<66} {r['batch_size']:>5} {r['train_images_per_sec']:>12.0f} {r['train_step_ms']:>8.3f} "
          f"{r['epoch_seconds_60000']:>8.3f} {r['inference_images_per_sec']:>12.0f}  {', '.join(vs)}")
