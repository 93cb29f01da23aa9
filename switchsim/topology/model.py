"""`Topology`: a simulated world declared once — hosts, switches, links, jobs, aggregation trees and paths.

Every engine and report reads the shape of the network from here and from
nowhere else: the packet-level engines lower it to arrays
(`switchsim.sim.network.build_network`), the memory estimate counts its hosts and
switches, the collectives ask it for host-to-host paths.

Numbering:

* **nodes**: hosts are nodes ``0 .. H-1``; switch ``s`` is node ``H + s``;
* **ports**: switch ``s``'s port ``p`` faces ``switches[s].children[p]`` for
  ``p < len(children)``, then its parents in order;
* **channels** (one per direction of each link): host ``h``'s uplink is channel
  ``h`` and its downlink ``H + h``; the ``i``-th switch-to-switch link goes up on
  ``2H + i`` and down on ``2H + M + i`` (``M`` such links). This is the order of
  the reports and of each channel's random streams, so a topology's numbers do
  not move when another builder is added.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Most children one switch can aggregate for one job: the width of the pipeline's worker bitmap.
MAX_CHILDREN = 32


class TopologyError(ValueError):
    """A topology cannot be built as asked (the message names the ``topology.*`` field and its range)."""


@dataclass(frozen=True, slots=True)
class Link:
    """One full-duplex link: ``lower`` (a host or switch node) below ``upper`` (a switch node).

    Attributes:
        lower: node id of the end nearer the hosts.
        upper: node id of the switch above it.
        rate_bps: bandwidth of each direction, bits/s.
        delay_s: propagation delay, seconds.
        queue_bytes: egress queue of each direction (tail drop), bytes.
    """

    lower: int
    upper: int
    rate_bps: float
    delay_s: float
    queue_bytes: int


@dataclass(frozen=True, slots=True)
class Switch:
    """One switch.

    Attributes:
        name: report name (``sw0``, ``tor3``, ``spine``, ``pod2-agg1``, ``core5``).
        tier: 0 for a switch hosts attach to (ToR), 1 above it, and so on.
        children: node ids below, in port order.
        parents: switch indices above (several on a fat-tree: ECMP picks one per flow).
    """

    name: str
    tier: int
    children: tuple[int, ...]
    parents: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class JobTree:
    """One job: its hosts and the tree its SwitchML aggregation runs on (uplinks pinned, not ECMP).

    Attributes:
        hosts: the job's hosts, in bitmap order (rank order).
        children: per switch of the tree, its children in the job (node ids), in bitmap order.
        parent: per switch of the tree, the switch it sends partial sums to; absent for the root.
        root: the switch that completes the job's sums and multicasts them down.
    """

    hosts: tuple[int, ...]
    children: dict[int, tuple[int, ...]]
    parent: dict[int, int]
    root: int


@dataclass(frozen=True, slots=True)
class Topology:
    """A frozen description of the simulated network (see the module docstring for the numbering).

    Attributes:
        kind: the builder that made it (`switchsim.topology.registry.BUILDERS`).
        host_switch: per host, the switch it attaches to.
        switches: every switch.
        links: host links first (host ``h``'s is ``links[h]``), then switch-to-switch links.
        jobs: every job and its aggregation tree.
    """

    kind: str
    host_switch: tuple[int, ...]
    switches: tuple[Switch, ...]
    links: tuple[Link, ...]
    jobs: tuple[JobTree, ...]
    _host_range: tuple[tuple[int, int], ...] = field(default=(), repr=False, compare=False)
    _link_of: dict[tuple[int, int], int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        hosts = len(self.host_switch)
        for h in range(hosts):
            link = self.links[h]
            if link.lower != h or link.upper != hosts + self.host_switch[h]:
                raise TopologyError(f"{self.kind}: host {h}'s link must come {h}th and join it to its switch")
        object.__setattr__(self, "_host_range", _host_ranges(self))
        object.__setattr__(self, "_link_of", {(link.lower, link.upper): i for i, link in enumerate(self.links)})

    # --- counts ---------------------------------------------------------------------------
    @property
    def hosts(self) -> int:
        """Hosts (worker hosts and any others the builder placed)."""
        return len(self.host_switch)

    @property
    def switch_links(self) -> int:
        """Switch-to-switch links (M)."""
        return len(self.links) - self.hosts

    @property
    def channels(self) -> int:
        """Directed channels: two per link."""
        return 2 * len(self.links)

    @property
    def job_groups(self) -> list[list[int]]:
        """Hosts of each job, in bitmap order."""
        return [list(job.hosts) for job in self.jobs]

    # --- naming ------------------------------------------------------------------------------
    def node_name(self, node: int) -> str:
        """``h{i}`` for a host, the switch's name otherwise."""
        return f"h{node}" if node < self.hosts else self.switches[node - self.hosts].name

    def channel_names(self) -> list[str]:
        """Every channel's report name, in channel order (``h0->sw0``, ``sw0->h0``, ``tor0->spine``...)."""
        hosts, upper = self.hosts, self.links[self.hosts:]
        return ([f"h{h}->{self.node_name(self.links[h].upper)}" for h in range(hosts)]
                + [f"{self.node_name(self.links[h].upper)}->h{h}" for h in range(hosts)]
                + [f"{self.node_name(link.lower)}->{self.node_name(link.upper)}" for link in upper]
                + [f"{self.node_name(link.upper)}->{self.node_name(link.lower)}" for link in upper])

    # --- channels ----------------------------------------------------------------------------
    def up_channel(self, link_index: int) -> int:
        """Channel of link ``link_index`` going up (lower -> upper)."""
        hosts = self.hosts
        return link_index if link_index < hosts else 2 * hosts + (link_index - hosts)

    def down_channel(self, link_index: int) -> int:
        """Channel of link ``link_index`` going down (upper -> lower)."""
        hosts = self.hosts
        return hosts + link_index if link_index < hosts else 2 * hosts + self.switch_links + (link_index - hosts)

    def channel_link(self, channel: int) -> int:
        """The link a channel belongs to."""
        hosts, m = self.hosts, self.switch_links
        if channel < 2 * hosts:
            return channel % hosts
        offset = channel - 2 * hosts
        return hosts + (offset if offset < m else offset - m)

    def link_between(self, lower: int, upper: int) -> int:
        """Index of the link joining node ``lower`` to switch node ``upper``."""
        return self._link_of[(lower, upper)]

    # --- paths -------------------------------------------------------------------------------
    def covers(self, switch: int, host: int) -> bool:
        """Is ``host`` below ``switch``? (Every switch covers a contiguous range of hosts.)"""
        low, high = self._host_range[switch]
        return low <= host < high

    def path(self, source: int, destination: int, flow_hash: int = 0) -> list[int]:
        """Channels a packet from host ``source`` to host ``destination`` crosses, in order.

        Up from the source's switch until a switch that covers the destination
        (at each switch with several parents, ECMP picks one from ``flow_hash``,
        mixed with the tier so the choices at each tier are independent), then
        down the unique way (by hash again if several children cover it).
        """
        if source == destination:
            return []
        hosts = self.hosts
        channels = [self.up_channel(source)]
        switch = self.host_switch[source]
        while not self.covers(switch, destination):
            parents = self.switches[switch].parents
            if not parents:
                raise TopologyError(f"{self.kind}: host {destination} is not reachable from host {source}")
            parent = parents[_mix(flow_hash, self.switches[switch].tier) % len(parents)] if len(parents) > 1 \
                else parents[0]
            channels.append(self.up_channel(self.link_between(hosts + switch, hosts + parent)))
            switch = parent
        while True:
            below = [c for c in self.switches[switch].children if c >= hosts and self.covers(c - hosts, destination)]
            if not below:
                break
            child = below[_mix(flow_hash, 64 + self.switches[switch].tier) % len(below)] if len(below) > 1 \
                else below[0]
            channels.append(self.down_channel(self.link_between(child, hosts + switch)))
            switch = child - hosts
        channels.append(self.down_channel(destination))
        return channels


def _host_ranges(topology: Topology) -> tuple[tuple[int, int], ...]:
    """Per switch, the contiguous range of hosts below it (a builder that breaks contiguity is refused)."""
    hosts = topology.hosts
    below: list[set[int]] = [set() for _ in topology.switches]
    for h, switch in enumerate(topology.host_switch):
        below[switch].add(h)
    for s in sorted(range(len(topology.switches)), key=lambda s: topology.switches[s].tier):
        for child in topology.switches[s].children:
            if child >= hosts:
                below[s] |= below[child - hosts]
    ranges = []
    for s, members in enumerate(below):
        low, high = (min(members), max(members) + 1) if members else (0, 0)
        if high - low != len(members):
            raise TopologyError(f"{topology.kind}: switch {topology.switches[s].name} covers hosts that are not "
                                "numbered contiguously")
        ranges.append((low, high))
    return tuple(ranges)


def _mix(value: int, salt: int) -> int:
    """A 64-bit integer hash of ``(value, salt)`` (splitmix64): ECMP's flow hash, the same on every run."""
    z = (value * 0x9E3779B97F4A7C15 + salt * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return z ^ (z >> 31)
