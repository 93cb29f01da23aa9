"""Links for the message-level baselines: one `Channel` per direction that reserves back-to-back packets.

The baselines (`switchsim.sim.baselines`) move whole messages: a message of c
packets reserves a channel's transmitter for c serializations (`Channel.reserve`),
starting when the transmitter is free, so contention between messages that
share a channel serializes through ``busy_until``. The packet-level model of a
link (serialization, tail-drop queue, propagation, loss / duplication /
reordering) is `switchsim.sim.handlers.channel_send`, which both SwitchML
engines use.
"""

from __future__ import annotations

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
    max_queue_bytes: float = 0.0  #: deepest backlog seen, bytes


class Channel:
    """One direction of a link for message-level traffic (see module docstring).

    Args:
        env: the simulation environment.
        name: for reports, e.g. ``"w3->sw0"``.
        config: the link parameters.
    """

    __slots__ = ("busy_until", "config", "env", "name", "stats")

    def __init__(self, env: simpy.Environment, name: str, config: LinkConfig) -> None:
        self.env = env
        self.name = name
        self.config = config
        self.busy_until = 0.0
        self.stats = ChannelStats()

    @property
    def busy_s(self) -> float:
        """Transmitter busy time so far (seconds): every byte sent, at the line rate."""
        return self.stats.bytes * 8 / self.config.rate_bps

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
