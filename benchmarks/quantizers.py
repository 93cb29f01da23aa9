"""Benchmark: float32 -> int8-range rounding, elements per second, side by side in one run.

For each size (default 2**24, 2**25, 2**26 float32 elements) it times, after warm-up
runs (``--warmup`` seconds; numba compilation excluded), the best of ``--repeats`` runs of:

1. randomized rounding, prange kernel (`randomized_round(..., parallel=True)`);
2. randomized rounding, serial kernel (one core);
3. deterministic rounding (half to even since issue 19; half away from zero before), prange kernel;
4. deterministic rounding, serial kernel;
5. the NumPy reference of randomized rounding (same uniforms, vectorized NumPy).

and prints elements/s (best and median run) and the ratios the quantizer issue sets as goals:
randomized >= 1e9 elements/s, deterministic / randomized <= 1.5, randomized / NumPy >= 10.
Input: standard normal float32 (seeded), alpha 20, clip 127 (int8 range).
The load average is printed because other processes on the machine skew the numbers; the
spread between best and median shows how often both vCPUs actually ran at once.

Run with ``python benchmarks/quantizers.py [--sizes 24 25 26] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numba
import numpy as np

from workers.quantizers.rounding import deterministic_round, randomized_round, randomized_round_reference

SEED, WORKER, STEP = 1, 0, 0
HEADER = ("elements", "rand par", "rand 1core", "det par", "det 1core", "numpy ref", "det/rand", "rand/numpy")


def timings(repeats: int, run: Callable[[], object], warmup_s: float) -> np.ndarray:
    """Wall times of ``repeats`` runs (seconds), after warm-up runs for ``warmup_s`` seconds.

    The warm-up matters for the prange kernels: on this virtual machine the first
    parallel regions of a process each stall about 24 ms (the second vCPU waking
    up) until the threads have been busy for a while.
    """
    start = time.perf_counter()
    run()
    while time.perf_counter() - start < warmup_s:
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return np.array(times)


def measure(n: int, args: argparse.Namespace) -> dict[str, np.ndarray]:
    """Elements per second of each kernel, one value per timed run, on ``n`` standard normal float32."""
    x = np.random.default_rng(SEED).standard_normal(n).astype(np.float32)
    out = np.empty(n, np.int32)
    a, c = args.alpha, args.clip
    kernels = {
        "rand par": lambda: randomized_round(x, a, SEED, WORKER, STEP, c, out, parallel=True),
        "rand 1core": lambda: randomized_round(x, a, SEED, WORKER, STEP, c, out, parallel=False),
        "det par": lambda: deterministic_round(x, a, c, out, parallel=True),
        "det 1core": lambda: deterministic_round(x, a, c, out, parallel=False),
    }
    rates = {name: n / timings(args.repeats, run, args.warmup) for name, run in kernels.items()}
    reference = lambda: randomized_round_reference(x, a, SEED, WORKER, STEP, c, out)  # noqa: E731
    rates["numpy ref"] = n / timings(args.numpy_repeats, reference, 0.0)
    return rates


def row(label: str, rate: dict[str, float]) -> str:
    """One table line: M elements/s per kernel and the two goal ratios."""
    kernels = " ".join(f"{rate[name] / 1e6:>10.0f}" for name in HEADER[1:6])
    ratios = f"{rate['det par'] / rate['rand par']:>9.2f} {rate['rand par'] / rate['numpy ref']:>10.1f}"
    return f"{label:>12} {kernels} {ratios}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[24, 25, 26], help="log2 of element counts")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per kernel (best and median shown)")
    parser.add_argument("--numpy-repeats", type=int, default=2, help="timed runs of the slow NumPy reference")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up runs per kernel and size")
    parser.add_argument("--alpha", type=float, default=20.0)
    parser.add_argument("--clip", type=int, default=127)
    args = parser.parse_args()

    print(
        f"threads={numba.get_num_threads()} cpus={os.cpu_count()} loadavg(1 min)={os.getloadavg()[0]:.2f} "
        f"seed={SEED} alpha={args.alpha} clip={args.clip}"
    )
    print("{:>12} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9} {:>10}".format(*HEADER))
    print(f"{'':>12} {'(M elements/s)':>54}")
    for log2 in args.sizes:
        rates = measure(1 << log2, args)
        print(row(f"2^{log2} best", {name: r.max() for name, r in rates.items()}))
        print(row("median", {name: float(np.median(r)) for name, r in rates.items()}))
    print(f"threading layer={numba.threading_layer()} loadavg(1 min) now={os.getloadavg()[0]:.2f}")
    print("goals: rand par >= 1000 M/s, det/rand <= 1.5, rand/numpy >= 10")


if __name__ == "__main__":
    main()
