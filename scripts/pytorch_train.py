#!/usr/bin/env python3
"""pytorch_train.py: trains the reference CNN in PyTorch on the MNIST IDX
files with cnngpu's defaults (Glorot-uniform weights, zero biases, Adam eps
1e-7, batch 128, 10 epochs, per-epoch shuffle) and prints the test
accuracy, as a peer for `cnngpu train`'s accuracy.

--recipe default (cnngpu's default) adds what cnngpu's does: Adam's rate
0.003 (the reference's 0.001), the cosine
schedule (linear warm-up over the first 2% of updates to the peak rate, then
a half cosine to 0 at the last update), each training image turned by up to
±10°, resized by up to ±10% and translated by up to ±2 pixels (bilinear, zero
fill), the draws exactly as cnngpu makes them (Philox4x32-10 keyed by the
seed, counter (image index, epoch)) and the images computed in the same
float32 operations (engine.WarpImage: the same bits), so the two see the
same images (computed on the host with NumPy, about 12 s an epoch on a
2-core VM: for comparing accuracy, not speed), and targets smoothed by
0.1; --recipe reference is the
constant rate without augmentation at 0.001 and one-hot targets. --lr,
--schedule, --augment (cnngpu's spelling: none, or shift[:N], rotate:D,
scale:F joined by commas) and --label-smoothing override a recipe's parts.
(cnngpu's default before 2026-12-05, whose PyTorch runs docs/accuracy.md
gives: --augment shift:2 --label-smoothing 0.)

    python3 scripts/pytorch_train.py --data ~/.cache/cnngpu/mnist --seed 1

--warp-check SRC DST (numpy alone, no PyTorch) writes to DST the float32
images of SRC's uint8 28×28 ones warped as --augment, --seed and
--warp-epoch say, image i drawn as dataset image i: engine's
TestPyTorchScriptWarp holds them to engine.WarpImage, bit for bit.
"""
import argparse
import gzip
import json
import os
import re
import struct
import zlib
import time

import math
import sys

try:
    import numpy as np
except ImportError:
    sys.exit("pytorch_train.py needs NumPy (and PyTorch to train): pip install numpy torch, or Debian's python3-numpy and python3-torch")


def idx(path):
    """The IDX file at path (gzipped or raw): images (n, 1, 28, 28) or
    labels (n), uint8; a file that is not one ends the script with a
    message naming it."""
    def bad(what):
        raise SystemExit(f"pytorch_train.py: {path}: {what}; expected an MNIST IDX file, gzipped or raw "
                         "(cnngpu data fetch writes checked copies)")
    try:
        raw = open(path, "rb").read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        bad(str(e))
    if len(raw) < 8:
        bad(f"{len(raw)} bytes")
    magic, n = struct.unpack(">II", raw[:8])
    if magic == 0x803:
        if len(raw) < 16 or struct.unpack(">II", raw[8:16]) != (28, 28):
            bad("not 28×28 images")
        if len(raw) != 16 + n * 784:
            bad(f"{len(raw) - 16} bytes of pixels for {n} images of 28×28")
        return np.frombuffer(raw[16:], dtype=np.uint8).reshape(n, 1, 28, 28)
    if magic == 0x801:
        if len(raw) != 8 + n:
            bad(f"{len(raw) - 8} bytes of labels for {n}")
        return np.frombuffer(raw[8:], dtype=np.uint8)
    bad(f"magic number {magic:#x}")


def load_mnist(folder):
    """MNIST's four files in folder (each NAME.gz or NAME, as cnngpu's
    --data takes them): training images and labels, test images and
    labels; what is missing or wrong ends the script with a message."""
    if not os.path.isdir(folder):
        raise SystemExit(f"pytorch_train.py: --data {folder}: not a folder; give the folder that holds the MNIST IDX files "
                         "(cnngpu data fetch --dir FOLDER fetches them; cnngpu's cache is $XDG_CACHE_HOME/cnngpu/mnist, else ~/.cache/cnngpu/mnist)")
    out = []
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        path = next((p for p in (os.path.join(folder, name + ".gz"), os.path.join(folder, name)) if os.path.isfile(p)), None)
        if path is None:
            raise SystemExit(f"pytorch_train.py: --data {folder}: holds no {name}.gz or {name}; "
                             f"fetch checked copies with cnngpu data fetch --dir {folder}")
        out.append(idx(path))
    for x, y, what in ((out[0], out[1], "training"), (out[2], out[3], "test")):
        if x.ndim != 4 or y.ndim != 1:
            raise SystemExit(f"pytorch_train.py: --data {folder}: its {what} images and labels are swapped or not MNIST's")
        if len(x) != len(y) or len(x) == 0:
            raise SystemExit(f"pytorch_train.py: --data {folder}: {len(x)} {what} images and {len(y)} labels; expected as many, at least one")
        if y.max() > 9:
            raise SystemExit(f"pytorch_train.py: --data {folder}: a {what} label is {y.max()}; expected 0 to 9")
    return out


M32 = np.uint64(0xFFFFFFFF)


def philox4x32_10(c0, c1, key):
    """Philox4x32-10 of counters (c0, c1, 0, 0) (arrays) under a 64-bit key;
    returns the four output words (engine.Philox4x32)."""
    c = [c0.astype(np.uint64), c1.astype(np.uint64), np.zeros_like(c0, np.uint64), np.zeros_like(c0, np.uint64)]
    k0, k1 = np.uint64(key & 0xFFFFFFFF), np.uint64(key >> 32)
    for r in range(10):
        if r:
            k0 = (k0 + np.uint64(0x9E3779B9)) & M32
            k1 = (k1 + np.uint64(0xBB67AE85)) & M32
        p0 = np.uint64(0xD2511F53) * c[0]
        p1 = np.uint64(0xCD9E8D57) * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & M32, (p0 >> np.uint64(32)) ^ c[3] ^ k1, p0 & M32]
    return c


def shift_offsets(seed, epoch, n, shift, words=None):
    """cnngpu's translation of each of n images in epoch (engine.ShiftOffsets)."""
    o = words if words is not None else philox4x32_10(np.arange(n, dtype=np.uint64), np.full(n, epoch, np.uint64), seed)
    m = np.uint64(2 * shift + 1)
    return (o[0] % m).astype(np.int64) - shift, (o[1] % m).astype(np.int64) - shift


PLAIN = re.compile(r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)\Z", re.ASCII)  # engine's plainDecimal
DIGITS = re.compile(r"^[0-9]+\Z", re.ASCII)


def parse_augment(s):
    """cnngpu's --augment spelling, as engine.ParseAugment takes it: "none",
    or shift[:N] (1 to 7; bare: 2), rotate:D (above 0, up to 45) and
    scale:F (above 0, up to 0.25) joined by commas, each at most once;
    returns (shift, rotate degrees, scale fraction). A bare whole number
    of pixels from 0 to 7 is a shift, as this script's --augment took it
    before."""
    def refuse(what):
        raise SystemExit(f"pytorch_train.py: --augment {s!r}: {what}; expected none, or shift[:N] (1 to 7), "
                         "rotate:D (up to 45), scale:F (up to 0.25) joined by commas, e.g. shift:2,rotate:10,scale:0.1")
    if DIGITS.match(s.strip(" ")):
        if not 0 <= int(s) <= 7:
            refuse("a shift of 0 to 7 pixels")
        return int(s), 0.0, 0.0
    shift, rot, scale = 0, 0.0, 0.0
    if s == "none":
        return shift, rot, scale
    seen = set()
    for part in s.split(","):
        name, colon, val = (x.strip(" \t\n\r\v\f") for x in part.partition(":"))
        if name in seen:
            refuse(f"{name} given twice")
        seen.add(name)
        if name == "shift":
            if colon and not (DIGITS.match(val) and 1 <= int(val) <= 7):
                refuse("the shift must be a whole number of pixels from 1 to 7")
            shift = int(val) if colon else 2
        elif name in ("rotate", "scale"):
            top = 45 if name == "rotate" else 0.25
            if not (PLAIN.match(val) and 0 < float(val) <= top):
                refuse(f"{name} must be a plain number above 0 and up to {top}")
            bound = math.tan(float(val) * math.pi / 360) if name == "rotate" else float(val)
            if F32(bound) == 0:
                refuse(f"{name}:{val} is too small to turn or resize anything")
            if name == "rotate":
                rot = float(val)
            else:
                scale = float(val)
        else:
            refuse(f"unknown part {name!r}")
    return shift, rot, scale


F32 = np.float32


def warp_params(seed, epoch, n, shift, rot, scale):
    """engine.DrawWarp for dataset images 0..n-1 in epoch: (dx, dy) as
    ShiftOffsets (none without a shift), and the turn's cosine and sine and
    the scale's inverse from the third and fourth Philox words, in the same
    float32 operations (numpy rounds each: none is fused)."""
    o = philox4x32_10(np.arange(n, dtype=np.uint64), np.full(n, epoch, np.uint64), seed)
    dx = dy = np.zeros(n, np.int64)
    if shift:
        dx, dy = shift_offsets(seed, epoch, n, shift, o)
    tmax, smax = F32(math.tan(rot * math.pi / 360)), F32(scale)
    two_u = lambda w: (w >> np.uint64(8)).astype(F32) * F32(2.0 ** -23)
    one = F32(1)
    t = tmax * (two_u(o[2]) - one)
    t2 = t * t
    den = one + t2
    cos, sin = (one - t2) / den, (F32(2) * t) / den
    inv = one / (one + smax * (two_u(o[3]) - one))
    return dx, dy, cos, sin, inv


def warped(x, dx, dy, cos, sin, inv):
    """engine.WarpImage of uint8 images x (B,S,S), each by its own draw:
    float32 images (B,S,S) in [0, 1], each pixel the bilinear sample of
    the source's four nearest pixels (0 outside), the same bits."""
    b, side = x.shape[0], x.shape[1]
    ctr = F32(side - 1) / F32(2)
    one = F32(1)
    r = np.arange(side)
    py = (r[None, :] - dy[:, None]).astype(F32) - ctr  # (B,S): rows
    px = (r[None, :] - dx[:, None]).astype(F32) - ctr  # (B,S): columns
    c, s, v = cos[:, None, None], sin[:, None, None], inv[:, None, None]
    cy, sy0 = c * py[:, :, None], s * py[:, :, None]
    sy = (cy - s * px[:, None, :]) * v + ctr
    sx = (sy0 + c * px[:, None, :]) * v + ctr
    y0, x0 = np.floor(sy), np.floor(sx)
    fy, fx = sy - y0, sx - x0
    iy, ix = y0.astype(np.int64), x0.astype(np.int64)
    gy, gx = one - fy, one - fx
    # 0 outside: a border of one pixel, which coordinates beyond it read
    # too (clipped), from the flattened images by index.
    w = side + 2
    pad = np.zeros((b, w, w), F32)
    pad[:, 1:-1, 1:-1] = x
    flat = pad.reshape(-1)
    base = (np.arange(b) * (w * w))[:, None, None]
    y1, y2 = np.clip(iy + 1, 0, w - 1) * w + base, np.clip(iy + 2, 0, w - 1) * w + base
    x1, x2 = np.clip(ix + 1, 0, w - 1), np.clip(ix + 2, 0, w - 1)
    top = gx * flat.take(y1 + x1) + fx * flat.take(y1 + x2)
    bot = gx * flat.take(y2 + x1) + fx * flat.take(y2 + x2)
    return (gy * top + fy * bot) / F32(255)


def shifted(x, dx, dy, s):
    """Images x (B,1,28,28) translated by (dx, dy) each, zero fill:
    out[r][c] = x[r-dy][c-dx] (engine.ShiftImage)."""
    import torch
    import torch.nn.functional as F
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


def warp_check(a, shift, rot, scale):
    """--warp-check SRC DST: SRC's uint8 28×28 images warped (warp_params,
    warped) into DST as little-endian float32."""
    src, dst = a.warp_check
    try:
        x = np.fromfile(src, np.uint8)
    except OSError as e:
        raise SystemExit(f"pytorch_train.py: --warp-check: {e}")
    if len(x) == 0 or len(x) % 784:
        raise SystemExit(f"pytorch_train.py: --warp-check {src}: {len(x)} bytes, expected a whole number (at least one) of 28×28 uint8 images")
    x = x.reshape(-1, 28, 28)
    out = warped(x, *warp_params(a.seed, a.warp_epoch, len(x), shift, rot, scale))
    try:
        out.astype("<f4").tofile(dst)
    except OSError as e:
        raise SystemExit(f"pytorch_train.py: --warp-check: {e}")


def main():
    ap = argparse.ArgumentParser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    cache = xdg if os.path.isabs(xdg) else os.path.expanduser("~/.cache")  # as cnngpu's: a relative one is not used
    ap.add_argument("--data", default=os.path.join(cache, "cnngpu", "mnist"), help="the MNIST folder (default: cnngpu's cache)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--device", help="cuda where PyTorch has it, else cpu")
    ap.add_argument("--threads", type=int, default=min(os.cpu_count() or 1, 1024), help="CPU threads")
    ap.add_argument("--recipe", choices=["default", "reference"], default="default")
    ap.add_argument("--lr", type=float, help="Adam's (peak) learning rate, overriding the recipe's")
    ap.add_argument("--schedule", choices=["constant", "cosine"], help="overrides the recipe's")
    ap.add_argument("--augment", help="cnngpu's spelling (shift:2,rotate:10,scale:0.1; none), overriding the recipe's")
    ap.add_argument("--label-smoothing", type=float,
                    help="targets 1-e+e/10 and e/10 (cnngpu train --label-smoothing e; PyTorch's own, the same targets), overriding the recipe's")
    ap.add_argument("--warp-check", nargs=2, metavar=("SRC", "DST"), help=argparse.SUPPRESS)
    ap.add_argument("--warp-epoch", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if not 0 <= a.seed < 1 << 64:
        ap.error(f"--seed {a.seed}: expected 0 to 2^64-1, as cnngpu's")
    if a.label_smoothing is not None and not 0 <= a.label_smoothing <= 0.5:
        ap.error(f"--label-smoothing {a.label_smoothing}: expected 0 to 0.5, as cnngpu's")
    if not 1 <= a.epochs <= 10000:
        ap.error(f"--epochs {a.epochs}: expected 1 to 10000")
    if a.lr is not None and not (0 < a.lr < math.inf):
        ap.error(f"--lr {a.lr}: expected a positive finite rate, as cnngpu's")
    if not 1 <= a.threads <= 1024:
        ap.error(f"--threads {a.threads}: expected 1 to 1024")
    if a.warp_epoch < 0:
        ap.error(f"--warp-epoch {a.warp_epoch}: expected 0 or more")
    if a.augment is not None and not a.augment.strip():
        ap.error("--augment: empty; expected none, or cnngpu's spelling (shift:2,rotate:10,scale:0.1)")
    default = a.recipe == "default"
    lr = a.lr if a.lr is not None else (0.003 if default else 0.001)
    sched = a.schedule or ("cosine" if default else "constant")
    shift, rot, scale = parse_augment(a.augment if a.augment is not None else ("shift:2,rotate:10,scale:0.1" if default else "none"))
    ls = a.label_smoothing if a.label_smoothing is not None else (0.1 if default else 0.0)
    if a.warp_check:
        return warp_check(a, shift, rot, scale)
    # The data is read and checked before PyTorch is imported (seconds),
    # so that a wrong --data is said at once.
    raw, labels, test, test_labels = load_mnist(a.data)
    try:
        import torch
        import torch.nn as nn
    except ImportError as e:
        raise SystemExit(f"pytorch_train.py: {e}: training needs PyTorch (pip install torch); --warp-check needs NumPy alone")

    warp = F32(math.tan(rot * math.pi / 360)) > 0 or F32(scale) > 0
    try:
        dev = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        torch.empty(1, device=dev)
    except (RuntimeError, AssertionError) as e:
        raise SystemExit(f"pytorch_train.py: --device {a.device}: {e}; expected cpu, cuda or cuda:N with PyTorch's CUDA there")
    torch.manual_seed(a.seed)
    if dev.type == "cpu":
        torch.set_num_threads(a.threads)
    xtr = torch.tensor(raw, dtype=torch.float32, device=dev) / 255
    ytr = torch.tensor(labels, dtype=torch.long, device=dev)
    xte = torch.tensor(test, dtype=torch.float32, device=dev) / 255
    yte = torch.tensor(test_labels, dtype=torch.long, device=dev)
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
    lossf = nn.CrossEntropyLoss(label_smoothing=ls)
    start = time.time()
    for epoch in range(a.epochs):
        perm = torch.randperm(len(ytr), device=dev)
        if warp:
            # The epoch's images, each by its own draw, computed on the
            # host in chunks (the same bits as cnngpu's Gather).
            params = warp_params(a.seed, epoch, len(ytr), shift, rot, scale)
            xep = torch.cat([torch.from_numpy(warped(raw[i:i + 10000, 0], *(p[i:i + 10000] for p in params)))
                             for i in range(0, len(ytr), 10000)]).unsqueeze(1).to(dev)
        elif shift:
            dx, dy = shift_offsets(a.seed, epoch, len(ytr), shift)
            dx, dy = torch.tensor(dx, device=dev), torch.tensor(dy, device=dev)
        for lo in range(0, len(ytr), 128):
            b = perm[lo:lo + 128]
            if warp:
                x = xep[b]
            else:
                x = shifted(xtr[b], dx[b], dy[b], shift) if shift else xtr[b]
            opt.zero_grad()
            lossf(net(x), ytr[b]).backward()
            opt.step()
            lrs.step()
    with torch.no_grad():
        correct = sum((net(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item() for i in range(0, len(yte), 1000))
    print(json.dumps({"engine": f"pytorch {torch.__version__} {dev.type}", "seed": a.seed, "epochs": a.epochs,
                      "schedule": sched, "augment_shift": shift, "augment_rotate": rot, "augment_scale": scale,
                      "label_smoothing": ls, "test_acc": correct / len(yte), "seconds": time.time() - start}))


if __name__ == "__main__":
    main()
