#!/usr/bin/env python3
"""Prints "name format" for every weight, sorted by name, from milm IR (the
`milm.weight "NAME" ... : !milm.weight<SHAPExFORMAT>` lines) or from the table
of `milmc inspect` (NAME FORMAT SHAPE OFFSET BYTES), read on standard input, so
that two listings can be compared with diff.

    weight_formats.py < model.mlir
    milmc inspect model.gguf | weight_formats.py
"""
import re
import sys

IR = re.compile(r'milm\.weight "([^"]+)".*: !milm\.weight<(?:\d+x)*([a-z0-9_]+)>')
TABLE = re.compile(r"^(\S+\.weight)\s+([a-z0-9_]+)\s+[0-9x]+\s+")
seen = {}
for line in sys.stdin:
    m = IR.search(line) or TABLE.match(line)
    if m:
        seen[m.group(1)] = m.group(2)
if not seen:
    sys.exit("weight_formats.py: no weights in the input")
for name in sorted(seen):
    print(name, seen[name])
