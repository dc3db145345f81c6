#!/usr/bin/env python3
"""Greedy speculative decoding must write plain greedy decoding's text.

usage: check_speculative.py OUT [--qemu] [-n N] [--prompts K] [--no-draft]

OUT is a `milmc compile ... --draft DRAFT -o OUT` folder (or, with --no-draft,
a folder without a draft: prompt lookup only). For each prompt, OUT/milm-run
writes the greedy continuation plainly and with each speculative scheme (the
draft model at several lengths, prompt lookup, both); every text must be the
plain one (token trees included: --spec-tree). The statistics lines are
summed: proposals must have been both kept and refused somewhere. One sampled run (temperature 0.8) must succeed.
Prints PASS/FAIL lines; exits 1 on a failure. --qemu runs an AArch64 build
under qemu-aarch64.
"""
import argparse
import re
import subprocess
import sys

PROMPTS = [
    # Grounded: the text repeats itself, prompt lookup finds it.
    "And God said, Let there be light: and there was light. And God said, Let there be",
    "In the beginning God created the heaven and the earth. In the beginning God created",
    # Ordinary openings.
    "And it came to pass",
    "The LORD is my shepherd",
    "Blessed are the poor in spirit",
    "Now the serpent was more subtil",
]

STATS = re.compile(r"milm: speculative \(([^)]*)\): drafted (\d+), accepted (\d+)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--qemu", action="store_true")
    ap.add_argument("-n", type=int, default=64)
    ap.add_argument("--prompts", type=int, default=len(PROMPTS))
    ap.add_argument("--no-draft", action="store_true")
    a = ap.parse_args()
    exe = [a.out + "/milm-run"]
    if a.qemu:  # the checksums are checked natively; emulated, they cost seconds a run
        exe = ["qemu-aarch64", "-cpu", "max"] + exe + ["--no-verify"]
    schemes = [["--lookup"], ["--lookup", "--draft", "3", "--draft-fixed"],
               ["--lookup", "--spec-tree", "4"]]
    if not a.no_draft:
        schemes = [["--draft", "8"],
                   ["--draft", "3", "--draft-fixed", "--draft-p-min", "0"],
                   ["--draft", "16", "--draft-p-min", "0"],
                   ["--lookup", "--draft", "6"],
                   ["--draft", "4", "--spec-tree", "2", "--draft-p-min", "0"],
                   ["--lookup", "--draft", "4", "--spec-tree", "3"]] + schemes[:1]

    def run(args):
        # Text as bytes: a random-weight model writes pieces of UTF-8 characters.
        p = subprocess.run(exe + ["-n", str(a.n), "--temp", "0", "--no-display-prompt"] + args,
                           capture_output=True)
        err = p.stderr.decode("utf-8", "replace")
        if p.returncode != 0:
            print("FAIL: milm-run %s exited %d: %s" % (" ".join(args), p.returncode, err.strip()))
            sys.exit(1)
        return p.stdout, err

    runs = drafted = accepted = 0
    ok = True
    for prompt in PROMPTS[:a.prompts]:
        plain, _ = run(["-p", prompt])
        for s in schemes:
            text, err = run(["-p", prompt] + s)
            m = STATS.search(err)
            if not m:
                print("FAIL: no statistics line from %s: %s" % (" ".join(s), err.strip()))
                ok = False
                continue
            runs += 1
            drafted += int(m.group(2))
            accepted += int(m.group(3))
            if text != plain:
                ok = False
                print("FAIL: %s on %r differs from plain greedy decoding:\n  plain: %r\n  spec:  %r"
                      % (" ".join(s), prompt, plain, text))
    if ok:
        print("PASS: greedy speculative == plain (%d runs, drafted %d, accepted %d)"
              % (runs, drafted, accepted))
    if 0 < accepted < drafted:
        print("PASS: proposals both kept and refused")
    else:
        ok = False
        print("FAIL: drafted %d, accepted %d: the check needs both kept and refused proposals"
              % (drafted, accepted))
    sampled = ["--draft", "4"] if not a.no_draft else ["--lookup"]
    p = subprocess.run(exe + ["-p", PROMPTS[0], "-n", "24", "--temp", "0.8", "--seed", "5"]
                       + sampled, capture_output=True)
    err = p.stderr.decode("utf-8", "replace")
    if p.returncode == 0 and STATS.search(err):
        print("PASS: sampled speculative run")
    else:
        ok = False
        print("FAIL: sampled speculative run exited %d: %s" % (p.returncode, err.strip()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
