"""A SwitchML switch at the frame level: parser, worker table, pipeline, egress rewrite.

This is what a P4 switch does around the pipeline model, written against
whole Ethernet frames so that its outputs can be compared byte for byte with
bmv2's (the conformance vectors) and served over sockets (the emulator):

* Parse: Ethernet/IPv4 (ihl 5)/UDP with ``dst_port & spec.UDP_PORT_MASK ==
  spec.UDP_PORT`` and a
  ``size`` that matches the switch's k. Anything else that is not SwitchML is
  L2-forwarded by destination MAC (to a known worker's port, else dropped).
* Worker table: exact match on (source MAC, source IP) -> worker id, n.
  SwitchML packets from unregistered sources are dropped and counted.
* Pipeline: `switchsim.pipeline.Pipeline.process`.
* Egress (p4app-switchML ``udp_sender.p4``): source MAC/IP = the switch's,
  destination = the receiving worker's, UDP ports swapped from the triggering
  request, UDP checksum 0, IPv4 identification 0, flags 0, TTL 64, checksum
  recomputed; ``msg_type`` 1; ``size``, ``job_number``, ``tsi`` echoed;
  ``pool_index`` = set bit 15 + slot (bit 14 cleared); exponents and values =
  the set's contents. A multicast sends one copy per worker, in worker-id
  order, out that worker's port; a unicast goes back out the ingress port.
"""

from __future__ import annotations

from collections import Counter as Tally
from dataclasses import dataclass, field

import numpy as np

from switchsim.pipeline import Action, Pipeline, Recipients, SwitchConfig, next_step
from switchsim.pipeline.state import check_workers
from switchsim.pipeline.tables import DropReason
from switchsim.protocol import codec, spec
from switchsim.protocol.addresses import SWITCH_IP, SWITCH_MAC, worker_ip, worker_mac


@dataclass(frozen=True, slots=True)
class WorkerEntry:
    """One row of the worker table (installed by the control plane).

    Attributes:
        worker_id: rank and bitmap bit, 0..31.
        mac: the worker's MAC address, ``"aa:bb:cc:dd:ee:ff"``.
        ip: the worker's IPv4 address, ``"a.b.c.d"``.
        port: the switch port the worker is attached to.
    """

    worker_id: int
    mac: str
    ip: str
    port: int

    def __post_init__(self) -> None:
        if not 0 <= self.worker_id < spec.MAX_WORKERS:
            raise ValueError(f"worker_id must be in 0..{spec.MAX_WORKERS - 1}, got {self.worker_id}")
        codec.mac_to_int(self.mac)
        codec.ip_to_int(self.ip)
        if not 0 <= self.port <= 511:
            raise ValueError(f"port must be in 0..511, got {self.port}")


def worker_entries(num_workers: int) -> list[WorkerEntry]:
    """The worker table used when none is configured: worker w on port w, with the default addresses.

    Example:
        >>> worker_entries(2)[1]
        WorkerEntry(worker_id=1, mac='02:00:00:00:00:02', ip='10.0.0.2', port=1)
    """
    return [WorkerEntry(w, worker_mac(w), worker_ip(w), w) for w in range(num_workers)]


@dataclass(frozen=True, slots=True)
class SwitchAddress:
    """The switch's own addresses, written as the source of every reply."""

    mac: str = SWITCH_MAC
    ip: str = SWITCH_IP


@dataclass(frozen=True, slots=True)
class Output:
    """One frame the switch emits."""

    kind: str  #: "multicast", "unicast" or "forward"
    egress_port: int
    frame: bytes
    worker_id: int | None = None  #: receiving worker (None for forwarded traffic)


@dataclass(slots=True)
class FrameCounters:
    """Frames the switch did not aggregate, by reason."""

    reasons: Tally = field(default_factory=Tally)

    def count(self, reason: str) -> None:
        """Add one frame dropped or forwarded for ``reason``."""
        self.reasons[reason] += 1


class FrameSwitch:
    """A one-job SwitchML switch over raw frames (see module docstring).

    Args:
        config: pipeline sizing and mode.
        workers: the job's worker table; n = len(workers).
        address: the switch's MAC/IP.
    """

    def __init__(self, config: SwitchConfig, workers: list[WorkerEntry], address: SwitchAddress | None = None) -> None:
        check_workers(len(workers))
        ids = sorted(w.worker_id for w in workers)
        if ids != list(range(len(workers))):
            raise ValueError(f"worker ids must be 0..n-1 without gaps, got {ids}")
        self.config = config
        self.pipeline = Pipeline(config)
        self.address = address or SwitchAddress()
        self.workers = sorted(workers, key=lambda w: w.worker_id)
        self.num_workers = len(workers)
        self._by_source = {(codec.mac_to_int(w.mac), codec.ip_to_int(w.ip)): w for w in self.workers}
        self._port_by_mac = {codec.mac_to_int(w.mac): w.port for w in self.workers}
        self.frames = FrameCounters()
        self._frame_bytes = spec.frame_bytes(config.elements_per_packet)

    def _classify(self, frame: bytes) -> tuple[str, dict[str, np.ndarray] | None]:
        """``("switchml", headers)`` for an aggregatable frame, else ``(reason, None)``."""
        minimum = spec.ETHERNET_HEADER.nbytes + spec.IPV4_HEADER.nbytes + spec.UDP_HEADER.nbytes
        if len(frame) < minimum:
            return "not_switchml", None
        head = frame[:minimum] + bytes(self._frame_bytes - minimum)
        headers = codec.decode_frame_headers(np.frombuffer(head, np.uint8), self.config.elements_per_packet)
        if (
            headers["ethernet.ether_type"][0] != spec.ETHERTYPE_IPV4
            or headers["ipv4.version"][0] != spec.IPV4_VERSION
            or headers["ipv4.protocol"][0] != spec.IP_PROTOCOL_UDP
            or headers["udp.dst_port"][0] & spec.UDP_PORT_MASK != spec.UDP_PORT
        ):
            return "not_switchml", None
        if headers["ipv4.ihl"][0] != spec.IPV4_IHL_WORDS:
            return DropReason.IP_OPTIONS, None
        if len(frame) < self._frame_bytes:
            return DropReason.TRUNCATED, None
        headers = codec.decode_frame_headers(
            np.frombuffer(frame[: self._frame_bytes], np.uint8), self.config.elements_per_packet
        )
        if spec.PAYLOAD_BYTES.get(int(headers["switchml.size"][0])) != (
            self.config.elements_per_packet * spec.ELEMENT_BYTES
        ):
            return DropReason.UNSUPPORTED_SIZE, None
        return "switchml", headers

    def process_frame(self, ingress_port: int, frame: bytes) -> list[Output]:
        """The frames emitted for one frame received on ``ingress_port``."""
        kind, headers = self._classify(frame)
        if headers is None:
            if kind != "not_switchml":
                self.frames.count(kind)
                return []
            return self._forward(frame)
        source = (int(headers["ethernet.src_addr"][0]), int(headers["ipv4.src_addr"][0]))
        worker = self._by_source.get(source)
        if worker is None:
            self.frames.count(DropReason.UNREGISTERED_SOURCE)
            return []
        request = codec.decode_frames(frame[: self._frame_bytes], self.config.elements_per_packet)
        message = request.messages
        slot, pool_set = spec.split_pool_index(int(message.pool_index[0]))
        action, values, exponents = self.pipeline.process(
            worker.worker_id,
            self.num_workers,
            int(message.job_number[0]),
            int(message.tsi[0]),
            slot,
            pool_set,
            message.exponents[0],
            message.values[0],
        )
        if action is Action.REJECTED:
            self.frames.count(DropReason.REJECTED)
        recipients, pool_index = next_step(int(action), slot, pool_set)
        if recipients == Recipients.NONE:
            return []
        receivers = self.workers if recipients == Recipients.JOB else [worker]
        reply = message.replies(np.zeros(len(receivers), np.int64), pool_index, exponents, values)
        frames = codec.encode_frames(
            codec.Frames(
                eth_dst=np.array([codec.mac_to_int(r.mac) for r in receivers], dtype=np.uint64),
                eth_src=np.full(len(receivers), codec.mac_to_int(self.address.mac), dtype=np.uint64),
                ip_src=np.full(len(receivers), codec.ip_to_int(self.address.ip), dtype=np.uint32),
                ip_dst=np.array([codec.ip_to_int(r.ip) for r in receivers], dtype=np.uint32),
                src_port=np.full(len(receivers), request.dst_port[0], dtype=np.uint16),
                dst_port=np.full(len(receivers), request.src_port[0], dtype=np.uint16),
                messages=reply,
            )
        )
        if recipients == Recipients.JOB:
            return [
                Output("multicast", r.port, frames[i].tobytes(), r.worker_id) for i, r in enumerate(receivers)
            ]
        return [Output("unicast", ingress_port, frames[0].tobytes(), worker.worker_id)]

    def _forward(self, frame: bytes) -> list[Output]:
        """L2 forwarding of non-SwitchML traffic by destination MAC."""
        if len(frame) < spec.ETHERNET_HEADER.nbytes:
            self.frames.count(DropReason.RUNT)
            return []
        port = self._port_by_mac.get(int.from_bytes(frame[:6], "big"))
        if port is None:
            self.frames.count(DropReason.UNKNOWN_DESTINATION)
            return []
        self.frames.count("forwarded")
        return [Output("forward", port, frame)]
