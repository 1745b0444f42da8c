"""Time K for 128 filters x 10 prior motifs; PASS if the median call is under 50 ms.

Run: ``python bench/knowledge.py [--filters 128] [--width 20] [--priors 10] [--repeats 30]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from bionas.motifs.pwm import filters_to_pwms
from bionas.search.knowledge import knowledge_dissimilarity

LIMIT_S = 0.050


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--filters", type=int, default=128)
    parser.add_argument("--width", type=int, default=20, help="filter width (kernel size)")
    parser.add_argument("--priors", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    weights = rng.normal(scale=0.15, size=(args.width, 4, args.filters))
    # prior widths 8..21, as JASPAR motifs typically are
    priors = [rng.dirichlet(np.ones(4) * 0.3, size=int(rng.integers(8, 22))) for _ in range(args.priors)]
    results = {}
    for both in (True, False):
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            pwms = filters_to_pwms(weights, 0.15)
            knowledge_dissimilarity(pwms, priors, both_strands=both)
            times.append(time.perf_counter() - t0)
        results[both] = statistics.median(times)
        print(
            f"K, {args.filters} filters (width {args.width}) x {args.priors} priors, "
            f"{'both strands' if both else 'one strand'}: median {results[both] * 1e3:.1f} ms, "
            f"min {min(times) * 1e3:.1f} ms over {args.repeats} calls"
        )
    ok = results[True] < LIMIT_S
    print(f"{'PASS' if ok else 'FAIL'}: median with both strands {'<' if ok else '>='} {LIMIT_S * 1e3:.0f} ms")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
