"""The real-socket worker: `WorkerProtocol` driven by a clock and a socket.

`run_worker` runs one worker's all-reduce of an int32 tensor through a switch:
it sends what `workers.protocol.WorkerProtocol` decides, feeds it the replies
and real-time timeouts (``time.monotonic``), and returns the aggregated
tensor. Two targets, chosen by the transport:

* `UdpTransport` (default): SwitchML messages as UDP datagrams to the emulator
  switch (`switchsim.emu.switch_server`), e.g. on 127.0.0.1.
* `RawEthernetTransport`: full Ethernet/IPv4/UDP frames built with
  `codec.encode_frames` on an ``AF_PACKET`` socket bound to an interface, for a
  bmv2 (or hardware) switch. Needs root and an interface; the frame building
  and filtering take any datagram socket, so they are tested offline.

Every packet is encoded once, before the first send. Injected loss drops a
send (first transmission or retransmission) with probability ``loss``, drawn
from a seeded `np.random.Generator`. `ScalingQuantizer` is a minimal float32
path: fixed-scale quantization to int32 with headroom for n workers.

Run one worker from a shell (every worker derives all tensors from the seed and
checks the exact sum)::

    python -m workers.client --worker-id 0 --workers 3 --elements 20000 --switch 127.0.0.1:PORT
"""

from __future__ import annotations

import argparse
import math
import select
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from switchsim.pipeline.state import wrapped_sum  # the switch's arithmetic, to check results
from switchsim.protocol import codec, spec
from switchsim.protocol.addresses import SWITCH_IP, SWITCH_MAC, worker_ip, worker_mac
from workers.protocol import WorkerConfig, WorkerProtocol, WorkerStats
from workers.protocol_state import packet_tsi_array

Endpoint = tuple[str, int]

#: ``ETH_P_ALL``: receive frames of every protocol on an ``AF_PACKET`` socket.
ETH_P_ALL = 0x0003
#: ``PACKET_OUTGOING``: the packet type of frames this host sent (skipped when receiving).
PACKET_OUTGOING = 4
_RECEIVE_BATCH = 256


def _drain(sock: socket.socket, timeout_s: float, size: int) -> list[tuple[bytes, object]]:
    """Wait up to ``timeout_s`` for ``sock`` (non-blocking) to be readable, then read what is
    there: at most `_RECEIVE_BATCH` datagrams of up to ``size`` bytes, with their addresses."""
    readable, _, _ = select.select([sock], [], [], max(0.0, timeout_s))
    received: list[tuple[bytes, object]] = []
    if not readable:
        return received
    for _ in range(_RECEIVE_BATCH):
        try:
            received.append(sock.recvfrom(size))
        except (BlockingIOError, InterruptedError):
            break
        except OSError:
            continue
    return received


def make_tensor(seed: int, worker_id: int, elements: int) -> np.ndarray:
    """Worker ``worker_id``'s int32 tensor for a run seeded with ``seed`` (full int32 range).

    Example:
        >>> make_tensor(0, 1, 3).dtype, len(make_tensor(0, 1, 3))
        (dtype('int32'), 3)
    """
    rng = np.random.default_rng([seed, worker_id])
    info = np.iinfo(np.int32)
    return rng.integers(info.min, info.max, size=elements, endpoint=True, dtype=np.int64).astype(np.int32)


@dataclass(frozen=True, slots=True)
class ScalingQuantizer:
    """Fixed-scale float32 <-> int32 quantization with headroom for n workers.

    ``q = clip(round(x * scale), -(INT32_MAX // n), INT32_MAX // n)``, so an
    n-way sum never wraps; ``y = sum / scale``.

    Example:
        >>> q = ScalingQuantizer(scale=2.0**16, num_workers=2)
        >>> float(q.dequantize(q.quantize(np.array([0.5], np.float32)) * 2)[0])
        1.0
    """

    scale: float
    num_workers: int

    def __post_init__(self) -> None:
        if not (self.scale > 0 and math.isfinite(self.scale)):
            raise ValueError(f"scale must be a finite number > 0, got {self.scale!r}")
        if not 1 <= self.num_workers <= spec.MAX_WORKERS:
            raise ValueError(f"num_workers must be in 1..{spec.MAX_WORKERS}, got {self.num_workers!r}")

    def quantize(self, values: np.ndarray) -> np.ndarray:
        """int32 contributions of float values."""
        bound = np.iinfo(np.int32).max // self.num_workers
        scaled = np.rint(np.asarray(values, dtype=np.float64) * self.scale)
        return np.clip(np.nan_to_num(scaled), -bound, bound).astype(np.int32)

    def dequantize(self, sums: np.ndarray) -> np.ndarray:
        """float32 values of aggregated int32 sums."""
        return (np.asarray(sums, dtype=np.float64) / self.scale).astype(np.float32)


class Transport(Protocol):
    """How a worker's packets reach the switch and replies come back."""

    def encode(self, messages: codec.Messages) -> np.ndarray:
        """Wire bytes of each message, one row per packet."""
        ...

    def send(self, packet: memoryview) -> None:
        """Send one encoded packet."""
        ...

    def receive(self, timeout_s: float) -> list[bytes]:
        """Reply messages (UDP payloads) that arrive within ``timeout_s``, at least one unless it expires."""
        ...

    def close(self) -> None:
        """Release the socket."""
        ...


@dataclass(slots=True)
class TransportStats:
    """Datagrams or frames a transport received and set aside."""

    foreign: int = 0  #: not from the switch or not addressed to this worker
    malformed: int = 0  #: from the switch but not a whole message of this k


class UdpTransport:
    """SwitchML messages as UDP datagrams to the emulator switch.

    Args:
        switch: the switch's ``(IP, UDP port)``.
        elements_per_packet: k.
        bind: local ``(IP, UDP port)`` to bind (port 0: any free port).
        sock: an already bound UDP socket to use instead (the transport owns it).
    """

    def __init__(self, switch: Endpoint, elements_per_packet: int = 64, bind: Endpoint = ("127.0.0.1", 0),
                 sock: socket.socket | None = None) -> None:
        self.switch = (switch[0], int(switch[1]))
        self.elements_per_packet = elements_per_packet
        self.stats = TransportStats()
        self._message_bytes = spec.message_bytes(elements_per_packet)
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(bind)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        except OSError:
            pass
        sock.setblocking(False)
        self.sock = sock

    @property
    def address(self) -> Endpoint:
        """The local ``(IP, UDP port)``."""
        host, port = self.sock.getsockname()[:2]
        return host, port

    def encode(self, messages: codec.Messages) -> np.ndarray:
        """Message bytes, one row per packet."""
        return codec.encode_messages(messages)

    def send(self, packet: memoryview) -> None:
        """Send one message to the switch (a full socket buffer counts as a lost packet)."""
        try:
            self.sock.sendto(packet, self.switch)
        except (BlockingIOError, InterruptedError):
            pass

    def receive(self, timeout_s: float) -> list[bytes]:
        """Messages from the switch's address of the right length (others are counted and dropped)."""
        messages = []
        for data, source in _drain(self.sock, timeout_s, self._message_bytes + 1):
            if (source[0], source[1]) != self.switch:
                self.stats.foreign += 1
            elif len(data) != self._message_bytes:
                self.stats.malformed += 1
            else:
                messages.append(data)
        return messages

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


@dataclass(frozen=True, slots=True)
class RawTarget:
    """Addresses of a worker that talks to a switch in raw Ethernet frames.

    Attributes:
        interface: the interface to bind (e.g. a veth end facing bmv2).
        mac, ip: this worker's addresses (as in the switch's worker table).
        switch_mac, switch_ip: the switch's addresses.
        src_port: this worker's UDP source port (replies come back to it).
        dst_port: the switch's UDP port.
    """

    interface: str
    mac: str
    ip: str
    switch_mac: str = SWITCH_MAC
    switch_ip: str = SWITCH_IP
    src_port: int = spec.WORKER_UDP_PORT_BASE
    dst_port: int = spec.UDP_PORT

    def __post_init__(self) -> None:
        for name in ("mac", "switch_mac"):
            codec.mac_to_int(getattr(self, name))
        for name in ("ip", "switch_ip"):
            codec.ip_to_int(getattr(self, name))
        if self.dst_port & spec.UDP_PORT_MASK != spec.UDP_PORT:
            raise ValueError(f"dst_port must be in the switch's range {spec.UDP_PORTS[0]}..{spec.UDP_PORTS[-1]}, "
                             f"got {self.dst_port}")
        if not 1 <= self.src_port <= 0xFFFF:
            raise ValueError(f"src_port must be in 1..65535, got {self.src_port}")


_UDP_END = spec.ETHERNET_HEADER.nbytes + spec.IPV4_HEADER.nbytes + spec.UDP_HEADER.nbytes


class RawEthernetTransport:
    """SwitchML-UDP frames on an ``AF_PACKET`` socket (bmv2 on a veth, or a NIC).

    Outgoing frames are built with `codec.encode_frames` (UDP checksum computed
    as a host stack would). Incoming frames are kept when they are IPv4/UDP
    (ihl 5), addressed to this worker's MAC, IP and UDP port, come from a port
    of the switch's range, and hold a whole message of this k; their UDP
    payload is returned.

    Args:
        target: addresses and interface.
        elements_per_packet: k.
        sock: a datagram-like socket to use instead of opening ``AF_PACKET`` on
            ``target.interface`` (tests pass one end of a ``socketpair``).
    """

    def __init__(self, target: RawTarget, elements_per_packet: int = 64, sock: socket.socket | None = None) -> None:
        self.target = target
        self.elements_per_packet = elements_per_packet
        self.stats = TransportStats()
        self._frame_bytes = spec.frame_bytes(elements_per_packet)
        self._message_bytes = spec.message_bytes(elements_per_packet)
        self._mac = codec.mac_to_int(target.mac)
        self._ip = codec.ip_to_int(target.ip)
        if sock is None:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            sock.bind((target.interface, 0))
        sock.setblocking(False)
        self.sock = sock

    def encode(self, messages: codec.Messages) -> np.ndarray:
        """Whole Ethernet frames (no FCS), one row per packet."""
        n = len(messages)
        t = self.target
        frames = codec.Frames(
            eth_dst=np.full(n, codec.mac_to_int(t.switch_mac), np.uint64),
            eth_src=np.full(n, self._mac, np.uint64),
            ip_src=np.full(n, self._ip, np.uint32),
            ip_dst=np.full(n, codec.ip_to_int(t.switch_ip), np.uint32),
            src_port=np.full(n, t.src_port, np.uint16),
            dst_port=np.full(n, t.dst_port, np.uint16),
            messages=messages,
        )
        return codec.encode_frames(frames, compute_udp_checksum=True)

    def send(self, packet: memoryview) -> None:
        """Send one frame (a full socket buffer counts as a lost packet)."""
        try:
            self.sock.send(packet)
        except (BlockingIOError, InterruptedError):
            pass

    def accept(self, frames: list[bytes]) -> list[bytes]:
        """The UDP payloads of the frames that are replies to this worker (others counted and dropped)."""
        candidates = [f for f in frames if len(f) >= self._frame_bytes]
        self.stats.foreign += len(frames) - len(candidates)
        if not candidates:
            return []
        rows = np.frombuffer(b"".join(f[: self._frame_bytes] for f in candidates), dtype=np.uint8)
        headers = codec.decode_frame_headers(rows.reshape(len(candidates), self._frame_bytes), self.elements_per_packet)
        ours = (
            (headers["ethernet.ether_type"] == spec.ETHERTYPE_IPV4)
            & (headers["ipv4.version"] == spec.IPV4_VERSION)
            & (headers["ipv4.ihl"] == spec.IPV4_IHL_WORDS)
            & (headers["ipv4.protocol"] == spec.IP_PROTOCOL_UDP)
            & (headers["ethernet.dst_addr"] == self._mac)
            & (headers["ipv4.dst_addr"] == self._ip)
            & (headers["udp.dst_port"] == self.target.src_port)
            & ((headers["udp.src_port"] & spec.UDP_PORT_MASK) == spec.UDP_PORT)
        )
        whole = headers["udp.length"] == spec.udp_length(self.elements_per_packet)
        self.stats.foreign += int(np.count_nonzero(~ours))
        self.stats.malformed += int(np.count_nonzero(ours & ~whole))
        return [candidates[i][_UDP_END : _UDP_END + self._message_bytes] for i in np.flatnonzero(ours & whole)]

    def receive(self, timeout_s: float) -> list[bytes]:
        """Reply messages from frames that arrive within ``timeout_s``."""
        frames = []
        for data, address in _drain(self.sock, timeout_s, self._frame_bytes + 64):
            if isinstance(address, tuple) and len(address) >= 3 and address[2] == PACKET_OUTGOING:
                continue  # our own frame, seen by the packet socket
            frames.append(data)
        return self.accept(frames)

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


@dataclass(slots=True)
class WorkerRun:
    """What one worker ended with."""

    result: np.ndarray  #: int32 (S,): the aggregated tensor (valid when ``completed``)
    completed: bool  #: every result arrived before the deadline
    wall_s: float  #: from the first send to the last result (or the deadline)
    stats: WorkerStats  #: the protocol's counters (sent, retransmissions, timeouts, ...)
    injected_losses: int = 0  #: sends dropped on purpose
    transport: TransportStats = field(default_factory=TransportStats)


def run_worker(
    config: WorkerConfig,
    tensor: np.ndarray,
    transport: Transport,
    *,
    loss: float = 0.0,
    rng: np.random.Generator | None = None,
    max_wall_s: float = 60.0,
) -> WorkerRun:
    """All-reduce ``tensor`` through the switch behind ``transport``; return the result.

    Args:
        config: the worker's protocol parameters (id, n, window, timeout, job).
        tensor: int32 (S,): this worker's contribution.
        transport: `UdpTransport` or `RawEthernetTransport` (not closed here).
        loss: probability of dropping each send on purpose, in [0, 1).
        rng: draws the losses (default: seeded with the worker id).
        max_wall_s: give up (``completed=False``) this many seconds after the call.

    Returns:
        A `WorkerRun`.
    """
    if not 0.0 <= loss < 1.0:
        raise ValueError(f"loss must be a probability in [0, 1), got {loss!r}")
    if max_wall_s <= 0:
        raise ValueError(f"max_wall_s must be > 0 seconds, got {max_wall_s!r}")
    deadline = time.monotonic() + max_wall_s  # from the call: building the packets counts too
    rng = rng if rng is not None else np.random.default_rng(config.worker_id)
    proto = WorkerProtocol(config, tensor)
    packets = np.arange(proto.total_packets)
    encoded = transport.encode(
        codec.Messages.build(
            pool_index=np.array([proto.pool_index(int(p)) for p in packets], dtype=np.uint16),
            values=proto.data.reshape(proto.total_packets, config.elements_per_packet),
            tsi=packet_tsi_array(packets),
            job_number=config.job_number,
            exponents=proto.exponents,
        )
    )
    views = [memoryview(row) for row in encoded]
    k = config.elements_per_packet
    dropped = 0

    def send(batch: list[int]) -> None:
        nonlocal dropped
        for packet in batch:
            if loss and rng.random() < loss:
                dropped += 1
                continue
            transport.send(views[packet])

    started = time.monotonic()
    send(proto.start(started))
    now = started
    while not proto.done:
        now = time.monotonic()
        if now >= deadline:
            break
        wait = min(proto.next_deadline(), deadline) - now
        replies = transport.receive(wait)
        now = time.monotonic()
        if replies:
            messages = codec.decode_messages(
                np.frombuffer(b"".join(replies), dtype=np.uint8).reshape(len(replies), -1), k
            )
            for i in range(len(replies)):
                send(proto.on_result(now, int(messages.job_number[i]), int(messages.tsi[i]),
                                     int(messages.pool_index[i]), messages.values[i], messages.exponents[i]))
        if now >= proto.next_deadline():
            send(proto.on_timeout(now))
    return WorkerRun(
        result=proto.result.copy(),
        completed=proto.done,
        wall_s=now - started,
        stats=proto.stats,
        injected_losses=dropped,
        transport=getattr(transport, "stats", TransportStats()),
    )


def run_worker_float(
    config: WorkerConfig,
    tensor: np.ndarray,
    transport: Transport,
    quantizer: ScalingQuantizer,
    **options,
) -> tuple[np.ndarray, WorkerRun]:
    """`run_worker` on a float32 tensor through ``quantizer``; returns (float32 sum, run)."""
    run = run_worker(config, quantizer.quantize(tensor), transport, **options)
    return quantizer.dequantize(run.result), run


# --- command line ------------------------------------------------------------------------
def _endpoint(text: str) -> Endpoint:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``python -m workers.client``."""
    parser = argparse.ArgumentParser(
        prog="python -m workers.client",
        description="One SwitchML worker: all-reduce a seeded random int32 tensor through a switch (the UDP "
        "emulator, or bmv2 in raw Ethernet frames) and check the exact int32 wrap-around sum.",
    )
    parser.add_argument("--worker-id", type=int, required=True, help="rank, 0..n-1")
    parser.add_argument("--workers", type=int, required=True, help="n, workers in the job")
    parser.add_argument("--elements", type=int, default=20000, help="S, int32 elements (default 20000)")
    parser.add_argument("--elements-per-packet", type=int, choices=spec.SUPPORTED_ELEMENTS_PER_PACKET, default=64)
    parser.add_argument("--window", type=int, default=64, help="W, outstanding packets = slots (default 64)")
    parser.add_argument("--job-number", type=int, default=0, help="8-bit job number (default 0)")
    parser.add_argument("--timeout", type=float, default=0.005, help="retransmission timeout, s (default 0.005)")
    parser.add_argument("--loss", type=float, default=0.0, help="drop each send with this probability")
    parser.add_argument("--seed", type=int, default=0, help="tensors and losses (default 0)")
    parser.add_argument("--max-wall", type=float, default=60.0, help="give up after this many seconds")
    parser.add_argument("--target", choices=("udp", "raw"), default="udp",
                        help="udp: the emulator switch (default); raw: Ethernet frames on --interface (bmv2)")
    parser.add_argument("--switch", type=_endpoint, default=("127.0.0.1", spec.UDP_PORT),
                        help="udp target: the switch's HOST:PORT (default 127.0.0.1 and spec.UDP_PORT)")
    parser.add_argument("--bind", type=_endpoint, default=("127.0.0.1", 0), help="udp target: local HOST:PORT")
    parser.add_argument("--interface", help="raw target: interface facing the switch")
    parser.add_argument("--mac", help="raw target: this worker's MAC (default 02:00:00:00:00:<id+1>)")
    parser.add_argument("--ip", help="raw target: this worker's IP (default 10.0.0.<id+1>)")
    parser.add_argument("--switch-mac", default=SWITCH_MAC, help="raw target: the switch's MAC")
    parser.add_argument("--switch-ip", default=SWITCH_IP, help="raw target: the switch's IP")
    parser.add_argument("--src-port", type=int, default=spec.WORKER_UDP_PORT_BASE, help="raw target: UDP source port")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one worker; print its summary; exit 0 on an exact sum."""
    args = build_parser().parse_args(argv)
    config = WorkerConfig(worker_id=args.worker_id, num_workers=args.workers, window=args.window,
                          elements_per_packet=args.elements_per_packet, job_number=args.job_number,
                          timeout_s=args.timeout)
    if args.target == "raw":
        if not args.interface:
            print("workers.client: error: --target raw needs --interface", file=sys.stderr)
            return 2
        target = RawTarget(interface=args.interface, mac=args.mac or worker_mac(args.worker_id),
                           ip=args.ip or worker_ip(args.worker_id), switch_mac=args.switch_mac,
                           switch_ip=args.switch_ip, src_port=args.src_port)
        transport: Transport = RawEthernetTransport(target, args.elements_per_packet)
    else:
        transport = UdpTransport(args.switch, args.elements_per_packet, bind=args.bind)
    try:
        run = run_worker(config, make_tensor(args.seed, args.worker_id, args.elements), transport, loss=args.loss,
                         rng=np.random.default_rng([args.seed, args.worker_id, 1]), max_wall_s=args.max_wall)
    finally:
        transport.close()
    expected = wrapped_sum(np.stack([make_tensor(args.seed, w, args.elements) for w in range(args.workers)]))
    exact = run.completed and np.array_equal(run.result, expected)
    print(f"worker {args.worker_id}/{args.workers}: {args.elements:,} elements in {run.wall_s:.3f} s, "
          f"sent {run.stats.sent:,} ({run.stats.retransmissions:,} retransmissions, {run.injected_losses:,} "
          f"dropped on purpose), {'EXACT sum' if exact else 'WRONG or incomplete sum'}")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
