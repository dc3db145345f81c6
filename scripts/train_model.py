#!/usr/bin/env python3
"""Trains milm's measuring models on the King James Bible and writes them as GGUF.

    /usr/bin/python3 scripts/train_model.py --preset tiny|target|moe [-o OUT.gguf] [options]

Presets (models/README.md has a row for each):
  tiny    the model `scripts/run.sh` compiles by default (2.2 M parameters, Q8_0); it is also
          the draft model of the family: every preset trains the same tokenizer
  target  the largest dense model the measurements use: GQA (8 query heads, 2 KV heads), F16,
          also written in the Hugging Face layout (safetensors + config.json + tokenizer.json)
  moe     a Mixtral-style mixture of experts (4 experts, top-2, softmax gating renormalized
          over the chosen experts, a Switch-style load-balancing loss), F16
`--eval-gguf FILE` skips training and writes FILE's reference perplexity (see 5. below).

Everything comes from Debian 12 packages (`scripts/train_model.sh` installs them):
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
   test/e2e/tiny-model.test (and trained-models.test) compare with milm's;
5. writes the held-out split (every 50th chapter, never trained on) as models/kjv-heldout.txt
   and the float64 perplexity of the stored weights over it as `<model>.ppl.json`, computed
   the way `milm-run --perplexity` and llama.cpp's llama-perplexity do: the text with BOS in
   front, cut into windows of --ppl-ctx tokens whose first token is replaced by BOS, each
   window scoring the predictions of its second half (positions ctx/2+1 .. ctx-1).

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


class MoE(nn.Module):
    """Mixtral's sparse FFN: a router picks the top-k experts of each token by softmax
    probability and mixes their SwiGLU outputs with the chosen probabilities renormalized to
    sum to one (llama.cpp's llama MoE, HF's MixtralSparseMoeBlock)."""

    def __init__(self, c):
        super().__init__()
        d, f, e = c["dim"], c["ffn"], c["experts"]
        self.k = c["experts_used"]
        self.gate_inp = nn.Linear(d, e, bias=False)
        self.w_gate = nn.Parameter(torch.empty(e, f, d))
        self.w_up = nn.Parameter(torch.empty(e, f, d))
        self.w_down = nn.Parameter(torch.empty(e, d, f))
        self.aux = None

    def forward(self, h):
        B, T, D = h.shape
        x = h.reshape(-1, D)
        probs = self.gate_inp(x).softmax(-1)
        w, idx = probs.topk(self.k, dim=-1)
        self.last_idx = idx.detach()
        w = w / w.sum(-1, keepdim=True)
        out = torch.zeros_like(x)
        for e in range(self.w_gate.shape[0]):
            rows, slot = (idx == e).nonzero(as_tuple=True)
            if rows.numel() == 0:
                continue
            xe = x[rows]
            ye = (F.silu(xe @ self.w_gate[e].t()) * (xe @ self.w_up[e].t())) @ self.w_down[e].t()
            out.index_add_(0, rows, ye * w[rows, slot].unsqueeze(-1))
        # Switch Transformer's load-balancing loss: E * sum_e (share of assignments to e) *
        # (mean router probability of e); 1.0 when the routing is uniform.
        share = F.one_hot(idx, probs.shape[-1]).sum(1).to(probs.dtype).mean(0) / self.k
        self.aux = probs.shape[-1] * (share * probs.mean(0)).sum()
        return out.view(B, T, D)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, f = c["dim"], c["ffn"]
        self.n_heads, self.head_dim = c["heads"], d // c["heads"]
        self.n_kv = c.get("kv_heads", c["heads"])
        kv = self.n_kv * self.head_dim
        self.attn_norm = RMSNorm(d, c["eps"])
        self.wq = nn.Linear(d, d, bias=False)
        self.wk = nn.Linear(d, kv, bias=False)
        self.wv = nn.Linear(d, kv, bias=False)
        self.wo = nn.Linear(d, d, bias=False)
        self.ffn_norm = RMSNorm(d, c["eps"])
        if c.get("experts", 0):
            self.moe = MoE(c)
        else:
            self.moe = None
            self.w_gate = nn.Linear(d, f, bias=False)
            self.w_up = nn.Linear(d, f, bias=False)
            self.w_down = nn.Linear(f, d, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, D = x.shape
        h = self.attn_norm(x)
        q = rope(self.wq(h).view(B, T, self.n_heads, self.head_dim).transpose(1, 2), cos, sin)
        kv_shape = (B, T, self.n_kv, self.head_dim)
        k = rope(self.wk(h).view(kv_shape).transpose(1, 2), cos, sin)
        v = self.wv(h).view(kv_shape).transpose(1, 2)
        if self.n_kv != self.n_heads:
            # Query head i reads KV head i // (n_heads / n_kv), as llama.cpp does.
            rep = self.n_heads // self.n_kv
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.head_dim) + mask
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D)
        x = x + self.wo(y)
        h = self.ffn_norm(x)
        if self.moe is not None:
            return x + self.moe(h)
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
            if p.dim() >= 2:
                std = 0.02
                if name.endswith("wo.weight") or name.endswith("w_down.weight") or \
                        name.endswith("moe.w_down"):
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


# Our parameter names and the GGUF tensor names of one block.
GGUF_BLOCK = {"attn_norm.weight": "attn_norm", "wq.weight": "attn_q", "wk.weight": "attn_k",
              "wv.weight": "attn_v", "wo.weight": "attn_output", "ffn_norm.weight": "ffn_norm",
              "w_gate.weight": "ffn_gate", "w_up.weight": "ffn_up", "w_down.weight": "ffn_down",
              "moe.gate_inp.weight": "ffn_gate_inp", "moe.w_gate": "ffn_gate_exps",
              "moe.w_up": "ffn_up_exps", "moe.w_down": "ffn_down_exps"}
GGUF_TOP = {"tok_embeddings.weight": "token_embd", "norm.weight": "output_norm",
            "output.weight": "output"}


def gguf_names(cfg):
    """{our parameter name: GGUF tensor name} for a model of this configuration."""
    names = {ours: theirs + ".weight" for ours, theirs in GGUF_TOP.items()}
    moe = cfg.get("experts", 0) > 0
    for l in range(cfg["layers"]):
        for ours, theirs in GGUF_BLOCK.items():
            if ours.startswith("moe.") == moe or not ours.startswith(("w_", "moe.")):
                names[f"layers.{l}.{ours}"] = f"blk.{l}.{theirs}.weight"
    return names


def export(model, tok, cfg, path, fmt, description):
    mat = {"q8_0": GGML_Q8_0, "f16": GGML_F16}[fmt]
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    tensors = []
    for ours, theirs in gguf_names(cfg).items():
        # Norms and the router stay F32 (small, and llama.cpp's converters keep them so).
        small = sd[ours].ndim == 1 or theirs.endswith("ffn_gate_inp.weight")
        tensors.append((theirs, sd[ours], GGML_F32 if small else mat))
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
          ("llama.attention.head_count_kv", GGUF_U32, cfg.get("kv_heads", cfg["heads"])),
          ("llama.attention.layer_norm_rms_epsilon", GGUF_F32, cfg["eps"]),
          ("llama.rope.freq_base", GGUF_F32, cfg["rope_base"]),
          ("llama.rope.dimension_count", GGUF_U32, cfg["dim"] // cfg["heads"])]
    if cfg.get("experts", 0):
        kv += [("llama.expert_count", GGUF_U32, cfg["experts"]),
               ("llama.expert_used_count", GGUF_U32, cfg["experts_used"])]
    kv += [("tokenizer.ggml.model", GGUF_STRING, "gpt2"),
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


def read_gguf(path):
    """The configuration, tokenizer and (dequantized, float32) tensors of a GGUF file this
    script wrote (F32, F16 and Q8_0 tensors; arch llama): (cfg, Tokenizer, {name: array})."""
    with open(path, "rb") as f:
        data = f.read()
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

    scalar = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<B", 10: "<Q",
              11: "<q", 12: "<d"}

    def value(kind):
        if kind == GGUF_STRING:
            return string()
        if kind == GGUF_ARRAY:
            et, n = take("<IQ")
            return [value(et) for _ in range(n)]
        return take(scalar[kind])

    magic, version, n_tensors, n_kv = take("<4sIQQ")
    if magic != b"GGUF" or version != 3:
        raise SystemExit(f"{path}: not a GGUF v3 file")
    kv = {}
    for _ in range(n_kv):
        key = string()
        kv[key] = value(take("<I"))
    infos = []
    for _ in range(n_tensors):
        name = string()
        dims = [take("<Q") for _ in range(take("<I"))]
        ty, off = take("<IQ")
        infos.append((name, tuple(reversed(dims)), ty, off))
    align = kv.get("general.alignment", ALIGN)
    base = pos + (-pos % align)
    tensors = {}
    for name, shape, ty, off in infos:
        n = int(np.prod(shape))
        if ty == GGML_F32:
            arr = np.frombuffer(data, "<f4", n, base + off)
        elif ty == GGML_F16:
            arr = np.frombuffer(data, "<f2", n, base + off).astype(np.float32)
        elif ty == GGML_Q8_0:
            blocks = np.frombuffer(data, [("d", "<f2"), ("qs", "i1", 32)], n // 32, base + off)
            arr = blocks["qs"].astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
        else:
            raise SystemExit(f"{path}: tensor {name} has ggml type {ty}, which this reader lacks")
        tensors[name] = np.array(arr, dtype=np.float32).reshape(shape)
    g = lambda k: kv["llama." + k]  # noqa: E731
    cfg = dict(vocab=len(kv["tokenizer.ggml.tokens"]), dim=g("embedding_length"),
               layers=g("block_count"), heads=g("attention.head_count"),
               kv_heads=g("attention.head_count_kv"), ffn=g("feed_forward_length"),
               ctx=g("context_length"), eps=g("attention.layer_norm_rms_epsilon"),
               rope_base=g("rope.freq_base"))
    if kv.get("llama.expert_count", 0):
        cfg.update(experts=g("expert_count"), experts_used=g("expert_used_count"))
    return cfg, Tokenizer(kv["tokenizer.ggml.tokens"], kv["tokenizer.ggml.merges"]), tensors


def stored_model(stored, cfg):
    """A float64 copy of the model with the weights exactly as the GGUF file holds them."""
    m = Llama(cfg).double()
    m.load_state_dict({k: torch.from_numpy(stored[v].astype(np.float64))
                       for k, v in gguf_names(cfg).items()})
    return m.eval()


# ---------------------------------------------------------------------------
# Hugging Face layout (safetensors + config.json + tokenizer.json)


def write_hf(out_dir, stored, cfg, tok, description):
    """Writes the model as a Hugging Face checkpoint a user would bring: matrices F16 (exactly
    the GGUF's F16 values), norms F32; q/k rows permuted from GGUF's adjacent rotary pairs to
    the halves that HF's rotate_half pairs (the inverse of llama.cpp's converter)."""
    hd = cfg["dim"] // cfg["heads"]

    def unpermute(w, n_heads):
        return w.reshape(n_heads, hd // 2, 2, -1).transpose(0, 2, 1, 3).reshape(w.shape)

    moe = cfg.get("experts", 0) > 0
    hf = {"model.embed_tokens.weight": stored["token_embd.weight"],
          "model.norm.weight": stored["output_norm.weight"],
          "lm_head.weight": stored["output.weight"]}
    for l in range(cfg["layers"]):
        b, p = f"blk.{l}.", f"model.layers.{l}."
        hf[p + "input_layernorm.weight"] = stored[b + "attn_norm.weight"]
        hf[p + "post_attention_layernorm.weight"] = stored[b + "ffn_norm.weight"]
        hf[p + "self_attn.q_proj.weight"] = unpermute(stored[b + "attn_q.weight"], cfg["heads"])
        hf[p + "self_attn.k_proj.weight"] = unpermute(stored[b + "attn_k.weight"],
                                                      cfg.get("kv_heads", cfg["heads"]))
        hf[p + "self_attn.v_proj.weight"] = stored[b + "attn_v.weight"]
        hf[p + "self_attn.o_proj.weight"] = stored[b + "attn_output.weight"]
        if moe:
            hf[p + "block_sparse_moe.gate.weight"] = stored[b + "ffn_gate_inp.weight"]
            for e in range(cfg["experts"]):
                q = f"{p}block_sparse_moe.experts.{e}."
                hf[q + "w1.weight"] = stored[b + "ffn_gate_exps.weight"][e]
                hf[q + "w2.weight"] = stored[b + "ffn_down_exps.weight"][e]
                hf[q + "w3.weight"] = stored[b + "ffn_up_exps.weight"][e]
        else:
            hf[p + "mlp.gate_proj.weight"] = stored[b + "ffn_gate.weight"]
            hf[p + "mlp.up_proj.weight"] = stored[b + "ffn_up.weight"]
            hf[p + "mlp.down_proj.weight"] = stored[b + "ffn_down.weight"]
    header, blobs, offset = {"__metadata__": {"format": "pt", "description": description}}, [], 0
    for name in sorted(hf):
        arr = np.ascontiguousarray(hf[name])
        f32 = arr.ndim == 1 or name.endswith("block_sparse_moe.gate.weight")
        raw = arr.astype("<f4" if f32 else "<f2").tobytes()
        if not f32 and not np.array_equal(arr.astype(np.float16).astype(np.float32), arr):
            raise SystemExit(f"{name}: values not exact in F16 (export the GGUF as --format f16)")
        header[name] = {"dtype": "F32" if f32 else "F16", "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    os.makedirs(out_dir, exist_ok=True)
    tmp = os.path.join(out_dir, "model.safetensors.tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)) + hj)
        for raw in blobs:
            f.write(raw)
    os.replace(tmp, os.path.join(out_dir, "model.safetensors"))
    config = {"architectures": ["MixtralForCausalLM" if moe else "LlamaForCausalLM"],
              "model_type": "mixtral" if moe else "llama",
              "vocab_size": cfg["vocab"], "hidden_size": cfg["dim"],
              "intermediate_size": cfg["ffn"], "num_hidden_layers": cfg["layers"],
              "num_attention_heads": cfg["heads"],
              "num_key_value_heads": cfg.get("kv_heads", cfg["heads"]), "head_dim": hd,
              "hidden_act": "silu", "max_position_embeddings": cfg["ctx"],
              "rms_norm_eps": cfg["eps"], "rope_theta": cfg["rope_base"],
              "tie_word_embeddings": False, "attention_bias": False,
              "bos_token_id": tok.eot, "eos_token_id": tok.eot, "torch_dtype": "float16"}
    if moe:
        config.update(num_local_experts=cfg["experts"], num_experts_per_tok=cfg["experts_used"])
    special = {"id": tok.eot, "content": EOT, "single_word": False, "lstrip": False,
               "rstrip": False, "normalized": False, "special": True}
    tokenizer = {"version": "1.0", "truncation": None, "padding": None,
                 "added_tokens": [special], "normalizer": None,
                 "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False,
                                   "trim_offsets": True, "use_regex": True},
                 "post_processor": None,
                 "decoder": {"type": "ByteLevel", "add_prefix_space": True,
                             "trim_offsets": True, "use_regex": True},
                 "model": {"type": "BPE", "dropout": None, "unk_token": None,
                           "continuing_subword_prefix": None, "end_of_word_suffix": None,
                           "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                           "vocab": {t: i for i, t in enumerate(tok.tokens)},
                           "merges": tok.merges}}
    tok_config = {"bos_token": EOT, "eos_token": EOT, "add_bos_token": True,
                  "add_eos_token": False, "model_max_length": cfg["ctx"],
                  "tokenizer_class": "PreTrainedTokenizerFast"}
    for name, obj in [("config.json", config), ("tokenizer.json", tokenizer),
                      ("tokenizer_config.json", tok_config)]:
        with open(os.path.join(out_dir, name), "w") as f:
            json.dump(obj, f, indent=1, ensure_ascii=False)
            f.write("\n")


# ---------------------------------------------------------------------------
# Perplexity (float64 reference for milm-run --perplexity)


@torch.no_grad()
def reference_perplexity(model, tok, text, n_ctx, max_chunks=0):
    """llama-perplexity's method: BOS + the text's tokens, cut into windows of n_ctx tokens
    whose first token becomes BOS; each window scores the tokens at n_ctx/2+1 .. n_ctx-1.
    Returns a dict with the perplexity, its standard error and what was scored."""
    tokens = [tok.eot] + tok.encode(text)
    n_chunks = len(tokens) // n_ctx
    if max_chunks:
        n_chunks = min(n_chunks, max_chunks)
    first = n_ctx // 2
    nll = nll2 = 0.0
    count = 0
    moes = [b.moe for b in model.layers if b.moe is not None]
    usage = [[0] * m.w_gate.shape[0] for m in moes]
    for c in range(n_chunks):
        window = tokens[c * n_ctx:(c + 1) * n_ctx]
        window[0] = tok.eot
        logp = model(torch.tensor([window]))[0].double().log_softmax(-1)
        for u, m in zip(usage, moes):
            for e in m.last_idx.flatten().tolist():
                u[e] += 1
        for j in range(first, n_ctx - 1):
            v = -float(logp[j, window[j + 1]])
            nll += v
            nll2 += v * v
            count += 1
    mean = nll / count
    var = nll2 / count - mean * mean
    ppl = math.exp(mean)
    err = math.sqrt(var / (count - 1)) * ppl if var > 0 and count > 1 else 0.0
    r = {"ctx": n_ctx, "chunks": n_chunks, "tokens": len(tokens), "scored": count,
         "mean_nll": mean, "ppl": ppl, "ppl_stderr": err}
    if moes:
        # Each layer's share of expert assignments over every evaluated position.
        r["expert_share"] = [[round(c / sum(u), 4) for c in u] for u in usage]
    return r


def write_perplexity(model, tok, heldout, n_ctx, model_path, label):
    text = open(heldout, encoding="utf-8").read()
    t0 = time.time()
    r = reference_perplexity(model, tok, text, n_ctx)
    r.update(text=os.path.basename(heldout),
             text_sha256=hashlib.sha256(text.encode()).hexdigest(), weights=label,
             method="float64, llama-perplexity windows (second half of each scored)")
    out = model_path[:-len(".gguf")] + ".ppl.json"
    with open(out, "w") as f:
        json.dump(r, f, indent=1)
        f.write("\n")
    log(f"wrote {out}: perplexity {r['ppl']:.4f} +/- {r['ppl_stderr']:.4f} over {r['chunks']} "
        f"windows of {n_ctx} ({r['scored']} tokens scored) in {time.time() - t0:.0f} s")


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


PRESETS = {
    "tiny": dict(output="models/milm-tiny-kjv.gguf", format="q8_0", dim=192, layers=4, heads=6,
                 kv_heads=6, ffn=512, steps=1600, lr=2e-3),
    "target": dict(output="models/milm-target-kjv.gguf", format="f16", dim=512, layers=5,
                   heads=8, kv_heads=2, ffn=1280, steps=2000, lr=1e-3,
                   hf_dir="models/milm-target-kjv-hf"),
    "moe": dict(output="models/milm-moe-kjv.gguf", format="f16", dim=256, layers=4, heads=4,
                kv_heads=2, ffn=512, experts=4, experts_used=2, steps=2000, lr=1.5e-3),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="tiny",
                    help="a model of the family (default tiny); other options override it")
    ap.add_argument("-o", "--output")
    ap.add_argument("--format", choices=["q8_0", "f16"])
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--dim", type=int)
    ap.add_argument("--layers", type=int)
    ap.add_argument("--heads", type=int)
    ap.add_argument("--kv-heads", type=int, help="KV heads (GQA when fewer than --heads)")
    ap.add_argument("--ffn", type=int, help="FFN width (of each expert, for a MoE)")
    ap.add_argument("--experts", type=int, default=0, help="experts (0: a dense FFN)")
    ap.add_argument("--experts-used", type=int, default=2, help="experts a token uses")
    ap.add_argument("--aux-loss", type=float, default=0.01,
                    help="weight of the MoE load-balancing loss")
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1, help="PyTorch threads (default 1)")
    ap.add_argument("--hf-dir", help="also write the Hugging Face layout into this folder")
    ap.add_argument("--heldout", default="models/kjv-heldout.txt",
                    help="where the held-out text goes (and is read from by --eval-gguf)")
    ap.add_argument("--ppl-ctx", type=int, default=256, help="perplexity window in tokens")
    ap.add_argument("--eval-gguf", metavar="FILE",
                    help="no training: write FILE's float64 reference perplexity (FILE.ppl.json)")
    pre, _ = ap.parse_known_args()
    ap.set_defaults(**PRESETS[pre.preset])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t_start = time.time()
    if args.eval_gguf:
        if not args.eval_gguf.endswith(".gguf"):
            raise SystemExit(f"--eval-gguf {args.eval_gguf}: expected a .gguf file")
        cfg, tok, stored = read_gguf(args.eval_gguf)
        write_perplexity(stored_model(stored, cfg), tok, args.heldout, args.ppl_ctx,
                         args.eval_gguf, "as stored in " + os.path.basename(args.eval_gguf))
        return

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

    os.makedirs(os.path.dirname(os.path.abspath(args.heldout)), exist_ok=True)
    with open(args.heldout, "w") as f:
        f.write("".join(v + "\n" for v in val_v))
    log(f"wrote the held-out text to {args.heldout} "
        f"(sha256 {hashlib.sha256(''.join(v + chr(10) for v in val_v).encode()).hexdigest()[:16]}...)")

    cfg = dict(vocab=len(tokens), dim=args.dim, layers=args.layers, heads=args.heads,
               kv_heads=args.kv_heads or args.heads, ffn=args.ffn, ctx=args.ctx, eps=1e-5,
               rope_base=10000.0)
    if args.experts:
        cfg.update(experts=args.experts, experts_used=args.experts_used)
    model = Llama(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {json.dumps(cfg)}, {n_params} parameters")
    decay = [p for p in model.parameters() if p.dim() >= 2]
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
        total = loss
        if cfg.get("experts", 0) and args.aux_loss:
            total = loss + args.aux_loss * sum(b.moe.aux for b in model.layers)
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            el = time.time() - t_train
            log(f"step {step + 1}/{args.steps}: train loss {ema:.3f}, validation loss "
                f"{val_loss():.3f}, lr {lr_at(step):.2e}, {el:.0f} s "
                f"({(step + 1) * args.batch * args.ctx / el:.0f} tok/s, "
                f"{el / (step + 1) * (args.steps - step - 1) / 60:.0f} min left)")
    train_s = time.time() - t_train
    final_val = val_loss()
    log(f"trained in {train_s:.0f} s: train loss {ema:.3f}, validation loss {final_val:.3f}")

    model.eval()
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    desc = (f"A LLaMA-style model ({args.preset}) trained by scripts/train_model.py on the King "
            f"James Bible (public domain; Debian package bible-kjv-text): {n_params} parameters, "
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
    write_perplexity(ref, tok, args.heldout, args.ppl_ctx, args.output,
                     f"as stored ({args.format}), float64")
    if args.hf_dir:
        write_hf(args.hf_dir, stored, cfg, tok, desc)
        log(f"wrote the Hugging Face layout to {args.hf_dir}")

    for p in ["In the beginning", "And Jesus said unto them,", "The LORD is my shepherd"]:
        g = torch.Generator().manual_seed(1)
        greedy = generate(ref, [tok.eot] + tok.encode(p), 40)
        sampled = generate(ref, [tok.eot] + tok.encode(p), 40, temp=0.8, top_k=40, gen=g)
        log(f"--- greedy: {tok.decode(greedy)!r}\n--- sampled: {tok.decode(sampled)!r}")
    log(f"total {time.time() - t_start:.0f} s; corpus package bible-kjv-text "
        f"{package_version('bible-kjv-text')}, torch {torch.__version__}")


if __name__ == "__main__":
    main()
