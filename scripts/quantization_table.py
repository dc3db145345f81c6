#!/usr/bin/env python3
"""The quantization table of docs/QUANTIZATION.md: each recipe (a
`milmc compile` option set) on each trained model, measured with
`milmc compare` against the model as stored on the held-out text.

    python3 scripts/quantization_table.py [--models target,moe] [--write-doc]

Bits per weight are what milm-quantize reports: a stored weight's format's
bits (q4_g256 4.0625, q4_g128 4.125, f16 outlier columns 16 and a 32-bit
index each); a simulated one (a 4-bit scheme without a format for it, stored
as f32) counted at its scheme's 4 bits plus scales. The "storage" column says
which: "formats" when every matrix is stored in a format the kernels read,
"partly simulated" or "simulated" (from the passes' remarks). The calibrated recipes
read statistics taken once per model (and once more rotated) with `milmc
calibrate --matrices` over models/kjv-calibration.txt, which is disjoint from
the held-out text.
"""
import argparse
import json
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quality_table import publish_table, run  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {"target": "models/milm-target-kjv.gguf", "moe": "models/milm-moe-kjv.gguf",
          "tiny": "models/milm-tiny-kjv.gguf"}
# (label, milmc compile options); "CAL" stands for the calibration statistics
# of the model (rotated when the recipe rotates), taken once per model with
# `milmc calibrate --matrices` over models/kjv-calibration.txt.
RECIPES = [
    ("w4-channel", ["--quantize", "w4-channel"]),
    ("w4-g128", ["--quantize", "w4-g128"]),
    ("w4-g32", ["--quantize", "w4-g32"]),
    ("q4_0", ["--quantize", "q4_0"]),
    ("q4_k_m", ["--quantize", "q4_k_m"]),
    ("rotate + w4-channel", ["--rotate", "--quantize", "w4-channel"]),
    ("rotate + w4-g128", ["--rotate", "--quantize", "w4-g128"]),
    ("rotate + w4-g32", ["--rotate", "--quantize", "w4-g32"]),
    ("rotate + q4_0", ["--rotate", "--quantize", "q4_0"]),
    ("rotate + q4_k_m", ["--rotate", "--quantize", "q4_k_m"]),
    ("w4-channel, clipped scales", ["--quantize", "w4-channel", "CAL", "--clip"]),
    ("w4-channel, GPTQ", ["--quantize", "w4-channel", "CAL", "--gptq", "--clip"]),
    ("rotate + w4-channel, GPTQ", ["--rotate", "--quantize", "w4-channel", "CAL", "--gptq",
                                   "--clip"]),
    ("rotate + online Hadamard + w4-channel", ["--rotate", "--online-hadamard", "--quantize",
                                              "w4-channel"]),
    ("rotate + online Hadamard + w4-channel, GPTQ", ["--rotate", "--online-hadamard",
                                                     "--quantize", "w4-channel", "CAL", "--gptq",
                                                     "--clip"]),
    ("w4-g128, GPTQ", ["--quantize", "w4-g128", "CAL", "--gptq", "--clip"]),
    ("w4-channel, embedding q6_k", ["--quantize", "w4-channel", "--quantize-embedding", "q6_k"]),
    ("outliers 1.5% + w4-channel, GPTQ, embedding q6_k (`w4-outlier`)",
     ["--quantize", "w4-outlier", "CAL"]),
    ("rotate + online Hadamard + outliers 1.5% + w4-channel, GPTQ, embedding q6_k "
     "(`w4-rot-outlier`)", ["--quantize", "w4-rot-outlier", "CAL"]),
    ("rotate + online Hadamard + outliers 1% + w4-g128, GPTQ, embedding q6_k "
     "(`w4-g128-rot-outlier`)", ["--quantize", "w4-g128-rot-outlier", "CAL"]),
]
BEGIN, END = "<!-- quantization:table:begin -->", "<!-- quantization:table:end -->"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--milmc", default=os.path.join(ROOT, "build/bin/milmc"))
    ap.add_argument("--models", default="target,moe")
    ap.add_argument("--work", default="/tmp/milm-quantization")
    ap.add_argument("--write-doc", action="store_true")
    args = ap.parse_args()
    text = os.path.join(ROOT, "models/kjv-heldout.txt")
    calib = os.path.join(ROOT, "models/kjv-calibration.txt")
    lines, t0 = [], time.time()
    for name in args.models.split(","):
        model = os.path.join(ROOT, MODELS[name])
        ref = os.path.join(args.work, name, "stored")
        shutil.rmtree(ref, ignore_errors=True)
        run([args.milmc, "compile", model, "-o", ref])
        # Statistics per rotation: none, --rotate, --rotate --online-hadamard.
        stats = {}
        for mode, flags in (("plain", []), ("rotated", ["--rotate"]),
                            ("online", ["--rotate", "--online-hadamard"])):
            stats[mode] = os.path.join(args.work, name, mode + ".stats")
            c0 = time.time()
            run([args.milmc, "calibrate", model, "--text", calib, "--matrices", "-o",
                 stats[mode]] + flags)
            print(f"{name}: calibrated ({mode}) in {time.time() - c0:.0f} s", file=sys.stderr,
                  flush=True)
        lines.append(f"\n**{name}** (`{MODELS[name]}`)\n")
        lines.append("| recipe | storage | bits/weight | mean KL | p99 KL | top-1 agreement "
                     "| perplexity | mean KL vs w4-channel RTN |")
        lines.append("|---|---|---|---|---|---|---|---|")
        base_kl = None
        for n, (label, extra) in enumerate(RECIPES):
            mode = ("online" if "--online-hadamard" in extra or any("-rot-outlier" in o for o in extra)
                    else "rotated" if "--rotate" in extra else "plain")
            opts = []
            for o in extra:
                opts += ["--calibration", stats[mode]] if o == "CAL" else [o]
            d = os.path.join(args.work, name, f"recipe{n}")
            shutil.rmtree(d, ignore_errors=True)
            r = run([args.milmc, "compile", model, *opts, "-o", d])
            bits = re.findall(r"at ([0-9.]+) bits per weight", r.stderr)[-1]
            remarks = [l for l in r.stderr.splitlines()
                       if "milm-quantize:" in l or "milm-split-outliers:" in l]
            simulated = [l for l in remarks if "simulated" in l]
            storage = ("formats" if not simulated
                       else "simulated" if all("(simulated, stored as f32)" in l for l in remarks)
                       else "partly simulated")
            j = json.loads(run([args.milmc, "compare", ref, d, "--text", text, "--json"]).stdout)
            if base_kl is None:
                base_kl = j["kl_mean"]
            lines.append(f"| {label} | {storage} | {bits} | {j['kl_mean']:.5f} | {j['kl_p99']:.4f} | "
                         f"{100 * j['top1_agreement']:.2f}% | {j['b']['ppl']:.4f} | "
                         f"{100 * (j['kl_mean'] / base_kl - 1):+.0f}% |")
            print(lines[-1], file=sys.stderr, flush=True)
    publish_table(lines, "quantization_table.py", "docs/QUANTIZATION.md", BEGIN, END,
                  args.write_doc, t0)


if __name__ == "__main__":
    main()
