#!/usr/bin/env python3
"""Writes docs/QUALITY.md's baseline table: for each trained model, the perplexity of
the weights as stored and of every storage format milmc compile --quantize makes,
with KL against the model as stored, top-1 agreement and bits per weight.

    python3 scripts/quality_table.py [--milmc build/bin/milmc] [--models target,moe,tiny]
                                     [--chunks K] [--write-doc] [--work DIR]

Every number comes from `milmc compare BASE Q --text models/kjv-heldout.txt --json`
(the method of common/milm/quality.h: windows of 256 tokens, the second half of each
scored) run on models compiled for this host. Without --write-doc the table goes to
standard output; with it, between the quality:baseline markers of docs/QUALITY.md.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {
    "target": "models/milm-target-kjv.gguf",
    "moe": "models/milm-moe-kjv.gguf",
    "tiny": "models/milm-tiny-kjv.gguf",
}
FORMATS = ["q8_0", "q6_k", "q5_k", "q5_1", "q5_0", "q4_k_m", "q4_k", "q4_1", "q4_0"]
BEGIN, END = "<!-- quality:baseline:begin -->", "<!-- quality:baseline:end -->"


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"quality_table.py: {' '.join(cmd)} failed:\n{r.stderr.strip()}")
    return r


def cpu_name():
    """This machine's CPU as /proc/cpuinfo names it (benchmarks say where they ran)."""
    for l in open("/proc/cpuinfo"):
        if l.startswith("model name"):
            return l.split(":", 1)[1].strip()
    return "?"


def write_between(doc, begin, end, table):
    """Replaces what stands between the markers `begin` and `end` in `doc`."""
    body = open(doc).read()
    if begin not in body or end not in body:
        sys.exit(f"{doc}: no {begin} ... {end} markers")
    head, rest = body.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(doc, "w") as f:
        f.write(head + begin + "\n" + table + end + tail)
    print(f"wrote the table into {doc}", file=sys.stderr)


def publish_table(lines, script, doc, begin, end, write_doc, t0):
    """Ends a table with where and when it was measured (by `script`, since t0,
    the milmc of this commit), then prints it or writes it into `doc`."""
    lines.append(f"\nMeasured {time.strftime('%Y-%m-%d')} by `python3 scripts/{script} "
                 f"--write-doc` ({time.time() - t0:.0f} s on {cpu_name()}); the milmc of commit "
                 f"{run(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD']).stdout.strip()}.")
    table = "\n".join(lines).strip() + "\n"
    if not write_doc:
        print(table)
        return
    write_between(os.path.join(ROOT, doc), begin, end, table)


def compile_model(milmc, model, out, quantize=None):
    cmd = [milmc, "compile", model, "-o", out]
    if quantize:
        cmd += ["--quantize", quantize]
    r = run(cmd)
    warnings = [l for l in r.stderr.splitlines() if "warning:" in l]
    info = run([os.path.join(out, "milm-run"), "--info"]).stdout
    m = re.search(r"weights: \d+ tensors, (\d+) bytes", info)
    return int(m.group(1)), warnings


def stored_format(milmc, model):
    """The format holding most of the model's bytes, from milmc inspect's formats line."""
    line = [l for l in run([milmc, "inspect", model]).stdout.splitlines()
            if l.startswith("formats")][0]
    best, best_bytes = "?", -1.0
    for name, size, unit in re.findall(r"(\w+): \d+ tensors, ([0-9.]+) (B|KiB|MiB|GiB)", line):
        n = float(size) * {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}[unit]
        if n > best_bytes:
            best, best_bytes = name.upper(), n
    return best


def parameters(milmc, model):
    out = run([milmc, "inspect", model]).stdout
    return int(re.search(r"(\d+) tensors, (\d+) parameters", out).group(2))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--milmc", default=os.path.join(ROOT, "build/bin/milmc"))
    ap.add_argument("--models", default="target,moe,tiny")
    ap.add_argument("--chunks", type=int, default=0, help="windows per model (0: all)")
    ap.add_argument("--work", default="/tmp/milm-quality")
    ap.add_argument("--write-doc", action="store_true")
    args = ap.parse_args()
    text = os.path.join(ROOT, "models/kjv-heldout.txt")
    os.makedirs(args.work, exist_ok=True)
    lines = []
    t0 = time.time()
    for name in args.models.split(","):
        model = os.path.join(ROOT, MODELS[name])
        params = parameters(args.milmc, model)
        ref = json.load(open(model[:-len(".gguf")] + ".ppl.json"))
        base_dir = os.path.join(args.work, name, "stored")
        shutil.rmtree(base_dir, ignore_errors=True)
        base_bytes, _ = compile_model(args.milmc, model, base_dir)
        stored = stored_format(args.milmc, model)
        lines.append(f"\n**{name}** (`{MODELS[name]}`, {params:,} parameters; float64 reference "
                     f"perplexity of the weights as stored: {ref['ppl']:.4f})\n")
        lines.append("| weights | bits/weight | perplexity | ln(PPL/PPL(stored)) | mean KL | p99 KL "
                     "| max KL | top-1 agreement | notes |")
        lines.append("|---|---|---|---|---|---|---|---|---|")
        rows = [(f"as stored ({stored})", base_dir, base_bytes, [])]
        for fmt in FORMATS:
            d = os.path.join(args.work, name, fmt)
            shutil.rmtree(d, ignore_errors=True)
            nbytes, warnings = compile_model(args.milmc, model, d, fmt)
            rows.append((fmt, d, nbytes, warnings))
        for label, d, nbytes, warnings in rows:
            cmd = [args.milmc, "compare", base_dir, d, "--text", text, "--json"]
            if args.chunks:
                cmd += ["--chunks", str(args.chunks)]
            j = json.loads(run(cmd).stdout)
            b = j["b"]
            subs = sorted(set(re.findall(r"\((\w+) instead of (\w+)\)", " ".join(warnings))))
            note = ("rows that fit no block fall back: " +
                    ", ".join(f"{b} to {a}" for a, b in subs)) if subs else ""
            lines.append(f"| {label} | {8 * nbytes / params:.2f} | {b['ppl']:.4f} ± "
                         f"{b['ppl_stderr']:.4f} | {__import__('math').log(b['ppl'] / j['a']['ppl']):+.5f} "
                         f"| {j['kl_mean']:.5f} | {j['kl_p99']:.4f} | {j['kl_max']:.4f} | "
                         f"{100 * j['top1_agreement']:.2f}% | {note} |")
            print(lines[-1], file=sys.stderr, flush=True)
    publish_table(lines, "quality_table.py", "docs/QUALITY.md", BEGIN, END, args.write_doc, t0)


if __name__ == "__main__":
    main()
