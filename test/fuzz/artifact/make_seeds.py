#!/usr/bin/env python3
"""Writes the seed corpus of artifact-fuzzer: small model.milm files (format 1.1)
built with flatc from JSON headers, a gpt2 and a llama tokenizer, f32 and q8_0
tensors. The weights sit at byte 4096 (the loader needs 64-byte alignment;
milmc uses 65536), so the seeds stay under libFuzzer's -max_len. The header
checksum is left zero (the fuzzer makes it right on its second try); the tensor
checksums are zero too.

  make_seeds.py SCHEMA.fbs OUT_DIR      (needs flatc on PATH)
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

W = 4096


def seed(schema, out, name, tokenizer, tensors):
    header = {
        "version": {"major": 1, "minor": 1}, "model_hash": 1, "target": "x86_64-unknown-linux-gnu",
        "producer": "make_seeds.py", "options": [{"key": "k", "value": "v"}],
        "config": {"arch": "llama", "name": name, "vocab_size": len(tokenizer["tokens"]),
                   "context_length": 64, "hidden_size": 4, "num_layers": 1, "num_heads": 1,
                   "num_kv_heads": 1, "head_dim": 4, "ffn_size": 8, "rms_eps": 1e-5,
                   "rope_base": 10000.0},
        "tokenizer": tokenizer, "checksum_kind": "Milm64",
        "weights_offset": W, "weights_size": 0, "weights_alignment": 64, "tensors": []}
    blob = b""
    for tname, fmt, shape, data in tensors:
        blob += b"\0" * (-len(blob) % 64)
        header["tensors"].append({"name": tname, "format": fmt, "shape": shape,
                                  "offset": len(blob), "size": len(data), "checksum": 0})
        blob += data
    blob += b"\0" * (-len(blob) % 64)
    header["weights_size"] = len(blob)
    with tempfile.TemporaryDirectory() as d:
        js = os.path.join(d, "h.json")
        with open(js, "w") as f:
            json.dump(header, f)
        subprocess.run(["flatc", "-b", "--size-prefixed", "-o", d, schema, js], check=True)
        fb = open(os.path.join(d, "h.milm"), "rb").read()  # file_extension "milm"
    body = fb + b"MILMHSUM" + b"\0" * 8
    assert len(body) <= W
    with open(os.path.join(out, name + ".milm"), "wb") as f:
        f.write(body + b"\0" * (W - len(body)) + blob)


def main(argv):
    schema, out = argv[1], argv[2]
    byte_level = ["Ġ", "a", "b", "c", "Ġa", "ab", "1", "2", "'", "s", "<|end|>"]
    gpt2 = {"kind": "gpt2", "pre": "llama-bpe", "tokens": byte_level,
            "types": [1] * 10 + [3], "merges": ["Ġ a", "a b"], "bos": 10, "eos": 10}
    qwen = dict(gpt2, pre="qwen2")
    spm = {"kind": "llama", "tokens": ["<unk>", "<s>", "</s>", "▁", "a", "b", "▁a", "<0x0A>"],
           "scores": [0, 0, 0, -1, -2, -3, -0.5, -4], "types": [2, 3, 3, 1, 1, 1, 1, 6],
           "bos": 1, "eos": 2, "unk": 0, "add_bos": True}
    f32 = ("token_embd.weight", 0, [4, 4], struct.pack("<16f", *[0.25 * i for i in range(16)]))
    q8 = ("output.weight", 8, [2, 32], (struct.pack("<e", 0.5) + bytes(range(32))) * 2)
    seed(schema, out, "gpt2-f32", gpt2, [f32])
    seed(schema, out, "qwen2-q8_0", qwen, [f32, q8])
    seed(schema, out, "spm-two", spm, [q8, f32])


if __name__ == "__main__":
    main(sys.argv)
