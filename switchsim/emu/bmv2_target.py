"""``emulate --target bmv2``: real workers through bmv2 ``simple_switch``, next to the emulator switch.

One run: compile ``p4/bmv2/switchml.p4`` with ``SWITCHML_SLOTS`` = the window
(or take a compiled JSON), start ``simple_switch`` on veth pairs in its own
network namespace (`switchsim.p4gen.bmv2_runner.Bmv2Switch`), install the job
with the controller, and run N worker processes, each `workers.client.run_worker`
over raw Ethernet (``AF_PACKET``) on the host end of its veth pair, losing
each send with probability ``loss``. Every worker's result is checked against
the int32 wrap-around sum of the seeded tensors; the switch's counters give the
packets its pipeline processed, and packets/s is those per wall second of the
run. `compare` then runs the project's own emulator switch
(`switchsim.emu.run.emulate`) on the same workload and reports both rates.

Needs root (namespace, veth pairs, ``AF_PACKET``) and the bmv2 toolchain on
``PATH`` (docs/bmv2.md).

Defaults (window 16, timeout 0.3 s) are bmv2's, chosen from measurement
(docs/bmv2.md, "Real workers through bmv2"): bmv2 passes about 1,500
requests/s, so a wider window only queues requests in front of its single
ingress thread (at W = 64 some never reach the pipeline) and a shorter timeout
resends packets whose result is merely late.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from switchsim.arguments import seed
from switchsim.emu.run import (
    REPORT_GRACE_S,
    WorkerJob,
    judge_results,
    report_failure,
    serve_worker,
    stop_forkserver,
    worker_context,
    worker_stop_at,
)
from switchsim.emu.supervisor import (
    ChildDiedError,
    StoppedError,
    Supervisor,
    command_age_s,
    describe_exit,
    ignore_interrupts,
    started_as_command,
)
from switchsim.frame_switch import worker_entries
from switchsim.outcome import describe, exit_status, outcome
from switchsim.p4gen import bmv2_runner
from switchsim.p4gen.controller import Bmv2Job
from workers.client import RawEthernetTransport, RawTarget

#: bmv2 defaults, from measurement (module docstring).
BMV2_WINDOW = 16
BMV2_TIMEOUT_S = 0.3
#: Default ``--max-wall`` of ``--target bmv2`` (seconds): it covers compiling the program (about 25 s), starting
#: simple_switch, bmv2's run (about 1,500 requests/s) and the emulator's run beside it.
BMV2_MAX_WALL_S = 300.0
#: How a supervisor names the bmv2 switch process.
SIMPLE_SWITCH = "simple_switch"


@dataclass(frozen=True, slots=True)
class _Bmv2WorkerJob:
    """What one raw-Ethernet worker process needs (picklable): the worker and its veth end."""

    job: WorkerJob
    interface: str
    mac: str
    ip: str


def _worker_main(control: Connection, job: _Bmv2WorkerJob) -> None:
    """Body of a worker process: wait for "go", aggregate over raw Ethernet, send the result back."""
    ignore_interrupts()  # the parent's supervisor stops this process
    try:
        transport = RawEthernetTransport(RawTarget(job.interface, job.mac, job.ip), job.job.elements_per_packet)
        control.send(("ready", None))
        if not control.poll(job.job.max_wall_s):
            return
        kind, _, stop_at = control.recv()
        if kind != "go":
            return
        serve_worker(control, job.job, transport, stop_at=stop_at)
    except (EOFError, BrokenPipeError):
        return
    except Exception as error:  # reported to the parent, which fails the run with it
        report_failure(control, error)


def emulate_bmv2(workers: int, elements: int, loss: float = 0.0, seed: int = 0, *, window: int = BMV2_WINDOW,
                 timeout_s: float = BMV2_TIMEOUT_S, max_wall_s: float = BMV2_MAX_WALL_S,
                 program_json: Path | None = None, thrift_port: int = 9090, tag: str | None = None,
                 hardened: bool = False, deadline: float | None = None) -> dict:
    """All-reduce seeded int32 tensors of N raw-Ethernet worker processes through bmv2 (module docstring).

    Every process (simple_switch included) runs under a
    `switchsim.emu.supervisor.Supervisor`: a death ends the run at once, named
    (simple_switch's last log line says why); SIGINT and SIGTERM stop
    everything and raise `StoppedError`; on every path the namespace, its veth
    pairs, simple_switch and the temporary folders are removed.

    Args:
        workers: n, 1..32 (one switch port and veth pair each).
        elements: S, int32 elements per worker (k = 64 per packet).
        loss: probability that a worker drops each send, in [0, 1).
        seed: seeds the tensors and the losses.
        window: W, outstanding packets per worker = slots compiled into the program.
        timeout_s: the workers' initial retransmission timeout (seconds).
        max_wall_s: bound on the whole call, compiling and starting simple_switch included (seconds).
        program_json: a build of the mode compiled with ``SWITCHML_SLOTS`` >= window (default: compile one).
        thrift_port: simple_switch's Thrift port (inside its namespace).
        tag: suffix of the namespace and interface names (default: the pid).
        hardened: run the hardened build (``-DSWITCHML_HARDENED``; the workers' tsi is the official encoding).
        deadline: the ``time.monotonic()`` instant to end by (default: ``max_wall_s`` from now).

    Returns:
        ``{"target": "bmv2", "correct", "completed", "packets_per_s", "switch_packets", "retransmissions", ...}``.

    Raises:
        RuntimeError: the toolchain is missing or this process cannot build namespaces.
        StoppedError: SIGINT or SIGTERM arrived (everything is stopped and removed first).
    """
    reason = bmv2_runner.can_run_bmv2()
    if reason:
        raise RuntimeError(f"cannot run bmv2: {reason} (docs/bmv2.md)")
    tools, _ = bmv2_runner.find_tools()
    k = 64
    started = time.monotonic()
    deadline = started + max_wall_s if deadline is None else deadline

    def remaining() -> float:
        return max(0.0, deadline - time.monotonic())

    results: dict[int, np.ndarray] = {}
    summaries: dict[int, dict] = {}
    error = None
    timed_out = False
    stats = None
    run_s = 0.0
    with Supervisor() as supervisor:
        supervisor.callback(stop_forkserver)  # last, once every worker is stopped
        build = tempfile.TemporaryDirectory(prefix="switchsim-bmv2-build-")
        supervisor.callback(build.cleanup)
        processes: list = []
        switch = None
        try:
            if program_json is None:
                program_json = bmv2_runner.compile_program(tools.compiler, Path(build.name), slots=window,
                                                           hardened=hardened, timeout_s=remaining())
            program_slots = next(r["size"] for r in json.loads(Path(program_json).read_text())["register_arrays"]) // 2
            entries = tuple(worker_entries(workers))
            job = Bmv2Job(entries, slots=range(window), program_slots=program_slots, hardened=hardened)
            context = worker_context("switchsim.emu.preload")
            switch = bmv2_runner.Bmv2Switch(tools, Path(program_json), ports=workers, thrift_port=thrift_port,
                                            tag=tag, ready_timeout_s=max(min(30.0, remaining()), 0.001))
            supervisor.callback(switch.close)  # runs after the workers are stopped, where no signal cuts it short
            switch.__enter__()
            supervisor.watch(SIMPLE_SWITCH, switch.process)
            switch.configure(job)
            switch.drain()
            pipes = []
            for w, entry in enumerate(entries):
                parent, child = context.Pipe()
                process = context.Process(target=_worker_main, args=(child, _Bmv2WorkerJob(
                    WorkerJob(w, workers, elements, seed, k, window, timeout_s, loss, 0, max(remaining(), 0.001)),
                    switch.plan.host_ends[w], entry.mac, entry.ip)), daemon=True)
                process.start()
                child.close()
                supervisor.watch(f"worker {w}", process)
                supervisor.callback(parent.close)
                pipes.append(parent)
                processes.append(process)
            for w, pipe in enumerate(pipes):
                if not supervisor.wait([pipe], remaining()):
                    timed_out = True
                    raise TimeoutError(f"worker {w} did not open its socket before the deadline")
                try:
                    kind, detail = pipe.recv()
                except EOFError:
                    kind, detail = "exited", "the process exited"
                if kind != "ready":
                    raise RuntimeError(f"worker {w} did not start: {detail}")
            start = time.monotonic()
            stop_at = worker_stop_at(deadline, remaining())
            for pipe in pipes:
                pipe.send(("go", None, stop_at))
            waiting = dict(enumerate(pipes))
            while waiting:
                ready = supervisor.wait(list(waiting.values()), deadline + REPORT_GRACE_S - time.monotonic())
                if not ready:
                    break
                for pipe in ready:
                    w = next(w for w, p in waiting.items() if p is pipe)
                    del waiting[w]
                    try:
                        message = pipe.recv()
                    except EOFError:
                        processes[w].join(1.0)
                        raise ChildDiedError(f"worker {w}", describe_exit(processes[w].exitcode)) from None
                    if message[0] == "error":
                        error = error or f"worker {w}: {message[1]}"
                    else:
                        supervisor.finished(processes[w])
                        results[w] = np.frombuffer(message[1], np.int32)
                        summaries[w] = message[2]
            run_s = time.monotonic() - start
            if waiting:
                timed_out = True
                error = error or f"workers {sorted(waiting)} did not finish within {max_wall_s:g} s"
            supervisor.check()  # simple_switch still alive: its counters can be read
            stats = switch.stats(job)
        except (TimeoutError, RuntimeError, OSError, subprocess.SubprocessError) as failure:
            error = str(failure)
            timed_out = timed_out or isinstance(failure, TimeoutError | subprocess.TimeoutExpired)
            dead = switch is not None and switch.process is not None and switch.process.poll() is not None
            if dead:  # whatever failed first (a Thrift call, a worker), the switch's death is the reason
                last = switch.last_log_line()
                error = (f"{SIMPLE_SWITCH} died ({describe_exit(switch.process.returncode)})"
                         + (f"; its last log line: {last}" if last else ""))
        finally:
            supervisor.shutdown(processes=processes)
    verdict = judge_results(results, summaries, workers, seed, elements, error, timed_out)
    busy_s = max((s["wall_s"] for s in summaries.values()), default=run_s)
    switch_packets = stats["broadcast"] + stats["retransmit"] + stats["drop"] + stats["stale"] if stats else 0

    def total(key: str) -> int:
        return int(sum(s[key] for s in summaries.values()))

    return {
        "target": "bmv2",
        "hardened": hardened,
        **verdict,
        "max_wall_s": max_wall_s,
        "workers": workers,
        "elements": elements,
        "elements_per_packet": k,
        "window": window,
        "loss": loss,
        "seed": seed,
        "timeout_s": timeout_s,
        "packets_per_s": switch_packets / busy_s if busy_s else 0.0,
        "switch_packets": switch_packets,
        "packets_sent": total("sent"),
        "retransmissions": total("retransmissions"),
        "timeouts": total("timeouts"),
        "injected_losses": total("injected_losses"),
        "lost_before_pipeline": max(0, total("sent") - total("injected_losses") - switch_packets),
        "wall_s": busy_s,
        "elapsed_s": time.monotonic() - started,
        "switch": stats,
        "per_worker": [summaries[w] for w in sorted(summaries)],
    }


def compare(workers: int, elements: int, loss: float = 0.0, seed: int = 0, *, deadline: float | None = None,
            **bmv2_options) -> dict:
    """`emulate_bmv2`, then (if bmv2 finished) the emulator switch on the same workload (its own window and
    timeout defaults), both within ``deadline`` (``time.monotonic()``; default: bmv2's ``max_wall_s`` from now)."""
    from switchsim.emu.run import emulate

    if deadline is None:
        deadline = time.monotonic() + bmv2_options.get("max_wall_s", BMV2_MAX_WALL_S)
    bmv2 = emulate_bmv2(workers, elements, loss, seed, deadline=deadline, **bmv2_options)
    emulator = None
    left = deadline - time.monotonic()
    if bmv2["completed"] and left > 0:
        emulator = emulate(workers, elements, loss=loss, seed=seed, hardened=bmv2_options.get("hardened", False),
                           max_wall_s=left, deadline=deadline)
    ratio = (emulator["packets_per_s"] / bmv2["packets_per_s"]
             if emulator and emulator["packets_per_s"] and bmv2["packets_per_s"] else None)
    return {"bmv2": bmv2, "emulator": emulator, "emulator_over_bmv2": ratio}


def format_comparison(result: dict) -> str:
    """Both runs side by side (the emulator's only when bmv2 finished)."""
    lines = []
    for name in ("bmv2", "emulator"):
        run = result[name]
        if run is None:
            lines.append(f"  {name:8s}: not run (bmv2 did not finish)")
            continue
        verdict = describe(run["completed"], run["correct"], run["stopped_by"], run["max_wall_s"],
                           "" if run["correct"] else run["error"])
        lines.append(f"  {name:8s}: {run['packets_per_s']:>10,.0f} packets/s through the switch; "
                     f"{run['packets_sent']:,} sent, {run['retransmissions']:,} retransmissions, window "
                     f"{run['window']}, timeout {run['timeout_s']} s, {run['wall_s']:.2f} s; {verdict}")
    bmv2 = result["bmv2"]
    head = (f"switchsim emulate --target bmv2: {bmv2['workers']} workers x {bmv2['elements']:,} int32 elements, "
            f"loss {bmv2['loss']:.2%} per send, seed {bmv2['seed']}" + (", hardened" if bmv2["hardened"] else ""))
    ratio = result["emulator_over_bmv2"]
    tail = f"  emulator / bmv2 packets/s: {ratio:.1f}x" if ratio else "  emulator / bmv2 packets/s: n/a"
    return "\n".join([head, *lines, f"  bmv2 counters: {bmv2['switch']}", tail])


def run_command(args: argparse.Namespace) -> int:
    """``switchsim emulate --target bmv2``: bmv2 and the emulator side by side; 0 when both sums are exact.

    ``--max-wall`` (default `BMV2_MAX_WALL_S`) bounds the whole command from its start; SIGINT / SIGTERM
    raise `StoppedError` (the caller prints one line).
    """
    if args.elements_per_packet != 64:
        print("switchsim emulate: error: --target bmv2 runs k = 64 workers", file=sys.stderr)
        return 2
    max_wall_s = BMV2_MAX_WALL_S if args.max_wall is None else args.max_wall
    options = {"window": BMV2_WINDOW if args.window is None else args.window,
               "timeout_s": BMV2_TIMEOUT_S if args.timeout is None else args.timeout,
               "max_wall_s": max_wall_s, "hardened": args.hardened,
               "program_json": Path(args.program) if args.program else None}
    if options["program_json"] is not None and not options["program_json"].is_file():
        print(f"switchsim emulate: error: --program {args.program}: no such file", file=sys.stderr)
        return 2
    try:
        result = compare(args.workers, args.elements, args.loss, args.seed,
                         deadline=time.monotonic() + max_wall_s
                         - (command_age_s() if started_as_command() else 0.0), **options)
    except RuntimeError as error:
        print(f"switchsim emulate: error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2) if args.json else format_comparison(result))
    return exit_status(outcome(run["completed"], run["correct"]) for run in (result["bmv2"], result["emulator"])
                       if run is not None)


def main(argv: list[str] | None = None) -> int:
    """``python -m switchsim.emu.bmv2_target [--workers N] [--elements S] [--loss P] [--window W] [--timeout T]``."""
    parser = argparse.ArgumentParser(prog="python -m switchsim.emu.bmv2_target", description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--elements", type=int, default=20000)
    parser.add_argument("--loss", type=float, default=0.0)
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--window", type=int, default=BMV2_WINDOW)
    parser.add_argument("--timeout", type=float, default=BMV2_TIMEOUT_S)
    parser.add_argument("--no-emulator", action="store_true", help="bmv2 only, no emulator run beside it")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        return _main(args)
    except StoppedError as stop:
        print(f"{stop.name}: stopped every process and removed the namespace", file=sys.stderr)
        return stop.exit_status


def _main(args: argparse.Namespace) -> int:
    options = {"window": args.window, "timeout_s": args.timeout}
    if args.no_emulator:
        result = {"bmv2": emulate_bmv2(args.workers, args.elements, args.loss, args.seed, **options)}
        print(json.dumps(result, indent=2) if args.json else json.dumps(result["bmv2"], indent=2))
        return exit_status([outcome(result["bmv2"]["completed"], result["bmv2"]["correct"])])
    result = compare(args.workers, args.elements, args.loss, args.seed, **options)
    print(json.dumps(result, indent=2) if args.json else format_comparison(result))
    return exit_status(outcome(run["completed"], run["correct"]) for run in (result["bmv2"], result["emulator"])
                       if run is not None)


if __name__ == "__main__":
    sys.exit(main())
