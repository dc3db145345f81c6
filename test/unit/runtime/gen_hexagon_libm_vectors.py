#!/usr/bin/env python3
"""Test vectors for the Hexagon runtime's compiler helpers and libm
(runtime/hexagon/freestanding.c), computed on the host: Python's integer
arithmetic is exact, its float division and sqrt are IEEE correctly rounded,
and math.exp/log/pow/sin/cos come from the host's libm (within an ulp).

    gen_hexagon_libm_vectors.py OUT.bin [SEED]

Each record is 32 little-endian bytes: u32 op, u32 tolerance (ulps; 0 exact),
u64 a, u64 b, u64 expected (integers as two's complement, doubles and floats
as their bits). HexagonLibmDriver.c reads them under qemu-hexagon.
"""
import math
import random
import struct
import sys

OPS = {"udivdi3": 1, "divdi3": 2, "umoddi3": 3, "moddi3": 4, "udivsi3": 5, "divsi3": 6,
       "umodsi3": 7, "modsi3": 8, "divdf3": 9, "sqrtf": 10, "exp": 11, "log": 12, "pow": 13,
       "sin": 14, "cos": 15, "expf": 16, "floor": 17, "ceil": 18, "sqrt": 19}


def dbits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def fbits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def u64(v):
    return v & (2**64 - 1)


def trunc_div(a, b):
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def main(argv):
    out = argv[1]
    rng = random.Random(int(argv[2]) if len(argv) > 2 else 7)
    recs = []

    def add(op, tol, a, b, expected):
        recs.append(struct.pack("<IIQQQ", OPS[op], tol, u64(a), u64(b), u64(expected)))

    # Integer division: random magnitudes of every size, edge values.
    def ints(bits, signed):
        lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
        vals = [lo, hi, 0, 1, 2, 3, 7, 10, hi // 3]
        if signed:
            vals += [-1, -2, -7, -10]
        for _ in range(400):
            k = rng.randint(1, bits - (1 if signed else 0))
            v = rng.getrandbits(k)
            vals.append(-v if signed and rng.random() < 0.5 else v)
        return [v for v in vals if lo <= v <= hi]
    for bits, signed, dop, mop in ((64, False, "udivdi3", "umoddi3"), (64, True, "divdi3", "moddi3"),
                                   (32, False, "udivsi3", "umodsi3"), (32, True, "divsi3", "modsi3")):
        xs, ys = ints(bits, signed), ints(bits, signed)
        for _ in range(1500):
            a, b = rng.choice(xs), rng.choice(ys)
            if b == 0 or (signed and a == -(2 ** (bits - 1)) and b == -1):
                continue
            if signed:
                q = trunc_div(a, b)
                add(dop, 0, a, b, q)
                add(mop, 0, a, b, a - q * b)
            else:
                add(dop, 0, a, b, a // b)
                add(mop, 0, a, b, a % b)

    # Double division, correctly rounded: normals, subnormal results, overflow, specials.
    def rnd_double(emin=-1022, emax=1023):
        return math.ldexp(rng.uniform(1, 2), rng.randint(emin, emax)) * rng.choice((1, -1))
    specials = [0.0, -0.0, math.inf, -math.inf, 5e-324, 2.2250738585072014e-308, 1.0, -3.0]
    for _ in range(3000):
        a, b = rnd_double(-300, 300), rnd_double(-300, 300)
        add("divdf3", 0, dbits(a), dbits(b), dbits(a / b))
    for _ in range(500):  # results near and below the smallest normal
        a, b = rnd_double(-1022, -900), rnd_double(50, 200)
        add("divdf3", 0, dbits(a), dbits(b), dbits(a / b))
        a, b = math.ldexp(rng.uniform(1, 2), rng.randint(-1074, -1023)), rnd_double(-4, 4)
        add("divdf3", 0, dbits(a), dbits(b), dbits(a / b))
    for _ in range(200):  # overflow to infinity
        a, b = rnd_double(1000, 1023), rnd_double(-1022, -900)
        add("divdf3", 0, dbits(a), dbits(b), dbits(a / b))
    for a in specials:
        for b in specials:
            if b == 0 or (math.isinf(a) and math.isinf(b)) or (a == 0 and b == 0):
                continue
            add("divdf3", 0, dbits(a), dbits(b), dbits(a / b))

    # sqrtf, correctly rounded, over normals and subnormals; sqrt(double) within 1 ulp.
    for _ in range(3000):
        x = f32(math.ldexp(rng.uniform(1, 2), rng.randint(-149, 127)))
        add("sqrtf", 0, fbits(x), 0, fbits(f32(math.sqrt(x))))
    for x in (0.0, 1.0, 4.0, 2.0, f32(1e-45)):
        add("sqrtf", 0, fbits(f32(x)), 0, fbits(f32(math.sqrt(f32(x)))))
    for _ in range(1000):
        x = rnd_double(-1000, 1000)
        x = abs(x)
        add("sqrt", 1, dbits(x), 0, dbits(math.sqrt(x)))

    # libm: within a few ulps of the host's (itself within an ulp).
    for _ in range(2000):
        x = rng.uniform(-700, 700)
        add("exp", 4, dbits(x), 0, dbits(math.exp(x)))
    for _ in range(2000):
        x = f32(rng.uniform(-80, 80))
        add("expf", 1, fbits(x), 0, fbits(f32(math.exp(x))))
    for _ in range(2000):
        x = math.ldexp(rng.uniform(1, 2), rng.randint(-1070, 1020))
        add("log", 4, dbits(x), 0, dbits(math.log(x)))
    for _ in range(2000):  # rope's base^(-2i/d) and friends
        x, y = rng.uniform(1e-3, 1e6), rng.uniform(-8, 8)
        add("pow", 128, dbits(x), dbits(y), dbits(math.pow(x, y)))  # exp(y log x) in double: |y log x| * 2^-53 ulps
    for _ in range(3000):  # angles up to 1e5 (positions times frequencies)
        x = rng.uniform(-1, 1) * 10 ** rng.uniform(-3, 5)
        add("sin", 4, dbits(x), 0, dbits(math.sin(x)))
        add("cos", 4, dbits(x), 0, dbits(math.cos(x)))
    for _ in range(1000):
        x = rng.uniform(-1e6, 1e6) * rng.choice((1, 1e-6))
        add("floor", 0, dbits(x), 0, dbits(float(math.floor(x))))
        c = float(math.ceil(x))
        add("ceil", 0, dbits(x), 0, dbits(math.copysign(c, x) if c == 0 else c))  # C: ceil(-0.5) = -0
    for x in (-0.5, 0.5, -1.0, 1.0, -0.0, 2.5, -2.5):
        add("floor", 0, dbits(x), 0, dbits(math.floor(x) * 1.0 if x != -0.0 else -0.0))
    with open(out, "wb") as f:
        f.write(b"".join(recs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
