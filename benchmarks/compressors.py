"""Benchmark: every compressor's compression + decompression, ns per element, per phase, in one run.

For each worker count (default 8 and 16, the comparison's digits and paper rows), on a
seeded Gaussian float32 gradient (n, ``--elements``) it times, on one thread (numba's
kernels limited to one thread, as in `switchsim study compare`; CPU time of the process,
`time.process_time`), the best of ``--repeats`` runs (the methods in turn within each run, round robin) of each phase of
`switchsim.study.compare.compression_phases`:
prepare (one worker's share), encode (one worker), decode (what one worker does after
the collective: finish on the sum, or decoding all n messages of an all-gather) and
observe (IntSGD's alpha update), each phase's best separately, and their sum.

Run with ``python benchmarks/compressors.py [--elements 1048576] [--workers 8 16] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import math
import os

import numba
import numpy as np

from switchsim.study.compare import PHASES, compression_phases, make_compressor
from workers.quantizers.compressors import COMPRESSORS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", type=int, default=1 << 20)
    parser.add_argument("--workers", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    numba.set_num_threads(1)
    elements = args.elements
    rows = 1 << (int(math.log2(elements)) // 2)
    shape = [(rows, elements // rows)] if elements % rows == 0 else [(elements,)]
    print(f"elements={elements} repeats={args.repeats} threads=1 loadavg(1 min)={os.getloadavg()[0]:.2f}")
    for workers in args.workers:
        gradients = (np.random.default_rng([0, 0xC0DE]).standard_normal((workers, elements)) * 1e-2).astype(
            np.float32)
        small = gradients[:, :4096].copy()
        print(f"\nn = {workers}: ns per element (best of {args.repeats} per phase)")
        print(f"{'method':22}" + "".join(f"{p:>10}" for p in PHASES) + f"{'total':>10}")
        compressors = {}
        for name in COMPRESSORS:
            make_compressor(name, None, workers, 0, (0, 4096), [(64, 64)]).reduce(small, 0)  # compile
            compressors[name] = make_compressor(name, None, workers, 0, (0, elements), shape)
            compressors[name].reduce(gradients, 0)
        runs = {name: [] for name in COMPRESSORS}
        for step in range(1, 1 + args.repeats):  # round robin, as the comparison measures
            for name, compressor in compressors.items():
                runs[name].append(compression_phases(compressor, gradients, step))
        for name in COMPRESSORS:
            best = {p: min(r[p] for r in runs[name]) * 1e9 / elements for p in PHASES}
            print(f"{name:22}" + "".join(f"{best[p]:10.2f}" for p in PHASES) + f"{sum(best.values()):10.2f}")
    print(f"\nloadavg(1 min) now={os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
