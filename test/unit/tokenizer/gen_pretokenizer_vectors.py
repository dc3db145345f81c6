#!/usr/bin/python3
"""Writes test/unit/tokenizer/pretokenizer-vectors.json: how the published
pre-tokenizer regexes of byte-level BPE vocabularies (GPT-2, Llama 3, Qwen2)
split a set of test strings, according to Python's `regex` module (the module
Hugging Face's and OpenAI's reference implementations follow).
PreTokenizerTest.cpp requires milm's hand-written pre-tokenizers to split every
string the same way; test/tokenizer/pretokenizer-vectors-fresh.test reruns this
script and diffs its output against the committed file.

The strings: every test string of test/fixtures/tokenizer/*.inp (llama.cpp's,
separated by lines "__ggml_vocab_test__"), then a few hundred generated from a
fixed seed: ASCII words, contractions in either case ('s 'S 'LL, and 'ſ, which
(?i) takes for 's'), digit runs of every length, apostrophes, punctuation, CJK,
emoji, accented, Cyrillic and Greek letters, combining marks, non-ASCII digits
and numbers, \\r \\n \\t and runs of other white space (U+00A0, U+3000, ...).

milm classifies characters with tables generated from Python's `unicodedata`
(runtime/tools/gen_unicode_tables.py); `regex` has its own, possibly newer,
Unicode data. Only characters on which the two agree (\\p{L}, \\p{N}, \\s) are
used, and the script stops if a fixture string has another, or if this
Python's Unicode version is not the one of runtime/src/UnicodeTables.inc.

Run with Debian's python3-regex:
  /usr/bin/python3 test/unit/tokenizer/gen_pretokenizer_vectors.py [output]
(default output: pretokenizer-vectors.json next to this script). The output
is deterministic: ASCII JSON, one line per string.
"""
import glob
import json
import os
import random
import re
import sys
import unicodedata

import regex

PATTERNS = [
    ("gpt-2",
     r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""),
    ("llama3",
     r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""),
    ("qwen2",
     r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""),
]

SEED = 20250301
GENERATED = 400
SEPARATOR = "\n__ggml_vocab_test__\n"

# PropList.txt, White_Space (as in gen_unicode_tables.py).
WHITE_SPACE = set(
    list(range(0x0009, 0x000D + 1)) + [0x0020, 0x0085, 0x00A0, 0x1680] +
    list(range(0x2000, 0x200A + 1)) + [0x2028, 0x2029, 0x202F, 0x205F, 0x3000])

RE_L = regex.compile(r"\p{L}")
RE_N = regex.compile(r"\p{N}")
RE_S = regex.compile(r"\s")


def agrees(ch):
    """True when `regex` classifies `ch` as milm's tables (unicodedata) do."""
    cat = unicodedata.category(ch)
    ours = (cat[0] == "L", cat[0] == "N", ord(ch) in WHITE_SPACE)
    theirs = (bool(RE_L.fullmatch(ch)), bool(RE_N.fullmatch(ch)), bool(RE_S.fullmatch(ch)))
    return ours == theirs


def chars(spec):
    """Characters from a string and "a-z"-style ranges given as (first, last)."""
    out = []
    for item in spec:
        if isinstance(item, tuple):
            out.extend(chr(c) for c in range(item[0], item[1] + 1))
        else:
            out.extend(item)
    kept = [c for c in out if agrees(c)]
    assert kept, spec
    return kept


ASCII_LOWER = chars([(0x61, 0x7A)])
ASCII_UPPER = chars([(0x41, 0x5A)])
ASCII_DIGITS = chars([(0x30, 0x39)])
# Non-ASCII numbers: Nd (Arabic-Indic, Devanagari, fullwidth, Thai, Bengali,
# mathematical bold), Nl (Roman numerals), No (superscripts, fractions, circled).
OTHER_DIGITS = chars([(0x0660, 0x0669), (0x0966, 0x096F), (0xFF10, 0xFF19), (0x0E50, 0x0E59),
                      (0x09E6, 0x09EF), (0x1D7CE, 0x1D7D7), (0x2160, 0x216B), "²³¹¼½¾",
                      (0x2460, 0x2468), "〇"])
LETTERS_ACCENTED = chars(["éèêëàâäåçñöøüßÿłđŕœæÉÀÇÑÖÜŁÆǅǈǋ", (0x0100, 0x017F)])
LETTERS_CYRILLIC = chars([(0x0410, 0x044F), "ёЁіїєґ"])
LETTERS_GREEK = chars([(0x0391, 0x03A1), (0x03A3, 0x03A9), (0x03B1, 0x03C9)])
LETTERS_CJK = chars([(0x4E00, 0x4E40), (0x3041, 0x3060), (0x30A1, 0x30C0), (0xAC00, 0xAC20),
                     "中文字漢語日本語한국어"])
LETTERS_OTHER = chars(["ʰʲˈˌ", "ªº", (0x05D0, 0x05EA), (0x0627, 0x063A), (0x0905, 0x0939),
                       (0x0E01, 0x0E2E), "ﬁﬂﬆ", (0x1D400, 0x1D40F)])
COMBINING = chars([(0x0300, 0x0310), "\u0327\u0328\u20DD\u093F\u0E31\u05B4"])
EMOJI = chars(["😀😂🤣❤✨🎉👍🔥🚀🌍", "\U0001F3FB\U0001F3FD\u200D\uFE0F", "👨\u200D👩\u200D👧",
               "🇩🇪"])
PUNCTUATION = chars([".,;:!?-_()[]{}\"`~@#$%^&*+=<>/\\|", "“”‘’«»—–…、。，！？・¿¡§¶†€£¥©®°±×÷",
                     "\u200B\u2060\uFEFF\u00AD\x00\x01\x1B\x7F\u0080\u009F\uFFFD"])
APOSTROPHES = chars(["'", "’`´ʼ"])
SPACES = chars([" \t\n\r\x0B\x0C\u0085\u00A0\u1680\u2000\u2003\u2009\u200A\u2028\u2029"
                "\u202F\u205F\u3000",
                # look like white space but are not White_Space
                "\u180E\u200B\x1C\x1D\x1E\x1F"])
CONTRACTION_TAILS = ["s", "t", "re", "ve", "m", "ll", "d"]


def contraction(rng):
    tail = rng.choice(CONTRACTION_TAILS)
    tail = "".join(c.upper() if rng.random() < 0.4 else c for c in tail)
    if "s" in tail.lower() and rng.random() < 0.15:
        tail = "\u017F"  # LATIN SMALL LETTER LONG S, which (?i) matches for 's'
    if rng.random() < 0.1:
        tail = tail[:1]  # 'r 'v 'l: no contraction
    return "'" + tail


def word(rng, pool, lo=1, hi=8):
    return "".join(rng.choice(pool) for _ in range(rng.randint(lo, hi)))


def fragment(rng):
    kind = rng.randrange(17)
    if kind == 0:
        return word(rng, ASCII_LOWER)
    if kind == 1:
        return word(rng, ASCII_LOWER + ASCII_UPPER)
    if kind == 2:
        return word(rng, ASCII_LOWER, 1, 5) + contraction(rng)
    if kind == 3:
        return contraction(rng) + (word(rng, ASCII_LOWER, 1, 4) if rng.random() < 0.5 else "")
    if kind == 4:
        return word(rng, ASCII_DIGITS, 1, 9)
    if kind == 5:
        return word(rng, OTHER_DIGITS + ASCII_DIGITS, 1, 7)
    if kind == 6:
        return word(rng, rng.choice([LETTERS_ACCENTED, LETTERS_CYRILLIC, LETTERS_GREEK]))
    if kind == 7:
        return word(rng, LETTERS_CJK, 1, 6)
    if kind == 8:
        return word(rng, LETTERS_OTHER, 1, 5)
    if kind == 9:
        base = word(rng, ASCII_LOWER + LETTERS_ACCENTED, 1, 4)
        return base + word(rng, COMBINING, 1, 2) + word(rng, ASCII_LOWER, 0, 3)
    if kind == 10:
        return word(rng, EMOJI, 1, 4)
    if kind == 11:
        return word(rng, PUNCTUATION, 1, 4)
    if kind == 12:
        return word(rng, APOSTROPHES, 1, 3)
    if kind == 13:
        return word(rng, [" "], 1, 5)
    if kind == 14:
        return word(rng, SPACES, 1, 5)
    if kind == 15:
        return rng.choice(["\n", "\r\n", "\n\n", "\r", "\t", "\n \n", " \n", "\t\n"])
    return word(rng, ASCII_LOWER + ASCII_DIGITS + APOSTROPHES + PUNCTUATION[:12] + [" "], 2, 10)


def generated_strings():
    rng = random.Random(SEED)
    out = []
    for _ in range(GENERATED):
        parts = []
        for _ in range(rng.randint(1, 10)):
            parts.append(fragment(rng))
            r = rng.random()
            if r < 0.35:
                parts.append(" ")
            elif r < 0.45:
                parts.append(rng.choice(SPACES))
        out.append("".join(parts))
    return out


def fixture_strings(folder):
    out = []
    for path in sorted(glob.glob(os.path.join(folder, "*.inp"))):
        with open(path, "rb") as f:
            data = f.read().decode("utf-8")
        parts = data.split(SEPARATOR)
        if parts[-1] != "":
            sys.exit("%s: text after the last separator" % path)
        out.extend(parts[:-1])
    if not out:
        sys.exit("no test strings in %s/*.inp" % folder)
    return out


def tables_version(root):
    path = os.path.join(root, "runtime", "src", "UnicodeTables.inc")
    with open(path, encoding="ascii") as f:
        m = re.search(r'#define MILM_UNICODE_VERSION "([^"]+)"', f.read())
    if not m:
        sys.exit("%s: no MILM_UNICODE_VERSION" % path)
    return m.group(1)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.normpath(os.path.join(here, "..", "..", ".."))
    out_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "pretokenizer-vectors.json")
    version = tables_version(root)
    if unicodedata.unidata_version != version:
        sys.exit("this Python's unicodedata is Unicode %s, milm's tables are Unicode %s: "
                 "run the Python the tables were generated with" %
                 (unicodedata.unidata_version, version))

    # Each distinct string once, the fixtures' first.
    strings = list(dict.fromkeys(
        fixture_strings(os.path.join(root, "test", "fixtures", "tokenizer"))))
    fixtures = len(strings)
    strings = list(dict.fromkeys(strings + generated_strings()))
    for s in strings:
        bad = sorted(set("U+%04X" % ord(c) for c in s if not agrees(c)))
        if bad:
            sys.exit("string %r: regex and unicodedata %s disagree on %s" %
                     (s, version, ", ".join(bad)))

    compiled = [(name, regex.compile(p)) for name, p in PATTERNS]
    dump = lambda v: json.dumps(v, ensure_ascii=True)
    lines = ["{",
             '"comment": %s,' % dump("Generated by test/unit/tokenizer/"
                                     "gen_pretokenizer_vectors.py; do not edit."),
             '"patterns": {%s},' % ", ".join("%s: %s" % (dump(n), dump(p))
                                            for n, p in PATTERNS),
             '"cases": [']
    for k, s in enumerate(strings):
        fields = ['"text": %s' % dump(s)]
        for name, p in compiled:
            pieces = p.findall(s)
            if "".join(pieces) != s:
                sys.exit("%s: the pieces of %r do not tile it" % (name, s))
            fields.append("%s: %s" % (dump(name), dump(pieces)))
        lines.append("{%s}%s" % (", ".join(fields), "," if k + 1 < len(strings) else ""))
    lines += ["]", "}", ""]
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="ascii", newline="\n") as f:
        f.write("\n".join(lines))
    os.replace(tmp, out_path)
    print("wrote %s: %d strings (%d from fixtures), %d patterns" %
          (out_path, len(strings), fixtures, len(PATTERNS)), file=sys.stderr)


if __name__ == "__main__":
    main()
