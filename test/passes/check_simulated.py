"""Reads row ROW of weight NAME (an f32 weight in a weight store, as milm IR
references it) and checks it is a symmetric 4-bit row: at most 16 distinct
values, each an integer multiple (-8..7) of one scale.

With --outliers N (milm-split-outliers' rows), up to N columns may hold other
values (the columns kept in f16): the scale is the one, among |v|/8 for the
row's values v, that leaves the fewest columns off its grid, and at most N
may be."""
import re
import struct
import sys

args = sys.argv[1:]
outliers = 0
if "--outliers" in args:
    i = args.index("--outliers")
    outliers = int(args[i + 1])
    del args[i:i + 2]
ir, name, row = args[0], args[1], int(args[2])
m = re.search(r'milm.weight "%s" from "([^"]+)" at (\d+)(?: \{[^}]*\})? : !milm.weight<(\d+)x(\d+)xf32>'
              % re.escape(name), open(ir).read())
if not m:
    sys.exit(f"{name}: no f32 weight in a file in {ir}")
path, off, k = m.group(1), int(m.group(2)), int(m.group(4))
with open(path, "rb") as f:
    f.seek(off + row * k * 4)
    vals = struct.unpack(f"<{k}f", f.read(k * 4))


def on_grid(v, scale):
    q = v / scale
    return abs(q - round(q)) < 1e-3 and -8 <= round(q) <= 8


# The scale: |extreme| / 8 for the body's extreme, which is one of the values;
# the candidate that leaves the fewest columns off its grid.
best = None
for cand in set(abs(v) for v in vals if v != 0):
    scale = cand / 8
    off = sum(1 for v in vals if not on_grid(v, scale))
    if best is None or off < best[0]:
        best = (off, scale)
off_grid, scale = best if best else (0, 0)
body = set(v for v in vals if scale and on_grid(v, scale))
if outliers:
    print(f"columns off the body's grid: {off_grid} of at most {outliers}")
print("levels <= 16: " + ("ok" if len(body) <= 16 and off_grid <= outliers
                          else f"{len(set(vals))} levels, {off_grid} off the grid"))
print("one scale: " + ("ok" if scale > 0 and off_grid <= outliers else "no"))
