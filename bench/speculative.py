#!/usr/bin/env python3
"""Speculative decoding against plain decoding, and against llama.cpp's, in one run.

usage: python3 bench/speculative.py [--write-doc] [--runs R] [-n N]

On the trained pair of models/README.md (target F16, tiny Q8_0 as its draft),
greedy, 2 threads, N generated tokens (default 200) per prompt:

  - milm plain, milm with the draft model (the default settings and fixed
    lengths k = 1..4 without p_min), milm self-speculation (the target drafting
    for itself in q4_0), milm prompt lookup on input-grounded prompts;
  - llama.cpp (a native build: LLAMA_BIN, default /work/ref/llama.cpp/build/bin)
    on the same GGUF files: llama-bench tg for plain decoding, llama-speculative
    with the same draft, llama-lookup on the grounded prompts; its greedy text
    is compared with milm's.

Rounds alternate between the engines; each figure is the median over R rounds
(default 3) of tokens/s summed over the prompts. Then a projection for the
1.3B preset: milm-run --bench-batch 9 gives the cost of evaluating k+1 tokens
relative to one, r(k+1), on a random-weight 1.3B q4_0 model; the tiny draft's
cost per token relative to the 1.3B's, c, comes from --bench-batch 1 of both;
the tokens per model evaluation E_k measured here on the trained pair at fixed
k give the projected speedup E_k / (r(k+1) + k c); for token trees and lookup,
E / (r(N) + D c) with N the tokens checked and D the draft evaluations per step. --write-doc replaces the
measured section of docs/SPECULATIVE.md. Not part of the tests.
"""
import argparse
import csv
import io
import os
import platform
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MILMC = os.environ.get("MILMC", ROOT + "/build/bin/milmc")
LLAMA = os.environ.get("LLAMA_BIN", "/work/ref/llama.cpp/build/bin")
WORK = os.environ.get("MILM_BENCH_DIR", "/tmp/milm-bench-spec")
TARGET = ROOT + "/models/milm-target-kjv.gguf"
DRAFT = ROOT + "/models/milm-tiny-kjv.gguf"
THREADS = "2"

# Ordinary prompts (the draft model's case) and input-grounded ones: a passage,
# then its first words again, the shape of "repeat/quote the text above".
OPEN_PROMPTS = [
    "And God said, Let there be light: and there was light. And God saw the light",
    "And it came to pass",
    "The LORD is my shepherd",
    "Now the serpent was more subtil",
]


def grounded_prompts():
    lines = open(ROOT + "/models/kjv-heldout.txt").read().splitlines()
    out = []
    for first in (0, 20, 40, 60):
        passage = "\n".join(lines[first:first + 3])
        out.append(passage + "\n" + " ".join(lines[first].split()[:4]))
    return out


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, **kw)


GEN = re.compile(r"generated (\d+) tokens in ([0-9.]+) s")
SPEC = re.compile(r"drafted (\d+), accepted (\d+) \(([0-9.]+)%\), mean accepted length "
                  r"[0-9.]+, ([0-9.]+) tokens per model "
                  r"evaluation \((\d+) evaluations, (\d+) of the draft\)")


def milm_run(out, prompt, n, args):
    p = sh([out + "/milm-run", "-t", THREADS, "-p", prompt, "-n", str(n), "--temp", "0",
            "--no-display-prompt"] + args)
    err = p.stderr.decode("utf-8", "replace")
    if p.returncode != 0:
        sys.exit("speculative.py: milm-run %s: %s" % (" ".join(args), err))
    m = GEN.search(err)
    s = SPEC.search(err)
    return {"text": p.stdout, "tokens": int(m.group(1)), "seconds": float(m.group(2)),
            "drafted": int(s.group(1)) if s else 0, "accepted": int(s.group(2)) if s else 0,
            "per_eval": float(s.group(4)) if s else 1.0,
            "evals": int(s.group(5)) if s else 0, "draft_evals": int(s.group(6)) if s else 0}


LLAMA_DECODED = re.compile(r"decoded\s+(\d+) tokens in\s+([0-9.]+) seconds")
LLAMA_ACCEPT = re.compile(r"n_drafted\s*=\s*(\d+)[\s\S]*?n_accept\s*=\s*(\d+)")


def llama_spec(tool, prompt, n, extra):
    p = sh([LLAMA + "/" + tool, "-m", TARGET, "-p", prompt, "-n", str(n), "--temp", "0",
            "-t", THREADS, "-s", "1"] + extra)
    err = (p.stdout + p.stderr).decode("utf-8", "replace")
    m = LLAMA_DECODED.search(err)
    if p.returncode != 0 or not m:
        return None
    a = LLAMA_ACCEPT.search(err)
    text = p.stdout.decode("utf-8", "replace").replace("<|endoftext|>", "")
    return {"tokens": int(m.group(1)), "seconds": float(m.group(2)),
            "drafted": int(a.group(1)) if a else 0, "accepted": int(a.group(2)) if a else 0,
            "text": text}


def llama_bench_tg(n):
    p = sh([LLAMA + "/llama-bench", "-m", TARGET, "-p", "0", "-n", str(n), "-t", THREADS,
            "-r", "1", "-o", "csv"])
    rows = list(csv.DictReader(io.StringIO(p.stdout.decode())))
    if p.returncode != 0 or not rows:
        return None
    return float(rows[-1]["avg_ts"])


def compile_model(name, args):
    out = WORK + "/" + name
    if not os.path.exists(out + "/milm-run") or os.environ.get("MILM_REBUILD"):
        p = sh([MILMC, "compile"] + args + ["-o", out])
        if p.returncode != 0:
            sys.exit("speculative.py: milmc compile %s: %s" % (" ".join(args), p.stderr.decode()))
    return out


def bench_batch(out, n):
    p = sh([out + "/milm-run", "-t", THREADS, "--bench-batch", str(n)])
    rows = {}
    for line in p.stdout.decode().splitlines()[1:]:
        k, ms, _ = line.split()
        rows[int(k)] = float(ms)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--write-doc", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("-n", type=int, default=200)
    a = ap.parse_args()
    os.makedirs(WORK, exist_ok=True)
    t_start = time.time()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), platform.machine())

    td = compile_model("target-draft", [TARGET, "--draft", DRAFT])
    self_ = compile_model("target-self", [TARGET, "--draft", TARGET, "--draft-quantize", "q4_0"])
    grounded = grounded_prompts()
    milm_configs = [
        ("plain", td, [], OPEN_PROMPTS),
        ("draft model, defaults (--draft 8, adaptive, p_min 0.2)", td, ["--draft", "8"], OPEN_PROMPTS),
    ] + [("draft model, k = %d fixed, p_min 0" % k, td,
          ["--draft", str(k), "--draft-fixed", "--draft-p-min", "0"], OPEN_PROMPTS)
         for k in (1, 2, 3, 4)] + [
        ("draft model, k = 3 fixed, p_min 0, + runner-up: tree of 2 (--spec-tree 2)", td,
         ["--draft", "3", "--draft-fixed", "--draft-p-min", "0", "--spec-tree", "2"],
         OPEN_PROMPTS),
        ("self-speculation (target q4_0 drafts), --draft 8 --draft-p-min 0", self_,
         ["--draft", "8", "--draft-p-min", "0"], OPEN_PROMPTS),
        ("plain, grounded prompts", td, [], grounded),
        ("prompt lookup, grounded prompts", td, ["--lookup"], grounded),
        ("prompt lookup, --draft 4, grounded prompts", td, ["--lookup", "--draft", "4"], grounded),
        ("prompt lookup, tree of 4 (--spec-tree 4), grounded prompts", td,
         ["--lookup", "--spec-tree", "4"], grounded),
    ]
    have_llama = all(os.access(LLAMA + "/" + t, os.X_OK)
                     for t in ("llama-bench", "llama-speculative", "llama-lookup"))
    results = {name: [] for name, *_ in milm_configs}
    stats = {}
    counts = {}
    llama = {"plain": [], "spec": [], "lookup": [], "plain-grounded": []}
    llama_stats = {}
    texts = {}
    for r in range(a.runs):
        print("speculative.py: round %d of %d" % (r + 1, a.runs), file=sys.stderr)
        for name, out, args, prompts in milm_configs:
            toks = secs = drafted = accepted = n_evals = n_draft_evals = 0
            evals = []
            for i, prompt in enumerate(prompts):
                res = milm_run(out, prompt, a.n, args)
                toks += res["tokens"]
                secs += res["seconds"]
                drafted += res["drafted"]
                accepted += res["accepted"]
                n_evals += res["evals"]
                n_draft_evals += res["draft_evals"]
                evals.append(res["per_eval"])
                texts[(name, i)] = res["text"]
            results[name].append(toks / secs)
            stats[name] = (drafted, accepted, statistics.mean(evals))
            counts[name] = (n_evals, drafted, n_draft_evals)
        if have_llama:
            tg = llama_bench_tg(a.n)
            if tg:
                llama["plain"].append(tg)
            for key, tool, extra, prompts in (
                    ("spec", "llama-speculative", ["-md", DRAFT, "--draft-max", "8"], OPEN_PROMPTS),
                    ("lookup", "llama-lookup", ["--draft-max", "8"], grounded)):
                toks = secs = drafted = accepted = 0
                for i, prompt in enumerate(prompts):
                    res = llama_spec(tool, prompt, a.n, extra)
                    if not res:
                        break
                    toks += res["tokens"]
                    secs += res["seconds"]
                    drafted += res["drafted"]
                    accepted += res["accepted"]
                    texts[(key, i)] = res["text"]
                else:
                    llama[key].append(toks / secs)
                    llama_stats[key] = (drafted, accepted)

    med = {k: statistics.median(v) for k, v in results.items()}
    plain = med["plain"]
    plain_g = med["plain, grounded prompts"]
    lines = []
    lines.append("Measured %s on %s, %s threads, by `python3 bench/speculative.py --runs %d -n %d`"
                 " (@SECONDS@ s): greedy, %d tokens a prompt, tokens/s summed over the prompts, "
                 "median of %d rounds." % (time.strftime("%Y-%m-%d"), cpu, THREADS, a.runs, a.n,
                                           a.n, a.runs))
    lines.append("")
    lines.append("| engine | scheme | prompts | tokens/s | vs its plain | drafted | accepted | tokens per model evaluation |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for name, out, args, prompts in milm_configs:
        kind = "grounded" if prompts is grounded else "open"
        base = plain_g if prompts is grounded else plain
        d, acc, pe = stats[name]
        lines.append("| milm | %s | %s (%d) | %.0f | %.2fx | %s | %s | %s |" % (
            name, kind, len(prompts), med[name], med[name] / base,
            d if d else "-", ("%d (%.0f%%)" % (acc, 100.0 * acc / d)) if d else "-",
            ("%.2f" % pe) if d or "lookup" in name or "draft" in name or "self" in name else "1"))
    if have_llama and llama["plain"]:
        lp = statistics.median(llama["plain"])
        lines.append("| llama.cpp | plain (llama-bench tg%d) | - | %.0f | 1.00x | - | - | 1 |" % (a.n, lp))
        for key, label, n in (("spec", "llama-speculative -md tiny --draft-max 8", len(OPEN_PROMPTS)),
                              ("lookup", "llama-lookup --draft-max 8", len(grounded))):
            if llama[key]:
                v = statistics.median(llama[key])
                d, acc = llama_stats[key]
                lines.append("| llama.cpp | %s | %s (%d) | %.0f | %.2fx | %d | %d (%.0f%%) | - |" % (
                    label, "open" if key == "spec" else "grounded", n, v, v / lp, d, acc,
                    100.0 * acc / d if d else 0))
        # Greedy texts: llama-speculative prints the prompt and the continuation.
        same = 0
        total = 0
        for i, prompt in enumerate(OPEN_PROMPTS):
            ours = texts.get(("plain", i), b"").decode("utf-8", "replace")
            theirs = texts.get(("spec", i))
            if theirs is None:
                continue
            total += 1
            theirs = theirs.split(prompt, 1)[-1]
            m = min(len(ours), len(theirs)) - 40  # they stop at a token count of their own
            if m > 0 and ours[:m] == theirs[:m]:
                same += 1
        lines.append("")
        lines.append("Greedy text: milm's plain continuation and llama-speculative's agree on %d of %d "
                     "open prompts (compared up to the shorter, less its last 40 characters)." %
                     (same, total))
    else:
        lines.append("")
        lines.append("llama.cpp: no native build with llama-bench, llama-speculative and "
                     "llama-lookup at %s (set LLAMA_BIN): not compared." % LLAMA)

    # The 1.3B projection.
    synth = WORK + "/milm2-1.3b-q4_0.gguf"
    if not os.path.exists(synth):
        p = sh([MILMC, "synth", "--preset", "1.3b", "--format", "q4_0", "--context", "512",
                "-o", synth])
        if p.returncode != 0:
            sys.exit("speculative.py: milmc synth: " + p.stderr.decode())
    big = compile_model("1.3b", [synth])
    tiny = compile_model("tiny", [DRAFT])
    r = bench_batch(big, 9)
    t1 = bench_batch(tiny, 1)[1]
    c = t1 / r[1]
    lines.append("")
    lines.append("Projection for the 1.3B preset (q4_0, random weights, `milm-run --bench-batch 9`):"
                 " one token %.2f ms; the tiny draft %.3f ms a token, c = %.4f of it." % (r[1], t1, c))
    lines.append("")
    lines.append("| k (fixed) | r(k+1): verify cost / one token | E_k: tokens per evaluation (trained pair) | projected speedup E_k / (r(k+1) + k c) |")
    lines.append("|---|---|---|---|")
    best = (0, 0)
    for k in (1, 2, 3, 4):
        name = "draft model, k = %d fixed, p_min 0" % k
        ek = stats[name][2]
        rk = r[k + 1] / r[1]
        s = ek / (rk + k * c)
        best = max(best, (s, k))
        lines.append("| %d | %.2f | %.2f | %.2fx |" % (k, rk, ek, s))
    lines.append("")
    lines.append("Best projected chain: %.2fx at k = %d." % best)

    # Trees and lookup: N tokens checked per evaluation (drafted / evaluations
    # + 1, r interpolated between whole numbers), D draft evaluations a step.
    def r_at(x):
        lo = max(1, min(int(x), 8))
        frac = min(max(x - lo, 0.0), 1.0)
        return (r[lo] + frac * (r[lo + 1] - r[lo])) / r[1]
    lines.append("")
    lines.append("| scheme (trained pair) | tokens checked per evaluation N | draft evaluations a step D | E | projected E / (r(N) + D c) |")
    lines.append("|---|---|---|---|---|")
    for name in ("draft model, k = 3 fixed, p_min 0",
                 "draft model, k = 3 fixed, p_min 0, + runner-up: tree of 2 (--spec-tree 2)",
                 "prompt lookup, grounded prompts",
                 "prompt lookup, tree of 4 (--spec-tree 4), grounded prompts"):
        ev, dr, de = counts[name]
        if not ev:
            continue
        nchk = dr / ev + 1
        dpe = de / ev
        e = stats[name][2]
        lines.append("| %s | %.2f | %.2f | %.2f | %.2fx |" % (name, nchk, dpe, e,
                                                         e / (r_at(nchk) + dpe * c)))
    text = "\n".join(lines).replace("@SECONDS@", "%.0f" % (time.time() - t_start))
    print(text)
    if a.write_doc:
        doc = ROOT + "/docs/SPECULATIVE.md"
        src = open(doc).read()
        b, e = "<!-- bench/speculative.py begin -->", "<!-- bench/speculative.py end -->"
        i, j = src.index(b), src.index(e)
        open(doc, "w").write(src[:i + len(b)] + "\n" + text + "\n" + src[j:])
        print("speculative.py: wrote docs/SPECULATIVE.md", file=sys.stderr)


if __name__ == "__main__":
    main()
