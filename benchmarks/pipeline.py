"""Benchmark: switch pipeline packets per second, three ways, side by side in one run.

1. Python, one packet per call (`Pipeline.process`): what an event-driven engine pays.
2. Python, batches (`Pipeline.process_batch`): one call per batch of N packets.
3. numba caller: a jitted loop that calls `process_packet` directly.

Every way processes the same packet stream: n workers each contributing every
chunk to W slots, alternating sets (the real access pattern). Prints packets/s
and elements/s; run with ``python benchmarks/pipeline.py [--packets N] [--k 64]``.
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np

from switchsim.pipeline import Pipeline, SwitchConfig
from switchsim.pipeline.process import process_packet


def packet_stream(packets: int, workers: int, slots: int, k: int, seed: int = 0):
    """Arrays describing ``packets`` packets: worker, slot, set, values, exponents."""
    index = np.arange(packets)
    chunk, worker = np.divmod(index, workers)
    slot = chunk % slots
    pool_set = (chunk // slots) % 2
    rng = np.random.default_rng(seed)
    values = rng.integers(-1000, 1000, size=(packets, k)).astype(np.int32)
    exponents = np.zeros((packets, 2), np.int8)
    return worker, slot, pool_set, values, exponents


@numba.njit(cache=True)
def _numba_loop(pool, workers, num_workers, slots, sets, values, exponents, out_values, out_exponents):
    replies = 0
    for i in range(workers.shape[0]):
        action = process_packet(pool, False, workers[i], num_workers, 0, 0, slots[i], sets[i], exponents[i],
                                values[i], out_values, out_exponents)
        replies += action == 1
    return replies


def best_of(repeats: int, run) -> float:
    """Smallest wall time of ``repeats`` runs (seconds)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packets", type=int, default=400_000, help="packets per measurement (default 400k)")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--slots", type=int, default=512)
    parser.add_argument("--k", type=int, default=64, choices=(64, 256))
    parser.add_argument("--batch", type=int, default=4096, help="packets per process_batch call")
    args = parser.parse_args()
    config = SwitchConfig(slots=args.slots, elements_per_packet=args.k)
    workers, slots, sets, values, exponents = packet_stream(args.packets, args.workers, args.slots, args.k)
    num_workers = np.full(args.packets, args.workers, np.int64)
    zeros = np.zeros(args.packets, np.int64)

    # warm up every path (numba compilation) on a small prefix
    warm = Pipeline(config)
    warm.process(0, args.workers, 0, 0, 0, 0, exponents[0], values[0])
    warm.process_batch(workers[:8], num_workers[:8], zeros[:8], zeros[:8], slots[:8], sets[:8], exponents[:8],
                       values[:8])
    _numba_loop(warm.pool, workers[:8], args.workers, slots[:8], sets[:8], values[:8], exponents[:8],
                np.zeros(args.k, np.int32), np.zeros(2, np.int8))

    per_packet_count = min(args.packets, 100_000)

    def per_packet():
        p = Pipeline(config)
        for i in range(per_packet_count):
            p.process(int(workers[i]), args.workers, 0, 0, int(slots[i]), int(sets[i]), exponents[i], values[i])

    def batched():
        p = Pipeline(config)
        for start in range(0, args.packets, args.batch):
            end = start + args.batch
            p.process_batch(workers[start:end], num_workers[start:end], zeros[start:end], zeros[start:end],
                            slots[start:end], sets[start:end], exponents[start:end], values[start:end])

    def in_numba():
        p = Pipeline(config)
        _numba_loop(p.pool, workers, args.workers, slots, sets, values, exponents, np.zeros(args.k, np.int32),
                    np.zeros(2, np.int8))

    rows = [
        ("Python, one packet per call", per_packet_count, best_of(3, per_packet)),
        (f"Python, batches of {args.batch}", args.packets, best_of(3, batched)),
        ("numba caller", args.packets, best_of(3, in_numba)),
    ]
    print(f"pipeline benchmark: {args.workers} workers, {args.slots} slots, k = {args.k}, numba {numba.__version__}")
    print(f"{'way':32} {'packets':>9} {'seconds':>9} {'packets/s':>12} {'elements/s':>12} {'vs per-call':>11}")
    base = rows[0][1] / rows[0][2]
    for name, count, seconds in rows:
        rate = count / seconds
        print(f"{name:32} {count:9d} {seconds:9.3f} {rate:12.3e} {rate * args.k:12.3e} {rate / base:10.1f}x")


if __name__ == "__main__":
    main()
