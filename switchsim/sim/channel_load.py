"""The busiest channel of a run's flows: a lower bound of a lossless collective on any fabric.

The closed forms (`switchsim.sim.metrics`) are for one rack, where every path is a host's
two links. On a multi-tier fabric ECMP hashes each flow onto one of several equal paths,
and two flows may share a link that the closed form gives each alone: the link's
serialization time, not a host's, bounds the run. `busiest_channel` sums, for every
channel, the serialization time of every data packet routed over it and of the ACKs
routed back (one per ``ack_every`` packets, the receiver's rule), and returns the
largest: no lossless run of these flows can be shorter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from switchsim.sim import handlers as h
from switchsim.sim import transport
from switchsim.sim.state import seconds


@dataclass(frozen=True, slots=True)
class ChannelLoad:
    """The busiest channel of a run's routes.

    Attributes:
        channel: its index in the state's channel arrays.
        busy_s: the serialization time of the data and ACKs routed over it, seconds.
    """

    channel: int
    busy_s: float


def channel_busy_ps(state: h.SimState) -> np.ndarray:
    """Per channel, the serialization time (ps) of every data packet of every flow routed over it and of
    the ACKs routed back over it (``packets // P_ACK_EVERY`` per flow)."""
    flows = state.flows
    busy = np.zeros(len(state.channel_serialization), np.float64)
    if len(flows) == 0:
        return busy
    packets = flows[:, transport.F_PACKETS].astype(np.float64)
    acks = (flows[:, transport.F_PACKETS] // max(1, int(state.parameters[h.P_ACK_EVERY]))).astype(np.float64)
    for direction, count, size_class in ((0, packets, h.SIZE_DATA), (1, acks, h.SIZE_CONTROL)):
        route = state.flow_routes[:, direction, :]
        on = route >= 0
        channels = route[on]
        per_flow = np.broadcast_to(count[:, None], route.shape)[on]
        np.add.at(busy, channels, per_flow * state.channel_serialization[channels, size_class])
    return busy


def busiest_channel(state: h.SimState) -> ChannelLoad:
    """The channel whose routed packets take longest to serialize (`channel_busy_ps`), and that time."""
    busy = channel_busy_ps(state)
    if not len(busy):
        return ChannelLoad(0, 0.0)
    channel = int(np.argmax(busy))
    return ChannelLoad(channel, seconds(float(busy[channel])))
