"""Topologies: which channels exist and which path a host-to-host message takes.

A `Fabric` holds every `Channel` of a topology; each method (SwitchML or a
baseline) builds its own fabric from the same `TopologyConfig` and
`LinkConfig`, so all methods see identical links.

* one_rack: hosts 0..n-1 on switch ``sw0``;
* multi_job: ``jobs`` x n hosts on ``sw0``; job j owns hosts j*n .. j*n+n-1;
* two_level: ``racks`` x n hosts; rack r's hosts on ``tor{r}``; every ToR
  linked to ``spine``.

Extra hosts (a parameter server) attach to the first switch (``sw0``/``tor0``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import simpy

from switchsim.config import LinkConfig, TopologyConfig
from switchsim.sim.link import Channel


@dataclass(slots=True)
class Fabric:
    """Channels of one topology instance.

    Attributes:
        host_up / host_down: per host, host -> its switch and back.
        rack_of: per host, the index of its switch (rack; 0 on one switch).
        rack_up / rack_down: per rack, ToR -> spine and back (two_level only).
        groups: per job, the hosts taking part.
    """

    env: simpy.Environment
    host_up: list[Channel] = field(default_factory=list)
    host_down: list[Channel] = field(default_factory=list)
    rack_of: list[int] = field(default_factory=list)
    rack_up: list[Channel] = field(default_factory=list)
    rack_down: list[Channel] = field(default_factory=list)
    groups: list[list[int]] = field(default_factory=list)

    @property
    def channels(self) -> list[Channel]:
        """Every channel, hosts first."""
        return [*self.host_up, *self.host_down, *self.rack_up, *self.rack_down]

    def path(self, source: int, destination: int) -> list[Channel]:
        """Channels a message from host ``source`` to host ``destination`` crosses, in order."""
        rack_s, rack_d = self.rack_of[source], self.rack_of[destination]
        if rack_s == rack_d or not self.rack_up:
            return [self.host_up[source], self.host_down[destination]]
        return [self.host_up[source], self.rack_up[rack_s], self.rack_down[rack_d], self.host_down[destination]]


def build_fabric(
    env: simpy.Environment,
    topology: TopologyConfig,
    link: LinkConfig,
    extra_hosts: int = 0,
) -> Fabric:
    """Channels for ``topology`` (+ ``extra_hosts`` on the first switch), receivers unwired."""
    fabric = Fabric(env)
    n = topology.workers
    if topology.kind == "two_level":
        racks = topology.racks
        rack_of = [h // n for h in range(n * racks)]
    else:
        racks = 1
        rack_of = [0] * topology.total_workers
    fabric.groups = topology.job_groups
    fabric.rack_of = rack_of + [0] * extra_hosts
    def channel(name: str) -> Channel:
        return Channel(env, name, link)

    for host, rack in enumerate(fabric.rack_of):
        switch = f"tor{rack}" if topology.kind == "two_level" else "sw0"
        fabric.host_up.append(channel(f"h{host}->{switch}"))
        fabric.host_down.append(channel(f"{switch}->h{host}"))
    if topology.kind == "two_level":
        for rack in range(racks):
            fabric.rack_up.append(channel(f"tor{rack}->spine"))
            fabric.rack_down.append(channel(f"spine->tor{rack}"))
    return fabric
