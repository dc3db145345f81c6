#!/usr/bin/env python3
"""Checks the layering of docs/DESIGN.md on the sources' #include lines:

    common/ <- dialects/ <- frontends/, passes/ <- codegen/ <- tools/
    runtime/ sees only common/ and its own headers (no LLVM, no MLIR)

A quoted include whose first path component is one of the project's top-level
folders must name a folder the including file's layer may use. Prints every
violation as FILE:LINE: ... and exits 1 if there is one.

    check_layering.py SRCROOT
"""
import os
import re
import sys

LAYERS = ["common", "dialects", "frontends", "passes", "codegen", "runtime", "tools"]
ALLOWED = {
    "common": {"common"},
    "dialects": {"common", "dialects"},
    "frontends": {"common", "dialects", "frontends"},
    "passes": {"common", "dialects", "passes"},
    # codegen reads the runtime's C headers (the model ABI, the artifact schema).
    "codegen": {"common", "dialects", "frontends", "passes", "codegen", "runtime"},
    "runtime": {"common", "runtime"},
    "tools": set(LAYERS),
}
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^">]+)[">]')


def main(argv):
    root = argv[1]
    bad = []
    for layer in LAYERS:
        for dirpath, _, files in os.walk(os.path.join(root, layer)):
            for name in files:
                if not name.endswith((".h", ".c", ".cpp", ".inc", ".td")):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                with open(path, encoding="utf-8", errors="replace") as f:
                    for n, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        target = m.group(2)
                        first = target.split("/")[0]
                        if layer == "runtime" and first in ("llvm", "mlir"):
                            bad.append(f"{rel}:{n}: the runtime includes {target} (no LLVM/MLIR)")
                        elif first in LAYERS and first not in ALLOWED[layer]:
                            bad.append(f"{rel}:{n}: {layer}/ includes {target} ({first}/ is above it)")
    for b in bad:
        print(b)
    print(f"layering: {len(bad)} violation(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
