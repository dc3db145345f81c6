"""Reads row ROW of weight NAME (as milm IR references it: a file and a byte
offset) and checks it is a symmetric 4-bit row: at most 16 distinct values,
each an integer multiple (-8..7) of one scale.

The weight is f32 (a simulated scheme) or in one of milm's 4-bit storage
formats (q4_g256, q4_g128, q4_0: an f16 scale and 4-bit codes per block,
decoded here from the bytes); for those it also prints the distinct block
scales of the row ("block scales: N"), one for a per-channel row.

With --outliers N (milm-split-outliers' rows), up to N columns may hold other
values (the columns kept in f16): the scale is the one, among |v|/8 for the
row's values v, that leaves the fewest columns off its grid, and at most N
may be.

A q4_1 row (an -asym scheme stored exactly) is checked per group instead:
with --group G (0: the whole row), every 32-value block of a group must carry
the same (d, m) and the group at most 16 levels."""
import re
import struct
import sys

args = sys.argv[1:]
outliers = 0
if "--outliers" in args:
    i = args.index("--outliers")
    outliers = int(args[i + 1])
    del args[i:i + 2]
group = None
if "--group" in args:
    i = args.index("--group")
    group = int(args[i + 1])
    del args[i:i + 2]
ir, name, row = args[0], args[1], int(args[2])
m = re.search(r'milm.weight "%s" from "([^"]+)" at (\d+)(?: \{[^}]*\})? : '
              r'!milm.weight<(\d+)x(\d+)x(f32|q4_g256|q4_g128|q4_g64|q4_0|q4_1)>'
              % re.escape(name), open(ir).read())
if not m:
    sys.exit(f"{name}: no f32 or 4-bit weight in a file in {ir}")
path, off, k, fmt = m.group(1), int(m.group(2)), int(m.group(4)), m.group(5)
scales = None
if fmt == "q4_1":
    span = group or k
    with open(path, "rb") as f:
        f.seek(off + row * (k // 32) * 20)
        raw = f.read((k // 32) * 20)
    shared, levels = True, 0
    for g0 in range(0, k // 32, span // 32):
        blocks = [raw[20 * b:20 * b + 20] for b in range(g0, g0 + span // 32)]
        shared = shared and len(set(b[:4] for b in blocks)) == 1
        d, mn = struct.unpack("<ee", blocks[0][:4])
        vals = set()
        for b in blocks:
            vals |= {d * (q & 15) + mn for q in b[4:]} | {d * (q >> 4) + mn for q in b[4:]}
        levels = max(levels, len(vals))
    print(f"format q4_1, one (d, m) per group of {span}: " + ("ok" if shared else "no"))
    print("levels per group <= 16: " + ("ok" if levels <= 16 else f"{levels}"))
    sys.exit(0)
with open(path, "rb") as f:
    if fmt == "f32":
        f.seek(off + row * k * 4)
        vals = struct.unpack(f"<{k}f", f.read(k * 4))
    else:
        block = {"q4_g256": 256, "q4_g128": 128, "q4_g64": 64, "q4_0": 32}[fmt]
        block_bytes = 2 + block // 2
        f.seek(off + row * (k // block) * block_bytes)
        raw = f.read((k // block) * block_bytes)
        vals, scales = [], set()
        for b in range(k // block):
            blk = raw[b * block_bytes:(b + 1) * block_bytes]
            d = struct.unpack("<e", blk[:2])[0]
            scales.add(d)
            qs = blk[2:]
            for s in range(block // 32):
                sub = qs[16 * s:16 * s + 16]
                vals += [d * ((q & 15) - 8) for q in sub] + [d * ((q >> 4) - 8) for q in sub]


def on_grid(v, scale):
    q = v / scale
    return abs(q - round(q)) < 1e-3 and -8 <= round(q) <= 8


# The scale: |extreme| / 8 for the body's extreme, which is one of the values;
# the candidate that leaves the fewest columns off its grid.
best = None
for cand in set(abs(v) for v in vals if v != 0):
    scale = cand / 8
    off_cols = sum(1 for v in vals if not on_grid(v, scale))
    if best is None or off_cols < best[0]:
        best = (off_cols, scale)
off_grid, scale = best if best else (0, 0)
body = set(v for v in vals if scale and on_grid(v, scale))
if outliers:
    print(f"columns off the body's grid: {off_grid} of at most {outliers}")
print("levels <= 16: " + ("ok" if len(body) <= 16 and off_grid <= outliers
                          else f"{len(set(vals))} levels, {off_grid} off the grid"))
print("one scale: " + ("ok" if scale > 0 and off_grid <= outliers else "no"))
if scales is not None:
    print(f"format {fmt}, block scales: {len(scales)}")
