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
schedules one SimPy timeout whose callback hands the packet to the receiver.
That keeps the per-packet cost at one event per hop.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import simpy

from switchsim.config import LinkConfig


@dataclass(slots=True)
class ChannelStats:
    """Counters of one direction of a link."""

    packets: int = 0  #: packets put on the wire (lost ones included)
    bytes: int = 0  #: on-wire bytes put on the wire
    queue_drops: int = 0  #: tail drops
    loss_drops: int = 0  #: packets lost on the wire
    duplicates: int = 0  #: extra copies delivered
    busy_s: float = 0.0  #: transmitter busy time, seconds
    max_queue_bytes: float = 0.0  #: deepest backlog seen, bytes


class Channel:
    """One direction of a link (see module docstring).

    Args:
        env: the simulation environment.
        name: for reports, e.g. ``"w3->sw0"``.
        config: the link parameters.
        receiver: called with each delivered packet.
        rng: the channel's own seeded generator (faults only).
    """

    __slots__ = ("_faulty", "busy_until", "config", "env", "name", "receiver", "rng", "stats")

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        config: LinkConfig,
        receiver: Callable[[object], None],
        rng: random.Random,
    ) -> None:
        self.env = env
        self.name = name
        self.config = config
        self.receiver = receiver
        self.rng = rng
        self.busy_until = 0.0
        self.stats = ChannelStats()
        self._faulty = bool(config.loss or config.duplicate or config.reorder)

    def backlog_bytes(self, at: float) -> float:
        """Bytes queued or in service at time ``at``."""
        return max(0.0, self.busy_until - at) * self.config.rate_bps / 8

    def send(self, packet: object, size_bytes: int, ready_s: float | None = None) -> float | None:
        """Queue ``packet`` (``size_bytes`` on the wire) at ``ready_s`` (default now).

        Returns:
            The time its last bit leaves, or None if it was tail-dropped.
        """
        config = self.config
        now = self.env.now
        ready = now if ready_s is None else ready_s
        backlog = (self.busy_until - ready) * config.rate_bps / 8 if self.busy_until > ready else 0.0
        stats = self.stats
        if backlog + size_bytes > config.queue_bytes:
            stats.queue_drops += 1
            return None
        if backlog > stats.max_queue_bytes:
            stats.max_queue_bytes = backlog
        start = ready if ready > self.busy_until else self.busy_until
        serialization = size_bytes * 8 / config.rate_bps
        self.busy_until = departure = start + serialization
        stats.busy_s += serialization
        stats.packets += 1
        stats.bytes += size_bytes
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
                self._deliver(arrival + config.duplicate_delay_s - now, packet)
        self._deliver(arrival - now, packet)
        return departure

    def _deliver(self, delay: float, packet: object) -> None:
        event = self.env.timeout(delay, packet)
        event.callbacks.append(self._arrive)

    def _arrive(self, event: simpy.Event) -> None:
        self.receiver(event.value)

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
        self.stats.busy_s += count * serialization
        self.stats.packets += count
        self.stats.bytes += count * size_bytes
        return start + serialization + config.delay_s, finish + config.delay_s


def channel_rng(seed: int, index: int) -> random.Random:
    """The fault RNG of channel ``index`` in a run seeded with ``seed`` (independent streams)."""
    return random.Random((seed << 20) ^ (index * 0x9E3779B1))
