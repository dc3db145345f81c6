#!/usr/bin/env python3
"""Puts a benchmark's markdown results into a document between its markers.

Usage: write_doc_section.py DOC RESULTS NAME [HEADING]

Replaces what lies between `<!-- bench:NAME:begin -->` and `<!-- bench:NAME:end -->`
in DOC with the contents of RESULTS, leaving the rest of DOC as it is. When DOC
lacks the markers they are appended (after `## HEADING` when one is given); when
DOC does not exist it is created with a `# Performance` title.
"""
import os
import sys


def main(argv):
    if len(argv) not in (4, 5):
        sys.stderr.write(__doc__)
        return 2
    doc, results, name = argv[1], argv[2], argv[3]
    heading = argv[4] if len(argv) == 5 else None
    res = open(results).read()
    s = open(doc).read() if os.path.exists(doc) else "# Performance\n"
    b, e = f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"
    if b not in s or e not in s:
        s = s.rstrip("\n") + "\n\n" + (f"## {heading}\n\n" if heading else "") + b + "\n" + e + "\n"
    i, j = s.index(b) + len(b), s.index(e)
    with open(doc, "w") as f:
        f.write(s[:i] + "\n" + res + s[j:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
