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

from switchsim.arguments import probability, ranged, seed
from switchsim.paths import output_dir, output_file
from switchsim.progress import StatusLine
from switchsim.protocol import spec

_EPILOG = """\
examples:
  switchsim run                                   the default job: scenarios/quickstart.toml, SwitchML vs baselines
  switchsim run scenarios/paper-10g.toml --out out/paper-10g
  switchsim sweep scenarios/loss-sweep.toml --param link.loss --values 0,0.0001,0.001,0.01
  switchsim loop --workers 32 --loss 0.05 --json  exact-sum check over an in-memory lossy loop
  switchsim emulate --workers 3 --elements 20000 --loss 0.05   real UDP worker processes and switch
  switchsim conformance check                     replay the stored vectors through the pipeline model
  switchsim study overflow                        IntSGD overflow vs wire/accumulator bits (synthetic + real gradients)
  switchsim study training                        digits training per bit-width, and time to accuracy
  switchsim wireshark                             where the SwitchML Lua dissector is, and how to load it
"""


def _loop(args: argparse.Namespace) -> int:
    from switchsim.memory_loop import Faults, peak_bytes, run_in_memory
    from switchsim.pipeline import wrapped_sum
    from switchsim.sim.memory import refuse_if_too_big

    refuse_if_too_big("switchsim loop", peak_bytes(args.workers, args.elements),
                      f"--workers {args.workers} x --elements {args.elements:,} int32 held in memory",
                      "give fewer --elements (or `switchsim run` a scenario with [workload] source = \"synthetic\")")
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
    expected = wrapped_sum(tensors)
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
        print(f"switchsim loop: in-memory all-reduce through the switch pipeline model (seed {args.seed})")
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
        path = output_file(args.out, "--out") if args.out else vectors.DEFAULT_PATH
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


def _scenario(path: str | None):
    from switchsim.config import builtin_scenario, load_scenario

    return load_scenario(path if path else builtin_scenario("quickstart"))


class _ProgressLine:
    """The simulator's progress: simulated time, share of results received and time left, on a `StatusLine`."""

    def __init__(self) -> None:
        self.line = StatusLine()

    def __call__(self, method: str, simulated_s: float, done: float) -> None:
        elapsed = time.monotonic() - self.line.started
        left = f", about {elapsed * (1 - done) / done:,.0f} s left" if 0.01 < done < 1 else ""
        self.line.update(f"{method}: simulated {simulated_s * 1e3:10.3f} ms, {done:6.1%} of results{left}")

    def close(self) -> None:
        self.line.close()


def _summary_table(results) -> str:
    speedups = results.speedups()
    lines = [f"{'method':10} {'time (ms)':>11} {'ATE/s':>11} {'Gb/s/worker':>12} {'SwitchML x':>10} "
             f"{'retransmits':>11} {'correct':>8}"]
    for r in results.results:
        speedup = "" if r.method == "switchml" else f"{speedups.get(r.method, float('nan')):.2f}"
        lines.append(f"{r.method:10} {r.aggregation_time_s * 1e3:11.3f} {r.ate_per_s:11.3e} "
                     f"{r.goodput_per_worker_bps / 1e9:12.2f} {speedup:>10} {r.retransmissions:11,d} "
                     f"{'yes' if r.correct else 'NO':>8}")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from switchsim import io, plots
    from switchsim.sim.run import run_scenario

    scenario = _scenario(args.scenario)
    if args.seed is not None:
        scenario = replace(scenario, seed=args.seed)
    if args.engine is not None:
        scenario = replace(scenario, simulator=replace(scenario.simulator, engine=args.engine))
    out = output_dir(args.out or f"out/{scenario.name}", "--out")
    pcap = str(output_file(args.pcap, "--pcap")) if args.pcap else None
    t = scenario.topology
    print(f"switchsim run: {scenario.name} (seed {scenario.seed}): {t.kind}, {t.workers_per_job} workers per job"
          f" x {t.job_count} job(s), {scenario.workload.elements:,} elements x {scenario.workload.iterations} "
          f"iteration(s), {scenario.link.rate_bps / 1e9:g} Gb/s, loss {scenario.link.loss:g}, "
          f"{scenario.simulator.engine} engine, {scenario.workload.source} workload")
    progress = _ProgressLine()
    started = time.perf_counter()
    try:
        results = run_scenario(scenario, progress, pcap=pcap)
    finally:
        progress.close()
    print(_summary_table(results))
    for r in results.results:
        if r.float_relative_error is not None:
            print(f"{r.method}: float32 decode vs exact float64 sum: relative error {r.float_relative_error:.2e}, "
                  f"max |error| {r.float_max_abs_error:.2e}")
    summary = io.write_summary(results, out)
    pictures = [plots.plot_methods(results, out), plots.plot_links(results, out)]
    hops = sum(r.packet_hops for r in results.results if r.method == "switchml")
    wall = sum(r.wall_time_s for r in results.results if r.method == "switchml")
    if hops:
        print(f"switchml: {hops:,} packet-hops in {wall:.2f} s wall ({hops / wall:,.0f} packet-hops/s, "
              f"{scenario.simulator.engine} engine; the wall time includes loading the compiled code once per "
              f"process, which dominates small runs: benchmarks/simulator.py measures the pace)")
    if pcap:
        print(f"wrote {pcap}: worker 0's SwitchML packets in simulated time")
    print(f"wrote {summary} and {', '.join(str(p) for p in pictures)} (total {time.perf_counter() - started:.1f} s)")
    return 0 if all(r.correct for r in results.results) else 1


def _parse_value(text: str):
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def _sweep_point(job):
    from switchsim.sim.run import run_scenario

    scenario, value = job
    return value, run_scenario(scenario)


def _sweep(args: argparse.Namespace) -> int:
    from concurrent.futures import ProcessPoolExecutor

    from switchsim import io, plots
    from switchsim.config import with_override

    base = _scenario(args.scenario)
    param = args.param or base.sweep.param
    if not param:
        raise ValueError(f"{args.scenario}: no [sweep] table; give --param SECTION.FIELD and --values")
    if args.values:
        values = [_parse_value(v) for v in args.values.split(",") if v.strip()]
    else:
        values = list(base.sweep.values) if param == base.sweep.param else []
    if not values:
        raise ValueError("--values: give at least one value, comma-separated")
    args.param = param
    if args.engine is not None:
        base = with_override(base, "simulator.engine", args.engine)
    scenarios = [(with_override(base, param, v), v) for v in values]
    out = Path(args.out or f"out/{base.name}-sweep")
    print(f"switchsim sweep: {base.name}, {args.param} over {values}, {args.jobs} process(es)")
    rows = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for done, (value, results) in enumerate(pool.map(_sweep_point, scenarios), start=1):
            print(f"  [{done}/{len(values)}] {args.param} = {value}")
            for r in results.results:
                rows.append({"value": value, "method": r.method, "time_s": r.aggregation_time_s,
                             "ate_per_s": r.ate_per_s, "correct": r.correct, "retransmissions": r.retransmissions,
                             "timeouts": r.timeouts})
    print(f"{args.param:>16} {'method':10} {'time (ms)':>11} {'ATE/s':>11} {'retransmits':>11} {'correct':>8}")
    for row in rows:
        print(f"{row['value']!s:>16} {row['method']:10} {row['time_s'] * 1e3:11.3f} {row['ate_per_s']:11.3e} "
              f"{row['retransmissions']:11,d} {'yes' if row['correct'] else 'NO':>8}")
    table = io.write_sweep(rows, out)
    figure = plots.plot_sweep(rows, args.param, out)
    print(f"wrote {table} and {figure}")
    return 0 if all(row["correct"] for row in rows) else 1


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
        "loop",
        help="all-reduce random int32 tensors through the switch model over an in-memory lossy loop",
        description="All-reduce random int32 tensors from N workers through the switch pipeline model, "
        "with the SwitchML worker protocol (window, per-slot timeouts, retransmissions) over an in-memory "
        "lossy loop, and check that every worker ends with the exact int32 wrap-around sum.",
    )
    run.add_argument("--workers", type=ranged(1, spec.MAX_WORKERS), default=8, help="n, 1..32 (default 8)")
    run.add_argument("--elements", type=ranged(1, 1 << 30), default=1 << 20, help="S per worker (default 1 Mi)")
    run.add_argument("--elements-per-packet", type=int, choices=spec.SUPPORTED_ELEMENTS_PER_PACKET, default=64,
                     help="k (default 64)")
    run.add_argument("--window", type=ranged(1, spec.MAX_SLOTS), default=128,
                     help="W, outstanding packets per worker = slots (default 128)")
    run.add_argument("--loss", type=probability, default=0.01,
                     help="Bernoulli loss probability per packet, each direction (default 0.01)")
    run.add_argument("--hardened", action="store_true", help="switch in hardened mode (drops late duplicates)")
    run.add_argument("--seed", type=seed, default=0, help="seed of tensors and faults (default 0)")
    run.add_argument("--max-time", type=float, default=60.0, help="give up after this simulated time, s (default 60)")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.set_defaults(handler=_loop)

    simulate = sub.add_parser(
        "run",
        help="simulate a scenario: SwitchML vs ring / parameter server / all-gather on the same links",
        description="Run a scenario (TOML) in the discrete-event simulator: every method on the same topology, "
        "links and tensors. Prints a summary table, writes DIR/summary.json and plots (PNG). Without SCENARIO, "
        "runs scenarios/quickstart.toml. Exit status 1 if any method ended with a wrong result.",
    )
    simulate.add_argument("scenario", nargs="?", help="scenario TOML file (default: scenarios/quickstart.toml)")
    simulate.add_argument("--out", help="output folder (default: out/<scenario name>)")
    simulate.add_argument("--seed", type=seed, help="override the scenario's seed")
    simulate.add_argument("--pcap", metavar="FILE",
                          help="write worker 0's SwitchML packets (both directions, up to 200k) as a pcap")
    simulate.add_argument("--engine", choices=("fast", "simpy"),
                          help="SwitchML engine: fast (compiled, for scale) or simpy (the readable reference); "
                          "both give identical results (default: the scenario's [simulator] engine, else fast)")
    simulate.set_defaults(handler=_run)

    sweep = sub.add_parser(
        "sweep",
        help="run a scenario over values of one parameter, in parallel processes, and plot against it",
        description="Run SCENARIO once per value of --param (SECTION.FIELD, e.g. link.loss, topology.workers, "
        "switchml.window) in parallel local processes; print a table, write DIR/sweep.json and a plot. "
        "Without --param/--values, uses the scenario's [sweep] table.",
    )
    sweep.add_argument("scenario", help="scenario TOML file")
    sweep.add_argument("--param", help="SECTION.FIELD to vary, e.g. link.loss (default: the scenario's [sweep])")
    sweep.add_argument("--values", help="comma-separated values, e.g. 0,0.0001,0.001,0.01 (default: [sweep])")
    sweep.add_argument("--out", help="output folder (default: out/<scenario name>-sweep)")
    sweep.add_argument("--jobs", type=ranged(1, 64), default=2, help="parallel processes (default 2)")
    sweep.add_argument("--engine", choices=("fast", "simpy"),
                       help="SwitchML engine for every point (default: the scenario's [simulator] engine)")
    sweep.set_defaults(handler=_sweep)

    from switchsim.study.cli import add_study_parser

    add_study_parser(sub)

    from switchsim.emu.run import add_emulate_parser

    add_emulate_parser(sub)

    from switchsim.protocol.wireshark import add_wireshark_parser

    add_wireshark_parser(sub)

    conf = sub.add_parser(
        "conformance",
        help="generate or check the conformance vectors (frames in -> frames out) the P4 switch must meet",
        description="The conformance vectors are the switch contract: scenarios of Ethernet frames sent to the "
        "switch and the frames it must send back, generated from the pipeline model. `check` replays a vector file "
        "through the model and reports mismatches, and whether the file is stale (differs from what the model "
        "generates now); exit status 1 if either. `generate` writes a fresh file.",
    )
    conf.add_argument("action", choices=("generate", "check"),
                      help="check: replay the vectors through the model; generate: write them from the model")
    conf.add_argument("--out", help="generate: where to write (default: the packaged vectors.json)")
    conf.add_argument("--vectors", help="check: which file to replay (default: the packaged vectors.json)")
    conf.set_defaults(handler=_conformance)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``switchsim`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, FileNotFoundError, NotImplementedError) as error:
        print(f"switchsim: error: {error}", file=sys.stderr)
        return 2
    except MemoryError as error:  # the estimates refuse what cannot fit; this is the backstop
        print(f"switchsim: error: out of memory ({error}); give a smaller workload", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
