#!/usr/bin/env python3
"""Trains the tiny model that `scripts/run.sh` compiles by default, and writes it as GGUF.

    /usr/bin/python3 scripts/train_tiny_model.py [-o models/milm-tiny-kjv.gguf] [options]

Everything comes from Debian 12 packages (`scripts/train_tiny_model.sh` installs them):
the corpus is the King James Version of the Bible (1611, public domain) from the
`bible-kjv-text` package, read with the `bible` program of the package `bible-kjv` (when
it is not installed, both packages are fetched with `apt-get download` and unpacked into a
temporary folder). The script then

1. trains a byte-level BPE tokenizer, GPT-2 style: the GPT-2 byte-to-unicode mapping, the
   GPT-2 pre-tokenizer regex (exact on this all-ASCII corpus), 256 byte tokens, merges in
   rank order, and one control token <|endoftext|> (BOS and EOS);
2. trains a LLaMA-architecture decoder (RMSNorm, rotary embeddings on adjacent pairs --
   llama.cpp's rope type NORM, which is what a GGUF `llama` model uses, so the q/k weights
   are written as trained, with no permutation --, SwiGLU MLP, no biases, untied output)
   on one CPU thread with a fixed seed and a fixed number of steps;
3. writes GGUF v3 (architecture `llama`, tokenizer `gpt2` with pre-tokenizer `gpt-2`),
   matrices in Q8_0 (default) or F16, norms in F32;
4. writes the reference logits of the weights as stored in the file (dequantized, float64)
   for a fixed token sequence next to it, as `<model>.ref.jsonl` in the format of
   test/fixtures (one line per position: pos, input, argmax, logits), which
   test/e2e/tiny-model.test compares with milm's.

Same torch build and same options give the same file; timings vary with the machine.
"""
import argparse
import hashlib
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

EOT = "<|endoftext|>"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Corpus


def bible_text(workdir):
    """The whole KJV, one verse a line, no chapter headings or verse numbers."""
    exe, args = shutil.which("bible"), []
    if exe is None or not os.path.exists("/usr/lib/bible.data"):
        log("bible-kjv is not installed: fetching bible-kjv and bible-kjv-text with apt-get download")
        debs = os.path.join(workdir, "debs")
        root = os.path.join(workdir, "root")
        os.makedirs(debs)
        subprocess.run(["apt-get", "download", "bible-kjv", "bible-kjv-text"], cwd=debs, check=True)
        for deb in sorted(os.listdir(debs)):
            subprocess.run(["dpkg-deb", "-x", os.path.join(debs, deb), root], check=True)
        exe = os.path.join(root, "usr/bin/bible")
        args = ["-p", os.path.join(root, "usr/lib")]
    raw = subprocess.run([exe, *args, "-l0", "gen1:1-rev22:21"], check=True,
                         stdout=subprocess.PIPE).stdout.decode("ascii")
    verses, chapters = [], []
    for line in raw.splitlines():
        m = re.match(r"^\s+(\d+) (.*\S)\s*$", line)
        if m:
            if m.group(1) == "1":
                chapters.append(len(verses))
            verses.append(m.group(2))
    if len(verses) != 31102:
        raise SystemExit(f"expected the 31102 verses of the KJV, got {len(verses)}")
    return verses, chapters


def package_version(name):
    """The installed version of a Debian package, else the one apt would fetch."""
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL).stdout.decode().strip()
        if out:
            return out
        out = subprocess.run(["apt-cache", "policy", name], stdout=subprocess.PIPE,
                             check=True).stdout.decode()
        m = re.search(r"Candidate:\s*(\S+)", out)
        return m.group(1) if m else "?"
    except (OSError, subprocess.CalledProcessError):
        return "?"


# ---------------------------------------------------------------------------
# Byte-level BPE tokenizer (GPT-2 style)


def bytes_to_unicode():
    """GPT-2's mapping of the 256 bytes to printable characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


# GPT-2's regex with \p{L} written [^\W\d_] and \p{N} \d: the same on ASCII text, which
# is all this corpus is (checked below).
GPT2_PAT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+""")


def pretokenize(text):
    return GPT2_PAT.findall(text)


def train_bpe(text, vocab_size):
    """Returns (tokens, merges): tokens[0..255] are the bytes, then one per merge, then EOT."""
    b2u = bytes_to_unicode()
    byte_tokens = [b2u[b] for b in range(256)]
    words = Counter(pretokenize(text))
    # Each distinct pre-token as a list of symbol strings, with its count.
    seqs = [[b2u[b] for b in w.encode("utf-8")] for w in words]
    counts = list(words.values())
    pair_count = Counter()
    where = defaultdict(set)
    for i, s in enumerate(seqs):
        for a, b in zip(s, s[1:]):
            pair_count[(a, b)] += counts[i]
            where[(a, b)].add(i)
    merges = []
    n_merges = vocab_size - 256 - 1
    while len(merges) < n_merges and pair_count:
        # The most frequent pair; ties go to the smallest pair, so the result is deterministic.
        best = min(pair_count.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        if pair_count[best] < 2:
            break
        merges.append(best)
        a, b = best
        new = a + b
        for i in sorted(where.pop(best, ())):
            s, c = seqs[i], counts[i]
            for p in zip(s, s[1:]):
                pair_count[p] -= c
                if pair_count[p] <= 0:
                    del pair_count[p]
            out, k = [], 0
            while k < len(s):
                if k + 1 < len(s) and s[k] == a and s[k + 1] == b:
                    out.append(new)
                    k += 2
                else:
                    out.append(s[k])
                    k += 1
            seqs[i] = out
            for p in zip(out, out[1:]):
                pair_count[p] += c
                where[p].add(i)
    tokens = byte_tokens + [a + b for a, b in merges] + [EOT]
    return tokens, [f"{a} {b}" for a, b in merges]


class Tokenizer:
    def __init__(self, tokens, merges):
        self.tokens = tokens
        self.merges = merges
        self.ids = {t: i for i, t in enumerate(tokens)}
        self.ranks = {tuple(m.split(" ")): r for r, m in enumerate(merges)}
        self.b2u = bytes_to_unicode()
        self.u2b = {u: b for b, u in self.b2u.items()}
        self.eot = self.ids[EOT]
        self.cache = {}

    def bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        s = [self.b2u[b] for b in word.encode("utf-8")]
        while len(s) > 1:
            ranked = [(self.ranks.get(p, math.inf), k) for k, p in enumerate(zip(s, s[1:]))]
            r, k = min(ranked)
            if r == math.inf:
                break
            s = s[:k] + [s[k] + s[k + 1]] + s[k + 2:]
        ids = [self.ids[t] for t in s]
        self.cache[word] = ids
        return ids

    def encode(self, text):
        out = []
        for w in pretokenize(text):
            out.extend(self.bpe(w))
        return out

    def decode(self, ids):
        return bytes(self.u2b[c] for i in ids if i != self.eot
                     for c in self.tokens[i]).decode("utf-8", errors="replace")


# ---------------------------------------------------------------------------
# Model (LLaMA architecture)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope(x, cos, sin):
    """Rotates adjacent pairs (x[2i], x[2i+1]) by pos * base^(-2i/head_dim): rope type NORM."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1).flatten(-2)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, f = c["dim"], c["ffn"]
        self.n_heads, self.head_dim = c["heads"], d // c["heads"]
        self.attn_norm = RMSNorm(d, c["eps"])
        self.wq = nn.Linear(d, d, bias=False)
        self.wk = nn.Linear(d, d, bias=False)
        self.wv = nn.Linear(d, d, bias=False)
        self.wo = nn.Linear(d, d, bias=False)
        self.ffn_norm = RMSNorm(d, c["eps"])
        self.w_gate = nn.Linear(d, f, bias=False)
        self.w_up = nn.Linear(d, f, bias=False)
        self.w_down = nn.Linear(f, d, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, D = x.shape
        h = self.attn_norm(x)
        shape = (B, T, self.n_heads, self.head_dim)
        q = rope(self.wq(h).view(shape).transpose(1, 2), cos, sin)
        k = rope(self.wk(h).view(shape).transpose(1, 2), cos, sin)
        v = self.wv(h).view(shape).transpose(1, 2)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.head_dim) + mask
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D)
        x = x + self.wo(y)
        h = self.ffn_norm(x)
        return x + self.w_down(F.silu(self.w_gate(h)) * self.w_up(h))


class Llama(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.tok_embeddings = nn.Embedding(c["vocab"], c["dim"])
        self.layers = nn.ModuleList(Block(c) for _ in range(c["layers"]))
        self.norm = RMSNorm(c["dim"], c["eps"])
        self.output = nn.Linear(c["dim"], c["vocab"], bias=False)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02
                if name.endswith("wo.weight") or name.endswith("w_down.weight"):
                    std = 0.02 / math.sqrt(2 * c["layers"])
                nn.init.normal_(p, 0.0, std)

    def rope_tables(self, T, dtype):
        hd = self.c["dim"] // self.c["heads"]
        inv = self.c["rope_base"] ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
        ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None]
        mask = torch.full((T, T), float("-inf"), dtype=dtype).triu(1)
        return ang.cos().to(dtype), ang.sin().to(dtype), mask

    def forward(self, ids):
        T = ids.shape[1]
        cos, sin, mask = self.rope_tables(T, self.output.weight.dtype)
        x = self.tok_embeddings(ids)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        return self.output(self.norm(x))


# ---------------------------------------------------------------------------
# GGUF v3 writer

GGUF_U32, GGUF_I32, GGUF_F32, GGUF_BOOL, GGUF_STRING, GGUF_ARRAY = 4, 5, 6, 7, 8, 9
GGML_F32, GGML_F16, GGML_Q8_0 = 0, 1, 8
ALIGN = 32


def gguf_str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def gguf_value(kind, v):
    if kind == GGUF_U32:
        return struct.pack("<I", v)
    if kind == GGUF_I32:
        return struct.pack("<i", v)
    if kind == GGUF_F32:
        return struct.pack("<f", v)
    if kind == GGUF_BOOL:
        return struct.pack("<B", 1 if v else 0)
    if kind == GGUF_STRING:
        return gguf_str(v)
    raise ValueError(kind)


def quantize_q8_0(w):
    """llama.cpp's Q8_0 of the rows of w (float32, row length a multiple of 32):
    returns (bytes, dequantized values)."""
    x = w.reshape(-1, 32).astype(np.float32)
    amax = np.abs(x).max(axis=1, keepdims=True)
    d = amax / 127.0
    inv = np.where(d > 0, 1.0 / np.where(d > 0, d, 1.0), 0.0).astype(np.float32)
    v = x * inv
    q = (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int8)  # roundf: halves away from 0
    d16 = d.astype(np.float16)
    blocks = np.empty(x.shape[0], dtype=[("d", "<f2"), ("qs", "i1", 32)])
    blocks["d"] = d16[:, 0]
    blocks["qs"] = q
    deq = (q.astype(np.float32) * d16.astype(np.float32)).reshape(w.shape)
    return blocks.tobytes(), deq


def write_gguf(path, kv, tensors):
    """kv: [(key, type, value)] (arrays: (key, GGUF_ARRAY, (elem type, list)));
    tensors: [(name, numpy array in PyTorch order [out, in], ggml type)].
    Returns {name: the values as stored (dequantized), float32}."""
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv))
    for key, kind, v in kv:
        head += gguf_str(key) + struct.pack("<I", kind)
        if kind == GGUF_ARRAY:
            et, items = v
            head += struct.pack("<IQ", et, len(items))
            head += b"".join(gguf_value(et, x) for x in items)
        else:
            head += gguf_value(kind, v)
    blobs, stored, offset = [], {}, 0
    for name, arr, ty in tensors:
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        if ty == GGML_Q8_0:
            data, deq = quantize_q8_0(arr)
        elif ty == GGML_F16:
            h = arr.astype(np.float16)
            data, deq = h.tobytes(), h.astype(np.float32)
        else:
            data, deq = arr.astype("<f4").tobytes(), arr
        stored[name] = deq
        head += gguf_str(name) + struct.pack("<I", arr.ndim)
        head += b"".join(struct.pack("<Q", n) for n in reversed(arr.shape))  # ne[0] innermost
        head += struct.pack("<IQ", ty, offset)
        pad = -len(data) % ALIGN
        blobs.append(data + b"\0" * pad)
        offset += len(data) + pad
    head += b"\0" * (-len(head) % ALIGN)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(head)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)
    return stored


def export(model, tok, cfg, path, fmt, description):
    mat = GGML_Q8_0 if fmt == "q8_0" else GGML_F16
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    tensors = [("token_embd.weight", sd["tok_embeddings.weight"], mat),
               ("output_norm.weight", sd["norm.weight"], GGML_F32),
               ("output.weight", sd["output.weight"], mat)]
    for l in range(cfg["layers"]):
        p, b = f"layers.{l}.", f"blk.{l}."
        tensors += [(b + "attn_norm.weight", sd[p + "attn_norm.weight"], GGML_F32),
                    (b + "attn_q.weight", sd[p + "wq.weight"], mat),
                    (b + "attn_k.weight", sd[p + "wk.weight"], mat),
                    (b + "attn_v.weight", sd[p + "wv.weight"], mat),
                    (b + "attn_output.weight", sd[p + "wo.weight"], mat),
                    (b + "ffn_norm.weight", sd[p + "ffn_norm.weight"], GGML_F32),
                    (b + "ffn_gate.weight", sd[p + "w_gate.weight"], mat),
                    (b + "ffn_up.weight", sd[p + "w_up.weight"], mat),
                    (b + "ffn_down.weight", sd[p + "w_down.weight"], mat)]
    n = len(tok.tokens)
    kv = [("general.architecture", GGUF_STRING, "llama"),
          ("general.name", GGUF_STRING, os.path.basename(path)[:-len(".gguf")]),
          ("general.description", GGUF_STRING, description),
          ("general.file_type", GGUF_U32, 7 if fmt == "q8_0" else 1),
          ("general.alignment", GGUF_U32, ALIGN),
          ("llama.vocab_size", GGUF_U32, n),
          ("llama.context_length", GGUF_U32, cfg["ctx"]),
          ("llama.embedding_length", GGUF_U32, cfg["dim"]),
          ("llama.block_count", GGUF_U32, cfg["layers"]),
          ("llama.feed_forward_length", GGUF_U32, cfg["ffn"]),
          ("llama.attention.head_count", GGUF_U32, cfg["heads"]),
          ("llama.attention.head_count_kv", GGUF_U32, cfg["heads"]),
          ("llama.attention.layer_norm_rms_epsilon", GGUF_F32, cfg["eps"]),
          ("llama.rope.freq_base", GGUF_F32, cfg["rope_base"]),
          ("llama.rope.dimension_count", GGUF_U32, cfg["dim"] // cfg["heads"]),
          ("tokenizer.ggml.model", GGUF_STRING, "gpt2"),
          ("tokenizer.ggml.pre", GGUF_STRING, "gpt-2"),
          ("tokenizer.ggml.tokens", GGUF_ARRAY, (GGUF_STRING, tok.tokens)),
          ("tokenizer.ggml.token_type", GGUF_ARRAY,
           (GGUF_I32, [3 if t == EOT else 1 for t in tok.tokens])),
          ("tokenizer.ggml.merges", GGUF_ARRAY, (GGUF_STRING, tok.merges)),
          ("tokenizer.ggml.bos_token_id", GGUF_U32, tok.eot),
          ("tokenizer.ggml.eos_token_id", GGUF_U32, tok.eot),
          ("tokenizer.ggml.add_bos_token", GGUF_BOOL, True),
          ("tokenizer.ggml.add_eos_token", GGUF_BOOL, False)]
    return write_gguf(path, kv, tensors)


def stored_model(stored, cfg):
    """A float64 copy of the model with the weights exactly as the GGUF file holds them."""
    m = Llama(cfg).double()
    names = {"tok_embeddings.weight": "token_embd.weight", "norm.weight": "output_norm.weight",
             "output.weight": "output.weight"}
    gg = {"attn_norm": "attn_norm", "wq": "attn_q", "wk": "attn_k", "wv": "attn_v",
          "wo": "attn_output", "ffn_norm": "ffn_norm", "w_gate": "ffn_gate", "w_up": "ffn_up",
          "w_down": "ffn_down"}
    for l in range(cfg["layers"]):
        for ours, theirs in gg.items():
            names[f"layers.{l}.{ours}.weight"] = f"blk.{l}.{theirs}.weight"
    m.load_state_dict({k: torch.from_numpy(stored[v].astype(np.float64)) for k, v in names.items()})
    return m.eval()


# ---------------------------------------------------------------------------
# Training


@torch.no_grad()
def generate(model, ids, n, temp=0.0, top_k=0, gen=None):
    ids = list(ids)
    for _ in range(n):
        logits = model(torch.tensor([ids[-model.c["ctx"]:]]))[0, -1].double()
        if temp == 0:
            nxt = int(logits.argmax())
        else:
            if top_k:
                kth = logits.topk(top_k).values[-1]
                logits = torch.where(logits < kth, torch.tensor(-math.inf, dtype=logits.dtype), logits)
            nxt = int(torch.multinomial((logits / temp).softmax(-1), 1, generator=gen))
        ids.append(nxt)
    return ids


def batches(stream, starts, bos, T, B, gen):
    """B windows of T tokens, each starting at a verse: input BOS + T-1 tokens, target T tokens."""
    idx = torch.randint(0, len(starts), (B,), generator=gen)
    x = torch.empty(B, T, dtype=torch.long)
    y = torch.empty(B, T, dtype=torch.long)
    for r, i in enumerate(idx.tolist()):
        s = int(starts[i])
        w = stream[s:s + T]
        x[r, 0] = bos
        x[r, 1:] = w[:-1]
        y[r] = w
    return x, y


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", default="models/milm-tiny-kjv.gguf")
    ap.add_argument("--format", choices=["q8_0", "f16"], default="q8_0")
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--dim", type=int, default=192)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--ffn", type=int, default=512)
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=1600)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--eval-every", type=int, default=100)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    t_start = time.time()

    with tempfile.TemporaryDirectory() as tmp:
        verses, chapters = bible_text(tmp)
    # Every 50th chapter is held out for the validation loss.
    held = set(range(0, len(chapters), 50))
    bounds = chapters + [len(verses)]
    train_v, val_v = [], []
    for c in range(len(chapters)):
        (val_v if c in held else train_v).extend(verses[bounds[c]:bounds[c + 1]])
    text = "".join(v + "\n" for v in verses)
    assert text.isascii()
    sha = hashlib.sha256(text.encode()).hexdigest()
    log(f"corpus: KJV, {len(verses)} verses, {len(text)} bytes, sha256 {sha[:16]}...; "
        f"{len(val_v)} verses of {len(held)} chapters held out")

    t0 = time.time()
    tokens, merges = train_bpe("".join(v + "\n" for v in train_v), args.vocab)
    tok = Tokenizer(tokens, merges)
    log(f"tokenizer: {len(tokens)} tokens ({len(merges)} merges) in {time.time() - t0:.1f} s")

    def encode_verses(vs):
        ids, starts = [], []
        for v in vs:
            starts.append(len(ids))
            ids.extend(tok.encode(v + "\n"))
        return torch.tensor(ids, dtype=torch.long), torch.tensor(starts)

    train_ids, train_starts = encode_verses(train_v)
    val_ids, val_starts = encode_verses(val_v)
    # Windows must fit: drop the starts too close to the end.
    train_starts = train_starts[train_starts + args.ctx <= len(train_ids)]
    val_starts = val_starts[val_starts + args.ctx <= len(val_ids)]
    log(f"tokens: train {len(train_ids)}, validation {len(val_ids)} "
        f"({len(text) / (len(train_ids) + len(val_ids)):.2f} bytes/token)")

    cfg = dict(vocab=len(tokens), dim=args.dim, layers=args.layers, heads=args.heads,
               ffn=args.ffn, ctx=args.ctx, eps=1e-5, rope_base=10000.0)
    model = Llama(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {json.dumps(cfg)}, {n_params} parameters")
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    warmup = max(1, args.steps // 20)

    def lr_at(step):
        if step < warmup:
            return args.lr * (step + 1) / warmup
        p = (step - warmup) / max(1, args.steps - warmup)
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))

    gen = torch.Generator().manual_seed(args.seed)
    val_gen = torch.Generator().manual_seed(args.seed + 1)
    val_batches = [batches(val_ids, val_starts, tok.eot, args.ctx, args.batch, val_gen)
                   for _ in range(4)]

    @torch.no_grad()
    def val_loss():
        model.eval()
        ls = [F.cross_entropy(model(x).view(-1, cfg["vocab"]), y.view(-1)).item()
              for x, y in val_batches]
        model.train()
        return sum(ls) / len(ls)

    t_train = time.time()
    ema = None
    for step in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        x, y = batches(train_ids, train_starts, tok.eot, args.ctx, args.batch, gen)
        loss = F.cross_entropy(model(x).view(-1, cfg["vocab"]), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            el = time.time() - t_train
            log(f"step {step + 1}/{args.steps}: train loss {ema:.3f}, validation loss "
                f"{val_loss():.3f}, lr {lr_at(step):.2e}, {el:.0f} s "
                f"({(step + 1) * args.batch * args.ctx / el:.0f} tok/s)")
    train_s = time.time() - t_train
    final_val = val_loss()
    log(f"trained in {train_s:.0f} s: train loss {ema:.3f}, validation loss {final_val:.3f}")

    model.eval()
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    desc = (f"A tiny LLaMA-style model trained by scripts/train_tiny_model.py on the King James "
            f"Bible (public domain; Debian package bible-kjv-text): {n_params} parameters, "
            f"{args.steps} steps, validation loss {final_val:.3f}.")
    stored = export(model, tok, cfg, args.output, args.format, desc)
    size = os.path.getsize(args.output)
    log(f"wrote {args.output} ({size} bytes, {args.format})")

    # Reference logits of the weights as stored: a prompt, then greedy picks, one row a position.
    ref = stored_model(stored, cfg)
    prompt = [tok.eot] + tok.encode("And God said, Let")
    ids = generate(ref, prompt, 16 - len(prompt))
    with torch.no_grad():
        logits = ref(torch.tensor([ids]))[0]
    ref_path = args.output[:-len(".gguf")] + ".ref.jsonl"
    with open(ref_path, "w") as f:
        for pos, (i, row) in enumerate(zip(ids, logits)):
            f.write(json.dumps({"pos": pos, "input": i, "argmax": int(row.argmax()),
                                "logits": [float(f"{v:.5g}") for v in row.tolist()]},
                               separators=(",", ":")) + "\n")
    with torch.no_grad():
        q_val = sum(F.cross_entropy(ref(x).view(-1, cfg["vocab"]), y.view(-1)).item()
                    for x, y in val_batches) / len(val_batches)
    log(f"wrote {ref_path}; validation loss of the stored ({args.format}) weights {q_val:.3f}")

    for p in ["In the beginning", "And Jesus said unto them,", "The LORD is my shepherd"]:
        g = torch.Generator().manual_seed(1)
        greedy = generate(ref, [tok.eot] + tok.encode(p), 40)
        sampled = generate(ref, [tok.eot] + tok.encode(p), 40, temp=0.8, top_k=40, gen=g)
        log(f"--- greedy: {tok.decode(greedy)!r}\n--- sampled: {tok.decode(sampled)!r}")
    log(f"total {time.time() - t_start:.0f} s; corpus package bible-kjv-text "
        f"{package_version('bible-kjv-text')}, torch {torch.__version__}")


if __name__ == "__main__":
    main()
