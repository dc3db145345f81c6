#!/usr/bin/env python3
"""Packets a Hexagon program executes under qemu-hexagon.

    count_packets.py LOG

LOG is what `qemu-hexagon -d in_asm,exec,nochain -D LOG PROGRAM ...` wrote: each
translated block's instructions (a `{` starts a VLIW packet) and one `Trace` line per
block executed (nochain: every execution is logged). Prints the total number of packets
executed. A packet issues in one cycle when nothing stalls, so this is a lower bound on
cycles, not a timing.
"""
import re
import sys


def count(path):
    packets, cur, total = {}, None, 0
    block = re.compile(r"0x([0-9a-f]+):")
    trace = re.compile(r"Trace \d+: \S+ \[[0-9a-f]+/([0-9a-f]+)/")
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("IN:"):
                cur = None
                continue
            m = block.match(line)
            if m:
                if cur is None:
                    cur = int(m.group(1), 16)
                    packets[cur] = 0
                if "{" in line:
                    packets[cur] += 1
                continue
            m = trace.match(line)
            if m:
                pc = int(m.group(1), 16)
                if pc not in packets:
                    sys.exit(f"{path}: block 0x{pc:x} executed but never translated in the log")
                total += packets[pc]
    return total


if __name__ == "__main__":
    print(count(sys.argv[1]))
