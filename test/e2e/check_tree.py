#!/usr/bin/env python3
"""Tree-masked evaluation must give each branch's logits, bit for bit.

usage: check_tree.py OUT [--qemu] [--trees N] [--seed S]

For N random token trees (up to 12 tokens, random shapes) after a random
prefix, OUT/milm-run --logits-tree (milm_eval_tree: the attention's tree mask)
prints every token's logits; each must equal the last row of evaluating its
branch alone on the causal path (--logits-for PREFIX+BRANCH --logits-batch),
exactly. Prints PASS/FAIL; exits 1 on a failure.
"""
import argparse
import json
import random
import re
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--qemu", action="store_true")
    ap.add_argument("--trees", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    exe = [a.out + "/milm-run"]
    if a.qemu:
        exe = ["qemu-aarch64", "-cpu", "max"] + exe + ["--no-verify"]
    info = subprocess.run(exe + ["--info"], capture_output=True, text=True).stdout
    vocab = int(re.search(r"vocab (\d+)", info).group(1))
    ctx = int(re.search(r"context (\d+)", info).group(1))
    rng = random.Random(a.seed)

    def run(args):
        p = subprocess.run(exe + args, capture_output=True, text=True)
        if p.returncode != 0:
            print("FAIL: milm-run %s: %s" % (" ".join(args), p.stderr.strip()))
            sys.exit(1)
        return [json.loads(l) for l in p.stdout.splitlines()]

    nodes = worst = 0
    deepest = 0
    ok = True
    for _ in range(a.trees):
        n = rng.randint(2, 12)
        parents = [-1] + [rng.randrange(i) for i in range(1, n)]
        tokens = [rng.randrange(vocab) for _ in range(n)]
        prefix = [rng.randrange(vocab) for _ in range(rng.randint(1, min(10, ctx - 2 * n)))]
        rows = run(["--tree-prefix", " ".join(map(str, prefix)), "--logits-tree",
                    " ".join(map(str, tokens)), "--tree-parents", " ".join(map(str, parents))])
        for i in range(n):
            branch = []
            j = i
            while j >= 0:
                branch.append(tokens[j])
                j = parents[j]
            branch.reverse()
            deepest = max(deepest, len(branch))
            alone = run(["--logits-for", " ".join(map(str, prefix + branch)),
                         "--logits-batch"])[-1]["logits"]
            got = rows[i]["logits"]
            nodes += 1
            if got != alone:
                ok = False
                diff = max(abs(x - y) for x, y in zip(got, alone))
                worst = max(worst, diff)
                print("FAIL: tree token %d (branch %s after %d prefix tokens) differs from its "
                      "branch alone by up to %g" % (i, branch, len(prefix), diff))
    if ok:
        print("PASS: tree logits == each branch alone (%d tokens in %d trees, up to %d deep, "
              "bit for bit)" % (nodes, a.trees, deepest))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
