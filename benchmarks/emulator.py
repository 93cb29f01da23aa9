"""Benchmark: emulator switch packets per second for 2, 4 and 8 workers.

Each run is `switchsim.emu.run.emulate`: the UDP switch process and N worker
processes on 127.0.0.1, all-reducing S int32 elements per worker with no
injected loss. packets/s is what the switch ran through the pipeline per wall
second (first to last received datagram); on a 2-core machine the N + 1
processes share the cores, so it falls as N grows past the cores.

Run: ``python benchmarks/emulator.py [--elements S] [--window W] [--workers 2,4,8]``.
"""

from __future__ import annotations

import argparse

from switchsim.emu.run import emulate


def main() -> None:
    """Print one line per worker count."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", type=int, default=200_000, help="int32 elements per worker (default 200000)")
    parser.add_argument("--window", type=int, default=64, help="outstanding packets per worker (default 64)")
    parser.add_argument("--timeout", type=float, default=0.02, help="retransmission timeout, s (default 0.02)")
    parser.add_argument("--workers", default="2,4,8", help="comma-separated worker counts (default 2,4,8)")
    args = parser.parse_args()
    print(f"emulator: {args.elements:,} int32 elements per worker, k 64, window {args.window}, "
          f"timeout {args.timeout * 1e3:g} ms, loopback UDP")
    print(f"{'workers':>7} {'packets/s':>11} {'elements/s':>12} {'switch pkts':>11} {'retransmits':>11} "
          f"{'wall (s)':>8} {'exact':>5}")
    for workers in (int(w) for w in args.workers.split(",")):
        summary = emulate(workers, args.elements, window=args.window, timeout_s=args.timeout, max_wall_s=300.0)
        rate = summary["packets_per_s"]
        print(f"{workers:7d} {rate:11,.0f} {rate * 64 / workers:12,.0f} {summary['switch_packets']:11,d} "
              f"{summary['retransmissions']:11,d} {summary['wall_s']:8.2f} {'yes' if summary['correct'] else 'NO':>5}")


if __name__ == "__main__":
    main()
