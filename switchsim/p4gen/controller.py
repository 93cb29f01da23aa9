"""The bmv2 control plane: a SwitchML job as ``simple_switch_CLI`` commands.

For a job (workers' MAC, IP and switch port; n; slot range; the switch's MAC
and IP) `job_commands` produces what the official controller installs
(protocol reference §4), for ``p4/bmv2/switchml.p4``:

* ``register_reset`` / ``counter_reset`` of every register and counter (the
  official controller clears switch state when rank 0 registers);
* ``table_set_default SwitchMLEgress.switch_address`` with the switch's MAC/IP;
* per worker: ``SwitchMLIngress.workers`` (src MAC, src IP -> rank, bitmap bit,
  n, multicast group), ``SwitchMLEgress.receivers`` (rank -> MAC, IP) and
  ``SwitchMLIngress.l2_forward`` (MAC -> port);
* one multicast group with one node per worker (rid = rank, the worker's port).

``mc_node_associate`` needs the handles ``mc_node_create`` returns; the printed
commands assume a freshly started switch (handles 0..n-1), while `apply_job`
reads the real handles from the CLI's output.

Example:
    >>> from switchsim.conformance.vectors import worker_entries
    >>> commands = job_commands(Bmv2Job(tuple(worker_entries(2))))
    >>> [c for c in commands if c.startswith("table_add SwitchMLIngress.workers")][1]
    'table_add SwitchMLIngress.workers set_worker 02:00:00:00:00:02 10.0.0.2 => 1 2 2 1'
"""

from __future__ import annotations

import argparse
import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from switchsim.frame_switch import SwitchAddress, WorkerEntry, worker_entries
from switchsim.p4gen.render import P4_DROP_REASONS, P4_ELEMENTS_PER_CHUNK, P4_MAX_CHUNKS, processor_names
from switchsim.protocol import codec, spec

INGRESS = "SwitchMLIngress"
EGRESS = "SwitchMLEgress"
#: Instances of ``Values`` in the bmv2 ingress, one per 64-element chunk of a packet.
CHUNK_INSTANCES: tuple[str, ...] = tuple(f"chunk{c}" for c in range(P4_MAX_CHUNKS))
#: Per-(slot, set) registers of the bmv2 program (both modes), index slot * 2 + set.
REGISTERS: tuple[str, ...] = (
    f"{INGRESS}.bitmap_checker.bitmap",
    f"{INGRESS}.workers_counter.worker_count",
    f"{INGRESS}.exponents.e0",
    f"{INGRESS}.exponents.e1",
    *(f"{INGRESS}.{chunk}.{pair}.{half}" for chunk in CHUNK_INSTANCES for pair in processor_names()
      for half in ("first", "second")),
)
#: Registers only a hardened build (-DSWITCHML_HARDENED) has: the chunk each set holds.
HARDENED_REGISTERS: tuple[str, ...] = (
    f"{INGRESS}.chunk_checker.held_job",
    f"{INGRESS}.chunk_checker.held_packet",
    f"{INGRESS}.chunk_checker.done",
)
#: Per-slot counters, keyed by the pipeline model's counter names.
SLOT_COUNTERS: dict[str, str] = {
    "broadcast": f"{INGRESS}.next_step_selector.broadcast_count",
    "retransmit": f"{INGRESS}.next_step_selector.retransmit_count",
    "drop": f"{INGRESS}.next_step_selector.drop_count",
    "stale": f"{INGRESS}.next_step_selector.stale_count",
}
DROP_REASON_COUNTER = f"{INGRESS}.drop_reason_count"


def program_registers(hardened: bool = False) -> tuple[str, ...]:
    """Every per-(slot, set) register of the faithful (or hardened) bmv2 build."""
    return REGISTERS + (HARDENED_REGISTERS if hardened else ())


#: Width of the per-(slot, set) down-counter register (protocol reference §2: an 8-bit counter).
COUNTER_BITS = 8
#: Width of the hardened build's per-(slot, set) "result sent" flag.
HARDENED_DONE_BITS = 1


def register_bits(hardened: bool = False) -> dict[str, int]:
    """Bits of each register of `program_registers`, from the spec: what a compiled program must declare.

    Example:
        >>> widths = register_bits()
        >>> widths[f"{INGRESS}.bitmap_checker.bitmap"], widths[f"{INGRESS}.exponents.e0"], widths[register_name(0)]
        (32, 8, 32)
    """
    widths = {
        f"{INGRESS}.bitmap_checker.bitmap": spec.MAX_WORKERS,
        f"{INGRESS}.workers_counter.worker_count": COUNTER_BITS,
        f"{INGRESS}.exponents.e0": spec.EXPONENTS_HEADER.field("e0").bits,
        f"{INGRESS}.exponents.e1": spec.EXPONENTS_HEADER.field("e1").bits,
    }
    widths |= {name: spec.ELEMENT_BITS for name in REGISTERS if name not in widths}
    if hardened:
        widths |= {
            f"{INGRESS}.chunk_checker.held_job": spec.SWITCHML_HEADER.field("job_number").bits,
            f"{INGRESS}.chunk_checker.held_packet": spec.SWITCHML_HEADER.field("tsi").bits,
            f"{INGRESS}.chunk_checker.done": HARDENED_DONE_BITS,
        }
    return widths


def register_name(element: int, chunk_elements: int = P4_ELEMENTS_PER_CHUNK) -> str:
    """The register that holds element ``element`` (0..255) of a set.

    Example:
        >>> register_name(5), register_name(64)
        ('SwitchMLIngress.chunk0.d04_d05.second', 'SwitchMLIngress.chunk1.d00_d01.first')
    """
    chunk, position = divmod(element, chunk_elements)
    return f"{INGRESS}.{CHUNK_INSTANCES[chunk]}.{processor_names()[position // 2]}.{('first', 'second')[position % 2]}"


#: Default slots compiled into p4/bmv2/switchml.p4 (SWITCHML_SLOTS).
DEFAULT_PROGRAM_SLOTS = 1024
DEFAULT_THRIFT_PORT = 9090


@dataclass(frozen=True, slots=True)
class Bmv2Job:
    """One SwitchML job on a bmv2 switch.

    Attributes:
        workers: the worker table (rank, MAC, IP, switch port); ranks 0..n-1.
        switch: the switch's MAC and IP (source of every reply).
        slots: the slot range the job's workers use (start_slot .. start_slot + window).
        mcast_group: the job's multicast group id (1..65535; 0 means "no multicast" in v1model).
        program_slots: SWITCHML_SLOTS the program was compiled with.
        hardened: the program was compiled with -DSWITCHML_HARDENED (it has the chunk registers).
    """

    workers: tuple[WorkerEntry, ...]
    switch: SwitchAddress = field(default_factory=SwitchAddress)
    slots: range = range(8)
    mcast_group: int = 1
    program_slots: int = DEFAULT_PROGRAM_SLOTS
    hardened: bool = False

    def __post_init__(self) -> None:
        workers = tuple(sorted(self.workers, key=lambda w: w.worker_id))
        object.__setattr__(self, "workers", workers)
        if not 1 <= len(workers) <= spec.MAX_WORKERS:
            raise ValueError(f"a job has 1..{spec.MAX_WORKERS} workers, got {len(workers)}")
        ranks = [w.worker_id for w in workers]
        if ranks != list(range(len(workers))):
            raise ValueError(f"worker ranks must be 0..n-1 without gaps, got {ranks}")
        macs = [w.mac.lower() for w in workers]
        if len(set(macs)) != len(macs):
            raise ValueError(f"worker MAC addresses must be distinct, got {macs}")
        codec.mac_to_int(self.switch.mac)
        codec.ip_to_int(self.switch.ip)
        if not 1 <= self.program_slots <= spec.MAX_SLOTS:
            raise ValueError(f"program_slots must be in 1..{spec.MAX_SLOTS}, got {self.program_slots}")
        if self.slots.step != 1 or not 0 <= self.slots.start < self.slots.stop <= self.program_slots:
            raise ValueError(f"slots must be a non-empty range within 0..{self.program_slots} (program_slots), "
                             f"got {self.slots}")
        if not 1 <= self.mcast_group <= 0xFFFF:
            raise ValueError(f"mcast_group must be in 1..65535, got {self.mcast_group}")

    @property
    def num_workers(self) -> int:
        """n."""
        return len(self.workers)


#: Empty the tables a job fills (``reset_state`` would also delete the decision table's const entries).
TABLE_CLEAR_COMMANDS: tuple[str, ...] = (
    f"table_clear {INGRESS}.workers",
    f"table_clear {INGRESS}.l2_forward",
    f"table_clear {EGRESS}.receivers",
)


def reset_commands(hardened: bool = False) -> list[str]:
    """Clear every register and counter of the (faithful or hardened) program."""
    return [f"register_reset {name}" for name in program_registers(hardened)] + [
        f"counter_reset {name}" for name in (*SLOT_COUNTERS.values(), DROP_REASON_COUNTER)
    ]


def job_commands(job: Bmv2Job, *, reset: bool = True) -> list[str]:
    """The ``simple_switch_CLI`` commands that configure ``job`` (see module docstring)."""
    n = job.num_workers
    commands = reset_commands(job.hardened) if reset else []
    commands.append(f"table_set_default {EGRESS}.switch_address set_switch_address {job.switch.mac} {job.switch.ip}")
    for w in job.workers:
        commands.append(f"table_add {INGRESS}.workers set_worker {w.mac} {w.ip} => "
                        f"{w.worker_id} {1 << w.worker_id} {n} {job.mcast_group}")
    for w in job.workers:
        commands.append(f"table_add {EGRESS}.receivers set_receiver {w.worker_id} => {w.mac} {w.ip}")
    for w in job.workers:
        commands.append(f"table_add {INGRESS}.l2_forward set_egress_port {w.mac} => {w.port}")
    commands.append(f"mc_mgrp_create {job.mcast_group}")
    commands += [f"mc_node_create {w.worker_id} {w.port}" for w in job.workers]
    commands += [f"mc_node_associate {job.mcast_group} {handle}" for handle in range(n)]
    return commands


def format_commands(job: Bmv2Job, *, reset: bool = True) -> str:
    """`job_commands` as a commented script for ``simple_switch_CLI < file``."""
    header = [
        f"# SwitchML job for p4/bmv2/switchml.p4: {job.num_workers} workers, slots "
        f"{job.slots.start}..{job.slots.stop - 1}, switch {job.switch.mac} {job.switch.ip}",
        "# mc_node_associate assumes a freshly started switch (node handles 0..n-1);",
        "# `python -m switchsim.p4gen.controller --apply` reads the real handles instead.",
    ]
    return "\n".join(header + job_commands(job, reset=reset)) + "\n"


def stats_commands(job: Bmv2Job) -> list[str]:
    """``counter_read`` of the per-slot counters over the job's slots, then of every drop reason."""
    commands = [f"counter_read {name} {slot}" for name in SLOT_COUNTERS.values() for slot in job.slots]
    commands += [f"counter_read {DROP_REASON_COUNTER} {index}" for index in range(len(P4_DROP_REASONS))]
    return commands


#: A counter value as ``counter_read`` prints it: ``BmCounterValue(packets=P, bytes=B)`` (older bmv2) or
#: ``NAME[i]= (B bytes, P packets)`` (behavioral-model 1.15); the group that matched holds P.
_PACKETS = re.compile(r"BmCounterValue\(packets=(\d+)|=\s*\(\s*\d+\s+bytes,\s*(\d+)\s+packets\s*\)")
_HANDLE = re.compile(r"node was created with handle (\d+)")
_ERROR = re.compile(r"^(?:RuntimeCmd: )?.*\b(Error|Invalid|Unknown syntax)\b.*$", re.MULTILINE)


def parse_stats(job: Bmv2Job, output: str) -> dict:
    """Counters from the output of `stats_commands`: totals over the slots and drops by reason."""
    values = [int(old or new) for old, new in _PACKETS.findall(output)]
    slots = len(job.slots)
    expected = slots * len(SLOT_COUNTERS) + len(P4_DROP_REASONS)
    if len(values) != expected:
        raise RuntimeError(f"expected {expected} counter values from simple_switch_CLI, got {len(values)}")
    stats: dict = {}
    for i, key in enumerate(SLOT_COUNTERS):
        stats[key] = sum(values[i * slots : (i + 1) * slots])
    stats["drop_reasons"] = dict(zip((str(reason) for reason in P4_DROP_REASONS), values[len(SLOT_COUNTERS) * slots :],
                                     strict=True))
    return stats


@dataclass(frozen=True, slots=True)
class Bmv2Cli:
    """Runs ``simple_switch_CLI`` with commands on its standard input.

    Attributes:
        thrift_port: the switch's Thrift port.
        executable: the CLI program.
        prefix: words before the program, e.g. ``("ip", "netns", "exec", "NS")``.
        timeout_s: bound on one CLI run.
    """

    thrift_port: int = DEFAULT_THRIFT_PORT
    executable: str = "simple_switch_CLI"
    prefix: tuple[str, ...] = ()
    timeout_s: float = 60.0

    def run(self, commands: Sequence[str], *, check: bool = True) -> str:
        """Run ``commands`` (comment lines skipped) in one CLI session; return its output.

        Raises:
            RuntimeError: if the CLI fails or (with ``check``) reports an error for a command.
        """
        script = "\n".join(c for c in commands if c.strip() and not c.lstrip().startswith("#")) + "\n"
        argv = [*self.prefix, self.executable, "--thrift-port", str(self.thrift_port)]
        completed = subprocess.run(argv, input=script, capture_output=True, text=True, timeout=self.timeout_s,
                                   check=False)
        output = completed.stdout + completed.stderr
        if completed.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited with {completed.returncode}: {output.strip()[-2000:]}")
        errors = [m.group(0) for m in _ERROR.finditer(output)]
        if check and errors:
            raise RuntimeError(f"simple_switch_CLI reported errors: {errors[:5]}")
        return output


class Bmv2CliSession:
    """One long-lived ``simple_switch_CLI`` process: `run` like `Bmv2Cli.run`, without a CLI start per call.

    Starting the CLI costs about 0.8 s (Python, Thrift, the program's JSON); the
    conformance replay configures and reads the switch three times per scenario.
    The CLI prints its prompt ``RuntimeCmd: `` before reading each command (and
    flushes), so the output of N commands is complete once N more prompts arrived.

    Args:
        cli: how to start the CLI (executable, prefix, Thrift port, timeout).
    """

    PROMPT = b"RuntimeCmd: "

    def __init__(self, cli: Bmv2Cli) -> None:
        self.cli = cli
        argv = [*cli.prefix, cli.executable, "--thrift-port", str(cli.thrift_port)]
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT)
        self._buffer = b""
        self._read_prompts(1)

    def _read_prompts(self, count: int) -> str:
        """Read until ``count`` prompts arrived; return the text before the last one."""
        deadline = time.monotonic() + self.cli.timeout_s
        stream = self.process.stdout
        while self._buffer.count(self.PROMPT) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"simple_switch_CLI gave no prompt within {self.cli.timeout_s} s")
            readable, _, _ = select.select([stream], [], [], remaining)
            if readable:
                chunk = os.read(stream.fileno(), 1 << 16)
                if not chunk:
                    raise RuntimeError(f"simple_switch_CLI exited: {self._buffer.decode(errors='replace')[-2000:]}")
                self._buffer += chunk
        end = 0
        for _ in range(count):
            end = self._buffer.index(self.PROMPT, end) + len(self.PROMPT)
        text, self._buffer = self._buffer[: end - len(self.PROMPT)], self._buffer[end:]
        return text.decode(errors="replace")

    def run(self, commands: Sequence[str], *, check: bool = True) -> str:
        """Run ``commands`` (comment lines skipped); return their output (prompts included).

        Raises:
            RuntimeError: if the CLI stops answering or (with ``check``) reports an error for a command.
        """
        lines = [c for c in commands if c.strip() and not c.lstrip().startswith("#")]
        if not lines:
            return ""
        self.process.stdin.write(("\n".join(lines) + "\n").encode())
        self.process.stdin.flush()
        output = self.PROMPT.decode() + self._read_prompts(len(lines))
        errors = [m.group(0) for m in _ERROR.finditer(output)]
        if check and errors:
            raise RuntimeError(f"simple_switch_CLI reported errors: {errors[:5]}")
        return output

    def close(self) -> None:
        """End the CLI process."""
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process.stdout.close()


def apply_job(job: Bmv2Job, cli: Bmv2Cli | Bmv2CliSession, *, reset: bool = True,
              before: Sequence[str] = ()) -> list[int]:
    """Configure the switch behind ``cli`` for ``job``; return the multicast node handles (by rank).

    ``before``: commands to run first in the same CLI session (each session costs a CLI start).
    """
    commands = job_commands(job, reset=reset)
    output = cli.run([*before, *(c for c in commands if not c.startswith("mc_node_associate"))])
    handles = [int(h) for h in _HANDLE.findall(output)]
    if len(handles) != job.num_workers:
        raise RuntimeError(f"expected {job.num_workers} multicast node handles from simple_switch_CLI, got {handles}")
    cli.run([f"mc_node_associate {job.mcast_group} {handle}" for handle in handles])
    return handles


def read_stats(job: Bmv2Job, cli: Bmv2Cli | Bmv2CliSession) -> dict:
    """The job's switch counters (totals over its slots, and drops by reason)."""
    return parse_stats(job, cli.run(stats_commands(job)))


# --- command line ------------------------------------------------------------------------
def _worker(text: str) -> tuple[str, str, int]:
    parts = text.split(",")
    if len(parts) != 3 or not parts[2].isdigit():
        raise argparse.ArgumentTypeError(f"expected MAC,IP,PORT, got {text!r}")
    return parts[0], parts[1], int(parts[2])


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``python -m switchsim.p4gen.controller``."""
    parser = argparse.ArgumentParser(
        prog="python -m switchsim.p4gen.controller",
        description="Print (or apply with simple_switch_CLI) the bmv2 configuration of a SwitchML job for "
        "p4/bmv2/switchml.p4. Without --worker, worker w is MAC 02:00:00:00:00:(w+1), IP 10.0.0.(w+1), port w.",
    )
    parser.add_argument("--workers", type=int, default=3, help="n, when --worker is not given (default 3)")
    parser.add_argument("--worker", type=_worker, action="append", metavar="MAC,IP,PORT",
                        help="a worker, in rank order (repeat)")
    parser.add_argument("--switch-mac", default=SwitchAddress().mac)
    parser.add_argument("--switch-ip", default=SwitchAddress().ip)
    parser.add_argument("--slots", type=int, default=8, help="slots the job uses, from --start-slot (default 8)")
    parser.add_argument("--start-slot", type=int, default=0)
    parser.add_argument("--program-slots", type=int, default=DEFAULT_PROGRAM_SLOTS,
                        help="SWITCHML_SLOTS the program was compiled with")
    parser.add_argument("--mcast-group", type=int, default=1)
    parser.add_argument("--no-reset", action="store_true", help="do not clear registers and counters")
    parser.add_argument("--apply", action="store_true", help="run the commands with simple_switch_CLI")
    parser.add_argument("--stats", action="store_true", help="read and print the job's counters instead")
    parser.add_argument("--hardened", action="store_true",
                        help="the program was compiled with -DSWITCHML_HARDENED (clear its chunk registers too)")
    parser.add_argument("--thrift-port", type=int, default=DEFAULT_THRIFT_PORT)
    parser.add_argument("--netns", help="run simple_switch_CLI inside this network namespace")
    return parser


def job_from_args(args: argparse.Namespace) -> Bmv2Job:
    """The `Bmv2Job` the command-line arguments describe."""
    if args.worker:
        workers = [WorkerEntry(rank, mac, ip, port) for rank, (mac, ip, port) in enumerate(args.worker)]
    else:
        workers = worker_entries(args.workers)
    return Bmv2Job(tuple(workers), SwitchAddress(args.switch_mac, args.switch_ip),
                   range(args.start_slot, args.start_slot + args.slots), args.mcast_group, args.program_slots,
                   args.hardened)


def main(argv: list[str] | None = None) -> int:
    """Print the job's commands, or apply them / read its counters through simple_switch_CLI."""
    args = build_parser().parse_args(argv)
    try:
        job = job_from_args(args)
    except ValueError as error:
        print(f"controller: error: {error}", file=sys.stderr)
        return 2
    if not (args.apply or args.stats):
        print(format_commands(job, reset=not args.no_reset), end="")
        return 0
    cli = Bmv2Cli(args.thrift_port, prefix=("ip", "netns", "exec", args.netns) if args.netns else ())
    if args.stats:
        stats = read_stats(job, cli)
        print(f"slots {job.slots.start}..{job.slots.stop - 1}: broadcast {stats['broadcast']}, "
              f"retransmit {stats['retransmit']}, drop {stats['drop']}, stale {stats['stale']}")
        print("drops by reason: " + ", ".join(f"{k} {v}" for k, v in stats["drop_reasons"].items()))
        return 0
    handles = apply_job(job, cli, reset=not args.no_reset)
    print(f"configured {job.num_workers} workers, multicast group {job.mcast_group} (node handles {handles})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
