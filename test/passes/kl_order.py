"""Mean KL(reference || candidate) over rows of logits (milmc reference's
JSON lines) for each candidate, and whether they come in the order given:
    python3 kl_order.py REF.jsonl FIRST.jsonl SECOND.jsonl
prints each mean KL and "SECOND below FIRST: ok" when the second's is lower
(e.g. pruning with reconstruction against pruning without), else "... no"."""
import json
import math
import sys


def load(path):
    return [json.loads(l)["logits"] for l in open(path) if l.strip()]


def kl(p_logits, q_logits):
    def logsoftmax(xs):
        m = max(xs)
        s = math.log(sum(math.exp(x - m) for x in xs)) + m
        return [x - s for x in xs]
    lp, lq = logsoftmax(p_logits), logsoftmax(q_logits)
    return sum(math.exp(a) * (a - b) for a, b in zip(lp, lq))


ref = load(sys.argv[1])
means = []
for path in sys.argv[2:4]:
    rows = load(path)
    if len(rows) != len(ref):
        sys.exit(f"{path}: {len(rows)} rows, the reference has {len(ref)}")
    means.append(sum(kl(a, b) for a, b in zip(ref, rows)) / len(ref))
    print(f"{path.rsplit('/', 1)[-1]}: mean KL {means[-1]:.4g}")
print(f"second below first: {'ok' if means[1] < means[0] else 'no'} "
      f"({100 * (1 - means[1] / means[0]):.0f}% of the first's KL recovered)")
