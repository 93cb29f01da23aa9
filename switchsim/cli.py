"""The ``switchsim`` command: subcommands that each call one engine and print its report.

``switchsim run`` is the README's default job; ``switchsim conformance`` writes
or checks the switch contract (the conformance vectors).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from switchsim.arguments import probability, ranged, seconds_up_to, seed
from switchsim.config import MAX_TIME_LIMIT_S
from switchsim.outcome import exit_status, outcome
from switchsim.paths import output_dir, output_file
from switchsim.progress import StatusLine
from switchsim.protocol import spec
from workers.protocol_state import RECOVERY_POLICIES

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
    from switchsim.outcome import describe, judged
    from switchsim.pipeline import wrapped_sum
    from switchsim.pipeline.tables import describe_counters
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
        timeout_s=args.timeout,
        backoff_threshold=args.backoff_threshold,
        backoff_threshold_increment=args.backoff_increment,
        recovery=args.recovery,
        max_time_s=args.max_time,
    )
    wall_s = time.perf_counter() - started
    expected = wrapped_sum(tensors)
    exact = bool(result.completed and np.array_equal(result.results, np.broadcast_to(expected, result.results.shape)))
    correct = judged(result.completed, exact)
    summary = {
        "engine": "memory_loop",
        "correct": correct,
        "completed": result.completed,
        "stopped_by": result.stopped_by,
        "workers": args.workers,
        "elements": args.elements,
        "elements_per_packet": args.elements_per_packet,
        "window": args.window,
        "loss": args.loss,
        "seed": args.seed,
        "timeout_s": args.timeout,
        "recovery": args.recovery,
        "max_time_s": args.max_time,
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
              f"{packets:,} packets per worker, window {args.window}, loss {args.loss:.2%} each way, "
              f"timeout {args.timeout:g} s, recovery {args.recovery}")
        print(f"  switch counters: {describe_counters(result.counters)}")
        print(f"  retransmissions: {summary['retransmissions']:,}; simulated {result.time_s * 1e3:.3f} ms, "
              f"wall {wall_s:.2f} s")
        verdict = describe(result.completed, correct, result.stopped_by, args.max_time)
        if correct:
            verdict = "exact: every worker holds the int32 wrap-around sum"
        elif not result.completed:
            verdict += ("; under steady loss the official backoff keeps doubling the timeout: "
                        "try --recovery reset (or rto), or a larger --max-time")
        print(f"  verdict: {verdict}")
    return exit_status([outcome(result.completed, correct)])


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
    from switchsim.config import find_scenario, load_scenario

    return load_scenario(find_scenario(path))


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


#: Printed under every table with an ATE/s column.
ATE_FOOTNOTE = "ATE/s: aggregated tensor elements per second (elements x iterations / aggregation time)"


def _summary_table(results) -> str:
    from switchsim.outcome import describe

    speedups = results.speedups()
    limit = results.scenario.max_time_s
    width = max([10] + [len(r.method) for r in results.results])  # "hierarchical-ring" is 17
    lines = [f"{'method':{width}} {'time (ms)':>11} {'ATE/s':>11} {'Gb/s/worker':>12} {'SwitchML x':>10} "
             f"{'retransmits':>11}  outcome"]
    for r in results.results:
        speedup = f"{speedups[r.method]:.2f}" if r.method in speedups else ""
        time_ms = f"{r.aggregation_time_s * 1e3:11.3f}" if r.completed else f"{'-':>11}"
        lines.append(f"{r.method:{width}} {time_ms} {r.ate_per_s:11.3e} "
                     f"{r.goodput_per_worker_bps / 1e9:12.2f} {speedup:>10} {r.retransmissions:11,d}  "
                     f"{describe(r.completed, r.correct, r.stopped_by, limit)}")
    lines.append(ATE_FOOTNOTE)
    return "\n".join(lines)


def _tenant_table(results) -> str:
    """Jobs sharing a fabric: each job's time shared and alone, its slowdown, and the SwitchML slot allotments."""
    from switchsim.outcome import describe
    from switchsim.sim.tenants import slot_allotments

    scenario = results.scenario
    limit = scenario.max_time_s
    lines = [f"{'job':>3} {'method':10} {'shared (ms)':>12} {'alone (ms)':>11} {'slowdown':>9} {'retransmits':>11}"
             "  outcome"]
    for r in results.results:
        shared = f"{r.aggregation_time_s * 1e3:12.3f}" if r.completed else f"{'-':>12}"
        alone = f"{r.alone_time_s * 1e3:11.3f}" if r.alone_time_s is not None else f"{'-':>11}"
        slowdown = f"{r.slowdown:9.2f}" if r.slowdown is not None else f"{'-':>9}"
        lines.append(f"{r.job:>3} {r.method:10} {shared} {alone} {slowdown} {r.retransmissions:11,d}  "
                     f"{describe(r.completed, r.correct, r.stopped_by, limit)}")
    lines.append("slowdown: the job's aggregation time with every job running / running alone on the same fabric")
    allotments = slot_allotments(scenario)
    if allotments:
        used = sum(a.slots for a in allotments)
        parts = [f"job {a.job}: slots {a.first_slot}..{a.first_slot + a.slots - 1} on {len(a.switches)} switch(es)"
                 for a in allotments]
        lines.append(f"slot allotments ({used} of {scenario.switch.slots} slots per switch): " + "; ".join(parts))
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from switchsim import io, plots
    from switchsim.config import with_override
    from switchsim.sim.run import run_scenario

    scenario = _scenario(args.scenario)
    if args.seed is not None:
        scenario = replace(scenario, seed=args.seed)
    if args.engine is not None:
        scenario = replace(scenario, simulator=replace(scenario.simulator, engine=args.engine))
    if args.recovery is not None:
        scenario = with_override(scenario, "switchml.recovery", args.recovery)
    if args.trace is not None or scenario.workload.source == "trace":  # a recorded DDP job's buckets
        from switchsim.sim.trace_replay import run_trace_command

        return run_trace_command(scenario, args.scenario, args.trace, args.out)
    if args.pcap and scenario.job_methods:
        raise ValueError(f"--pcap captures host 0's SwitchML traffic of a single-method run; {scenario.name} runs "
                         "jobs sharing a fabric (job_methods), which are not captured: leave out --pcap")
    out = output_dir(args.out or f"out/{scenario.name}", "--out")
    pcap = str(output_file(args.pcap, "--pcap")) if args.pcap else None
    t = scenario.topology
    jobs = (f" x {t.job_count} jobs sharing the fabric ({', '.join(scenario.job_methods)}; then each alone)"
            if scenario.job_methods else f" x {t.job_count} job(s)")
    print(f"switchsim run: {scenario.name} (seed {scenario.seed}): {t.kind}, {t.workers_per_job} workers per job"
          f"{jobs}, {scenario.workload.elements:,} elements x {scenario.workload.iterations} "
          f"iteration(s), {scenario.link.rate_bps / 1e9:g} Gb/s, loss {scenario.link.loss:g}, "
          f"{scenario.simulator.engine} engine, {scenario.workload.source} workload, "
          f"{scenario.switchml.recovery} loss recovery")
    progress = _ProgressLine()
    started = time.perf_counter()
    try:
        results = run_scenario(scenario, progress, pcap=pcap)
    finally:
        progress.close()
    print(_tenant_table(results) if scenario.job_methods else _summary_table(results))
    for r in results.results:
        if r.float_relative_error is not None:
            print(f"{r.method}: float32 decode vs exact float64 sum: relative error {r.float_relative_error:.2e}, "
                  f"max |error| {r.float_max_abs_error:.2e}")
    summary = io.write_summary(results, out)
    table = io.write_results_csv(results, out)
    pictures = [plots.plot_tenants(results, out) if scenario.job_methods else plots.plot_methods(results, out),
                plots.plot_links(results, out)]
    hops = sum(r.packet_hops for r in results.results if r.method == "switchml" and r.job is None)
    wall = sum(r.wall_time_s for r in results.results if r.method == "switchml")
    if hops:
        print(f"switchml: {hops:,} packet-hops in {wall:.2f} s wall ({hops / wall:,.0f} packet-hops/s, "
              f"{scenario.simulator.engine} engine; the wall time includes loading the compiled code once per "
              f"process, which dominates small runs: benchmarks/simulator.py measures the pace)")
    if pcap:
        print(f"wrote {pcap}: worker 0's SwitchML packets in simulated time")
    print(f"wrote {summary}, {table} and {', '.join(str(p) for p in pictures)} "
          f"(total {time.perf_counter() - started:.1f} s)")
    return exit_status(outcome(r.completed, r.correct) for r in results.results)


def _train(args: argparse.Namespace) -> int:
    from switchsim.study.ddp_train import run_command

    return run_command(args)


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


#: `switchsim sweep` rewrites DIR/sweep.json with the runs so far at most this often, seconds (and at the end,
#: on Ctrl-C or on a failure), so a long sweep of large records does not spend its time rewriting the file.
SAVE_EVERY_S = 5.0


def _sweep_axes(args: argparse.Namespace, base) -> tuple:
    """The swept fields and values: the --param/--values pairs, else the scenario's [sweep] table."""
    params, values = args.param or [], args.values or []
    if len(params) != len(values):
        raise ValueError(f"--param and --values come in pairs: got {len(params)} --param and {len(values)} --values")
    if not params:
        if not base.sweep.axes:
            raise ValueError(f"{args.scenario}: no [sweep] table; give --param SECTION.FIELD --values V1,V2,...")
        return base.sweep.axes
    axes = []
    for param, text in zip(params, values, strict=True):
        parsed = tuple(_parse_value(v) for v in text.split(",") if v.strip())
        if not parsed:
            raise ValueError(f"--values for {param}: give at least one value, comma-separated")
        counts = Counter(json.dumps(value) for value in parsed)
        repeated = [text for text, count in counts.items() if count > 1]
        if repeated:
            raise ValueError(f"--values for {param}: each value once, got {', '.join(repeated)} more than once")
        axes.append((param, parsed))
    if len({param for param, _ in axes}) != len(axes):
        raise ValueError(f"--param: each SECTION.FIELD once, got {params}")
    return tuple(axes)


def _sweep_table(document: dict) -> str:
    from switchsim.outcome import describe

    names = list(document["axes"])
    width = max(12, *(len(name) for name in names))
    lines = ["".join(f"{name:>{width}} " for name in names) + f"{'method':10} {'seeds':>5} "
             f"{'time (ms) [95% interval]':>33} {'ATE/s [95% interval]':>32}  outcome"]
    for point in document["points"]:
        cells = "".join(f"{_value_text(point['params'][name]):>{width}} " for name in names)
        if point["mean_time_s"] is None:
            time_cell, rate_cell = f"{'-':>33}", f"{'-':>32}"
        elif point["completed"] == 1:  # one finished run has no interval: not a "+- 0"
            time_cell = f"{point['mean_time_s'] * 1e3:10.3f} {'(n=1)':>22}"
            rate_cell = f"{point['mean_ate_per_s']:9.3e} {'(n=1)':>22}"
        else:
            low, high = (1e3 * v for v in point["ci95_time_s"])
            time_cell = f"{point['mean_time_s'] * 1e3:10.3f} [{low:9.3f}, {high:9.3f}]"
            low, high = point["ci95_ate_per_s"]
            rate_cell = f"{point['mean_ate_per_s']:9.3e} [{low:9.3e}, {high:9.3e}]"
        unfinished = point["seeds"] - point["completed"]
        if point["wrong"]:
            verdict = f"WRONG in {point['wrong']} of {point['seeds']}"
        elif unfinished:
            verdict = (f"{unfinished} of {point['seeds']} "
                       + describe(False, None, "max_time", point["max_time_s"]))
        else:
            verdict = "exact" if point["seeds"] == 1 else f"exact in all {point['seeds']}"
        lines.append(f"{cells}{point['method']:10} {point['seeds']:5d} {time_cell} {rate_cell}  {verdict}")
    lines.append(ATE_FOOTNOTE + "; [low, high]: 95% confidence interval over the seeds (Student's t on the logarithms)")
    return "\n".join(lines)


def _sweep(args: argparse.Namespace) -> int:
    import os

    from switchsim import io, plots
    from switchsim.config import with_override
    from switchsim.outcome import EXIT_INFRASTRUCTURE
    from switchsim.sweep import (
        SCHEDULER_VARIABLE,
        ClusterError,
        SweepPlan,
        execute,
        parse_seeds,
        resumable_runs,
        run_key,
        sweep_document,
    )

    base = _scenario(args.scenario)
    if args.engine is not None:
        base = with_override(base, "simulator.engine", args.engine)
    seeds = parse_seeds(args.seeds) if args.seeds else (base.sweep.seeds or (base.seed,))
    plan = SweepPlan(base=base, axes=_sweep_axes(args, base), seeds=seeds)
    out = output_dir(args.out or f"out/{base.name}-sweep", "--out")
    scheduler = args.scheduler or os.environ.get(SCHEDULER_VARIABLE) or None
    runs: list[dict] = []
    document = None if args.force else io.read_sweep(out)
    if document is not None:  # refused before any run when this sweep would discard runs it does not redo
        kept = resumable_runs(document, plan, out / "sweep.json")
        if args.resume:
            runs = kept
    total = len(plan.tasks())
    axes = ", ".join(f"{name} over {list(values)}" for name, values in plan.axes)
    if scheduler:
        where = f"Dask scheduler {scheduler}"
    elif args.jobs == 1 or total - len(runs) <= 1:
        where = "this process"
    else:
        where = f"a local Dask cluster of {args.jobs} processes"
    print(f"switchsim sweep: {base.name}: {axes}; seeds {_seed_text(seeds)}; {total} runs on {where}"
          + (f" ({len(runs)} kept from {out / 'sweep.json'})" if runs else ""))
    line = StatusLine()
    resumed = len(runs)
    made = [0]
    written = [time.monotonic()]

    def done(record: dict) -> None:
        runs.append(record)
        made[0] += 1
        now = time.monotonic()
        if now - written[0] >= SAVE_EVERY_S:  # the whole file each time: at most every few seconds
            io.write_sweep(sweep_document(plan, runs), out)
            written[0] = now
        left = (total - len(runs)) * (now - line.started) / made[0]
        line.update(f"sweep: {len(runs)}/{total} runs, about {left:,.0f} s left", force=len(runs) == total)

    try:
        execute(plan, done, skip=frozenset(run_key(r["params"], r["seed"]) for r in runs), scheduler=scheduler,
                jobs=args.jobs, scheduler_timeout_s=args.scheduler_timeout, check_stop=args.stop_signals.check)
    except ClusterError as failure:  # infrastructure, not a wrong sum: keep the runs, say how to finish
        line.close()
        io.write_sweep(sweep_document(plan, runs), out)
        print(f"switchsim sweep: {failure}; {len(runs)} of {total} runs kept in {out / 'sweep.json'}; "
              f"to finish: {_resume_command(args, out)}", file=sys.stderr)
        return EXIT_INFRASTRUCTURE
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM (a StoppedError): keep the runs, say how to finish
        from switchsim.emu.supervisor import stopping_signal

        line.close()
        io.write_sweep(sweep_document(plan, runs), out)
        number = stopping_signal(stop)
        print(f"{'interrupted' if number == signal.SIGINT else 'stopped by ' + signal.Signals(number).name}: "
              f"{len(runs)} of {total} runs kept in {out / 'sweep.json'}; run again with --resume to finish",
              file=sys.stderr)
        return 128 + number
    except BaseException:
        io.write_sweep(sweep_document(plan, runs), out)  # a failed run keeps the ones that finished
        raise
    finally:
        line.close()
    document = sweep_document(plan, runs)
    print(_sweep_table(document))
    table = io.write_sweep(document, out)
    rows = io.write_sweep_csv(document, base.topology.job_count, out)
    figure = plots.plot_sweep(document, out)
    print(f"wrote {table}, {rows} and {figure} ({made[0]} runs made, {resumed} resumed, "
          f"{time.monotonic() - line.started:.1f} s)")
    return exit_status(outcome(r["completed"], r["correct"]) for run in runs for r in run["results"])


def _resume_command(args: argparse.Namespace, out: Path) -> str:
    """The ``switchsim sweep ... --resume`` command that finishes an interrupted sweep (shell-quoted)."""
    import shlex

    words = ["switchsim", "sweep", args.scenario]
    for param, values in zip(args.param or [], args.values or [], strict=False):
        words += ["--param", param, "--values", values]
    for flag, value in (("--seeds", args.seeds), ("--engine", args.engine), ("--scheduler", args.scheduler)):
        if value is not None:
            words += [flag, value]
    words += ["--jobs", str(args.jobs), "--out", str(out), "--resume"]
    return " ".join(shlex.quote(word) for word in words)


def _value_text(value) -> str:
    """A swept value as a table cell: strings bare, lists joined with +, numbers as they are."""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return "+".join(map(str, value))
    return json.dumps(value)


def _seed_text(seeds: tuple[int, ...]) -> str:
    if len(seeds) > 2 and seeds == tuple(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}..{seeds[-1]}"
    return ",".join(map(str, seeds))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``switchsim`` command."""
    parser = argparse.ArgumentParser(
        prog="switchsim",
        description="SwitchML in-network aggregation: the switch sums int32 packets from n workers "
        "and multicasts each finished slot back.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from switchsim import __version__

    parser.add_argument("--version", action="version", version=f"switchsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

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
    run.add_argument("--timeout", type=seconds_up_to(60.0), default=1e-4,
                     help="the workers' initial retransmission timeout, s (default 1e-4: ten round trips)")
    run.add_argument("--recovery", choices=RECOVERY_POLICIES, default="official",
                     help="loss recovery: official (the official client's backoff: the timeout doubles after "
                     "100, 300, 600, ... timeouts and never comes back down), reset (that backoff, undone after "
                     "each window of results) or rto (a timeout estimated from measured round trips, as TCP's); "
                     "default official")
    run.add_argument("--backoff-threshold", type=ranged(1, 10**9), default=100,
                     help="official backoff: timeouts since the last doubling that double the timeout (default 100)")
    run.add_argument("--backoff-increment", type=ranged(0, 10**9), default=100,
                     help="official backoff: growth of that threshold at each doubling (default 100)")
    run.add_argument("--max-time", type=seconds_up_to(MAX_TIME_LIMIT_S), default=60.0,
                     help="give up after this simulated time, s (default 60); such a run did not finish, "
                     "which is not the same as a wrong sum (exit status 3, not 1)")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.set_defaults(handler=_loop)

    simulate = sub.add_parser(
        "run",
        help="simulate a scenario: SwitchML vs the host collectives (ring, tree, parameter server, "
        "all-gather) on the same fabric, packet by packet",
        description="Run a scenario (TOML) in the discrete-event simulator: every method on the same topology, "
        "links and tensors. Prints a summary table, writes DIR/summary.json, DIR/results.csv (one row per method "
        "and job, for pandas and plotting tools) and plots (PNG). A scenario with job_methods (one method per job, "
        "e.g. scenarios/multi-tenant.toml) runs its jobs at once on the shared fabric, then each alone, and "
        "prints each job's slowdown and the SwitchML jobs' slot allotments. Without SCENARIO, "
        "runs scenarios/quickstart.toml. Exit status: 0 every method finished with the exact sum, 1 a method's "
        "sum was wrong, 3 a method did not finish within max_time_s (2: bad input).",
    )
    simulate.add_argument("scenario", nargs="?", help="scenario TOML file (default: scenarios/quickstart.toml)")
    simulate.add_argument("--out", help="output folder (default: out/<scenario name>)")
    simulate.add_argument("--seed", type=seed, help="override the scenario's seed")
    simulate.add_argument("--pcap", metavar="FILE",
                          help="write worker 0's SwitchML packets (both directions, up to 200k) as a pcap")
    simulate.add_argument("--engine", choices=("fast", "simpy"),
                          help="SwitchML engine: fast (compiled, for scale) or simpy (the readable reference); "
                          "both give identical results (default: the scenario's [simulator] engine, else fast)")
    simulate.add_argument("--recovery", choices=RECOVERY_POLICIES,
                          help="SwitchML loss recovery: official (the official backoff), reset (undone after each "
                          "window of results) or rto (TCP-style estimate) (default: the scenario's "
                          "switchml.recovery, else official)")
    simulate.add_argument("--trace", metavar="FILE",
                          help="replay a trace of a DDP job (switchsim.torch, docs/pytorch.md) on the scenario's "
                          "cluster: per method, iteration time and exposed communication (sets workload.source "
                          "= \"trace\")")
    simulate.set_defaults(handler=_run)

    sweep = sub.add_parser(
        "sweep",
        help="run a scenario over a grid of values x seeds, on a Dask cluster, and plot means with 95%% intervals",
        description="Run SCENARIO at every combination of the --param values, once per seed, each run a task on "
        "a dask.distributed cluster: by default a local cluster of --jobs processes; with --scheduler (or "
        "$SWITCHSIM_SCHEDULER) an existing one, e.g. several machines (docs/sweeps.md). Runs are written to "
        "DIR/sweep.json as they finish (an interrupted sweep keeps them; --resume runs only the missing ones; a "
        "sweep that would discard runs already there is refused unless --force), and DIR/sweep.csv at the end "
        "(one row per run, method and job); "
        "prints mean, std and 95% confidence intervals per point and method, and plots them. Without "
        "--param/--values, uses the scenario's [sweep] table. Exit status as `run`.",
        epilog="examples:\n"
        "  switchsim sweep scenarios/loss-sweep.toml\n"
        "  switchsim sweep scenarios/loss-recovery.toml --seeds 0..4\n"
        "  switchsim sweep scenarios/quickstart.toml --param link.loss --values 0,0.01 "
        "--param switchml.recovery --values official,rto --seeds 0..9\n"
        "  switchsim sweep scenarios/quickstart.toml --param methods --values switchml+ring,ps\n"
        "  switchsim sweep scenarios/loss-recovery.toml --scheduler tcp://10.0.0.1:8786",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sweep.add_argument("scenario", help="scenario TOML file")
    sweep.add_argument("--param", action="append", metavar="SECTION.FIELD",
                       help="a field to vary, e.g. link.loss; repeat with --values for a grid (default: [sweep])")
    sweep.add_argument("--values", action="append", metavar="V1,V2,...",
                       help="comma-separated values of the matching --param, e.g. 0,0.0001,0.001; for methods, "
                       "join methods with +: switchml+ring,ring")
    sweep.add_argument("--seeds", metavar="A..B|S1,S2,...",
                       help="run every point under each seed: a range 0..9 or a list (default: [sweep] seeds, "
                       "else the scenario's seed)")
    sweep.add_argument("--out", help="output folder (default: out/<scenario name>-sweep)")
    sweep.add_argument("--jobs", type=ranged(1, 64), default=2,
                       help="worker processes of the local Dask cluster; 1 runs serially in this process (default 2)")
    sweep.add_argument("--scheduler", metavar="ADDRESS",
                       help="address of a running Dask scheduler (tcp://HOST:8786) to run on instead of a local "
                       "cluster (default: $SWITCHSIM_SCHEDULER)")
    sweep.add_argument("--scheduler-timeout", type=seconds_up_to(3600.0), default=5.0, metavar="SECONDS",
                       help="how long to wait for --scheduler to answer, then for it to have a worker (default 5); "
                       "a lost, unreachable or empty cluster ends the sweep with exit status 4, its runs kept")
    sweep.add_argument("--resume", action="store_true",
                       help="keep the runs already in DIR/sweep.json and run only the missing ones")
    sweep.add_argument("--force", action="store_true",
                       help="replace DIR/sweep.json even when it holds runs this sweep does not redo (another "
                       "scenario, other values or seeds); without it such a sweep is refused")
    sweep.add_argument("--engine", choices=("fast", "simpy"),
                       help="SwitchML engine for every point (default: the scenario's [simulator] engine)")
    sweep.set_defaults(handler=_sweep)

    from switchsim.study.cli import add_study_parser

    add_study_parser(sub)

    from switchsim.emu.run import add_emulate_parser

    add_emulate_parser(sub)

    from switchsim.protocol.wireshark import add_wireshark_parser

    add_wireshark_parser(sub)

    from switchsim.study.ddp_train import add_train_parser  # torch itself is imported only when training runs

    add_train_parser(sub).set_defaults(handler=_train)

    from switchsim.torch.serve import add_serve_parser

    add_serve_parser(sub)

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
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # a bare `switchsim`: the commands, not only "COMMAND is required"
        parser.print_help(sys.stderr)
        print("switchsim: error: give a COMMAND (one of the above)", file=sys.stderr)
        return 2
    from switchsim.emu.supervisor import stop_signals, stopping_signal

    try:
        # SIGINT and SIGTERM raise StoppedError (a KeyboardInterrupt) in every command, whatever was inherited:
        # a script's `switchsim ... &` starts with SIGINT ignored, and SIGTERM would otherwise kill silently.
        with stop_signals() as signals:
            args.stop_signals = signals  # kept for loops that must not miss a stop whose raise was lost
            return args.handler(args)
    except (ValueError, FileNotFoundError, NotImplementedError) as error:
        print(f"switchsim: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:  # one line, the shell's status for the signal, no traceback
        number = stopping_signal(stop)
        if number == signal.SIGINT:
            print(f"switchsim: interrupted ({args.command} stopped by Ctrl-C)", file=sys.stderr)
        else:
            print(f"switchsim: stopped ({args.command} stopped by {signal.Signals(number).name})", file=sys.stderr)
        return 128 + number
    except MemoryError as error:  # the estimates refuse what cannot fit; this is the backstop
        print(f"switchsim: error: out of memory ({error}); give a smaller workload", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
