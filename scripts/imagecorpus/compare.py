#!/usr/bin/env python3
"""Compare how two builds of cnngpu prepare the image corpus that
scripts/imagecorpus writes: per family, the share of digits read right
and refused by each, and of non-digits refused; and how many reads of
each are unsure (the digit under even odds, as cnngpu marks them).

Usage: compare.py MANIFEST A.jsonl B.jsonl (each the output of
cnngpu predict --json over the manifest's files; A and B name the
columns after their file names)."""
import collections
import json
import os
import sys


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    manifest, runs = sys.argv[1], sys.argv[2:]
    man, order = {}, []
    for line in open(manifest):
        path, fam, label, _pos, _desc = line.rstrip("\n").split("\t")
        man[path] = (fam, int(label))
        if fam not in order:
            order.append(fam)
    res, prob = [], []
    for run in runs:
        got, pr = {}, {}
        for line in open(run):
            o = json.loads(line)
            got[o["file"]] = "R" if "error" in o else o["digit"]
            # (Builds before the mark have the probability alone.)
            pr[o["file"]] = o.get("probability", 1.0)
        missing = set(man) - set(got)
        if missing:
            sys.exit(f"{run}: no result for {len(missing)} files, e.g. {sorted(missing)[0]}")
        res.append(got)
        prob.append(pr)
    a, b = (os.path.splitext(os.path.basename(r))[0] for r in runs)

    def state(r, p):
        v, label = r[p], man[p][1]
        return "R" if v == "R" else ("C" if v == label else "W")

    print(f"{'family':16s} {'n':>4s} | {a + ' right':>12s} {b + ' right':>12s} | {a + ' refused':>12s} {b + ' refused':>12s}")
    for fam in order:
        if fam.startswith("X_"):
            continue
        ps = [p for p in man if man[p][0] == fam]
        c = [collections.Counter(state(r, p) for p in ps) for r in res]
        pc = lambda k, i: 100 * c[i][k] / len(ps)
        print(f"{fam:16s} {len(ps):4d} | {pc('C', 0):11.1f}% {pc('C', 1):11.1f}% | {pc('R', 0):11.1f}% {pc('R', 1):11.1f}%")
    unsure = lambda i, p: res[i][p] != "R" and prob[i][p] < 0.5
    digits = [p for p in man if not man[p][0].startswith("X_")]
    for i, name in enumerate((a, b)):
        read = [p for p in digits if res[i][p] != "R"]
        un = [p for p in read if unsure(i, p)]
        right = lambda ps: sum(state(res[i], p) == "C" for p in ps)
        sure = len(read) - len(un)
        print(f"{name}: of {len(read)} digits read, {len(un)} unsure ({right(un)} of them right); "
              f"the other {sure}: {100 * right(set(read) - set(un)) / max(1, sure):.2f}% right")
    print()
    allx = [p for p in man if man[p][0].startswith("X_")]
    for fam in order + ["all non-digits"]:
        if fam != "all non-digits" and not fam.startswith("X_"):
            continue
        ps = allx if fam == "all non-digits" else [p for p in man if man[p][0] == fam]
        ref = [100 * sum(r[p] == "R" for p in ps) / len(ps) for r in res]
        un = [100 * sum(unsure(i, p) for p in ps) / len(ps) for i in range(2)]
        print(f"{fam:16s} {len(ps):4d} | refused: {a} {ref[0]:5.1f}%  {b} {ref[1]:5.1f}% | unsure: {a} {un[0]:5.1f}%  {b} {un[1]:5.1f}%")


if __name__ == "__main__":
    main()
