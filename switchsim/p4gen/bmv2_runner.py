"""Run ``p4/bmv2/switchml.p4`` on bmv2 and replay the conformance vectors against it.

Steps, each usable on its own:

1. `compile_program`: ``p4c-bm2-ss`` (or ``p4c --target bmv2 --arch v1model``)
   with ``-DSWITCHML_SLOTS=N``; `check_compiled` compares the JSON's header
   types with `switchsim.protocol.spec` and its register arrays with the slots.
2. `Bmv2Switch`: creates a network namespace, one veth pair per switch port
   (the switch end inside the namespace, the host end outside), starts
   ``simple_switch`` in the namespace on the switch ends, and waits for its
   Thrift port. Leaving the ``with`` block stops the switch and deletes the
   namespace (and with it every veth pair). Needs root.
3. `replay`: for each scenario of ``switchsim/conformance/vectors.json`` in the
   build's mode (faithful, or hardened with ``-DSWITCHML_HARDENED``; both packet
   sizes, k = 64 and k = 256), reset the switch, configure the scenario's job with
   `switchsim.p4gen.controller.apply_job`, send every input frame on the host
   end of its ingress port (``AF_PACKET``), collect what comes out of every
   host end, and compare the frames byte for byte (multicast copies are
   compared as a set of (port, frame), since copies on different ports have
   no observable order) and every expected silence; then compare the switch
   counters with the scenario's ``final_counters``.

Command line: ``python -m switchsim.p4gen.bmv2_runner compile|replay|serve``
(see docs/bmv2.md); ``replay`` compiles both builds and replays each mode's
vectors on its own build.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from switchsim.conformance import vectors
from switchsim.frame_switch import SwitchAddress, WorkerEntry, worker_entries
from switchsim.p4gen.controller import (
    TABLE_CLEAR_COMMANDS,
    Bmv2Cli,
    Bmv2CliSession,
    Bmv2Job,
    apply_job,
    program_registers,
    read_stats,
    register_bits,
)
from switchsim.p4gen.render import DEFAULT_ROOT, P4_ELEMENTS_PER_CHUNK, P4_ELEMENTS_PER_PACKET
from switchsim.protocol import spec

PROGRAM = DEFAULT_ROOT / "bmv2" / "switchml.p4"
#: Slots the conformance vectors need; the runner compiles with this many by default.
VECTOR_SLOTS = vectors.SLOTS
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
_MAX_FRAME = 2048
#: Longest path of a Unix socket, in bytes (``sun_path`` holds 108, with its terminating zero).
_MAX_SOCKET_PATH = 107


@dataclass(frozen=True, slots=True)
class Bmv2Tools:
    """Paths of the programs the runner needs."""

    compiler: str  #: p4c-bm2-ss, or p4c (driven with --target bmv2 --arch v1model)
    simple_switch: str
    cli: str  #: simple_switch_CLI


def find_tools() -> tuple[Bmv2Tools | None, list[str]]:
    """The tools on PATH, or None and the names of the missing ones."""
    compiler = shutil.which("p4c-bm2-ss") or shutil.which("p4c")
    simple_switch = shutil.which("simple_switch")
    cli = shutil.which("simple_switch_CLI")
    missing = [name for name, path in (("p4c-bm2-ss or p4c", compiler), ("simple_switch", simple_switch),
                                       ("simple_switch_CLI", cli)) if path is None]
    if missing:
        return None, missing
    return Bmv2Tools(compiler, simple_switch, cli), []


def compile_command(compiler: str, source: Path, output_json: Path, slots: int, hardened: bool = False) -> list[str]:
    """The compiler invocation that writes ``output_json`` for ``source`` with ``slots`` slots (and the mode)."""
    defines = [f"-DSWITCHML_SLOTS={slots}", *(["-DSWITCHML_HARDENED"] if hardened else [])]
    if Path(compiler).name == "p4c-bm2-ss":
        return [compiler, "--p4v", "16", *defines, "-o", str(output_json), str(source)]
    return [compiler, "--target", "bmv2", "--arch", "v1model", "--std", "p4-16", *defines, "-o",
            str(output_json.parent), str(source)]


def compile_program(compiler: str, out_dir: Path, *, slots: int = VECTOR_SLOTS, source: Path = PROGRAM,
                    hardened: bool = False, timeout_s: float = 600.0) -> Path:
    """Compile the bmv2 program (faithful, or hardened with ``-DSWITCHML_HARDENED``); return the JSON path.

    Raises:
        RuntimeError: with the compiler's messages if it fails.
        TimeoutError: if it took longer than ``timeout_s`` (the compiler is killed).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / f"{Path(source).stem}{'-hardened' if hardened else ''}.json"
    argv = compile_command(compiler, Path(source), output, slots, hardened)
    try:
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=max(timeout_s, 0.001), check=False)
    except subprocess.TimeoutExpired:
        raise TimeoutError(f"compiling {Path(source).name} took longer than {timeout_s:.0f} s") from None
    if completed.returncode != 0 or not output.exists():
        raise RuntimeError(f"{' '.join(argv)} failed ({completed.returncode}):\n{completed.stdout}{completed.stderr}")
    return output


def check_compiled(document: dict, slots: int, hardened: bool = False) -> list[str]:
    """Differences between a compiled bmv2 JSON and the spec and the job.

    Header fields: names, widths and signedness, in order, as `spec.FRAME_HEADERS`; ``data_h``:
    64 fields of `spec.ELEMENT_BITS`; registers: exactly the build's (`program_registers`), each
    with 2 x ``slots`` entries and the width `register_bits` states.
    """
    problems = []
    types = {t["name"]: t for t in document.get("header_types", [])}
    for header in spec.FRAME_HEADERS:
        compiled = types.get(f"{header.name}_h")
        if compiled is None:
            problems.append(f"header type {header.name}_h missing")
            continue
        got = [(f[0], f[1], f[2]) for f in compiled["fields"] if not f[0].startswith("_")]
        want = [(f.name, f.bits, f.signed) for f in header.fields]
        if got != want:
            problems.append(f"{header.name}_h fields {got} != spec {want}")
    data = types.get("data_h")
    if data is None or [f[1] for f in data["fields"]] != [spec.ELEMENT_BITS] * P4_ELEMENTS_PER_CHUNK:
        problems.append(f"data_h must hold {P4_ELEMENTS_PER_CHUNK} fields of {spec.ELEMENT_BITS} bits")
    registers = {r["name"]: r for r in document.get("register_arrays", [])}
    expected = program_registers(hardened)
    widths = register_bits(hardened)
    extra = sorted(set(registers) - set(expected))
    if extra:
        problems.append(f"registers not expected in a {'hardened' if hardened else 'faithful'} build: {extra[:4]}")
    for name in expected:
        register = registers.get(name)
        if register is None:
            problems.append(f"register {name} missing")
        elif register["size"] != 2 * slots:
            problems.append(f"register {name} has {register['size']} entries, expected 2 * {slots}")
        elif register["bitwidth"] != widths[name]:
            problems.append(f"register {name} is {register['bitwidth']} bits wide, expected {widths[name]}")
    return problems


# --- the network namespace and the switch ----------------------------------------------------
@dataclass(frozen=True, slots=True)
class NetworkPlan:
    """Names of the namespace and the veth ends (at most 15 characters each)."""

    namespace: str
    switch_ends: tuple[str, ...]  #: inside the namespace, bound by simple_switch as ports 0..P-1
    host_ends: tuple[str, ...]  #: outside, where frames are sent and captured


def plan_network(ports: int, tag: str | None = None) -> NetworkPlan:
    """Interface names for ``ports`` switch ports; ``tag`` keeps concurrent runs apart (default: the pid).

    Example:
        >>> plan_network(2, "ab12").host_ends
        ('smlab12h0', 'smlab12h1')
    """
    tag = tag or f"{os.getpid() % 0xFFFF:04x}"
    if not 1 <= ports <= 64:
        raise ValueError(f"ports must be in 1..64, got {ports}")
    return NetworkPlan(
        namespace=f"switchsim-bmv2-{tag}",
        switch_ends=tuple(f"sml{tag}s{p}" for p in range(ports)),
        host_ends=tuple(f"sml{tag}h{p}" for p in range(ports)),
    )


def network_commands(plan: NetworkPlan) -> list[list[str]]:
    """``ip``/``sysctl`` invocations that build the plan (run as root)."""
    ns = plan.namespace
    commands = [["ip", "netns", "add", ns], ["ip", "-n", ns, "link", "set", "lo", "up"]]
    for switch_end, host_end in zip(plan.switch_ends, plan.host_ends, strict=True):
        commands += [
            ["ip", "link", "add", host_end, "type", "veth", "peer", "name", switch_end],
            ["ip", "link", "set", switch_end, "netns", ns],
            ["sysctl", "-q", "-w", f"net.ipv6.conf.{host_end}.disable_ipv6=1"],
            ["ip", "netns", "exec", ns, "sysctl", "-q", "-w", f"net.ipv6.conf.{switch_end}.disable_ipv6=1"],
            ["ip", "link", "set", host_end, "up"],
            ["ip", "-n", ns, "link", "set", switch_end, "up"],
        ]
    return commands


def simple_switch_command(simple_switch: str, plan: NetworkPlan, program_json: Path, thrift_port: int,
                          notifications: Path | None = None) -> list[str]:
    """``simple_switch`` inside the namespace, port p on the p-th switch end.

    ``notifications`` is the nanomsg IPC socket file (default: bmv2's shared
    ``/tmp/bmv2-0-notifications.ipc``, which a second switch on the machine
    cannot bind); `Bmv2Switch` gives each switch its own in its temporary folder.
    """
    interfaces = [word for port, name in enumerate(plan.switch_ends) for word in ("-i", f"{port}@{name}")]
    options = ["--notifications-addr", f"ipc://{notifications}"] if notifications is not None else []
    return ["ip", "netns", "exec", plan.namespace, simple_switch, "--thrift-port", str(thrift_port), *options,
            *interfaces, str(program_json)]


class Bmv2Switch:
    """simple_switch on veth pairs in a private network namespace (see module docstring).

    Lifecycle: ``with Bmv2Switch(tools, program_json) as switch:`` builds the
    network and starts the switch; `cli` configures it; `send` / `collect`
    move frames; leaving the block stops the switch and removes the network.

    Args:
        tools: the bmv2 programs.
        program_json: the compiled program.
        ports: switch ports (veth pairs), 0..ports-1.
        thrift_port: simple_switch's Thrift port (inside the namespace).
        tag: suffix of the namespace and interface names (default: the pid).
        log_path: where simple_switch writes its output (default: in the switch's temporary
            folder, which `close` deletes with everything in it).
        ready_timeout_s: how long to wait for simple_switch's Thrift port.
    """

    def __init__(self, tools: Bmv2Tools, program_json: Path, *, ports: int = 3, thrift_port: int = 9090,
                 tag: str | None = None, log_path: Path | None = None, ready_timeout_s: float = 30.0) -> None:
        self.tools = tools
        self.ready_timeout_s = ready_timeout_s
        self.program_json = Path(program_json)
        self.plan = plan_network(ports, tag)
        self.thrift_port = thrift_port
        self.cli = Bmv2Cli(thrift_port, executable=tools.cli, prefix=("ip", "netns", "exec", self.plan.namespace))
        # The switch's files (its log unless log_path says otherwise, its notifications socket).
        self._folder = tempfile.TemporaryDirectory(prefix="switchsim-bmv2-")
        self.log_path = Path(log_path) if log_path is not None else Path(self._folder.name) / "simple_switch.log"
        # A Unix socket's path has at most 107 bytes (simple_switch aborts on a longer one, e.g. under a
        # long TMPDIR): then the socket gets a short folder of its own in /tmp.
        self._socket_folder = (tempfile.TemporaryDirectory(prefix="sml-", dir="/tmp")
                               if len(str(Path(self._folder.name) / "notifications.ipc")) > _MAX_SOCKET_PATH else None)
        self.notifications = Path((self._socket_folder or self._folder).name) / "notifications.ipc"
        self.process: subprocess.Popen | None = None
        self.session: Bmv2CliSession | None = None  #: one CLI process for configure/stats, once running
        self._sockets: list[socket.socket] = []
        self._multicast: tuple[int, list[int]] | None = None

    @property
    def ports(self) -> int:
        """Number of switch ports."""
        return len(self.plan.host_ends)

    def __enter__(self) -> Bmv2Switch:
        try:
            for argv in network_commands(self.plan):
                # IPv6 may be absent (then there is no noise to silence): sysctl failures are not fatal.
                subprocess.run(argv, check="sysctl" not in argv, capture_output=True, timeout=30)
            self._start_switch()
            for name in self.plan.host_ends:
                sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
                sock.bind((name, 0))
                sock.setblocking(False)
                self._sockets.append(sock)
        except BaseException:
            self.close()
            raise
        return self

    def _start_switch(self) -> None:
        """Start simple_switch in the namespace and wait for its Thrift port."""
        with self.log_path.open("w") as log:
            # Its own session: a terminal's Ctrl-C reaches only switchsim, which stops the switch in order.
            self.process = subprocess.Popen(
                simple_switch_command(self.tools.simple_switch, self.plan, self.program_json, self.thrift_port,
                                      self.notifications),
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready(self.ready_timeout_s)

    def _wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                log = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
                raise RuntimeError(f"simple_switch exited with {self.process.returncode}; {self.log_path}:\n{log}")
            try:
                self.cli.run(["show_ports"])
                self.session = Bmv2CliSession(self.cli)
                return
            except (RuntimeError, subprocess.TimeoutExpired):
                time.sleep(0.5)
        raise TimeoutError(f"simple_switch did not answer on Thrift port {self.thrift_port} within {timeout_s} s")

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop the switch and delete the namespace (and so every veth pair); idempotent."""
        for sock in self._sockets:
            sock.close()
        self._sockets = []
        if self.session is not None:
            if self.process is not None and self.process.poll() is not None:
                self.session.process.kill()  # the switch is gone: its CLI has nobody to talk to
            self.session.close()
            self.session = None
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._kill_namespace_processes()
        subprocess.run(["ip", "netns", "del", self.plan.namespace], capture_output=True, timeout=30, check=False)
        for name in self.plan.host_ends:  # normally gone with their peers
            if Path("/sys/class/net", name).exists():
                subprocess.run(["ip", "link", "del", name], capture_output=True, timeout=30, check=False)
        self._folder.cleanup()
        if self._socket_folder is not None:
            self._socket_folder.cleanup()

    def last_log_line(self) -> str:
        """The last line simple_switch wrote (empty when none), e.g. to say why it died."""
        try:
            lines = [line for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return ""
        return lines[-1].strip() if lines else ""

    def _kill_namespace_processes(self) -> None:
        """SIGKILL every process still in the namespace (e.g. a simple_switch whose start was interrupted
        before its Popen was kept, or a CLI), so that nothing outlives the namespace."""
        try:
            listed = subprocess.run(["ip", "netns", "pids", self.plan.namespace], capture_output=True, text=True,
                                    timeout=10, check=False).stdout.split()
        except (OSError, subprocess.SubprocessError):
            return
        for pid in (int(word) for word in listed if word.isdigit()):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def configure(self, job: Bmv2Job) -> None:
        """Clear all state (the job's tables and multicast group, registers, counters) and install ``job``.

        Not ``reset_state``: it also deletes the program's ``const entries`` (the decision table).
        """
        cleanup = list(TABLE_CLEAR_COMMANDS)
        if self._multicast is not None:
            group, handles = self._multicast
            cleanup = [*(f"mc_node_dissociate {group} {h}" for h in handles),
                       *(f"mc_node_destroy {h}" for h in handles), f"mc_mgrp_destroy {group}", *cleanup]
        self._multicast = (job.mcast_group, apply_job(job, self.session or self.cli, before=cleanup))

    def stats(self, job: Bmv2Job) -> dict:
        """The job's counters: broadcast, retransmit, drop (over its slots) and drops by reason."""
        return read_stats(job, self.session or self.cli)

    def drain(self) -> None:
        """Discard frames waiting on the host ends."""
        self.collect(0, 0.0)

    def send(self, port: int, frame: bytes) -> None:
        """Send ``frame`` into switch port ``port``."""
        self._sockets[port].send(frame)

    def collect(self, expected: int, wait_s: float, quiet_s: float = 0.05) -> list[tuple[int, bytes]]:
        """Frames out of the switch: until ``expected`` arrived (or ``wait_s``), then ``quiet_s`` more."""
        frames: list[tuple[int, bytes]] = []
        deadline = time.monotonic() + wait_s
        quiet_until = None
        while True:
            now = time.monotonic()
            if quiet_until is None and (len(frames) >= expected or now >= deadline):
                quiet_until = now + quiet_s
            if quiet_until is not None and now >= quiet_until:
                return frames
            timeout = (quiet_until if quiet_until is not None else deadline) - now
            readable, _, _ = select.select(self._sockets, [], [], max(0.0, timeout))
            for sock in readable:
                port = self._sockets.index(sock)
                while True:
                    try:
                        data, address = sock.recvfrom(_MAX_FRAME)
                    except (BlockingIOError, InterruptedError):
                        break
                    if address[2] != PACKET_OUTGOING:
                        frames.append((port, data))


# --- replay -------------------------------------------------------------------------------
@dataclass(slots=True)
class ReplayReport:
    """Outcome of replaying a vector document against a switch."""

    scenarios: int = 0
    steps: int = 0
    mismatches: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def job_for(scenario: dict, program_slots: int, hardened: bool = False) -> Bmv2Job:
    """The `Bmv2Job` a conformance scenario describes (on a faithful or hardened build)."""
    cfg = scenario["switch"]
    return Bmv2Job(tuple(WorkerEntry(**w) for w in scenario["workers"]), SwitchAddress(cfg["mac"], cfg["ip"]),
                   range(cfg["slots"]), program_slots=program_slots, hardened=hardened)


def compare_step(expected: list[dict], got: list[tuple[int, bytes]]) -> str | None:
    """None if the frames out equal the expected ones as a set of (port, bytes), else a description."""
    want = sorted((e["egress_port"], e["frame"]) for e in expected)
    have = sorted((port, frame.hex()) for port, frame in got)
    if want == have:
        return None

    def brief(frames: list[tuple[int, str]]) -> str:
        return ", ".join(f"port {p} ({len(f) // 2} B)" for p, f in frames) or "nothing"

    detail = ""
    for (wp, wf), (hp, hf) in zip(want, have, strict=False):
        if wp == hp and wf != hf:
            a, b = bytes.fromhex(wf), bytes.fromhex(hf)
            first = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
            detail = f"; port {wp} first differs at byte {first}"
            break
    return f"expected {brief(want)}, got {brief(have)}{detail}"


def replay(document: dict, switch: Bmv2Switch, *, program_slots: int = VECTOR_SLOTS, hardened: bool = False,
           wait_s: float = 2.0, quiet_s: float = 0.05, progress=None) -> ReplayReport:
    """Replay every scenario of ``document`` in the build's mode on ``switch`` (see module docstring).

    Scenarios of the other mode are not counted (they belong to the other build);
    a scenario this switch cannot run (a packet size the program lacks, more
    ports than it has) is listed in ``skipped``.
    """
    report = ReplayReport()
    for scenario in document["scenarios"]:
        name = scenario["name"]
        if scenario["switch"]["hardened"] != hardened:
            continue
        if scenario["switch"]["elements_per_packet"] not in P4_ELEMENTS_PER_PACKET:
            report.skipped.append(f"{name}: k = {scenario['switch']['elements_per_packet']}, the program has "
                                  f"k in {P4_ELEMENTS_PER_PACKET}")
            continue
        if max(w["port"] for w in scenario["workers"]) >= switch.ports:
            report.skipped.append(f"{name}: needs more than {switch.ports} ports")
            continue
        job = job_for(scenario, program_slots, hardened)
        switch.configure(job)
        switch.drain()
        report.scenarios += 1
        for index, step in enumerate(scenario["steps"]):
            switch.send(step["ingress_port"], bytes.fromhex(step["frame"]))
            got = switch.collect(len(step["expect"]), wait_s if step["expect"] else quiet_s, quiet_s)
            problem = compare_step(step["expect"], got)
            report.steps += 1
            if problem:
                report.mismatches.append(f"{name} step {index}: {problem}")
        stats = switch.stats(job)
        for key in ("broadcast", "retransmit", "drop", "stale"):
            if stats[key] != scenario["final_counters"][key]:
                report.mismatches.append(f"{name}: counter {key} = {stats[key]}, expected "
                                         f"{scenario['final_counters'][key]}")
        if progress:
            progress(name, report)
    return report


def mode_name(hardened: bool) -> str:
    """"hardened" or "faithful"."""
    return "hardened" if hardened else "faithful"


def summary_line(report: ReplayReport, hardened: bool) -> str:
    """The replay's one-line result, e.g. ``bmv2 faithful: 24 scenarios, ... 0 mismatches, 0 skipped``."""
    return (f"bmv2 {mode_name(hardened)}: {report.scenarios} scenarios, {report.steps} input frames, "
            f"{len(report.mismatches)} mismatches, {len(report.skipped)} skipped")


def can_run_bmv2() -> str | None:
    """None if this process can build namespaces and run bmv2, else the reason it cannot."""
    _, missing = find_tools()
    if missing:
        return f"not on PATH: {', '.join(missing)}"
    if os.geteuid() != 0:
        return "needs root (network namespace, veth pairs, AF_PACKET)"
    if shutil.which("ip") is None:
        return "needs iproute2 (`ip`)"
    return None


# --- command line ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """``compile`` the program, ``replay`` the vectors on bmv2, or ``serve`` a job for real workers."""
    parser = argparse.ArgumentParser(prog="python -m switchsim.p4gen.bmv2_runner", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    compile_parser = sub.add_parser("compile", help="compile p4/bmv2/switchml.p4 and check the JSON against the spec")
    compile_parser.add_argument("--out", type=Path, default=Path("build/bmv2"))
    compile_parser.add_argument("--slots", type=int, default=VECTOR_SLOTS)
    compile_parser.add_argument("--hardened", action="store_true", help="compile with -DSWITCHML_HARDENED")
    replay_parser = sub.add_parser("replay", help="replay the conformance vectors on simple_switch, both builds (root)")
    replay_parser.add_argument("--vectors", type=Path, default=vectors.DEFAULT_PATH)
    replay_parser.add_argument("--slots", type=int, default=VECTOR_SLOTS)
    replay_parser.add_argument("--thrift-port", type=int, default=9090)
    replay_parser.add_argument("--mode", choices=("both", "faithful", "hardened"), default="both",
                               help="which build(s) to replay (default both)")
    serve_parser = sub.add_parser("serve", help="run simple_switch with a job configured until interrupted (root)")
    serve_parser.add_argument("--workers", type=int, default=3)
    serve_parser.add_argument("--slots", type=int, default=16, help="slots compiled in and used (= window; default 16)")
    serve_parser.add_argument("--thrift-port", type=int, default=9090)
    serve_parser.add_argument("--hardened", action="store_true", help="run the hardened build")
    serve_parser.add_argument("--log", type=Path, help="keep simple_switch's log here (default: deleted on exit)")
    serve_parser.add_argument("--program", type=Path,
                              help="an already compiled JSON (compiled with --slots and the mode) instead of compiling")
    args = parser.parse_args(argv)

    tools, missing = find_tools()
    if tools is None:
        print(f"bmv2_runner: error: not on PATH: {', '.join(missing)} (see docs/bmv2.md)", file=sys.stderr)
        return 2
    if args.action == "compile":
        return _compile(args, tools)
    if os.geteuid() != 0:
        print("bmv2_runner: error: replay and serve need root (network namespace, veth pairs)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="switchsim-bmv2-") as build:
        if args.action == "replay":
            return _replay(args, tools, Path(build))
        return _serve(args, tools, Path(build))


def _compiled(tools: Bmv2Tools, build: Path, slots: int, hardened: bool) -> tuple[Path, list[str]]:
    program_json = compile_program(tools.compiler, build, slots=slots, hardened=hardened)
    problems = check_compiled(json.loads(program_json.read_text()), slots, hardened)
    for problem in problems:
        print(f"MISMATCH {problem}")
    return program_json, problems


def _compile(args: argparse.Namespace, tools: Bmv2Tools) -> int:
    program_json, problems = _compiled(tools, args.out, args.slots, args.hardened)
    defines = f"SWITCHML_SLOTS={args.slots}" + (" SWITCHML_HARDENED" if args.hardened else "")
    print(f"compiled {PROGRAM} with {defines} -> {program_json}; {len(problems)} differences from the spec")
    return 1 if problems else 0


def _replay(args: argparse.Namespace, tools: Bmv2Tools, build: Path) -> int:
    document = vectors.load(args.vectors)
    modes = {"both": (False, True), "faithful": (False,), "hardened": (True,)}[args.mode]
    failed = False
    lines = []
    for hardened in modes:
        program_json, problems = _compiled(tools, build, args.slots, hardened)
        with Bmv2Switch(tools, program_json, ports=3, thrift_port=args.thrift_port) as switch:
            report = replay(document, switch, program_slots=args.slots, hardened=hardened,
                            progress=lambda name, r: print(f"  {name}: {len(r.mismatches)} mismatches so far"))
        for line in report.skipped:
            print(f"skipped {line}")
        for line in report.mismatches:
            print(f"MISMATCH {line}")
        lines.append(summary_line(report, hardened))
        failed = failed or bool(report.mismatches or report.skipped or problems)
    for line in lines:
        print(line)
    return 1 if failed else 0


def _serve(args: argparse.Namespace, tools: Bmv2Tools, build: Path) -> int:
    """Run simple_switch with the job until SIGINT or SIGTERM (exit 130 / 143) or until it dies (exit 3).

    Under a `switchsim.emu.supervisor.Supervisor`, which also handles a shell's background job (SIGINT
    ignored: Python then installs no KeyboardInterrupt handler; the supervisor installs its own).
    """
    from switchsim.emu.supervisor import ChildDiedError, StoppedError, Supervisor

    if args.program is not None:
        program_json = args.program
        problems = check_compiled(json.loads(program_json.read_text()), args.slots, args.hardened)
        for problem in problems:
            print(f"MISMATCH {problem}")
    else:
        program_json, problems = _compiled(tools, build, args.slots, args.hardened)
    if problems:
        return 1
    job = Bmv2Job(tuple(worker_entries(args.workers)), slots=range(args.slots), program_slots=args.slots,
                  hardened=args.hardened)
    try:
        with Supervisor() as supervisor:
            switch = Bmv2Switch(tools, program_json, ports=args.workers, thrift_port=args.thrift_port,
                                log_path=args.log)
            supervisor.callback(switch.close)  # at the supervisor's exit, where no signal cuts it short
            switch.__enter__()
            supervisor.watch("simple_switch", switch.process)
            switch.configure(job)
            print(f"simple_switch ({mode_name(args.hardened)} build) is running in namespace "
                  f"{switch.plan.namespace} (log: {switch.log_path}).")
            print("Run one worker per port, e.g.:")
            for w, host_end in enumerate(switch.plan.host_ends):
                print(f"  python -m workers.client --target raw --interface {host_end} --worker-id {w} "
                      f"--workers {args.workers} --window {args.slots} --elements 20000 --timeout 0.3 &")
            print(f"Counters: python -m switchsim.p4gen.controller --stats --workers {args.workers} "
                  f"--slots {args.slots} --program-slots {args.slots} --netns {switch.plan.namespace}")
            print("Ctrl-C (SIGINT) or SIGTERM stops the switch and removes the namespace.", flush=True)
            try:
                while True:
                    supervisor.wait([], 3600.0)
            except ChildDiedError as died:
                reason = switch.last_log_line()
                print(f"{died}{': ' + reason if reason else ''}; removed the namespace", flush=True)
                return 3
    except StoppedError as stop:
        print(f"{stop.name}: stopped the switch and removed the namespace", flush=True)
        return stop.exit_status


if __name__ == "__main__":
    sys.exit(main())
