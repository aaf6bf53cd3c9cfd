#!/usr/bin/env python3
"""bench_table.py: prints JSON lines from `cnngpu bench --json` and
pytorch_reference.py (stdin) as one table, with each row's training and
inference throughput relative to the first PyTorch row of the same batch
size."""
import json
import sys

rows = [json.loads(l) for l in sys.stdin if l.strip()]
ref = {}
for r in rows:
    if r["engine"].startswith("pytorch"):
        ref.setdefault(r["batch_size"], r)
print(f"{'engine':<52} {'batch':>5} {'train img/s':>12} {'ms/step':>8} {'epoch s':>8} {'infer img/s':>12}  vs pytorch")
for r in rows:
    p = ref.get(r["batch_size"])
    vs = ""
    if p and p is not r:
        vs = f"{r['train_images_per_sec'] / p['train_images_per_sec']:.2f}x train, {r['inference_images_per_sec'] / p['inference_images_per_sec']:.2f}x infer"
    print(f"{r['engine'][:52]:<52} {r['batch_size']:>5} {r['train_images_per_sec']:>12.0f} {r['train_step_ms']:>8.2f} "
          f"{r['epoch_seconds_60000']:>8.2f} {r['inference_images_per_sec']:>12.0f}  {vs}")
