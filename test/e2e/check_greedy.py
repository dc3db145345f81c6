#!/usr/bin/env python3
"""Greedy generation against an independent reference (issue 20, point 6).

    check_greedy.py MILM_RUN MODEL.gguf REF.jsonl PROMPT_TOKENS [--ids] [milm-run args...]

REF.jsonl (a training script's, models/*.ref.jsonl) holds BOS and a prompt in its first
PROMPT_TOKENS inputs and then the reference's greedy picks (each row's argmax is the next
row's input). The prompt's text is decoded from the GGUF's vocabulary (byte-level BPE, the
GPT-2 byte mapping); `MILM_RUN -p TEXT -n N --temp 0` must print the text of the reference's
picks, up to the first position where milm's own teacher-forced top-1 (`--logits-for`)
differs from the reference's (near-ties may part ways there, not before). Prints one
PASS/FAIL line; exits 1 on FAIL.

--ids: the prompt goes in as its token ids (`milm-run --prompt-ids`, BOS included) and
the expected text is the picks' pieces, for models whose prompt text is not known (the
llama.cpp fixtures: SentencePiece vocabularies, "▁" a space, "<0xXX>" a byte).
"""
import json
import subprocess
import sys

from gguf_header import read_header


def gguf_tokens(path):
    """tokenizer.ggml.tokens of a GGUF v3 file."""
    tokens = read_header(open(path, "rb").read()).kv.get("tokenizer.ggml.tokens")
    if tokens is None:
        sys.exit(f"{path}: no tokenizer.ggml.tokens")
    return tokens


def byte_decoder():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def main(argv):
    milm_run, gguf, ref_path, n_prompt = argv[1], argv[2], argv[3], int(argv[4])
    extra = argv[5:]
    by_ids = "--ids" in extra
    extra = [a for a in extra if a != "--ids"]
    rows = [json.loads(l) for l in open(ref_path) if l.strip()]
    tokens = gguf_tokens(gguf)
    dec = byte_decoder()

    def text(ids):
        if by_ids:  # SentencePiece pieces
            out = b""
            for i in ids:
                t = tokens[i]
                if len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
                    out += bytes([int(t[3:5], 16)])
                else:
                    out += t.replace("\u2581", " ").encode("utf-8")
            return out.decode("utf-8", "replace")
        return bytes(dec[c] for i in ids for c in tokens[i]).decode("utf-8", "replace")

    ids = [r["input"] for r in rows]
    picks = ids[n_prompt:] + [rows[-1]["argmax"]]
    prompt = text(ids[1:n_prompt])  # without BOS: milm-run adds it
    # milm's own teacher-forced top-1 on the reference inputs.
    out = subprocess.run([milm_run, *extra, "--logits-for", " ".join(map(str, ids))],
                         stdout=subprocess.PIPE, check=True, text=True).stdout
    ours = [json.loads(l)["logits"] for l in out.splitlines() if l.startswith("{")]
    agree = len(picks)
    for j in range(n_prompt - 1, len(rows)):
        if max(range(len(ours[j])), key=lambda i: ours[j][i]) != rows[j]["argmax"]:
            agree = j - (n_prompt - 1)
            break
    want = text(picks[:agree])
    prompt_args = (["--prompt-ids", " ".join(map(str, ids[:n_prompt]))] if by_ids
                   else ["-p", prompt])
    got = subprocess.run([milm_run, *extra, *prompt_args, "-n", str(len(picks)), "--temp", "0",
                          "--no-display-prompt"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, check=True).stdout.decode("utf-8", "replace")
    ok = agree > 0 and got.startswith(want)
    print(f"{'PASS' if ok else 'FAIL'}: greedy continuation of {prompt!r}: {agree} of "
          f"{len(picks)} tokens compared ({want!r}), milm wrote {got[:len(want) + 10]!r}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
