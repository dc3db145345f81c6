#!/usr/bin/env python3
"""Writes models/kjv-calibration.txt, the calibration text of the quantization
passes: the KJV chapters c with c % 50 == 25 (24 chapters, one verse a line),
which the trained models did train on and which are disjoint from the held-out
chapters (c % 50 == 0, models/kjv-heldout.txt) that every quality figure is
measured on. Needs Debian's bible-kjv (scripts/train_model.sh installs it).

    python3 scripts/calibration_text.py [-o models/kjv-calibration.txt]
"""
import argparse
import hashlib
import re
import subprocess


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", default="models/kjv-calibration.txt")
    args = ap.parse_args()
    raw = subprocess.run(["bible", "-l0", "gen1:1-rev22:21"], check=True,
                         stdout=subprocess.PIPE).stdout.decode("ascii")
    verses, chapters = [], []
    for line in raw.splitlines():
        m = re.match(r"^\s+(\d+) (.*\S)\s*$", line)
        if m:
            if m.group(1) == "1":
                chapters.append(len(verses))
            verses.append(m.group(2))
    if len(verses) != 31102:
        raise SystemExit(f"expected the 31102 verses of the KJV, got {len(verses)}")
    bounds = chapters + [len(verses)]
    picked = [c for c in range(len(chapters)) if c % 50 == 25]
    text = "".join(v + "\n" for c in picked for v in verses[bounds[c]:bounds[c + 1]])
    with open(args.o, "w") as f:
        f.write(text)
    print(f"{args.o}: {len(picked)} chapters, {len(text)} bytes, "
          f"sha256 {hashlib.sha256(text.encode()).hexdigest()}")


if __name__ == "__main__":
    main()
