#!/usr/bin/env python3
"""Writes a model whose next-token distribution is fixed, for tests of sampling flags.

    make_fixed_model.py SOURCE.gguf OUT.gguf

SOURCE is a llama GGUF with a byte-level BPE tokenizer whose first 256 tokens are the
bytes (models/milm-tiny-kjv.gguf): OUT keeps its metadata (architecture, shapes,
tokenizer) verbatim and replaces every tensor by F32 values that make the logits the
same at every position, whatever the input: every token embeds to the unit vector e0,
every block's weights are 0 (so the residual stream stays e0), the final norm's weight is
1, and output row i is logit_i / sqrt(n_embd) * e0. The logits: 10, 9.5, 9, ... 5.5 for the
ten tokens 'a' .. 'j' (ids 97 .. 106, the byte tokens) and -30 for every other token.
Pure Python; GGUF v3 as the GGUF specification describes it.
"""
import math
import struct
import sys

LOGITS = {97 + i: 10.0 - 0.5 * i for i in range(10)}
OTHER = -30.0


def main(src, out):
    data = open(src, "rb").read()
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return v

    def skip_string():
        nonlocal pos
        (n,) = take("<Q")
        pos += n

    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def skip_value(kind):
        nonlocal pos
        if kind == 8:
            skip_string()
        elif kind == 9:
            et, n = take("<IQ")
            for _ in range(n):
                skip_value(et)
        else:
            pos += sizes[kind]

    magic, version, n_tensors, n_kv = take("<4sIQQ")
    assert magic == b"GGUF" and version == 3, "not a GGUF v3 file"
    kv_start = pos
    alignment = 32
    for _ in range(n_kv):
        kstart = pos
        (n,) = take("<Q")
        key = data[pos:pos + n].decode()
        pos += n
        (kind,) = take("<I")
        if key == "general.alignment":
            (alignment,) = struct.unpack_from("<I", data, pos)
        skip_value(kind)
    kv_bytes = data[kv_start:pos]
    tensors = []
    for _ in range(n_tensors):
        (n,) = take("<Q")
        name = data[pos:pos + n].decode()
        pos += n
        (nd,) = take("<I")
        dims = list(take(f"<{nd}Q"))  # ne[0] innermost
        take("<IQ")
        tensors.append((name, dims))
    embd = next(d for n, d in tensors if n == "token_embd.weight")
    n_embd = embd[0]

    def values(name, dims):
        count = math.prod(dims)
        if name == "token_embd.weight":  # rows [vocab][n_embd]: e0 each
            row = [1.0] + [0.0] * (n_embd - 1)
            return row * dims[1]
        if name == "output_norm.weight":
            return [1.0] * count
        if name == "output.weight":
            scale = 1.0 / math.sqrt(n_embd)
            out = []
            for i in range(dims[1]):
                out += [LOGITS.get(i, OTHER) * scale] + [0.0] * (n_embd - 1)
            return out
        return [0.0] * count

    head = b"GGUF" + struct.pack("<IQQ", 3, n_tensors, n_kv) + kv_bytes
    blobs, offset = [], 0
    for name, dims in tensors:
        raw = struct.pack(f"<{math.prod(dims)}f", *values(name, dims))
        head += struct.pack("<Q", len(name)) + name.encode() + struct.pack("<I", len(dims))
        head += struct.pack(f"<{len(dims)}Q", *dims) + struct.pack("<IQ", 0, offset)  # F32
        pad = -len(raw) % alignment
        blobs.append(raw + b"\0" * pad)
        offset += len(raw) + pad
    head += b"\0" * (-len(head) % alignment)
    with open(out, "wb") as f:
        f.write(head)
        for b in blobs:
            f.write(b)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
