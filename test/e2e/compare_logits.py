#!/usr/bin/env python3
"""Compares logits printed by `milm-run --logits-for` with a fixture's .ref.jsonl.

Usage: compare_logits.py REF.jsonl OURS.jsonl [--quantized]
       compare_logits.py - OURS.jsonl --against OTHER.jsonl --rtol R [--what TEXT]

The bars are those of test/fixtures/README.md:
  f32/f16:   max|diff| / rms(ref logits) <= 2e-2 on every row, and top-1 agreement on all rows;
  quantized: mean KL(ref || ours) <= 1e-2, max KL <= 5e-2, top-1 agreement on >= 28 of 32 rows.
With --against, OURS is compared with OTHER (prefill vs decode, or what --what names):
max|diff|/rms <= R per row.
Prints one summary line and exits 1 when a bar is missed.
"""
import json
import math
import sys


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                rows.append(json.loads(line))
    return rows


def softmax(xs):
    m = max(xs)
    e = [math.exp(x - m) for x in xs]
    s = sum(e)
    return [v / s for v in e]


def kl(p_logits, q_logits):
    p = softmax(p_logits)
    q = softmax(q_logits)
    return sum(pi * (math.log(pi) - math.log(max(qi, 1e-30))) for pi, qi in zip(p, q) if pi > 0)


def argmax(xs):
    return max(range(len(xs)), key=lambda i: xs[i])


def rel_err(ref, ours):
    rms = math.sqrt(sum(x * x for x in ref) / len(ref))
    return max(abs(a - b) for a, b in zip(ref, ours)) / rms


def main(argv):
    ref_path, ours_path = argv[1], argv[2]
    quantized = "--quantized" in argv
    ours = load(ours_path)
    if "--against" in argv:
        other = load(argv[argv.index("--against") + 1])
        rtol = float(argv[argv.index("--rtol") + 1])
        if len(other) != len(ours):
            print(f"FAIL: {len(ours)} rows vs {len(other)} rows")
            return 1
        worst = max(rel_err(a["logits"], b["logits"]) for a, b in zip(other, ours))
        ok = worst <= rtol
        what = argv[argv.index("--what") + 1] if "--what" in argv else "prefill vs decode"
        print(f"{'PASS' if ok else 'FAIL'}: {what} worst max|diff|/rms {worst:.3g} (bar {rtol})")
        return 0 if ok else 1
    ref = load(ref_path)
    if len(ours) != len(ref):
        print(f"FAIL: {len(ours)} rows of logits, the reference has {len(ref)}")
        return 1
    for r, o in zip(ref, ours):
        if r["input"] != o["input"] or r["pos"] != o["pos"]:
            print(f"FAIL: row pos {o['pos']} input {o['input']} does not follow the reference's "
                  f"pos {r['pos']} input {r['input']}")
            return 1
    top1 = sum(argmax(r["logits"]) == argmax(o["logits"]) for r, o in zip(ref, ours))
    kls = [kl(r["logits"], o["logits"]) for r, o in zip(ref, ours)]
    errs = [rel_err(r["logits"], o["logits"]) for r, o in zip(ref, ours)]
    mean_kl, max_kl, worst = sum(kls) / len(kls), max(kls), max(errs)
    n = len(ref)
    if quantized:
        ok = mean_kl <= 1e-2 and max_kl <= 5e-2 and top1 >= 28 * n // 32
        bar = "mean KL <= 1e-2, max KL <= 5e-2, top-1 >= 28/32"
    else:
        ok = worst <= 2e-2 and top1 == n
        bar = "max|diff|/rms <= 2e-2, top-1 32/32"
    print(f"{'PASS' if ok else 'FAIL'}: top-1 {top1}/{n}, worst max|diff|/rms {worst:.3g}, "
          f"mean KL {mean_kl:.3g}, max KL {max_kl:.3g} (bar: {bar})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
