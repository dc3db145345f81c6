#!/usr/bin/env python3
"""Checks milm-run --perplexity's result line against a training script's
float64 reference (models/<model>.ppl.json, from scripts/train_model.py).

    check_perplexity.py RESULT.txt REF.ppl.json [--tolerance 0.005]

RESULT.txt holds milm-run's line "perplexity: P +/- E (W windows of N tokens,
S tokens scored)". The windows, window size and scored count must equal the
reference's, and |P / ref - 1| must be at most the tolerance (default 0.5%).
Prints one PASS/FAIL line; exits 1 on FAIL.
"""
import json
import re
import sys


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    tol = 0.005
    if "--tolerance" in argv:
        tol = float(argv[argv.index("--tolerance") + 1])
        args.remove(argv[argv.index("--tolerance") + 1])
    result_path, ref_path = args
    text = open(result_path).read()
    m = re.search(r"perplexity: ([0-9.]+) \+/- ([0-9.]+) \((\d+) windows of (\d+) tokens, "
                  r"(\d+) tokens scored\)", text)
    if not m:
        print(f"FAIL: no perplexity line in {result_path}")
        return 1
    ppl, err = float(m.group(1)), float(m.group(2))
    windows, window, scored = int(m.group(3)), int(m.group(4)), int(m.group(5))
    ref = json.load(open(ref_path))
    if (windows, window, scored) != (ref["chunks"], ref["ctx"], ref["scored"]):
        print(f"FAIL: milm scored {windows} windows of {window} ({scored} tokens), the reference "
              f"{ref['chunks']} of {ref['ctx']} ({ref['scored']})")
        return 1
    rel = ppl / ref["ppl"] - 1
    ok = abs(rel) <= tol
    print(f"{'PASS' if ok else 'FAIL'}: perplexity {ppl:.4f} +/- {err:.4f}, float64 reference "
          f"{ref['ppl']:.4f}: {100 * rel:+.3f}% (bar {100 * tol:.1f}%)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
