"""Links: one `Channel` per direction, with analytic serialization and a tail-drop queue.

A channel is a transmitter with a FIFO egress queue feeding a wire:

* serialization: a packet of ``size`` on-wire bytes (frame + FCS + preamble +
  gap, `switchsim.protocol.spec.wire_bytes`) occupies the transmitter for
  ``size * 8 / rate_bps`` seconds, starting when the transmitter is free;
* queue: the bytes waiting (``(busy_until - now) * rate / 8``) may not exceed
  ``queue_bytes``; a packet that does not fit is tail-dropped;
* propagation: it arrives ``delay_s`` after its last bit left;
* faults: Bernoulli loss, duplication (second copy ``duplicate_delay_s``
  later) and reordering (held back ``reorder_delay_s``), per packet.

No SimPy process runs per packet: the channel computes the arrival time and
hands the packet to a `Deliveries` scheduler, which keeps one SimPy event per
distinct arrival time (the n requests of a chunk, or the n copies of a
multicast, usually arrive at the same instant). Deliveries at one instant
happen in the order they were scheduled.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import simpy

from switchsim.config import LinkConfig


class Deliveries:
    """Packets to hand to receivers at future instants, one SimPy event per instant."""

    __slots__ = ("env", "pending")

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.pending: dict[float, list[tuple[Callable[[object], None], object]]] = {}

    def deliver(self, at: float, receiver: Callable[[object], None], packet: object) -> None:
        """Call ``receiver(packet)`` at simulated time ``at`` (>= now)."""
        batch = self.pending.get(at)
        if batch is None:
            self.pending[at] = [(receiver, packet)]
            self.env.timeout(at - self.env.now, at).callbacks.append(self._fire)
        else:
            batch.append((receiver, packet))

    def _fire(self, event: simpy.Event) -> None:
        for receiver, packet in self.pending.pop(event.value):
            receiver(packet)


@dataclass(slots=True)
class ChannelStats:
    """Counters of one direction of a link."""

    packets: int = 0  #: packets put on the wire (lost ones included)
    bytes: int = 0  #: on-wire bytes put on the wire
    queue_drops: int = 0  #: tail drops
    loss_drops: int = 0  #: packets lost on the wire
    duplicates: int = 0  #: extra copies delivered
    max_queue_bytes: float = 0.0  #: deepest backlog seen, bytes


class Channel:
    """One direction of a link (see module docstring).

    Args:
        env: the simulation environment.
        name: for reports, e.g. ``"w3->sw0"``.
        config: the link parameters.
        receiver: called with each delivered packet.
        rng: the channel's own seeded generator (faults only).
        deliveries: the environment's shared `Deliveries` scheduler.
    """

    __slots__ = ("_faulty", "busy_until", "config", "deliveries", "env", "name", "receiver", "rng", "stats", "tap")

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        config: LinkConfig,
        receiver: Callable[[object], None],
        rng: random.Random,
        deliveries: Deliveries,
    ) -> None:
        self.env = env
        self.deliveries = deliveries
        self.name = name
        self.config = config
        self.receiver = receiver
        self.rng = rng
        self.busy_until = 0.0
        self.stats = ChannelStats()
        self.tap: Callable[[object, float], None] | None = None  # sees every packet put on the wire
        self._faulty = bool(config.loss or config.duplicate or config.reorder)

    def backlog_bytes(self, at: float) -> float:
        """Bytes queued or in service at time ``at``."""
        return max(0.0, self.busy_until - at) * self.config.rate_bps / 8

    @property
    def busy_s(self) -> float:
        """Transmitter busy time so far (seconds): every byte sent, at the line rate."""
        return self.stats.bytes * 8 / self.config.rate_bps

    def send(self, packet: object, size_bytes: int, ready: float) -> float | None:
        """Queue ``packet`` (``size_bytes`` on the wire), ready to go at time ``ready`` (>= now).

        Returns:
            The time its last bit leaves, or None if it was tail-dropped.
        """
        config = self.config
        busy_until = self.busy_until
        stats = self.stats
        if busy_until > ready:
            backlog = (busy_until - ready) * config.rate_bps / 8
            if backlog + size_bytes > config.queue_bytes:
                stats.queue_drops += 1
                return None
            if backlog > stats.max_queue_bytes:
                stats.max_queue_bytes = backlog
            start = busy_until
        else:
            start = ready
        self.busy_until = departure = start + size_bytes * 8 / config.rate_bps
        stats.packets += 1
        stats.bytes += size_bytes
        if self.tap is not None:
            self.tap(packet, departure)
        arrival = departure + config.delay_s
        if self._faulty:
            rng = self.rng
            if config.loss and rng.random() < config.loss:
                stats.loss_drops += 1
                return departure
            if config.reorder and rng.random() < config.reorder:
                arrival += config.reorder_delay_s
            if config.duplicate and rng.random() < config.duplicate:
                stats.duplicates += 1
                self.deliveries.deliver(arrival + config.duplicate_delay_s, self.receiver, packet)
        self.deliveries.deliver(arrival, self.receiver, packet)
        return departure

    def reserve(self, count: int, size_bytes: int, first_ready_s: float, last_ready_s: float) -> tuple[float, float]:
        """Reserve the transmitter for ``count`` back-to-back packets (message-level baselines).

        The first packet is ready at ``first_ready_s``, the last at ``last_ready_s``
        (packets become ready evenly in between, as when forwarded from an equally
        fast link). No queue limit is applied. Returns the first and last packets'
        arrival times at the far end.
        """
        config = self.config
        serialization = size_bytes * 8 / config.rate_bps
        start = max(first_ready_s, self.busy_until)
        backlog = (self.busy_until - first_ready_s) * config.rate_bps / 8
        if backlog > self.stats.max_queue_bytes:
            self.stats.max_queue_bytes = backlog
        finish = max(start + count * serialization, last_ready_s + serialization)
        self.busy_until = finish
        self.stats.packets += count
        self.stats.bytes += count * size_bytes
        return start + serialization + config.delay_s, finish + config.delay_s


def channel_rng(seed: int, index: int) -> random.Random:
    """The fault RNG of channel ``index`` in a run seeded with ``seed`` (independent streams)."""
    return random.Random((seed << 20) ^ (index * 0x9E3779B1))
