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

from gguf_header import read_header

LOGITS = {97 + i: 10.0 - 0.5 * i for i in range(10)}
OTHER = -30.0


def main(src, out):
    h = read_header(open(src, "rb").read())
    tensors = [(name, dims) for name, dims, _, _ in h.tensors]
    n_tensors, n_kv, kv_bytes, alignment = len(tensors), len(h.kv), h.kv_bytes, h.alignment
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
