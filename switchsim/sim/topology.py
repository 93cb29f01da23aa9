"""The message-level baselines' channels, one per direction of every link of the scenario's `Topology`.

A `Fabric` holds a `Channel` per channel of `switchsim.topology.Topology` (same
numbering and names as the packet-level engines), each at its own link's rate,
delay and queue, and answers host-to-host paths from the topology (ECMP by a
flow hash). Extra hosts (a parameter server) attach to the first switch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import simpy

from switchsim.config import Scenario
from switchsim.sim.link import Channel
from switchsim.topology import Topology


@dataclass(slots=True)
class Fabric:
    """Channels of one topology instance, plus extra hosts on the first switch.

    Attributes:
        topology: the shape.
        topology_channels: per topology channel, its `Channel`.
        extra_up / extra_down: per extra host, its links to and from the first switch.
        groups: per job, the hosts taking part.
    """

    env: simpy.Environment
    topology: Topology
    topology_channels: list[Channel] = field(default_factory=list)
    extra_up: list[Channel] = field(default_factory=list)
    extra_down: list[Channel] = field(default_factory=list)
    groups: list[list[int]] = field(default_factory=list)

    @property
    def channels(self) -> list[Channel]:
        """Every channel in report order: host uplinks (extra hosts last), host downlinks likewise, switch links."""
        hosts, ups = self.topology.hosts, self.topology_channels
        return [*ups[:hosts], *self.extra_up, *ups[hosts:2 * hosts], *self.extra_down, *ups[2 * hosts:]]

    def path(self, source: int, destination: int, flow_hash: int | None = None) -> list[Channel]:
        """Channels a message from host ``source`` to host ``destination`` crosses, in order.

        The flow hash defaults to ``source * hosts + destination`` (one ECMP choice per host pair).
        """
        hosts = self.topology.hosts
        flow = source * (hosts + len(self.extra_up)) + destination if flow_hash is None else flow_hash
        if source >= hosts or destination >= hosts:
            return self._extra_path(source, destination, flow)
        return [self.topology_channels[c] for c in self.topology.path(source, destination, flow)]

    def _extra_path(self, source: int, destination: int, flow: int) -> list[Channel]:
        """A path with an extra host at one end: through the first switch, whose first host stands in for it."""
        hosts = self.topology.hosts
        anchor = self.topology.switches[0].children[0]  # a host on the first switch
        if source >= hosts:
            rest = [] if destination == anchor else self.topology.path(anchor, destination, flow)[1:]
            tail = [self.topology_channels[c] for c in rest] or [self.topology_channels[hosts + anchor]]
            return [self.extra_up[source - hosts], *tail]
        head = [] if source == anchor else self.topology.path(source, anchor, flow)[:-1]
        lead = [self.topology_channels[c] for c in head] or [self.topology_channels[anchor]]
        return [*lead, self.extra_down[destination - hosts]]


def build_fabric(env: simpy.Environment, scenario: Scenario, extra_hosts: int = 0) -> Fabric:
    """Channels for ``scenario``'s topology (+ ``extra_hosts`` on the first switch), receivers unwired."""
    topology = scenario.built_topology
    fabric = Fabric(env, topology, groups=topology.job_groups)
    names = topology.channel_names()
    for c, name in enumerate(names):
        link = topology.links[topology.channel_link(c)]
        config = replace(scenario.link, rate_bps=link.rate_bps, delay_s=link.delay_s, queue_bytes=link.queue_bytes)
        fabric.topology_channels.append(Channel(env, name, config))
    first = topology.switches[0].name
    for e in range(extra_hosts):
        host = topology.hosts + e
        fabric.extra_up.append(Channel(env, f"h{host}->{first}", scenario.link))
        fabric.extra_down.append(Channel(env, f"{first}->h{host}", scenario.link))
    return fabric
