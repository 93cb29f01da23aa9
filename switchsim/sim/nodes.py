"""SimPy drivers of the SwitchML parts: worker hosts and switches.

Nodes add time and links around the clock-free parts — `WorkerProtocol` and
`Pipeline` — and never re-implement them. Packets travel as `SimPacket`
objects carrying the real integers.

A switch is one of:

* a **plain** switch (one rack, or several jobs with their own slot ranges):
  multicasts a completed set to the job's workers, unicasts to a duplicate;
* a **ToR** (two levels): completes a set from its own workers and sends the
  partial sum up as one contribution (its rack is one "worker" of the spine);
  a duplicate to a complete local set re-sends the partial up (the spine
  answers a duplicate to a complete set with a unicast); results coming down
  are multicast to the rack's workers;
* a **spine**: a plain switch whose "workers" are ToRs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import simpy

from switchsim.pipeline import Action, Pipeline
from switchsim.protocol import spec
from switchsim.protocol.codec import to_wire_width
from switchsim.sim.link import Channel
from workers.protocol import WorkerProtocol, pool_position


class SimPacket:
    """A SwitchML packet in flight (request or result), with its real payload.

    ``source`` is the sender's key in the receiving switch's worker table;
    ``group`` the job (multicast group) a result belongs to.
    """

    __slots__ = ("exponents", "group", "is_result", "job_number", "pool_set", "slot", "source", "tsi", "values")

    def __init__(self, source, group, job_number, tsi, slot, pool_set, exponents, values, is_result) -> None:
        self.source = source
        self.group = group
        self.job_number = job_number
        self.tsi = tsi
        self.slot = slot
        self.pool_set = pool_set
        self.exponents = exponents
        self.values = values
        self.is_result = is_result


@dataclass(frozen=True, slots=True)
class TableEntry:
    """A switch's worker-table row: who the sender is in its job."""

    group: int  #: job index (multicast group)
    worker_id: int  #: bitmap bit
    num_workers: int  #: n of the job at this switch
    port: int  #: the sender's port on this switch


class WorkerNode:
    """A worker host: runs `WorkerProtocol`s (one per iteration) over its uplink.

    Lifecycle: the topology sets ``uplink``; the run calls `begin` with each
    iteration's protocol; `receive` is the downlink's receiver; ``on_done``
    is called when an iteration's protocol is done.
    """

    def __init__(
        self,
        env: simpy.Environment,
        index: int,
        group: int,
        wire_bytes: int,
        send_overhead_s: float,
        receive_overhead_s: float,
        on_done: Callable[[WorkerNode], None],
    ) -> None:
        self.env = env
        self.index = index
        self.group = group
        self.wire_bytes = wire_bytes
        self.send_overhead_s = send_overhead_s
        self.receive_overhead_s = receive_overhead_s
        self.on_done = on_done
        self.uplink: Channel | None = None
        self.protocol: WorkerProtocol | None = None
        self.finished: list[WorkerProtocol] = []
        self._host_busy = 0.0
        self._timer_at = float("inf")

    def begin(self, protocol: WorkerProtocol) -> None:
        """Start an all-reduce with ``protocol`` now."""
        self.protocol = protocol
        self._timer_at = float("inf")
        self._send(protocol.start(self.env.now))

    def _send(self, packets: list[int]) -> None:
        protocol = self.protocol
        config = protocol.config
        k = config.elements_per_packet
        now = self.env.now
        ready = now
        send = self.uplink.send
        for p in packets:
            if self.send_overhead_s:
                self._host_busy = max(self._host_busy, now) + self.send_overhead_s
                ready = self._host_busy
            slot, pool_set = pool_position(p, config)
            packet = SimPacket(self.index, self.group, config.job_number, p * k, slot, pool_set,
                               protocol.exponents[p], protocol.values(p), False)
            send(packet, self.wire_bytes, ready)
        deadline = protocol.next_deadline()
        if deadline < self._timer_at:
            self._timer_at = deadline
            self.env.timeout(deadline - now).callbacks.append(self._timer)

    def _timer(self, event: simpy.Event) -> None:
        if self.env.now != self._timer_at or self.protocol is None:
            return
        self._timer_at = float("inf")
        self._send(self.protocol.on_timeout(self.env.now))

    def receive(self, packet: SimPacket) -> None:
        """Downlink receiver: hand a result to the protocol (after the receive overhead)."""
        if self.receive_overhead_s:
            self.env.timeout(self.receive_overhead_s, packet).callbacks.append(lambda e: self._result(e.value))
        else:
            self._result(packet)

    def _result(self, packet: SimPacket) -> None:
        protocol = self.protocol
        if protocol is None or protocol.done:
            return
        pool_index = (packet.pool_set << spec.POOL_SET_BIT) | packet.slot
        self._send(protocol.on_result(self.env.now, packet.job_number, packet.tsi, pool_index, packet.values,
                                      packet.exponents))
        if protocol.done:
            self.finished.append(protocol)
            self.protocol = None
            self.on_done(self)


class SwitchNode:
    """A switch running the pipeline model (see module docstring for the roles).

    Lifecycle: the topology fills ``ports`` (downlink channel per port),
    ``table`` (source key -> `TableEntry`), ``members`` (group -> ports) and,
    for a ToR, ``uplink`` and ``up_source`` (its key at the spine).
    """

    def __init__(self, env: simpy.Environment, name: str, pipeline: Pipeline, latency_s: float, wire_bytes: int,
                 element_bits: int = spec.ELEMENT_BITS):
        self.env = env
        self.name = name
        #: width of the elements it sends: narrow elements carry the register's low bits
        self.element_bits = element_bits
        self.pipeline = pipeline
        self.latency_s = latency_s
        self.wire_bytes = wire_bytes
        self.ports: dict[int, Channel] = {}
        self.table: dict[object, TableEntry] = {}
        self.members: dict[int, list[int]] = {}
        self.uplink: Channel | None = None
        self.up_source: object = None
        self.unknown_sources = 0

    def receive(self, packet: SimPacket) -> None:
        """Ingress: results from above are multicast down; requests go through the pipeline."""
        ready = self.env.now + self.latency_s
        if packet.is_result:
            for port in self.members[packet.group]:
                self.ports[port].send(packet, self.wire_bytes, ready)
            return
        entry = self.table.get(packet.source)
        if entry is None:
            self.unknown_sources += 1
            return
        action, values, exponents = self.pipeline.process(
            entry.worker_id, entry.num_workers, packet.job_number, packet.tsi, packet.slot, packet.pool_set,
            packet.exponents, packet.values,
        )
        if values is None:
            return
        if self.element_bits != spec.ELEMENT_BITS:
            values = to_wire_width(values, self.element_bits)
        if self.uplink is not None:  # ToR: the completed (or re-requested) partial goes up as one contribution
            partial = SimPacket(self.up_source, entry.group, packet.job_number, packet.tsi, packet.slot,
                                packet.pool_set, exponents, values, False)
            self.uplink.send(partial, self.wire_bytes, ready)
            return
        result = SimPacket(None, entry.group, packet.job_number, packet.tsi, packet.slot, packet.pool_set, exponents,
                           values, True)
        if action is Action.MULTICAST:
            for port in self.members[entry.group]:
                self.ports[port].send(result, self.wire_bytes, ready)
        else:
            self.ports[entry.port].send(result, self.wire_bytes, ready)

