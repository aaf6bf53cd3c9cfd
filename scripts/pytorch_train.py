#!/usr/bin/env python3
"""pytorch_train.py: trains the reference CNN in PyTorch on the MNIST IDX
files with cnngpu's defaults (Glorot-uniform weights, zero biases, Adam eps
1e-7, batch 128, 10 epochs, per-epoch shuffle) and prints the test
accuracy, as a peer for `cnngpu train`'s accuracy.

--recipe default (cnngpu's default) adds what cnngpu's does: Adam's rate
0.003 (the reference's 0.001), the cosine
schedule (linear warm-up over the first 2% of updates to the peak rate, then
a half cosine to 0 at the last update) and each training image translated
by up to ±2 pixels with zero fill, the offsets drawn exactly as cnngpu draws
them (Philox4x32-10 keyed by the seed, counter (image index, epoch)), so the
two see the same shifted images; --recipe reference is the constant rate
without augmentation at 0.001. --lr, --schedule and --augment override a
recipe's parts.

    python3 scripts/pytorch_train.py --data ~/.cache/cnngpu/mnist --seed 1
"""
import argparse
import gzip
import json
import os
import struct
import time

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def idx(path):
    raw = open(path, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    magic, n = struct.unpack(">II", raw[:8])
    if magic == 0x803:
        return np.frombuffer(raw[16:], dtype=np.uint8).reshape(n, 1, 28, 28)
    return np.frombuffer(raw[8:], dtype=np.uint8)


M32 = np.uint64(0xFFFFFFFF)


def philox4x32_10(c0, c1, key):
    """Philox4x32-10 of counters (c0, c1, 0, 0) (arrays) under a 64-bit key;
    returns the first two output words (engine.Philox4x32)."""
    c = [c0.astype(np.uint64), c1.astype(np.uint64), np.zeros_like(c0, np.uint64), np.zeros_like(c0, np.uint64)]
    k0, k1 = np.uint64(key & 0xFFFFFFFF), np.uint64(key >> 32)
    for r in range(10):
        if r:
            k0 = (k0 + np.uint64(0x9E3779B9)) & M32
            k1 = (k1 + np.uint64(0xBB67AE85)) & M32
        p0 = np.uint64(0xD2511F53) * c[0]
        p1 = np.uint64(0xCD9E8D57) * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & M32, (p0 >> np.uint64(32)) ^ c[3] ^ k1, p0 & M32]
    return c[0], c[1]


def shift_offsets(seed, epoch, n, shift):
    """cnngpu's translation of each of n images in epoch (engine.ShiftOffsets)."""
    o0, o1 = philox4x32_10(np.arange(n, dtype=np.uint64), np.full(n, epoch, np.uint64), seed)
    m = np.uint64(2 * shift + 1)
    return (o0 % m).astype(np.int64) - shift, (o1 % m).astype(np.int64) - shift


def shifted(x, dx, dy, s):
    """Images x (B,1,28,28) translated by (dx, dy) each, zero fill:
    out[r][c] = x[r-dy][c-dx] (engine.ShiftImage)."""
    p = F.pad(x, (s, s, s, s))
    ar = torch.arange(28, device=x.device)
    rows = (ar[None, :] - dy[:, None] + s)[:, :, None]
    cols = (ar[None, :] - dx[:, None] + s)[:, None, :]
    return p[torch.arange(len(x), device=x.device)[:, None, None], 0, rows, cols].unsqueeze(1)


def lr_factor(sched, t, total):
    """The multiplier of the peak rate at update t (from 1): engine.Schedule.Factor."""
    if sched != "cosine":
        return 1.0
    warm = math.ceil(0.02 * total)
    if t <= warm:
        return t / warm
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (t - warm) / (total - warm))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.expanduser("~/.cache/cnngpu/mnist"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads")
    ap.add_argument("--recipe", choices=["default", "reference"], default="default")
    ap.add_argument("--lr", type=float, help="Adam's (peak) learning rate, overriding the recipe's")
    ap.add_argument("--schedule", choices=["constant", "cosine"], help="overrides the recipe's")
    ap.add_argument("--augment", type=int, help="translation in pixels (0: none), overrides the recipe's")
    ap.add_argument("--label-smoothing", type=float, default=0.0,
                    help="targets 1-e+e/10 and e/10 (cnngpu train --label-smoothing e; PyTorch's own, the same targets)")
    a = ap.parse_args()
    lr = a.lr if a.lr is not None else (0.003 if a.recipe == "default" else 0.001)
    sched = a.schedule or ("cosine" if a.recipe == "default" else "constant")
    shift = a.augment if a.augment is not None else (2 if a.recipe == "default" else 0)
    torch.manual_seed(a.seed)
    if a.device == "cpu":
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    f = lambda n: os.path.join(a.data, n)
    xtr = torch.tensor(idx(f("train-images-idx3-ubyte.gz")), dtype=torch.float32, device=dev) / 255
    ytr = torch.tensor(idx(f("train-labels-idx1-ubyte.gz")), dtype=torch.long, device=dev)
    xte = torch.tensor(idx(f("t10k-images-idx3-ubyte.gz")), dtype=torch.float32, device=dev) / 255
    yte = torch.tensor(idx(f("t10k-labels-idx1-ubyte.gz")), dtype=torch.long, device=dev)
    net = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 1000), nn.ReLU(), nn.Linear(1000, 10)).to(dev)
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    opt = torch.optim.Adam(net.parameters(), lr=lr, eps=1e-7)
    total = a.epochs * ((len(ytr) + 127) // 128)
    # LambdaLR's k counts the updates done, so update k+1 uses factor(k+1).
    lrs = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: lr_factor(sched, k + 1, total))
    lossf = nn.CrossEntropyLoss(label_smoothing=a.label_smoothing)
    start = time.time()
    for epoch in range(a.epochs):
        perm = torch.randperm(len(ytr), device=dev)
        if shift:
            dx, dy = shift_offsets(a.seed, epoch, len(ytr), shift)
            dx, dy = torch.tensor(dx, device=dev), torch.tensor(dy, device=dev)
        for lo in range(0, len(ytr), 128):
            b = perm[lo:lo + 128]
            x = shifted(xtr[b], dx[b], dy[b], shift) if shift else xtr[b]
            opt.zero_grad()
            lossf(net(x), ytr[b]).backward()
            opt.step()
            lrs.step()
    with torch.no_grad():
        correct = sum((net(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item() for i in range(0, len(yte), 1000))
    print(json.dumps({"engine": f"pytorch {torch.__version__} {a.device}", "seed": a.seed, "epochs": a.epochs,
                      "schedule": sched, "augment_shift": shift, "label_smoothing": a.label_smoothing,
                      "test_acc": correct / len(yte), "seconds": time.time() - start}))


if __name__ == "__main__":
    main()
