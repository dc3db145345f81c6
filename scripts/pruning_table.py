#!/usr/bin/env python3
"""The pruning table of docs/PRUNING.md: TransAct structured pruning
(`milmc compile --prune-ffn F --prune-heads H [--prune-reconstruct]`) of the
trained target model, measured with `milmc compare` against the unpruned
model on the held-out text, plus decode speed against the unpruned build in
the same run.

    python3 scripts/pruning_table.py [--write-doc] [--rounds 5]

Every setting ranks heads and channels on the same statistics, taken once
with `milmc calibrate --matrices` over models/kjv-calibration.txt (disjoint
from the held-out text). Parameters are the model's weights after pruning
(from the pass's per-layer sizes); KV bytes per token are those of the f16
cache (2 x kv_heads x head_dim x 2 bytes summed over layers: pruning query
heads evenly per KV group leaves it unchanged, pruning KV groups shrinks it). Decode tokens/s: greedy generation of 128
tokens on 2 threads, the builds in turn for `--rounds` rounds, the median; the
last column is its ratio to the unpruned build's median in the same run.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quality_table import publish_table, run  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = "models/milm-target-kjv.gguf"
# The target model: hidden 512, vocab 1024, 5 layers, 8 heads (2 KV) of 64, FFN 1280.
D, V, LAYERS, KV, HD = 512, 1024, 5, 2, 64
# (FFN fraction, query-head fraction evenly per KV group, KV-group fraction, refit)
SETTINGS = ([(ffn, heads, 0.0, rec) for heads in (0.0, 0.25) for ffn in (0.1, 0.25, 0.4)
             for rec in (False, True)] +
            [(0.25, 0.0, 0.5, rec) for rec in (False, True)])
BEGIN, END = "<!-- pruning:table:begin -->", "<!-- pruning:table:end -->"


def params(heads, kvs, ffns):
    n = 2 * V * D + D  # embedding, output, final norm
    for h, kv, f in zip(heads, kvs, ffns):
        n += D * HD * (h + 2 * kv) + h * HD * D + 3 * D * f + 2 * D
    return n


def decode_tps(run_dir, prompt, threads=2, n=128):
    r = subprocess.run([os.path.join(run_dir, "milm-run"), "-f", prompt, "-n", str(n), "-t",
                        str(threads), "--temp", "0", "--no-display-prompt"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    m = re.search(r"generated \d+ tokens in [0-9.]+ s \(([0-9.]+) tok/s\)", r.stderr)
    if r.returncode != 0 or not m:
        sys.exit(f"pruning_table.py: {run_dir}/milm-run failed:\n{r.stderr}")
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--milmc", default=os.path.join(ROOT, "build/bin/milmc"))
    ap.add_argument("--work", default="/tmp/milm-pruning")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--write-doc", action="store_true")
    ap.add_argument("--reuse-stats", action="store_true",
                    help="use WORK/target.stats from an earlier run instead of calibrating")
    args = ap.parse_args()
    t0 = time.time()
    os.makedirs(args.work, exist_ok=True)
    model = os.path.join(ROOT, MODEL)
    text = os.path.join(ROOT, "models/kjv-heldout.txt")
    calib = os.path.join(ROOT, "models/kjv-calibration.txt")
    prompt = os.path.join(args.work, "prompt.txt")
    with open(prompt, "w") as f:
        f.write("In the beginning God created the heaven and the earth. And the earth was")
    ref = os.path.join(args.work, "unpruned")
    shutil.rmtree(ref, ignore_errors=True)
    run([args.milmc, "compile", model, "-o", ref])
    stats = os.path.join(args.work, "target.stats")
    if not (args.reuse_stats and os.path.exists(stats)):
        run([args.milmc, "calibrate", model, "--text", calib, "--matrices", "-o", stats])
    print(f"calibrated in {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    rows = []
    for n, (ffn, heads, kvh, rec) in enumerate(SETTINGS):
        d = os.path.join(args.work, f"s{n}")
        shutil.rmtree(d, ignore_errors=True)
        opts = ["--prune-ffn", str(ffn), "--prune-calibration", stats]
        if heads:
            opts += ["--prune-heads", str(heads)]
        if kvh:
            opts += ["--prune-kv-heads", str(kvh)]
        if rec:
            opts += ["--prune-reconstruct"]
        r = run([args.milmc, "compile", model, *opts, "-o", d])
        m = re.search(r"query heads per layer ([0-9 ]+);(?: KV heads per layer ([0-9 ]+);)? "
                      r"FFN channels per layer ([0-9 ]+);", r.stderr)
        if not m:
            sys.exit(f"pruning_table.py: no milm-prune-transact remark in:\n{r.stderr}")
        hs = [int(x) for x in m.group(1).split()]
        kvs = [int(x) for x in m.group(2).split()] if m.group(2) else [KV] * LAYERS
        fs = [int(x) for x in m.group(3).split()]
        j = json.loads(run([args.milmc, "compare", ref, d, "--text", text, "--json"]).stdout)
        rows.append(dict(ffn=ffn, heads=heads, kvh=kvh, rec=rec, dir=d, params=params(hs, kvs, fs),
                         kv=sum(2 * k * HD * 2 for k in kvs), j=j, hs=hs, kvs=kvs, fs=fs))
        print(f"{ffn} {heads} {kvh} {rec}: KL {j['kl_mean']:.4f}", file=sys.stderr, flush=True)
    # Decode speed: every build in turn, `rounds` times.
    dirs = [ref] + [r["dir"] for r in rows]
    tps = {d: [] for d in dirs}
    for k in range(args.rounds):
        for i in range(len(dirs)):
            d = dirs[(i + k) % len(dirs)]
            tps[d].append(decode_tps(d, prompt))
    base = statistics.median(tps[ref])
    p0 = params([8] * LAYERS, [KV] * LAYERS, [1280] * LAYERS)
    lines = [f"Unpruned: {p0 / 1e6:.2f} M parameters, {2 * LAYERS * KV * HD * 2} KV bytes per "
             f"token, decode {base:.0f} tok/s.\n",
             "| FFN channels removed | heads removed | reconstruct | heads (KV) / FFN per layer | "
             "parameters | KV bytes/token | perplexity | mean KL | top-1 agreement | "
             "decode tok/s | vs unpruned |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        j = r["j"]
        med = statistics.median(tps[r["dir"]])
        heads_txt = (f"{100 * r['kvh']:.0f}% (whole KV groups)" if r["kvh"]
                     else f"{100 * r['heads']:.0f}%")
        lines.append(
            f"| {100 * r['ffn']:.0f}% | {heads_txt} | {'yes' if r['rec'] else 'no'} | "
            f"{r['hs'][0]} ({r['kvs'][0]}) / {r['fs'][0]} | {r['params'] / 1e6:.2f} M ({100 * (r['params'] / p0 - 1):+.0f}%) | "
            f"{r['kv']} | {j['b']['ppl']:.4f} | {j['kl_mean']:.4f} | "
            f"{100 * j['top1_agreement']:.2f}% | {med:.0f} | {med / base:.2f}x |")
        print(lines[-1], file=sys.stderr, flush=True)
    lines.append(f"\nUnpruned perplexity on the held-out text: {rows[0]['j']['a']['ppl']:.4f}.")
    publish_table(lines, "pruning_table.py", "docs/PRUNING.md", BEGIN, END, args.write_doc, t0)


if __name__ == "__main__":
    main()
