"""Reads row ROW of weight NAME (an f32 weight in a weight store, as milm IR
references it) and checks it is a symmetric 4-bit row: at most 16 distinct
values, each an integer multiple (-8..7) of one scale."""
import re
import struct
import sys

ir, name, row = sys.argv[1], sys.argv[2], int(sys.argv[3])
m = re.search(r'milm.weight "%s" from "([^"]+)" at (\d+) : !milm.weight<(\d+)x(\d+)xf32>'
              % re.escape(name), open(ir).read())
if not m:
    sys.exit(f"{name}: no f32 weight in a file in {ir}")
path, off, k = m.group(1), int(m.group(2)), int(m.group(4))
with open(path, "rb") as f:
    f.seek(off + row * k * 4)
    vals = struct.unpack(f"<{k}f", f.read(k * 4))
levels = sorted(set(vals))
print("levels <= 16: " + ("ok" if len(levels) <= 16 else f"{len(levels)} levels"))
scale = max(abs(v) for v in vals) / 8
ok = scale > 0 and all(abs(v / scale - round(v / scale)) < 1e-3 and -8 <= round(v / scale) <= 8
                       for v in vals)
print("one scale: " + ("ok" if ok else "no"))
