"""`emulate`: the emulator switch and N worker processes on loopback, with an exact-sum check.

One run: N worker processes each bind a UDP socket on 127.0.0.1 and report its
port; the switch process (`switchsim.emu.switch_server.SwitchProcess`) starts
with that registration table, on the first free port of ``spec.UDP_PORTS``
unless told otherwise; the workers then run `workers.client.run_worker` on
their seeded tensors (`workers.client.make_tensor`) and send back what they
got. The parent checks every result against the int32 wrap-around sum.

Everything is bounded by ``max_wall_s``: a worker or switch that has not
answered by then is killed, and the run reports ``completed: False``,
``correct: None`` (not judged) and ``stopped_by: "max_wall"`` with the reason
in ``error`` (`switchsim.outcome`).

``add_emulate_parser(subparsers)`` adds the ``emulate`` subcommand to an
argparse parser (``switchsim emulate --workers N --elements S [--loss P]
[--json] [--pcap FILE]``); ``python -m switchsim.emu ...`` runs the same
without the ``switchsim`` command.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import signal
import socket
import sys
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection

import numpy as np

from switchsim.arguments import probability, ranged, seconds_up_to, seed
from switchsim.config import MAX_SEED
from switchsim.emu.supervisor import (
    ChildDiedError,
    StoppedError,
    Supervisor,
    command_age_s,
    describe_exit,
    ignore_interrupts,
    sigint_ignored,
    started_as_command,
)
from switchsim.emu.switch_server import SWITCH_NAME, ServerConfig, SwitchProcess
from switchsim.outcome import describe, exit_status, outcome
from switchsim.paths import output_file
from switchsim.pipeline import wrapped_sum
from switchsim.pipeline.tables import describe_counters
from switchsim.protocol import spec
from workers.client import UdpTransport, make_tensor, run_worker
from workers.protocol import WorkerConfig

LOOPBACK = "127.0.0.1"
#: The workers' retransmission timeout may be at most this (seconds), as `switchsim loop`'s.
MAX_TIMEOUT_S = 60.0
#: ``--max-wall`` may be at most this (seconds): one day.
MAX_WALL_S = 86400.0
#: How long the processes get to stop at the end of a run (or at its --max-wall) before they are killed, s.
SHUTDOWN_GRACE_S = 1.0
#: How long past its deadline the parent waits for the workers' last reports (their counters), seconds.
REPORT_GRACE_S = 0.5


@dataclass(frozen=True, slots=True)
class WorkerJob:
    """What one worker process needs, whatever carries its packets (picklable)."""

    worker_id: int
    num_workers: int
    elements: int
    seed: int
    elements_per_packet: int
    window: int
    timeout_s: float
    loss: float
    job_number: int
    max_wall_s: float

    def config(self) -> WorkerConfig:
        """The worker's protocol parameters."""
        return WorkerConfig(worker_id=self.worker_id, num_workers=self.num_workers, window=self.window,
                            elements_per_packet=self.elements_per_packet, job_number=self.job_number,
                            timeout_s=self.timeout_s)


def _worker_main(control: Connection, job: WorkerJob) -> None:
    """Body of a worker process: bind, report the port, wait for the switch, run, send the result."""
    ignore_interrupts()  # the parent's supervisor stops this process; Ctrl-C here would only print a traceback
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((LOOPBACK, 0))
        control.send(("bound", sock.getsockname()[1]))
        if not control.poll(job.max_wall_s):
            return
        kind, switch, stop_at = control.recv()
        if kind != "go":
            return
        transport = UdpTransport((switch[0], switch[1]), job.elements_per_packet, sock=sock)
        serve_worker(control, job, transport, lambda run: {"foreign_datagrams": run.transport.foreign,
                                                                   "malformed_replies": run.transport.malformed},
                     stop_at=stop_at)
    except (EOFError, BrokenPipeError):
        return
    except Exception as error:  # reported to the parent, which fails the run with it
        report_failure(control, error)


def serve_worker(control: Connection, job: WorkerJob, transport, extra=None, stop_at: float | None = None) -> None:
    """Aggregate ``job``'s seeded tensor over ``transport`` (closed after), then send ``("done", result, summary)``.

    ``extra(run)`` adds transport-specific counters to the summary. ``stop_at`` (a ``time.monotonic()``
    instant, the same clock in every process; default: the job's ``max_wall_s`` from now) is this
    worker's own deadline, which the parent sets a little before its own (`worker_stop_at`), so that a
    worker that runs out of time still reports what it did.
    """
    tensor = make_tensor(job.seed, job.worker_id, job.elements)
    max_wall_s = job.max_wall_s if stop_at is None else max(stop_at - time.monotonic(), 0.001)
    try:
        run = run_worker(job.config(), tensor, transport, loss=job.loss,
                         rng=np.random.default_rng([job.seed, job.worker_id, 1]), max_wall_s=max_wall_s)
    finally:
        transport.close()
    summary = {"worker": job.worker_id, "completed": run.completed, "wall_s": run.wall_s,
               "injected_losses": run.injected_losses, **asdict(run.stats), **(extra(run) if extra else {})}
    # An unfinished run's result is never judged: only its counters travel (fast, even at the deadline).
    control.send(("done", run.result.tobytes() if run.completed else b"", summary))


def worker_stop_at(deadline: float, remaining_s: float) -> float:
    """The workers' own deadline (``time.monotonic()``) when the run's is ``deadline``, ``remaining_s`` away.

    A margin before the parent's (a tenth of what is left, at most 0.5 s), and the parent waits
    `REPORT_GRACE_S` past its own: a worker out of time still sends its counters before it is stopped.
    """
    return deadline - min(0.5, remaining_s / 10)


def report_failure(control: Connection, error: Exception) -> None:
    """Tell the parent a worker process failed (it fails the run with the message); quiet if the parent is gone."""
    try:
        control.send(("error", f"{type(error).__name__}: {error}"))
    except (BrokenPipeError, OSError):
        pass


def worker_context(preload: str) -> multiprocessing.context.BaseContext:
    """forkserver (cheap starts, no fork of a threaded parent) preloading ``preload`` where available, else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        from multiprocessing import forkserver

        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([preload])
        with sigint_ignored():  # it and its children ignore a terminal's Ctrl-C from their first instruction
            forkserver.ensure_running()
        return context
    return multiprocessing.get_context("spawn")


def stop_forkserver() -> None:
    """Stop this process's multiprocessing forkserver, if one runs (at the end of a run, its workers reaped).

    Left alone it exits only after this process does, and it holds the compiled code it preloaded: its
    exit took about a second on 2 busy cores, a process outliving the command. It holds no state, so
    it is killed, then reaped through multiprocessing's own (private) stop, which also removes its socket;
    a later run starts a new one.
    """
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    pid = getattr(server, "_forkserver_pid", None)
    if not pid:
        return
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        server._stop()


class SwitchStartError(ValueError):
    """The emulator switch could not start (e.g. its port is taken): the run never began, so there is no verdict."""


def _check(name: str, ok: bool, allowed: str, value: object) -> None:
    if not ok:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


def peak_bytes(workers: int, elements: int) -> int:
    """Bytes an `emulate` run holds at its peak, all processes together, for refusing runs that cannot fit.

    Per element of every worker: 32 bytes in the worker process (its tensor, the protocol's copy, the
    encoded packets, its result and the pickled result) and 12 in the parent (the result received, and
    the tensor drawn again to check the sum); per element once, 16 (the int64 sum and its int32 copy).
    Measured with 2 workers x 8,000,000 elements: each worker peaked about 240 MB above its start (30 bytes
    per element), the parent at 328 MB in all.

    Example:
        >>> peak_bytes(4, 2**28) / 2**30
        48.0
    """
    return workers * elements * (32 + 12) + elements * 16


def emulate(
    workers: int,
    elements: int,
    loss: float = 0.0,
    seed: int = 0,
    elements_per_packet: int = 64,
    window: int = 64,
    timeout_s: float = 0.005,
    pcap: str | None = None,
    *,
    max_wall_s: float = 60.0,
    port: int | None = None,
    job_number: int = 0,
    hardened: bool = False,
    deadline: float | None = None,
) -> dict:
    """All-reduce seeded int32 tensors of N worker processes through the emulator switch.

    The processes run under a `switchsim.emu.supervisor.Supervisor`: a process
    that dies (the switch included) ends the run at once, naming it; SIGINT and
    SIGTERM stop every process and raise `StoppedError`; ``max_wall_s`` bounds
    the whole call (the processes are stopped together, within about a second).

    Args:
        workers: n, worker processes, 1..32.
        elements: S, int32 elements per worker.
        loss: probability that a worker drops each send (first or retransmission), in [0, 1).
        seed: seeds the tensors and the losses.
        elements_per_packet: k, 64 or 256.
        window: W, outstanding packets per worker (= switch slots).
        timeout_s: the workers' initial retransmission timeout, in (0, 60] seconds.
        pcap: write the switch's traffic to this pcap file.
        max_wall_s: bound on the whole run, in (0, 86400] seconds; stragglers are stopped.
        port: the switch's UDP port (default: the first free one of ``spec.UDP_PORTS``).
        job_number: the job's 8-bit number.
        hardened: run the switch pipeline in hardened mode.
        deadline: the ``time.monotonic()`` instant the run must end by (default: ``max_wall_s`` from now;
            the command passes ``--max-wall`` from its own start).

    Returns:
        ``{"correct", "completed", "workers", "elements", "packets_per_s", "retransmissions", ...}``:
        ``packets_per_s`` is the datagrams the switch ran through the pipeline per
        wall second, from its first to its last received datagram; ``switch``
        holds its report (pipeline counters, drops by reason); ``per_worker``
        each worker's counters (sent, retransmissions, foreign datagrams and
        malformed replies its socket dropped); ``error`` says why a run failed
        (None otherwise).

    Raises:
        ValueError: a value out of range, or a run that cannot fit in memory (before anything starts).
        StoppedError: SIGINT or SIGTERM arrived (every process is stopped first).

    Example::

        summary = emulate(3, 20_000, loss=0.05)
        assert summary["correct"], summary["error"]
    """
    _check("workers", isinstance(workers, int) and 1 <= workers <= spec.MAX_WORKERS,
           f"an integer in 1..{spec.MAX_WORKERS}", workers)
    _check("elements", isinstance(elements, int) and elements >= 1, "an integer >= 1", elements)
    _check("loss", 0.0 <= loss < 1.0, "a probability in [0, 1)", loss)
    _check("elements_per_packet", elements_per_packet in spec.SUPPORTED_ELEMENTS_PER_PACKET,
           f"one of {spec.SUPPORTED_ELEMENTS_PER_PACKET}", elements_per_packet)
    _check("window", isinstance(window, int) and 1 <= window <= spec.MAX_SLOTS, f"an integer in 1..{spec.MAX_SLOTS}",
           window)
    _check("timeout_s", 0 < timeout_s <= MAX_TIMEOUT_S, f"a number of seconds in (0, {MAX_TIMEOUT_S:g}]", timeout_s)
    _check("max_wall_s", 0 < max_wall_s <= MAX_WALL_S, f"a number of seconds in (0, {MAX_WALL_S:g}]", max_wall_s)
    _check("seed", isinstance(seed, int) and 0 <= seed <= MAX_SEED, f"an integer in 0..{MAX_SEED}", seed)
    from switchsim.sim.memory import refuse_if_too_big

    refuse_if_too_big("switchsim emulate", peak_bytes(workers, elements),
                      f"{workers} worker processes x {elements:,} int32 elements (tensor, packets and result each)",
                      "give fewer --elements or --workers")
    if pcap is not None:
        pcap = str(output_file(pcap, "--pcap"))
    context = worker_context("switchsim.emu.preload")
    started = time.monotonic()
    deadline = started + max_wall_s if deadline is None else deadline

    def remaining() -> float:
        return max(0.0, deadline - time.monotonic())

    controls: list[Connection] = []
    switch: SwitchProcess | None = None
    report: dict | None = None
    results: dict[int, np.ndarray] = {}
    summaries: dict[int, dict] = {}
    error: str | None = None
    timed_out = False
    address: tuple[str, int] | None = None
    run_s = 0.0
    with Supervisor(grace_s=SHUTDOWN_GRACE_S) as supervisor:
        supervisor.callback(stop_forkserver)  # last, once every worker and the switch are stopped
        processes: list[multiprocessing.process.BaseProcess] = []
        try:
            for worker_id in range(workers):
                job = WorkerJob(worker_id, workers, elements, seed, elements_per_packet, window, timeout_s, loss,
                                job_number, max_wall_s)
                control, child = context.Pipe()
                process = context.Process(target=_worker_main, args=(child, job),
                                          name=f"switchsim-emu-worker-{worker_id}", daemon=True)
                process.start()
                child.close()
                supervisor.watch(f"worker {worker_id}", process)
                processes.append(process)
                controls.append(control)
            supervisor.callback(lambda: [control.close() for control in controls])
            ports = []
            for worker_id, control in enumerate(controls):
                if not supervisor.wait([control], remaining()):
                    timed_out = True
                    raise TimeoutError(f"worker {worker_id} did not bind a socket within {max_wall_s:g} s")
                kind, worker_port = control.recv()
                if kind != "bound":
                    raise RuntimeError(f"worker {worker_id} failed to start: {worker_port}")
                ports.append(worker_port)
            config = ServerConfig(workers=tuple((LOOPBACK, p) for p in ports), job_number=job_number, host=LOOPBACK,
                                  port=port, slots=window, elements_per_packet=elements_per_packet, hardened=hardened,
                                  pcap_path=pcap)
            switch = SwitchProcess(config, context)
            try:
                address = switch.start(timeout_s=max(remaining(), 0.001), supervisor=supervisor)
            except OSError as failure:  # a setup failure (port taken, pcap unwritable), not a wrong result
                raise SwitchStartError(f"the switch did not start: {failure}"
                                       + ("; --port: give a free port, or omit it" if port is not None else "")
                                       ) from None
            run_started = time.monotonic()
            stop_at = worker_stop_at(deadline, remaining())
            for control in controls:
                control.send(("go", address, stop_at))
            pending = {control: worker_id for worker_id, control in enumerate(controls)}
            while pending:
                ready = supervisor.wait(list(pending), deadline + REPORT_GRACE_S - time.monotonic())
                if not ready:
                    timed_out = True
                    raise TimeoutError(f"workers {sorted(pending.values())} did not finish within {max_wall_s:g} s")
                for control in ready:
                    worker_id = pending.pop(control)
                    try:
                        message = control.recv()
                    except EOFError:
                        processes[worker_id].join(1.0)
                        raise ChildDiedError(f"worker {worker_id}",
                                             describe_exit(processes[worker_id].exitcode)) from None
                    if message[0] != "done":
                        raise RuntimeError(f"worker {worker_id} failed: {message[1]}")
                    supervisor.finished(processes[worker_id])
                    results[worker_id] = np.frombuffer(message[1], dtype=np.int32)
                    summaries[worker_id] = message[2]
            run_s = time.monotonic() - run_started
        except (TimeoutError, RuntimeError, OSError) as failure:
            error = str(failure)
            if isinstance(failure, ChildDiedError) and failure.name == SWITCH_NAME:
                switch = None  # dead: no report to ask for
        finally:
            if switch is not None and supervisor.stopped_by is None:
                supervisor.shutdown(processes=processes)  # first, so that the switch has the CPU to report
                report = switch.stop(timeout_s=SHUTDOWN_GRACE_S / 2)
    if supervisor.stopped_by is not None:  # StoppedError is on its way up; this is never reached then
        raise StoppedError(supervisor.stopped_by)

    verdict = judge_results(results, summaries, workers, seed, elements, error, timed_out)

    def total(key: str) -> int:
        return int(sum(s.get(key, 0) for s in summaries.values()))

    return {
        **verdict,
        "max_wall_s": max_wall_s,
        "hardened": hardened,
        "workers": workers,
        "elements": elements,
        "elements_per_packet": elements_per_packet,
        "window": window,
        "loss": loss,
        "seed": seed,
        "timeout_s": timeout_s,
        # One received batch has no interval of its own: then per wall second of the whole run.
        "packets_per_s": float(report["packets_per_s"] or (report["processed"] / run_s if run_s else 0.0))
        if report
        else 0.0,
        "retransmissions": total("retransmissions"),
        "timeouts": total("timeouts"),
        "packets_sent": total("sent"),
        "workers_reported": len(summaries),
        "injected_losses": total("injected_losses"),
        "foreign_datagrams": total("foreign_datagrams"),
        "malformed_replies": total("malformed_replies"),
        "switch_packets": int(report["processed"]) if report else 0,
        "wall_s": run_s,
        "elapsed_s": time.monotonic() - started,
        "switch_address": list(address) if address else None,
        "switch": report,
        "per_worker": [summaries[w] for w in sorted(summaries)],
        "pcap": pcap,
    }


def judge_results(results: dict, summaries: dict, workers: int, seed: int, elements: int, error: str | None,
                  timed_out: bool) -> dict:
    """``completed``, ``correct``, ``stopped_by`` and ``error`` of an emulated all-reduce (both switch targets).

    ``correct`` is judged only when every worker finished (`switchsim.outcome`);
    otherwise ``stopped_by`` is "max_wall" (a deadline passed) or "error" (a
    process failed), and ``error`` says what happened.
    """
    completed = error is None and len(results) == workers and all(s["completed"] for s in summaries.values())
    correct, stopped_by = None, None
    if completed:
        expected = wrapped_sum(np.stack([make_tensor(seed, w, elements) for w in range(workers)]))
        correct = all(np.array_equal(results[w], expected) for w in range(workers))
        if not correct:
            error = "a worker's result differs from the int32 wrap-around sum"
    else:
        stopped_by = "max_wall" if timed_out or error is None else "error"
        error = error or "a worker did not receive every result before its deadline"
    return {"correct": correct, "completed": completed, "stopped_by": stopped_by, "error": error}


# --- command line ---------------------------------------------------------------------------
def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=ranged(1, spec.MAX_WORKERS), default=3, help="n, 1..32 (default 3)")
    parser.add_argument("--elements", type=ranged(1, 1 << 28), default=20000, help="S per worker (default 20000)")
    parser.add_argument("--loss", type=probability, default=0.0,
                        help="probability that a worker drops each send (default 0)")
    parser.add_argument("--seed", type=seed, default=0, help="seed of tensors and losses (default 0)")
    parser.add_argument("--elements-per-packet", type=int, choices=spec.SUPPORTED_ELEMENTS_PER_PACKET, default=64,
                        help="k (default 64)")
    parser.add_argument("--window", type=ranged(1, spec.MAX_SLOTS), default=None,
                        help="W, outstanding packets per worker = switch slots (default 64; bmv2: 16)")
    parser.add_argument("--timeout", type=seconds_up_to(MAX_TIMEOUT_S), default=None,
                        help=f"the workers' initial retransmission timeout, s, in (0, {MAX_TIMEOUT_S:g}] "
                        "(default 0.005; bmv2: 0.3)")
    parser.add_argument("--target", choices=("emulator", "bmv2"), default="emulator",
                        help="the switch: the emulator's (default), or bmv2 simple_switch on veth pairs (root, "
                        "docs/bmv2.md), run beside the emulator's on the same workload")
    parser.add_argument("--max-wall", type=seconds_up_to(MAX_WALL_S), default=None,
                        help="hard bound on the whole command, s (default 60; bmv2: 300, which covers compiling "
                        "the P4 program, about 25 s, starting simple_switch and the emulator's run beside it); "
                        "every process is stopped by then (within about 2 s) and a run that hits it did not "
                        "finish (exit 3)")
    parser.add_argument("--hardened", action="store_true",
                        help="switch in hardened mode (drops late duplicates; docs/hardened-mode.md)")
    parser.add_argument("--program", metavar="JSON",
                        help="bmv2: an already compiled switchml.json (compiled with SWITCHML_SLOTS >= --window, "
                        "hardened if --hardened) instead of compiling one")
    parser.add_argument("--port", type=ranged(0, 0xFFFF), default=None,
                        help="switch UDP port (default: the first free port of the SwitchML range)")
    parser.add_argument("--pcap", metavar="FILE", help="write the switch's traffic to FILE (libpcap, Ethernet)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def add_emulate_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``emulate`` subcommand to ``subparsers``; its handler is ``args.handler(args) -> exit status``.

    Example:
        >>> parser = argparse.ArgumentParser(prog="switchsim")
        >>> _ = add_emulate_parser(parser.add_subparsers(dest="command"))
        >>> args = parser.parse_args(["emulate", "--workers", "2", "--loss", "0.1"])
        >>> args.workers, args.loss, args.handler is run_command
        (2, 0.1, True)
    """
    parser = subparsers.add_parser(
        "emulate",
        help="all-reduce over real UDP sockets: the emulator switch and N worker processes on loopback",
        description="Start the emulator switch (the pipeline model behind a UDP socket on 127.0.0.1) and N worker "
        "processes running the SwitchML worker protocol with real-time timeouts; check that every worker ends with "
        "the exact int32 wrap-around sum. Every process is supervised: one that dies ends the run at once, named. "
        "Exit status: 0 exact, 1 a wrong sum, 2 bad input, 3 did not finish (a process died, or --max-wall), "
        "130 / 143 stopped by SIGINT / SIGTERM (one line, nothing left running).",
    )
    _add_arguments(parser)
    parser.set_defaults(handler=run_command)
    return parser


#: `format_summary` suggests a larger --timeout when retransmissions exceed this share of the sends (beyond what
#: the injected loss explains, a timeout shorter than the real round trips retransmits needlessly).
RETRANSMISSION_HINT_SHARE = 0.25


def needless_retransmissions(summary: dict) -> bool:
    """True when an `emulate` summary's retransmissions exceed `RETRANSMISSION_HINT_SHARE` of its sends plus
    twice its injected loss rate (what the loss alone explains, with room to spare)."""
    allowed = (RETRANSMISSION_HINT_SHARE + 2 * summary["loss"]) * summary["packets_sent"]
    return summary["packets_sent"] > 0 and summary["retransmissions"] > allowed


def format_summary(summary: dict) -> str:
    """The human-readable report of an `emulate` summary."""
    address = summary["switch_address"]
    where = f"{address[0]}:{address[1]}" if address else "(switch not started)"
    lines = [
        f"switchsim emulate: {summary['workers']} workers x {summary['elements']:,} int32 elements over UDP, "
        f"switch on {where} (k {summary['elements_per_packet']}, window {summary['window']}, "
        f"loss {summary['loss']:.2%} per send, seed {summary['seed']}"
        + (", hardened switch)" if summary.get("hardened") else ")")
    ]
    report = summary["switch"]
    if report:
        drops = {reason: count for reason, count in report["drops"].items() if count}
        lines.append(f"  switch: {report['processed']:,} packets in {report['busy_s']:.3f} s = "
                     f"{summary['packets_per_s']:,.0f} packets/s; multicasts {report['multicasts']:,}, "
                     f"unicasts {report['unicasts']:,}; drops: {drops or 'none'}")
        lines.append(f"  pipeline counters: {describe_counters(report['pipeline'])}")
    reported = summary.get("workers_reported", summary["workers"])
    of_whom = "" if reported == summary["workers"] else (
        f" (counted by the {reported} of {summary['workers']} workers that finished; the others were stopped "
        "before they reported)")
    lines.append(f"  workers: {summary['packets_sent']:,} packets sent, {summary['retransmissions']:,} "
                 f"retransmissions, {summary['injected_losses']:,} dropped on purpose; {summary['wall_s']:.3f} s"
                 + (f"; their sockets dropped {summary['foreign_datagrams']:,} datagrams from elsewhere and "
                    f"{summary['malformed_replies']:,} malformed replies"
                    if summary["foreign_datagrams"] or summary["malformed_replies"] else "")
                 + of_whom)
    if needless_retransmissions(summary):
        lines.append(f"  hint: {summary['retransmissions'] / summary['packets_sent']:.0%} of the sends were "
                     f"retransmissions, far more than the {summary['loss']:.2%} loss asks for: the "
                     f"{summary['timeout_s'] * 1e3:g} ms timeout is shorter than the round trips on this machine "
                     "(a loaded one is slow); give a larger --timeout")
    if summary["pcap"]:
        frames = report["pcap_frames"] if report else 0
        lines.append(f"  pcap: {summary['pcap']} ({frames:,} frames)")
    if summary["correct"]:
        lines.append("  verdict: exact: every worker holds the int32 wrap-around sum")
    else:
        lines.append("  verdict: " + describe(summary["completed"], summary["correct"], summary["stopped_by"],
                                              summary["max_wall_s"], summary["error"]))
    return "\n".join(lines)


def stopped_line(stop: StoppedError) -> str:
    """The one line a command prints when SIGINT or SIGTERM stopped it."""
    return f"switchsim emulate: stopped by {stop.name}: every worker and switch process stopped, nothing left running"


def run_command(args: argparse.Namespace) -> int:
    """Handler of ``switchsim emulate``: run, print the summary (or JSON); 0 when the sum is exact.

    SIGINT or SIGTERM: one line on stderr, exit status 130 or 143.
    """
    try:
        if args.target == "bmv2":
            from switchsim.emu import bmv2_target

            return bmv2_target.run_command(args)
        if args.program is not None:
            raise ValueError("--program is for --target bmv2")
        window = 64 if args.window is None else args.window
        timeout_s = 0.005 if args.timeout is None else args.timeout
        max_wall_s = 60.0 if args.max_wall is None else args.max_wall
        summary = emulate(args.workers, args.elements, loss=args.loss, seed=args.seed,
                          elements_per_packet=args.elements_per_packet, window=window, timeout_s=timeout_s,
                          pcap=args.pcap, max_wall_s=max_wall_s, port=args.port, hardened=args.hardened,
                          deadline=time.monotonic() + max_wall_s - (command_age_s() if started_as_command() else 0.0))
    except StoppedError as stop:
        print(stopped_line(stop), file=sys.stderr, flush=True)
        return stop.exit_status
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return exit_status([outcome(summary["completed"], summary["correct"])])


def main(argv: list[str] | None = None) -> int:
    """``python -m switchsim.emu [--workers N] [--elements S] [--loss P] [--json] [--pcap FILE]``."""
    parser = argparse.ArgumentParser(prog="python -m switchsim.emu", description=__doc__.splitlines()[0])
    _add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_command(args)
    except ValueError as error:
        print(f"switchsim emulate: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    # Run the importable module's main, so worker and switch processes unpickle their targets by module name.
    from switchsim.emu.run import main as _main

    sys.exit(_main())
