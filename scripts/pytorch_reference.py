#!/usr/bin/env python3
"""pytorch_reference.py: the reference CNN in PyTorch, for speed comparisons
with `cnngpu bench`.

Same model (conv 3x3x32 same, ReLU, max-pool 2, conv 3x3x64 same, ReLU,
max-pool 2, dense 1000 ReLU, dense 10), same loss (softmax cross-entropy),
same optimizer (Adam, lr 0.001, eps 1e-7), same batch size, same kind of
data (random uint8 images scaled to [0,1], assembled per batch from a pool
held in memory, as cnngpu bench does). Prints one JSON object.

CPU: /usr/bin/python3 with Debian's python3-torch runs it.
    python3 scripts/pytorch_reference.py --device cpu --threads 2
"""
import argparse
import json
import os
import sys
import time
import warnings

try:
    import torch
    import torch.nn as nn
except ImportError:
    sys.exit("pytorch_reference.py needs PyTorch: pip install torch, or Debian's python3-torch (make bench-cpu and make bench-gpu print cnngpu's rows without it)")


def model():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(3136, 1000), nn.ReLU(),
        nn.Linear(1000, 10),
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--batch-sizes", default="",
                    help="comma-separated batch sizes, one JSON line each (overrides --batch-size); "
                         "one process for all saves PyTorch's start-up per size")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--graph", action="store_true",
                    help="CUDA only: capture the whole training step (capturable Adam) as a CUDA graph and replay it")
    ap.add_argument("--modes", default="",
                    help="CUDA only: comma-separated eager,graph: each mode at each batch size (overrides --graph)")
    ap.add_argument("--precisions", default="default",
                    help="CUDA only: comma-separated, each a run at each batch size and mode: "
                         "default (PyTorch's own settings: the JSON line's tf32 field says where they allow TF32), "
                         "fp32 (strict: no TF32 anywhere, as cnngpu --precision fp32), "
                         "tf32 (TF32 in products and convolutions, as cnngpu --precision tf32), "
                         "bf16 (autocast: bf16 products and convolutions, FP32 weights and accumulation)")
    a = ap.parse_args()
    sizes = [int(b) for b in a.batch_sizes.split(",")] if a.batch_sizes else [a.batch_size]
    modes = a.modes.split(",") if a.modes else (["graph"] if a.graph else ["eager"])
    precisions = a.precisions.split(",")
    for p in precisions:
        if p not in ("default", "fp32", "tf32", "bf16"):
            ap.error(f"--precisions: {p!r} is not one of default, fp32, tf32, bf16")
    defaults = tf32_settings()
    for bs in sizes:
        for mode in modes:
            for p in precisions:
                a.batch_size, a.graph, a.precision = bs, mode == "graph", p
                set_tf32(defaults if p in ("default", "bf16") else (p == "tf32", p == "tf32"))
                run(a)


def tf32_settings():
    """(products, convolutions): whether each may use TF32 now (the
    allow_tf32 flags, which PyTorch 2.x still honours; the newer
    fp32_precision settings are left alone, not to mix the two)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bool(torch.backends.cuda.matmul.allow_tf32), bool(torch.backends.cudnn.allow_tf32)


def set_tf32(s):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = s


def run(a):
    torch.manual_seed(1)
    if a.device == "cpu":
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    net = model().to(dev)
    graph = a.graph and dev.type == "cuda"
    opt = torch.optim.Adam(net.parameters(), lr=0.001, eps=1e-7, **({"capturable": True} if graph else {}))
    lossf = nn.CrossEntropyLoss()
    pool = a.batch_size * 4
    images = torch.randint(0, 256, (pool, 1, 28, 28), dtype=torch.uint8, device=dev)
    labels = torch.randint(0, 10, (pool,), device=dev)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    precision = getattr(a, "precision", "default")
    bf16 = precision == "bf16" and dev.type == "cuda"

    def forward_loss(x, y):
        # bf16: the products and convolutions in bf16 under autocast, the
        # weights FP32 (the optimizer's) and the loss FP32; no cast cache,
        # so that a captured graph casts the weights each replay.
        if bf16:
            with torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False):
                return lossf(net(x), y)
        return lossf(net(x), y)

    def train_step(i):
        lo = (i % 4) * a.batch_size
        x = images[lo:lo + a.batch_size].float() / 255
        y = labels[lo:lo + a.batch_size]
        opt.zero_grad(set_to_none=True)
        loss = forward_loss(x, y)
        loss.backward()
        opt.step()

    @torch.no_grad()
    def infer_step(i):
        lo = (i % 4) * a.batch_size
        x = images[lo:lo + a.batch_size].float() / 255
        if bf16:
            with torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False):
                net(x)
        else:
            net(x)

    def timed(step):
        for i in range(a.warmup):
            step(i)
        sync()
        t = time.perf_counter()
        for i in range(a.steps):
            step(i)
        sync()
        return time.perf_counter() - t

    if graph:
        # Static input buffers; the step reads the batch through them.
        sx = torch.empty(a.batch_size, 1, 28, 28, device=dev)
        sy = torch.empty(a.batch_size, dtype=torch.long, device=dev)

        def body():
            opt.zero_grad(set_to_none=False)
            loss = forward_loss(sx, sy)
            loss.backward()
            opt.step()

        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                sx.copy_(images[:a.batch_size].float() / 255)
                sy.copy_(labels[:a.batch_size])
                body()
        torch.cuda.current_stream().wait_stream(side)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            body()

        def graph_step(i):
            lo = (i % 4) * a.batch_size
            sx.copy_(images[lo:lo + a.batch_size].float() / 255)
            sy.copy_(labels[lo:lo + a.batch_size])
            g.replay()

        dt = timed(graph_step)
    else:
        dt = timed(train_step)
    di = timed(infer_step)
    n = a.batch_size * a.steps
    print(json.dumps({
        "engine": f"pytorch {torch.__version__} {a.device}" + (f" ({torch.get_num_threads()} threads)" if a.device == "cpu" else "")
                  + (" cuda-graph" if graph else (" eager" if dev.type == "cuda" else ""))
                  + (f" {precision}" if dev.type == "cuda" and precision != "default" else ""),
        "precision": precision if dev.type == "cuda" else "fp32",
        # Whether products and convolutions could use TF32 in this run.
        "tf32": list(tf32_settings()) if dev.type == "cuda" else [False, False],
        "batch_size": a.batch_size,
        "steps": a.steps,
        "train_images_per_sec": n / dt,
        "train_step_ms": dt * 1000 / a.steps,
        "inference_images_per_sec": n / di,
        "epoch_seconds_60000": 60000 / (n / dt),
    }))


if __name__ == "__main__":
    main()
