"""The header of a GGUF v3 file, in pure Python, for the test scripts of this folder.

    h = read_header(data)      # data: the file's bytes
    h.kv["tokenizer.ggml.tokens"], h.kv_bytes, h.tensors, h.alignment

kv maps each key to its value (strings and arrays of strings decoded, numbers as
numbers); kv_bytes are the key/value section's bytes as stored; tensors lists
(name, dims with ne[0] first, ggml type, offset); alignment is general.alignment (32
when absent). The layout is the GGUF specification's.
"""
import struct
from collections import namedtuple

Header = namedtuple("Header", "kv kv_bytes tensors alignment")

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<B", 10: "<Q",
            11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


def read_header(data):
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return v if len(v) > 1 else v[0]

    def string():
        nonlocal pos
        n = take("<Q")
        pos += n
        return data[pos - n:pos].decode("utf-8")

    def value(kind):
        if kind == _STRING:
            return string()
        if kind == _ARRAY:
            et, n = take("<IQ")
            return [value(et) for _ in range(n)]
        return take(_SCALARS[kind])

    magic, version, n_tensors, n_kv = take("<4sIQQ")
    if magic != b"GGUF" or version != 3:
        raise SystemExit("not a GGUF v3 file")
    kv_start = pos
    kv = {}
    for _ in range(n_kv):
        key = string()
        kv[key] = value(take("<I"))
    kv_bytes = data[kv_start:pos]
    tensors = []
    for _ in range(n_tensors):
        name = string()
        dims = [take("<Q") for _ in range(take("<I"))]
        ty, off = take("<IQ")
        tensors.append((name, dims, ty, off))
    return Header(kv, kv_bytes, tensors, kv.get("general.alignment", 32))
