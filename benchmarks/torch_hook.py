"""switchsim's DDP hook against DDP's default all-reduce hook, on the same model and the same processes.

    python benchmarks/torch_hook.py [--workers 2] [--steps 10] [--width 1024]

Two gloo ranks on 127.0.0.1 (one torch thread each) train an MLP
(``--width``: 784-W-W-W-10, 2.9 M parameters at 1,024) on random data; per
configuration, ``--steps`` steps after 3 of warm-up, and the median step time
(forward + backward with the communication + optimizer) is printed:

* DDP's default hook (no hook registered: DDP's built-in all-reduce);
* switchsim ``float32`` (the same all-reduce, through the hook);
* switchsim ``intsgd-random``, 8 bits, ``process-group`` (int32 all-reduce);
* the same with ``check=True`` (plus an int64 all-reduce per bucket);
* the same through the UDP switch (``aggregation="switch"``).

Then, in rank 0, on one thread: the compression rate, float32 elements per
second of the hook's IntSGD encoding (`switchsim.torch.hook._encode_intsgd`,
numba, randomized rounding) of a 2^24-element bucket, best and median of 5; and
the switch's throughput: int32 elements per second of one 2^20-element
all-reduce through the emulator switch (`switchsim.torch.aggregation`),
best and median of 5. Goal for the encoding: >= 1 G elements/s on one core.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _configurations() -> list[tuple[str, dict | None]]:
    return [("DDP default all-reduce", None),
            ("switchsim float32", {"method": "float32"}),
            ("intsgd-random 8b process-group", {"method": "intsgd-random"}),
            ("intsgd-random 8b + check", {"method": "intsgd-random", "check": True}),
            ("intsgd-random 8b switch (UDP)", {"method": "intsgd-random", "aggregation": "switch"})]


def bench_rank(rank: int, world_size: int, steps: int, width: int) -> dict:
    """Step times per configuration; on rank 0 also the encoding and switch rates."""
    import numba
    import numpy as np
    import torch
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel

    import switchsim.torch
    from switchsim.torch.aggregation import connect
    from switchsim.torch.hook import HookState, _encode_intsgd, _Plan
    from workers.quantizers.compressors import IntSGDRandom

    results: dict = {"steps": {}}
    generator = torch.Generator().manual_seed(rank)
    x = torch.randn(64, 784, generator=generator)
    y = torch.randint(0, 10, (64,), generator=generator)
    for name, options in _configurations():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(784, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                              nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 10))
        ddp = DistributedDataParallel(model)
        state = switchsim.torch.register(ddp, **options) if options is not None else None
        optimizer = torch.optim.SGD(ddp.parameters(), lr=0.01)
        times = []
        for step in range(steps + 3):
            started = time.perf_counter()
            optimizer.zero_grad()
            nn.functional.cross_entropy(ddp(x), y).backward()
            optimizer.step()
            if step >= 3:
                times.append(time.perf_counter() - started)
        if state is not None:
            state.close()
        results["steps"][name] = statistics.median(times)
        results["parameters"] = sum(p.numel() for p in model.parameters())

    # the switch's throughput: one 2^20-element int32 all-reduce, 5 times
    switch = connect("switch", rank, world_size)
    values = np.random.default_rng(rank).integers(-100, 100, 1 << 20).astype(np.int32)
    switch.sum_now(values)  # warm-up (compiles the worker protocol's kernels)
    switch_times = []
    for _ in range(5):
        started = time.perf_counter()
        switch.sum_now(values)
        switch_times.append(time.perf_counter() - started)
    switch.close()
    results["switch_elements_per_s"] = (values.size / min(switch_times), values.size / statistics.median(switch_times))

    if rank == 0:  # the hook's IntSGD encoding on one thread
        numba.set_num_threads(1)
        size = 1 << 24
        gradient = np.random.default_rng(0).standard_normal(size).astype(np.float32)
        state = HookState("intsgd-random", 8, "process-group", "global", False, 0, world_size, 0)
        state.offsets = {"w": 0}
        plan = _Plan(0, ("w",), (0, size), ((size,),), IntSGDRandom(world_size, (0, size)), 0)
        shared = state.alpha_state(plan)
        _encode_intsgd(state, plan, gradient[:1024].copy(), shared.__class__((0, 1024), shared.alphas))  # compile
        encode_times = []
        for _ in range(5):
            started = time.perf_counter()
            _encode_intsgd(state, plan, gradient, shared)
            encode_times.append(time.perf_counter() - started)
        results["encode_elements_per_s"] = (size / min(encode_times), size / statistics.median(encode_times))
    return results


def main(argv: list[str] | None = None) -> int:
    """Command line (module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--width", type=int, default=1024)
    args = parser.parse_args(argv)
    from switchsim.torch.launch import run_ranks

    load = os.getloadavg()[0]
    results = run_ranks(bench_rank, args.workers, (args.steps, args.width), timeout_s=1200)
    first = results[0]
    print(f"{args.workers} gloo ranks on 127.0.0.1, MLP 784-{args.width}x3-10 ({first['parameters']:,} parameters), "
          f"batch 64 per rank, 1 torch thread per rank, median of {args.steps} steps; loadavg(1 min) {load:.2f}")
    base = max(r["steps"]["DDP default all-reduce"] for r in results)
    print(f"{'configuration':<34} {'ms/step':>9} {'overhead ms':>12} {'x default':>10}")
    for name, _ in _configurations():
        worst = max(r["steps"][name] for r in results)  # the slowest rank sets the pace
        print(f"{name:<34} {worst * 1e3:>9.2f} {(worst - base) * 1e3:>12.2f} {worst / base:>10.2f}")
    best, median = first["encode_elements_per_s"]
    print(f"IntSGD encoding (hook, numba, randomized, 2^24 elements, 1 thread): best {best / 1e9:.2f} G elements/s, "
          f"median {median / 1e9:.2f} G elements/s (goal >= 1)")
    best, median = first["switch_elements_per_s"]
    print(f"switch aggregation (UDP emulator switch, 2^20 int32 elements, {args.workers} workers): "
          f"best {best / 1e6:.2f} M elements/s, median {median / 1e6:.2f} M elements/s")
    print(f"loadavg(1 min) now {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
