#!/usr/bin/env python3
"""bench/mca.sh's second half: find the microkernels' per-block loops in the
assembly that mca.sh compiled, run llvm-mca on them and print a markdown report.

    analyze.py WORK LLVM_MCA ITERATIONS CPU:VARIANT...

WORK/<cpu>/neon.s is codegen/ukernels/aarch64/ukernels_neon.c and
WORK/<cpu>/loops.s is bench/mca/loops.c, both compiled as mca.sh describes. Each
mca_<case> function of loops.s holds one loop nest: the block loop of one kernel
helper with its token count fixed. The code measured is the real entry point's,
milm_uk_matmul_<fmt>_q8 in neon.s: of its loops (from llc's loop comments) nested
the same way and holding a whole number of blocks' dot instructions per
iteration, the one closest to the helper's in instruction mix (mnemonics and
operand kinds; registers and immediates erased).
"""
import collections
import concurrent.futures
import os
import re
import subprocess
import sys

# --- what is measured ----------------------------------------------------------
# Dot-product throughput, 128-bit instructions per cycle, from Arm's Software
# Optimization Guides (ASIMD dot product SDOT/UDOT; ASIMD matrix multiply-
# accumulate SMMLA/UMMLA/USMMLA): Cortex-A78 and Neoverse N1 issue them on their
# two FP/ASIMD pipes V0/V1; Cortex-X2 and Neoverse V1 on four, V0-V3 (Neoverse V1's
# 256-bit SVE SDOT issues 2 per cycle: the same 64 byte-MACs per cycle). The script
# checks each figure against LLVM's scheduling model and reports a difference.
DOT_PER_CYCLE = {
    "cortex-a78": {"sdot": 2},
    "neoverse-n1": {"sdot": 2},
    "cortex-x2": {"sdot": 4, "smmla": 4},
    "neoverse-v1": {"sdot": 4, "smmla": 4},
}
SOG = {
    "cortex-a78": "Arm Cortex-A78 Core Software Optimization Guide",
    "neoverse-n1": "Arm Neoverse N1 Software Optimization Guide",
    "cortex-x2": "Arm Cortex-X2 Core Software Optimization Guide",
    "neoverse-v1": "Arm Neoverse V1 Software Optimization Guide",
}
for _c in DOT_PER_CYCLE:
    assert _c in SOG

Q32 = ["q4_0", "q4_1", "q5_0", "q5_1", "q8_0"]
QK = ["q4_k", "q5_k", "q6_k"]


class Case:
    def __init__(self, section, fmt, wrapper, rows, tokens, instr, helper, variants):
        self.section, self.fmt, self.wrapper = section, fmt, wrapper
        self.rows, self.tokens, self.instr, self.helper = rows, tokens, instr, helper
        self.variants = variants  # bitcode flavours where the real code runs this loop
        self.weights = 256 if fmt in QK else 32  # weights per block
        # dot instructions per (block of one row) x (one token): a block of 32
        # (256) int8 products is 2 (16) SDOTs of 16 MACs, or 1 (8) SMMLA of 32 MACs
        # per row x token.
        self.dots = (self.weights // 16) if instr == "sdot" else (self.weights // 32)

    @property
    def name(self):
        return self.wrapper[len("mca_"):]

    def label(self):
        shape = "1 token" if self.tokens == 1 else f"{self.tokens} tokens"
        if self.rows > 1:
            shape = f"{self.rows} rows × {shape}"
        return f"{self.fmt} `{self.helper}`, {shape}"


CASES = []
for f in Q32 + QK:
    CASES.append(Case("decode", f, f"mca_{f}_t1", 1, 1, "sdot", f"neon_rows_{f}",
                      ("dotprod", "i8mm")))
for f in ["q4_0", "q8_0"]:
    CASES.append(Case("prefill", f, f"mca_{f}_t4", 1, 4, "sdot", f"neon_rows_{f}",
                      ("dotprod",)))
    CASES.append(Case("prefill", f, f"mca_{f}_mmla_p2", 2, 4, "smmla", f"neon_mmla_{f}",
                      ("i8mm",)))
for f in ["q4_k", "q6_k"]:
    CASES.append(Case("prefill", f, f"mca_{f}_t4", 1, 4, "sdot", f"neon_rows_{f}",
                      ("dotprod", "i8mm")))


# --- assembly ------------------------------------------------------------------
def functions(path):
    """name -> list of lines of the function's body."""
    out, cur = {}, None
    for line in open(path):
        line = line.rstrip("\n")
        m = re.match(r"^([A-Za-z_][\w$]*):", line)
        if m:
            cur = m.group(1)
            out[cur] = []
            continue
        if cur is not None:
            if line.startswith(".Lfunc_end"):
                cur = None
            else:
                out[cur].append(line)
    return out


class Block:
    def __init__(self, label, ann):
        self.label, self.ann, self.insts = label, ann, []


def blocks(body):
    """Basic blocks in layout order. A block starts at a label (.LBBn_m:) or at
    llc's '// %bb.N:' comment for an unlabelled block; the comment lines that
    follow its label are its annotation (llc's loop comments)."""
    res = []
    for line in body:
        s = line.strip()
        m = re.match(r"^\.(LBB\w+):(.*)$", line) or re.match(r"^// (%bb\.\d+):(.*)$", line)
        if m:
            res.append(Block(m.group(1), m.group(2)))
            continue
        if not res:
            res.append(Block("entry", ""))
        if s.startswith("//"):
            if not res[-1].insts:
                res[-1].ann += " " + s
            continue
        if not s or s.startswith(".") or s.endswith(":"):
            continue
        res[-1].insts.append(re.sub(r"\s*//.*$", "", s))
    return res


BRANCH = re.compile(r"^(b(\.\w+)?|cbn?z|tbn?z)$")


def successors(bl, k):
    """Indices of the blocks that block k can go to (len(bl) for none)."""
    labels, falls = [], True
    for i in bl[k].insts:
        mn, ops = mnemonic(i), (i.split("\t") + [""])[1]
        if BRANCH.match(mn):
            m = re.search(r"\.(LBB\w+)\s*$", ops)
            if m:
                labels.append(m.group(1))
        if mn in ("b", "br", "ret"):
            falls = False
    index = {b.label: n for n, b in enumerate(bl)}
    out = [index.get(t, len(bl)) for t in labels] + ([k + 1] if falls else [])
    return list(dict.fromkeys(out))


class Loop:
    """One loop of a function, from llc's comments: `=>This (Inner) Loop Header:
    Depth=d` on its header, `Parent Loop BBx` for the loops around it, `in Loop:
    Header=BBx` on its other blocks."""

    def __init__(self, bl, k):
        self.bl, self.head = bl, k
        self.key = bl[k].label[1:] if bl[k].label.startswith("LBB") else bl[k].label
        parents = re.findall(r"Parent Loop (\w+) Depth", bl[k].ann.split("=>")[0])
        self.parent = parents[-1] if parents else None
        self.members, self.children = set(), []

    def insts(self):
        return [i for k in sorted(self.members) for i in self.bl[k].insts]


def loops_of(body):
    """{key: Loop} of a function's loops."""
    bl = blocks(body)
    loops = {}
    for k, b in enumerate(bl):
        if re.search(r"Loop Header: Depth=", b.ann):
            lp = Loop(bl, k)
            loops[lp.key] = lp
    for k, b in enumerate(bl):
        m = re.search(r"in Loop: Header=(\w+) Depth", b.ann)
        key = next((l.key for l in loops.values() if l.head == k), m.group(1) if m else None)
        while key is not None:           # the block is in its loop and all around it
            loops[key].members.add(k)
            key = loops[key].parent
    for lp in loops.values():
        if lp.parent is not None:
            loops[lp.parent].children.append(lp)
    return loops


def paths(lp, limit=4096):
    """The ways round loop lp, from its header back to it, as lists of segments:
    a list of instructions, or an inner Loop (entered at its header, left by one of
    its exits) standing for however many iterations it makes."""
    bl, out = lp.bl, []
    inner = {c.head: c for c in lp.children}

    def walk(k, seen, seq):
        if len(out) >= limit:
            return
        if k in inner:
            c = inner[k]
            seq = seq + [c]
            succ = sorted({n for m in c.members for n in successors(bl, m)} - c.members)
        else:
            seq = seq + [bl[k].insts]
            succ = successors(bl, k)
        for n in succ:
            if n == lp.head:
                out.append(seq)
            elif n in lp.members and n not in seen:
                walk(n, seen | {n}, seq)

    first = bl[lp.head].insts
    for n in successors(bl, lp.head):
        if n == lp.head:
            out.append([first])
        elif n in lp.members:
            walk(n, {lp.head, n}, [first])
    return out


def nest(lp):
    """The shape of a loop nest: the nests of the loops inside, sorted."""
    return tuple(sorted(nest(c) for c in lp.children))


def resolve(path, instr, per_block):
    """A path's instructions in execution order, with an inner loop repeated as
    often as the block needs (the dot instructions of one block come to per_block),
    and the number of blocks one iteration handles."""
    def ndot(insts):
        return sum(1 for i in insts if mnemonic(i) == instr)
    outer = [i for seg in path if isinstance(seg, list) for i in seg]
    inner = [seg for seg in path if isinstance(seg, Loop)]
    if not inner:
        d = ndot(outer)
        if d == 0 or d % per_block:
            raise ValueError(f"{d} {instr.upper()} in the loop, not a multiple of {per_block}")
        return outer, d // per_block, None
    if len(inner) > 1 or inner[0].children:
        raise ValueError("more than one loop inside the block loop")
    body = max(([i for seg in p for i in seg] for p in paths(inner[0])), key=len)
    di, rest = ndot(body), per_block - ndot(outer)
    if di == 0 or rest <= 0 or rest % di:
        raise ValueError(f"an inner loop with {di} {instr.upper()}, {ndot(outer)} around it: "
                         f"not {per_block} per block")
    trips = rest // di
    if trips < 2:  # a loop that runs once per block is a block loop itself, not in one
        raise ValueError("the loop inside holds a whole block")
    insts = []
    for seg in path:
        insts += body * trips if isinstance(seg, Loop) else seg
    return insts, 1, (inner[0].key, trips)


def shape(inst):
    """An instruction with its registers, immediates and labels erased."""
    mn, _, ops = inst.partition("\t")
    ops = re.sub(r"\.LBB\w+", "L", ops)
    ops = re.sub(r"#[-+]?[\w.]+", "#", ops)
    ops = re.sub(r"\b(v|q|d|s|h|b)\d+\b", r"\1", ops)
    ops = re.sub(r"\b(w\d+|wzr|wsp)\b", "w", ops)
    ops = re.sub(r"\b(x\d+|xzr|sp|fp|lr)\b", "x", ops)
    return mn + " " + ops.replace(" ", "")


def mix(insts):
    return collections.Counter(shape(i) for i in insts)


def distance(a, b):
    return sum(((a - b) + (b - a)).values())


def per_block_distance(a, na, b, nb):
    """Instructions per block that differ between mixes a (na blocks) and b (nb)."""
    return sum(abs(a[k] / na - b[k] / nb) for k in set(a) | set(b))


def mnemonic(inst):
    return inst.split("\t")[0].split()[0]


# --- llvm-mca ------------------------------------------------------------------
def run_mca(mca, cpu, iterations, regions, path):
    """llvm-mca on each region, over N and 2N iterations: cycles per iteration is
    the difference over N (the steady state, without the pipeline's fill and drain)."""
    with open(path, "w") as f:
        for name, insts in regions:
            f.write(f"// LLVM-MCA-BEGIN {name}\n")
            for i in insts:
                f.write("\t" + i + "\n")
            f.write(f"// LLVM-MCA-END {name}\n")
    procs = [subprocess.Popen([mca, "-mtriple=aarch64-unknown-linux-gnu", f"-mcpu={cpu}",
                               f"-iterations={k * iterations}", path],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k in (1, 2)]
    outs = []
    for p in procs:
        out, err = p.communicate()
        if p.returncode:
            sys.exit(f"analyze.py: llvm-mca -mcpu={cpu} {path} failed:\n{err}")
        outs.append(out)
    with open(path[:-2] + ".mca.txt", "w") as f:
        f.write(outs[1])
    split = [dict(zip(*(lambda p: (p[1::2], p[2::2]))(
        re.split(r"^\[\d+\] Code Region - (\S+)\s*$", o, flags=re.M)))) for o in outs]
    res = {}
    for name, text in split[1].items():
        c1 = int(re.search(r"^Total Cycles:\s+(\d+)", split[0][name], re.M).group(1))
        c2 = int(re.search(r"^Total Cycles:\s+(\d+)", text, re.M).group(1))
        uops = int(re.search(r"^Total uOps:\s+(\d+)", text, re.M).group(1))
        width = int(re.search(r"^Dispatch Width:\s+(\d+)", text, re.M).group(1))
        r = {"cyc": (c2 - c1) / iterations, "width": width, "uops": uops / (2 * iterations),
             "rthroughput": float(re.search(r"^Block RThroughput:\s+([\d.]+)", text, re.M).group(1))}
        units = re.findall(r"^\[([\d.]+)\]\s+- (\S+)$", text, re.M)
        m = re.search(r"^Resource pressure per iteration:\n.*\n(.*)$", text, re.M)
        press = [0.0 if p == "-" else float(p) for p in m.group(1).split()]
        top = max(range(len(press)), key=lambda k: press[k])
        fam = family(units[top][1])
        cols = [k for k, (_, u) in enumerate(units) if family(u) == fam]
        r["unit"], r["unit_pressure"], r["family_units"] = units[top][1], press[top], len(cols)
        # the instructions on that unit's family of pipes, by mnemonic
        by = collections.Counter()
        table = text.split("Resource pressure by instruction:\n", 1)[1].splitlines()[1:]
        for line in table:
            f = line.split()
            if not f:
                break
            by[f[len(press)]] += sum(float(f[k]) for k in cols if f[k] != "-")
        r["unit_insts"] = [(m, p) for m, p in by.most_common(4) if p > 0]
        res[name] = r
    return res


def model_dot_tput(mca, cpu, instr, path):
    """Dot instructions per cycle in LLVM's model: 8 independent ones."""
    ops = {"sdot": "sdot\tv{0}.4s, v16.16b, v17.16b", "smmla": "smmla\tv{0}.4s, v16.16b, v17.16b"}
    with open(path, "w") as f:
        for k in range(8):
            f.write(ops[instr].format(k) + "\n")
    out = subprocess.run([mca, "-mtriple=aarch64-unknown-linux-gnu", f"-mcpu={cpu}", path],
                         check=True, capture_output=True, text=True).stdout
    return 8 / float(re.search(r"^Block RThroughput:\s+([\d.]+)", out, re.M).group(1))


def family(unit):
    """A pipe's family: V1UnitV2 -> V1UnitV, V1UnitL01 -> V1UnitL, A57UnitX -> A57UnitX."""
    return re.sub(r"\d+$", "", unit) if re.search(r"Unit[A-Za-z]+\d+$", unit) else unit


UNIT_KIND = [(r"Unit(L|LD|LS)\d*$", "loads"), (r"Unit(V|W|X|F)\d*$", "FP/ASIMD"),
             (r"Unit(S|I|M|ALU)\d*$", "integer"), (r"Unit(B)\d*$", "branch"),
             (r"Unit(D|SD)\d*$", "store data"), (r"UnitFlg", "flags")]


def unit_words(unit, n):
    fam = family(unit)
    short = re.sub(r"^.*Unit", "", fam) + (f" ×{n}" if n > 1 else "")
    for pat, words in UNIT_KIND:
        if re.search(pat, fam):
            return f"{words} ({short})"
    return short


# --- main ------------------------------------------------------------------------
def analyze_cpu(work, mca, iterations, cpu, variant):
    """rows (one per case) and notes for one CPU."""
    rows, notes = [], []
    real = functions(os.path.join(work, cpu, "neon.s"))
    wrap = functions(os.path.join(work, cpu, "loops.s"))
    tput = dict(DOT_PER_CYCLE.get(cpu, {}))
    if not tput:
        notes.append(f"{cpu}: no published dot-product throughput in analyze.py; the bound uses LLVM's model")
    for instr in (["sdot", "smmla"] if variant == "i8mm" else ["sdot"]):
        model = model_dot_tput(mca, cpu, instr, os.path.join(work, cpu, f"{instr}.s"))
        if instr not in tput:
            tput[instr] = model
        elif abs(model - tput[instr]) > 1e-6:
            notes.append(f"{cpu}: LLVM's model issues {model:g} {instr.upper()}/cycle, "
                         f"the optimization guide {tput[instr]:g}; the bound uses the guide's")
    regions, found = [], {}
    for case in CASES:
        if variant not in case.variants:
            continue
        top = [l for l in loops_of(wrap[case.wrapper]).values() if l.parent is None]
        if len(top) != 1:
            sys.exit(f"analyze.py: {cpu}: {case.wrapper} has {len(top)} outermost loops, expected 1")
        fn = f"milm_uk_matmul_{case.fmt}_q8"
        per_iter = case.dots * case.rows * case.tokens
        try:
            wblk = max((resolve(p, case.instr, per_iter) for p in paths(top[0])),
                       key=lambda r: len(r[0]))[1]
        except ValueError as e:
            sys.exit(f"analyze.py: {cpu}: {case.wrapper}: {e}")
        fp = mix(top[0].insts())
        # The candidates: loops of the real function nested like the loop
        # compiled alone (no loop inside, or one, ...) whose iteration does whole
        # blocks of this case (its dot instructions come to a multiple of a
        # block's); of those, the one closest in instruction mix per block to the
        # loop compiled alone (per block, so that unrolling by another factor does
        # not count). With branches inside, llvm-mca gets the longest way round
        # (the slowest iteration; here, that of finite fp16 scales).
        cands, why = [], []
        for l in loops_of(real[fn]).values():
            if nest(l) != nest(top[0]):
                continue
            ways, ok = paths(l), []
            for p in ways:
                try:
                    ok.append(resolve(p, case.instr, per_iter))
                except ValueError as e:
                    why.append(f".{l.bl[l.head].label}: {e}")
            if ok:
                best = max(ok, key=lambda r: len(r[0]))
                cands.append((per_block_distance(fp, wblk, mix(l.insts()), best[1]),
                              l, ways, best))
        if not cands:
            sys.exit(f"analyze.py: {cpu}: {fn}: no loop does whole {case.name} blocks: " + "; ".join(why))
        cands.sort(key=lambda c: c[0])
        dn, lp, ways, (insts, nblk, inner) = cands[0]
        if len(ways) >= 4096:
            notes.append(f"{cpu}: {fn} .{lp.bl[lp.head].label}: more than 4096 ways round the loop; "
                         "the longest of the first 4096 is measured")
        d = round(dn * nblk)  # instructions per iteration that differ
        hdr, allinsts = lp.bl[lp.head].label, lp.insts()
        stack = sum(1 for i in insts if re.search(r"\[(sp|x29)\b", i))
        ndot = sum(1 for i in insts if mnemonic(i) == case.instr)
        # Other copies of the same helper inlined at other call sites of the
        # function (e.g. the odd-token tails next to the i8mm path) are measured
        # too: the table gives the closest match and the details the spread.
        copies = [c for c in cands[1:] if (c[0] - dn) * nblk <= 2 and c[3][1] == nblk]
        found[case.name] = dict(case=case, fn=fn, hdr=hdr, insts=insts, diff=d, stack=stack,
                                blocks=nblk, ndot=ndot, inner=inner, npaths=len(ways),
                                nall=len(allinsts), ncopies=len(copies))
        regions.append((case.name, insts))
        for k, c in enumerate(copies):
            regions.append((f"{case.name}__{k}", c[3][0]))
    res = run_mca(mca, cpu, iterations, regions, os.path.join(work, cpu, "loops-mca.s"))
    for name, f in found.items():
        r, case = res[name], f["case"]
        cyc = r["cyc"]
        others = [res[f"{name}__{k}"]["cyc"] for k in range(f["ncopies"])]
        units = f["blocks"] * case.rows * case.tokens      # block x row x token
        per = cyc / units
        bound = case.dots / tput[case.instr]
        # What bounds the iteration: dispatch width (uops / width), the busiest pipe
        # as simulated, or the ideal resource bound (Block RThroughput); more than
        # 10% above all three, a loop-carried dependency chain sets the pace.
        disp = r["uops"] / r["width"]
        latency = cyc > 1.1 * max(disp, r["unit_pressure"], r["rthroughput"])
        pipes = (f"{unit_words(r['unit'], r['family_units'])} {r['unit_pressure']:.1f}: " +
                 ", ".join(f"{m} {p:.3g}" for m, p in r["unit_insts"]))
        if latency:
            limit = "dependency chain; busiest pipes " + pipes
        elif disp >= r["unit_pressure"]:
            limit = (f"dispatch: {r['uops']:.0f} uops / {r['width']} per cycle = {disp:.1f}; "
                     "busiest pipes " + pipes)
        else:
            limit = pipes
        rows.append(dict(cpu=cpu, variant=variant, case=case, fn=f["fn"], hdr=f["hdr"],
                         diff=f["diff"], stack=f["stack"], npaths=f["npaths"], nall=f["nall"], inner=f["inner"],
                         ninst=len(f["insts"]), ndot=f["ndot"],
                         blocks=f["blocks"], cyc=cyc, rthr=r["rthroughput"], per=per,
                         wpc=case.weights / per, bound=bound, pct=100 * bound / per,
                         limit=limit, latency=latency, others=others))
    return rows, notes, tput


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    work, mca, iterations = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cpus = [a.split(":") for a in sys.argv[4:]]
    rows = []        # one per (case, cpu)
    notes = []
    tputs = {}       # cpu -> {instruction: per cycle} used for the bound
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for (cpu, _), (r, n, t) in zip(cpus, pool.map(
                lambda cv: analyze_cpu(work, mca, iterations, *cv), cpus)):
            rows += r
            notes += n
            tputs[cpu] = t

    # --- report ----------------------------------------------------------------
    cpu_names = [c for c, _ in cpus]
    variant_of = dict(cpus)
    out = []
    out.append("Dot-instruction bound: 128-bit " + "; ".join(
        f"{cpu} " + ", ".join(f"{i.upper()} {t:.3g}/cycle" for i, t in tputs[cpu].items())
        + (f" ({SOG[cpu]})" if cpu in SOG else " (LLVM's model)")
        for cpu in cpu_names) + ".")
    out.append("")
    for section, title, unit, rate in [
            ("decode", "Decode (one token: the mat-vec loop)", "cycles per block", "weights/cycle"),
            ("prefill", "Prefill (several tokens per pass over the weights)",
             "cycles per block·token", "MACs/cycle")]:
        sec = [r for r in rows if r["case"].section == section]
        if not sec:
            continue
        out.append(f"**{title}**, {unit}: llvm-mca's estimate / the dot-instruction bound "
                   f"(the bound as a percentage of the estimate); {rate} in the details below.")
        out.append("")
        out.append("| loop | weights per block | " +
                   " | ".join(f"{c} ({variant_of[c]})" for c in cpu_names) + " |")
        out.append("|---|--:|" + "--:|" * len(cpu_names))
        for case in [c for c in CASES if c.section == section]:
            cells = []
            for c in cpu_names:
                r = next((r for r in sec if r["case"] is case and r["cpu"] == c), None)
                if r is None:
                    cells.append("–")
                else:
                    cells.append(f"{r['per']:.2f} / {r['bound']:.2f} ({r['pct']:.0f}%)"
                                 + (" ‡" if r["latency"] else ""))
            if any(x != "–" for x in cells):
                out.append(f"| {case.label()} | {case.weights} | " + " | ".join(cells) + " |")
        out.append("")
    out.append("‡ latency-bound: llvm-mca's cycles per iteration are more than 10% above the uops over "
               "the dispatch width, the busiest pipe's cycles and the Block RThroughput, so a "
               "loop-carried dependency chain sets the pace.")
    out.append("")
    out.append("<details><summary>Details per loop and CPU</summary>")
    out.append("")
    out.append("| loop | CPU (bitcode) | loop in | instrs / iter | dot instrs / iter | blocks / iter "
               "| differs from the helper alone | stack ld/st / iter "
               "| mca cycles / iter | Block RThroughput | cycles / block·token | weights or MACs / cycle "
               "| dot bound cycles / block·token | % of bound "
               "| limited by (busiest pipes: cycles/iter on the busiest; instructions by cycles on those pipes) |")
    out.append("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
    for r in rows:
        c = r["case"]
        where = f"`{r['fn']}` .{r['hdr']}"
        if r["inner"]:
            where += f", its inner loop .L{r['inner'][0]} {r['inner'][1]}× per block"
        if r["npaths"] > 1:
            where += f"; longest of {r['npaths']} paths"
        if r["others"]:
            where += (f"; {len(r['others'])} more cop{'y' if len(r['others']) == 1 else 'ies'} "
                      f"in the function: " + ", ".join(f"{c:.2f}" for c in r["others"]) + " cycles/iter")
        out.append(f"| {c.label()} | {r['cpu']} ({r['variant']}) | {where} | {r['ninst']} | "
                   f"{r['ndot']} {c.instr.upper()} | {r['blocks']} | {r['diff']} | {r['stack']} | {r['cyc']:.2f} | {r['rthr']:.2f} | "
                   f"{r['per']:.2f} | {r['wpc']:.1f} | {r['bound']:.2f} | {r['pct']:.0f}% | {r['limit']} |")
    out.append("")
    out.append("</details>")
    # loops that the entry point compiles quite differently from the helper alone
    odd = collections.defaultdict(list)
    for r in rows:
        if r["diff"] > 0.25 * r["nall"] or r["stack"] >= 4:
            odd[r["case"]].append(r)
    if odd:
        out.append("")
        out.append("Register pressure: loops with stack loads/stores (spills) in the entry point, "
                   "or whose instruction mix there differs from the helper compiled alone by more than a quarter:")
        out.append("")
        for case in [c for c in CASES if c in odd]:
            rs = odd[case]
            out.append(f"- {case.label()}: " + "; ".join(
                f"{r['cpu']}: {r['stack']} stack loads/stores per block, "
                f"{r['diff']} of {r['nall']} instructions differ"
                for r in rs))
    if notes:
        out.append("")
        for n in notes:
            out.append(f"- {n}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
