"""The ``switchsim`` command: subcommands that each call one engine and print its report.

``switchsim run`` is the README's default job; ``switchsim conformance`` writes
or checks the switch contract (the conformance vectors).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from switchsim.protocol import spec

_EPILOG = """\
examples:
  switchsim run                                  the default job: 8 workers, 1 Mi elements, 1 % loss
  switchsim run --workers 32 --loss 0.05 --json  machine-readable verdict
  switchsim conformance check                    replay the stored vectors through the pipeline model
  switchsim conformance generate --out v.json    regenerate the vectors from the model
"""


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1), got {value}")
    return value


def _ranged(low: int, high: int):
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be an integer in {low}..{high}, got {value}")
        return value

    return parse


def _run(args: argparse.Namespace) -> int:
    from switchsim.memory_loop import Faults, exact_sum, run_in_memory

    rng = np.random.default_rng(args.seed)
    tensors = rng.integers(-(2**31), 2**31, size=(args.workers, args.elements), dtype=np.int64).astype(np.int32)
    faults = Faults(loss_up=args.loss, loss_down=args.loss)
    started = time.perf_counter()
    result = run_in_memory(
        tensors,
        window=args.window,
        elements_per_packet=args.elements_per_packet,
        hardened=args.hardened,
        faults=faults,
        seed=args.seed,
        max_time_s=args.max_time,
    )
    wall_s = time.perf_counter() - started
    expected = exact_sum(tensors)
    correct = bool(result.completed and np.array_equal(result.results, np.broadcast_to(expected, result.results.shape)))
    summary = {
        "engine": "memory_loop",
        "correct": correct,
        "completed": result.completed,
        "workers": args.workers,
        "elements": args.elements,
        "elements_per_packet": args.elements_per_packet,
        "window": args.window,
        "loss": args.loss,
        "seed": args.seed,
        "simulated_time_s": result.time_s,
        "wall_time_s": wall_s,
        "retransmissions": sum(s.retransmissions for s in result.worker_stats),
        "switch_counters": result.counters,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        packets = -(-args.elements // args.elements_per_packet)
        print(f"switchsim run: in-memory all-reduce through the switch pipeline model (seed {args.seed})")
        print(f"  workers {args.workers}, elements {args.elements:,} int32, k {args.elements_per_packet}, "
              f"{packets:,} packets per worker, window {args.window}, loss {args.loss:.2%} each way")
        print(f"  switch counters: {result.counters}")
        print(f"  retransmissions: {summary['retransmissions']:,}; simulated {result.time_s * 1e3:.3f} ms, "
              f"wall {wall_s:.2f} s")
        verdict = "EXACT: every worker holds the int32 wrap-around sum" if correct else "WRONG or incomplete result"
        print(f"  verdict: {verdict}")
    return 0 if correct else 1


def _conformance(args: argparse.Namespace) -> int:
    from switchsim.conformance import vectors

    if args.action == "generate":
        document = vectors.generate()
        path = Path(args.out) if args.out else vectors.DEFAULT_PATH
        vectors.write(document, path)
        steps = sum(len(s["steps"]) for s in document["scenarios"])
        print(f"wrote {len(document['scenarios'])} scenarios, {steps} input frames to {path}")
        return 0
    path = Path(args.vectors) if args.vectors else vectors.DEFAULT_PATH
    document = vectors.load(path)
    mismatches = vectors.replay(document)
    stale = vectors.generate() != document
    for line in mismatches:
        print(f"MISMATCH {line}")
    print(f"{path}: {len(document['scenarios'])} scenarios, {len(mismatches)} mismatches"
          + ("; the file differs from what the model generates now (stale)" if stale else ""))
    return 1 if mismatches or stale else 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``switchsim`` command."""
    parser = argparse.ArgumentParser(
        prog="switchsim",
        description="SwitchML in-network aggregation: the switch sums int32 packets from n workers "
        "and multicasts each finished slot back.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run the default job: an all-reduce of random int32 tensors under loss, checked bit for bit",
        description="All-reduce random int32 tensors from N workers through the switch pipeline model, "
        "with the SwitchML worker protocol (window, per-slot timeouts, retransmissions) over an in-memory "
        "lossy loop, and check that every worker ends with the exact int32 wrap-around sum.",
    )
    run.add_argument("--workers", type=_ranged(1, spec.MAX_WORKERS), default=8, help="n, 1..32 (default 8)")
    run.add_argument("--elements", type=_ranged(1, 1 << 30), default=1 << 20, help="S per worker (default 1 Mi)")
    run.add_argument("--elements-per-packet", type=int, choices=spec.SUPPORTED_ELEMENTS_PER_PACKET, default=64,
                     help="k (default 64)")
    run.add_argument("--window", type=_ranged(1, spec.MAX_SLOTS), default=128,
                     help="W, outstanding packets per worker = slots (default 128)")
    run.add_argument("--loss", type=_probability, default=0.01,
                     help="Bernoulli loss probability per packet, each direction (default 0.01)")
    run.add_argument("--hardened", action="store_true", help="switch in hardened mode (drops late duplicates)")
    run.add_argument("--seed", type=int, default=0, help="seed of tensors and faults (default 0)")
    run.add_argument("--max-time", type=float, default=60.0, help="give up after this simulated time, s (default 60)")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.set_defaults(handler=_run)

    conf = sub.add_parser(
        "conformance",
        help="generate or check the conformance vectors (frames in -> frames out) the P4 switch must meet",
    )
    conf.add_argument("action", choices=("generate", "check"))
    conf.add_argument("--out", help="generate: where to write (default: the packaged vectors.json)")
    conf.add_argument("--vectors", help="check: which file to replay (default: the packaged vectors.json)")
    conf.set_defaults(handler=_conformance)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``switchsim`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"switchsim: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
