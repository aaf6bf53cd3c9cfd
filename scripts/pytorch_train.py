#!/usr/bin/env python3
"""pytorch_train.py: trains the reference CNN in PyTorch on the MNIST IDX
files with cnngpu's defaults (Glorot-uniform weights, zero biases, Adam lr
0.001 eps 1e-7, batch 128, 10 epochs, per-epoch shuffle) and prints the test
accuracy, as a peer for `cnngpu train`'s accuracy.

    python3 scripts/pytorch_train.py --data ~/.cache/cnngpu/mnist --seed 1
"""
import argparse
import gzip
import json
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn


def idx(path):
    raw = open(path, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    magic, n = struct.unpack(">II", raw[:8])
    if magic == 0x803:
        return np.frombuffer(raw[16:], dtype=np.uint8).reshape(n, 1, 28, 28)
    return np.frombuffer(raw[8:], dtype=np.uint8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.expanduser("~/.cache/cnngpu/mnist"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads")
    a = ap.parse_args()
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
    opt = torch.optim.Adam(net.parameters(), lr=0.001, eps=1e-7)
    lossf = nn.CrossEntropyLoss()
    start = time.time()
    for epoch in range(a.epochs):
        perm = torch.randperm(len(ytr), device=dev)
        for lo in range(0, len(ytr), 128):
            b = perm[lo:lo + 128]
            opt.zero_grad()
            lossf(net(xtr[b]), ytr[b]).backward()
            opt.step()
    with torch.no_grad():
        correct = sum((net(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item() for i in range(0, len(yte), 1000))
    print(json.dumps({"engine": f"pytorch {torch.__version__} {a.device}", "seed": a.seed, "epochs": a.epochs,
                      "test_acc": correct / len(yte), "seconds": time.time() - start}))


if __name__ == "__main__":
    main()
