#!/usr/bin/env python3
"""Greedy ids against teacher-forced logits.

    check_greedy_ids.py "PROMPT IDS" GENERATED.txt LOGITS.jsonl

GENERATED.txt holds the ids greedy decoding appended to the prompt (one line,
`milm-run-hexagon --generate`); LOGITS.jsonl the logits of prompt + generated
ids (`--logits-for`, one JSON line per id, from any build). Pick k must be the
argmax of row len(prompt) - 1 + k. Prints one PASS/FAIL line; exits 1 on FAIL.
"""
import json
import sys


def main(argv):
    prompt = [int(x) for x in argv[1].replace(",", " ").split()]
    gen = [int(x) for x in open(argv[2]).read().split()]
    rows = [json.loads(l)["logits"] for l in open(argv[3]) if l.startswith("{")]
    if not gen:
        print("FAIL: no generated ids")
        return 1
    for k, g in enumerate(gen):
        r = len(prompt) - 1 + k
        if r >= len(rows):
            print(f"FAIL: {len(rows)} rows of logits for {len(prompt)} + {len(gen)} ids")
            return 1
        best = max(range(len(rows[r])), key=lambda i: rows[r][i])
        if best != g:
            print(f"FAIL: pick {k} is {g}, the argmax of row {r} is {best}")
            return 1
    print(f"PASS: {len(gen)} greedy picks are the argmax of the teacher-forced logits")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
