"""The emulator switch: `switchsim.pipeline.Pipeline` behind a real UDP socket.

Workers send SwitchML messages (the UDP payload of `codec.encode_messages`:
switchml header, exponents, k int32) to the switch's socket on 127.0.0.1. The
switch serves one job:

* Worker table: the source ``(IP, UDP port)`` must be in the registration table
  given at start (index = worker id, n = its length); other sources are dropped.
* Parse, dropping and counting by reason, in this order: ``unregistered_source``;
  ``truncated`` (shorter than the switchml header); ``unknown_size`` (a ``size``
  enum value outside `spec.PAYLOAD_BYTES`); ``unsupported_size`` (a known size
  that is not the switch's k); ``truncated`` / ``length_mismatch`` (shorter /
  longer than the size announces); ``wrong_job`` (not the served
  ``job_number``); ``slot_out_of_range``. Anything the pipeline still rejects
  counts as ``rejected``.
* `Pipeline.process_batch` on each received batch, in arrival order.
* Replies (as `switchsim.frame_switch` and the contract, protocol reference
  §2): ``msg_type`` 1; ``size``, ``job_number``, ``tsi`` echoed;
  ``pool_index`` = set bit 15 + slot; exponents and values = the set's. A
  multicast is one datagram to every registered worker (in worker-id order),
  a unicast goes back to the sender.

`switchsim.emu.datagram_switch.DatagramSwitch` is that logic without sockets
(datagrams in, datagrams out); `SwitchServer` adds the socket, batch receive
and a serving loop (in the calling thread or a background thread);
`SwitchProcess` runs a server in its own process. Malformed input never raises: each datagram is either processed
or dropped and counted.
"""

from __future__ import annotations

import math
import multiprocessing
import select
import socket
import threading
import time
from multiprocessing.connection import Connection
from types import TracebackType

import numpy as np

from switchsim.emu.datagram_switch import DROP_REASONS, DatagramSwitch, Endpoint, ServerConfig, ServerStats
from switchsim.emu.pcap import MessageFramer, PcapWriter
from switchsim.emu.supervisor import Supervisor, describe_exit, ignore_interrupts
from switchsim.pipeline.tables import DropReason
from switchsim.protocol import spec

__all__ = ["DROP_REASONS", "SWITCH_NAME", "DatagramSwitch", "ServerConfig", "ServerStats", "SwitchProcess",
           "SwitchServer"]

#: Full batches the serving loop processes before it checks its control pipe again (a flood never hides "stop").
_BURST_BATCHES = 16
#: How a supervisor names the switch process (in "the switch died (killed by SIGKILL)").
SWITCH_NAME = "the switch"


class _PcapRecorder:
    """Turns the switch's messages into Ethernet frames and appends them to a pcap file."""

    def __init__(self, path: str, config: ServerConfig, switch: Endpoint) -> None:
        self.writer = PcapWriter(path)
        self.framer = MessageFramer(config.elements_per_packet, switch, config.workers)
        self.switch = switch
        self._message_bytes = spec.message_bytes(config.elements_per_packet)

    def __call__(
        self, payloads: list[bytes], sources: list[Endpoint] | None, destinations: list[Endpoint] | None
    ) -> None:
        sources = sources or [self.switch] * len(payloads)
        destinations = destinations or [self.switch] * len(payloads)
        rows = np.frombuffer(b"".join(payloads), dtype=np.uint8).reshape(len(payloads), self._message_bytes)
        self.writer.write_rows(self.framer.frames(rows, sources, destinations), time.time())

    def close(self) -> None:
        self.writer.close()


class SwitchServer:
    """A `DatagramSwitch` on a UDP socket.

    Lifecycle: ``SwitchServer(config)`` -> `bind` (the socket exists,
    `address` is known) -> `serve` in the calling thread, or `start` for a
    background thread -> `stop` (background) / `close` -> `report`. As a
    context manager it starts on entry and stops on exit.

    Args:
        config: what to serve and where.
    """

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.core = DatagramSwitch(config)
        self.sock: socket.socket | None = None
        self._recorder: _PcapRecorder | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> Endpoint:
        """The bound ``(IP, UDP port)``."""
        if self.sock is None:
            raise RuntimeError("the switch is not bound yet: call bind() or start()")
        host, port = self.sock.getsockname()[:2]
        return host, port

    def bind(self) -> Endpoint:
        """Open and bind the socket; return its address.

        Raises:
            OSError: if the port (or, with ``port=None``, every port of ``spec.UDP_PORTS``) is taken.
        """
        if self.sock is not None:
            return self.address
        candidates = [self.config.port] if self.config.port is not None else list(spec.UDP_PORTS)
        last_error: OSError | None = None
        for port in candidates:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind((self.config.host, port))
            except OSError as error:
                sock.close()
                last_error = error
                continue
            self.sock = sock
            break
        else:
            raise OSError(f"cannot bind the switch to {self.config.host} port(s) {candidates[0]}..{candidates[-1]}: "
                          f"{last_error}")
        for option, size in ((socket.SO_RCVBUF, self.config.receive_buffer_bytes), (socket.SO_SNDBUF, 1 << 20)):
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, option, size)
            except OSError:
                pass
        self.sock.setblocking(False)
        if self.config.pcap_path:
            self._recorder = _PcapRecorder(self.config.pcap_path, self.config, self.address)
            self.core.recorder = self._recorder
        return self.address

    def pump(self) -> int:
        """Receive up to ``batch_size`` waiting datagrams, process them, send the replies; return how many."""
        sock = self.sock
        if sock is None:
            raise RuntimeError("the switch is not bound yet: call bind() or start()")
        datagrams = []
        receive_bytes = spec.message_bytes(self.config.elements_per_packet) + 1  # longer ones show as too long
        for _ in range(self.config.batch_size):
            try:
                datagrams.append(sock.recvfrom(receive_bytes))
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # e.g. an ICMP error reported on the socket: not a datagram
                continue
        if not datagrams:
            return 0
        stats = self.core.stats
        now = time.monotonic()
        if math.isnan(stats.first_packet_s):
            stats.first_packet_s = now
        stats.last_packet_s = now
        try:
            replies = self.core.handle_batch(datagrams)
        except Exception:  # never let one bad batch stop the switch; counted, and tests require 0
            stats.drops[DropReason.INTERNAL_ERROR] += len(datagrams)
            return len(datagrams)
        for payload, destination in replies:
            try:
                sock.sendto(payload, destination)
                stats.datagrams_sent += 1
            except OSError:
                stats.send_errors += 1
        return len(datagrams)

    def serve(self, stop: threading.Event | None = None, control: Connection | None = None,
              poll_s: float = 0.05) -> None:
        """Serve until ``stop`` is set, or ``control`` receives ``"stop"`` or is closed."""
        self.bind()
        sock = self.sock
        watched: list = [sock] if control is None else [sock, control]
        while not (stop is not None and stop.is_set()):
            readable, _, _ = select.select(watched, [], [], poll_s)
            if sock in readable:  # a burst of full batches, then look at the control pipe again
                for _ in range(_BURST_BATCHES):
                    if self.pump() < self.config.batch_size:
                        break
            if control is not None and control in readable:
                try:
                    message = control.recv()
                except (EOFError, OSError):
                    return
                if message == "stop":
                    return

    def start(self) -> SwitchServer:
        """Bind and serve in a background (daemon) thread."""
        self.bind()
        self._stop.clear()
        self._thread = threading.Thread(target=self.serve, args=(self._stop,), name="switchsim-emu-switch", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> dict:
        """Stop the background thread, close the socket; return `report`."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        self.close()
        return self.report()

    def close(self) -> None:
        """Close the socket and the pcap file (idempotent)."""
        if self.sock is not None:
            self.sock.close()
        if self._recorder is not None:
            self._recorder.close()

    def report(self) -> dict:
        """`DatagramSwitch.report` plus the address and the pcap file."""
        report = self.core.report()
        report["address"] = list(self.address) if self.sock is not None and self.sock.fileno() >= 0 else None
        report["pcap"] = self.config.pcap_path
        report["pcap_frames"] = self._recorder.writer.frames_written if self._recorder is not None else 0
        return report

    def __enter__(self) -> SwitchServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def _process_main(control: Connection, config: ServerConfig) -> None:
    """Body of a `SwitchProcess`: bind, say where, serve until told to stop, send the report."""
    ignore_interrupts()  # the parent stops this process (a terminal's Ctrl-C reaches the whole process group)
    server = SwitchServer(config)
    try:
        address = server.bind()
    except Exception as error:  # reported to the parent, which raises
        control.send(("error", f"{type(error).__name__}: {error}"))
        return
    server.core.warm_up()
    control.send(("bound", address))
    try:
        server.serve(control=control)
        report = server.report()
    finally:
        server.close()
    try:
        control.send(("report", report))
    except (BrokenPipeError, OSError):
        pass


class SwitchProcess:
    """A `SwitchServer` in its own process.

    Lifecycle: ``SwitchProcess(config)`` -> `start` (returns the bound
    address) -> `stop` (returns the report) or `kill`.

    Args:
        config: what to serve and where.
        context: a multiprocessing context (default: the platform's default).
    """

    def __init__(self, config: ServerConfig, context: multiprocessing.context.BaseContext | None = None) -> None:
        self.config = config
        self._context = context or multiprocessing.get_context()
        self._control, child = self._context.Pipe()
        self.process = self._context.Process(target=_process_main, args=(child, config), name="switchsim-emu-switch",
                                             daemon=True)
        self._child = child
        self.address: Endpoint | None = None

    def start(self, timeout_s: float = 30.0, supervisor: Supervisor | None = None) -> Endpoint:
        """Start the process and wait until its socket is bound; a ``supervisor`` watches it from then on.

        Raises:
            OSError: if the switch could not bind.
            TimeoutError: if it did not answer within ``timeout_s``.
            ChildDiedError: if it died before answering (with a ``supervisor``).
        """
        self.process.start()
        self._child.close()
        if supervisor is not None:
            supervisor.watch(SWITCH_NAME, self.process)
            supervisor.callback(self.kill)
        ready = supervisor.wait([self._control], timeout_s) if supervisor is not None else self._control.poll(timeout_s)
        if not ready:
            self.kill()
            raise TimeoutError(f"the switch process did not bind within {timeout_s:g} s")
        try:
            kind, detail = self._control.recv()
        except EOFError:
            self.kill()
            raise OSError(f"the switch process exited before binding ({describe_exit(self.process.exitcode)})"
                          ) from None
        if kind != "bound":
            self.kill()
            raise OSError(f"the switch process failed: {detail}")
        self.address = (detail[0], detail[1])
        return self.address

    def stop(self, timeout_s: float = 10.0) -> dict | None:
        """Ask the switch to stop; return its report (None if it did not answer in time)."""
        report = None
        try:
            self._control.send("stop")
            if self._control.poll(timeout_s):
                kind, detail = self._control.recv()
                report = detail if kind == "report" else None
        except (BrokenPipeError, EOFError, OSError):
            pass
        self.process.join(timeout_s)
        self.kill()
        return report

    def kill(self) -> None:
        """Terminate the process if it is still alive (idempotent)."""
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5.0)
        self._control.close()
