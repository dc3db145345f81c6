#!/usr/bin/env python3
"""Compiles one fixture model with milmc, feeds it the reference inputs one
position at a time (teacher forcing) and compares the logits with the
reference within the fixtures' tolerances; then checks that one batched call
(prefill) gives the same logits as the single-token calls.

Usage: check_fixture.py MILMC FIXTURES_DIR MODEL TARGET OUTDIR [--ref REF.jsonl]
                        [--bars float|quantized]
  MODEL: a fixture's name (FIXTURES_DIR/gguf/MODEL.gguf and MODEL.ref.jsonl), or the
         path of a .gguf file with its reference logits next to it (X.gguf, X.ref.jsonl),
         or any model milmc reads (a Hugging Face folder) with --ref; the bars are those
         of f32/f16 weights when the name ends in -f32 or -f16, else those of quantized
         weights, unless --bars says which
  TARGET: host, aarch64-linux-gnu (run under qemu-aarch64) or hexagon[-vNN] (its
          milm-run-hexagon run under qemu-hexagon -cpu v67)
"""
import json
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import compare_logits  # noqa: E402


def main(argv):
    milmc, fixtures, model, target, out = argv[1:6]
    opts = dict(zip(argv[6::2], argv[7::2]))
    if "--ref" in opts:
        gguf, ref = model, opts["--ref"]
    elif model.endswith(".gguf"):
        gguf = model
        model = model[:-len(".gguf")]
        ref = model + ".ref.jsonl"
    else:
        gguf = os.path.join(fixtures, "gguf", model + ".gguf")
        ref = os.path.join(fixtures, "gguf", model + ".ref.jsonl")
    subprocess.run([milmc, "compile", gguf, "--target", target, "-o", out], check=True)
    exe = [os.path.join(out, "milm-run")]
    if target.startswith("aarch64"):
        exe = ["qemu-aarch64", "-cpu", "max"] + exe
    elif target.startswith("hexagon"):
        exe = ["qemu-hexagon", "-cpu", "v67", os.path.join(out, "milm-run-hexagon")]
    ids = " ".join(str(json.loads(l)["input"]) for l in open(ref) if l.strip())
    decode = os.path.join(out, "decode.jsonl")
    prefill = os.path.join(out, "prefill.jsonl")
    with open(decode, "w") as f:
        subprocess.run(exe + ["--logits-for", ids], stdout=f, check=True)
    with open(prefill, "w") as f:
        subprocess.run(exe + ["--logits-for", ids, "--logits-batch"], stdout=f, check=True)
    quantized = not (model.endswith("-f32") or model.endswith("-f16"))
    if "--bars" in opts:
        quantized = opts["--bars"] == "quantized"
    rc = compare_logits.main(["", ref, decode] + (["--quantized"] if quantized else []))
    # Same arithmetic per token in both paths: equal within f32 rounding.
    rc |= compare_logits.main(["", "-", prefill, "--against", decode, "--rtol", "1e-5"])
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
