"""The packet-level network of a scenario as arrays: channels, switches, worker tables, job groups.

Both engines run on this one lowering of the scenario's `switchsim.topology.Topology`
(the shape is declared there and nowhere else), so they number channels, ports and
groups alike. Channels are numbered as the topology numbers them: every host's
uplink, every host's downlink, then every switch-to-switch link up, then down.

A channel's columns say what its arrival is (a request at a switch, a result at
a switch on its way down a job's tree, a result at a host) and, for a channel
that is part of a job's aggregation tree, the sender's bit and the job's child
count at the receiving switch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from switchsim.topology import Topology, TopologyError

# channel columns (int64): what arrives where, and who the sender is in the receiver's worker table
CH_DESTINATION_KIND = 0  #: an event kind of `switchsim.sim.handlers` (request at a switch, result at a switch or host)
CH_DESTINATION = 1  #: switch or host index at the far end
CH_SOURCE_HOST = 2  #: the sending host (host uplinks), else -1
CH_WORKER_ID = 3  #: the sender's bitmap bit at the receiving switch (uplinks only)
CH_NUM_WORKERS = 4  #: n of the sender's job at the receiving switch
CH_GROUP = 5  #: the job whose aggregation tree the channel is part of (either direction), else -1
CH_PORT = 6  #: the receiving switch's port towards the sender (uplinks only)
CHANNEL_FIELDS = 7

#: Most ports of one switch's job group: one bitmap bit each.
MAX_GROUP_PORTS = 32


@dataclass(frozen=True, slots=True)
class Network:
    """A scenario's topology as arrays (see module docstring).

    Attributes:
        names: per channel, its report name.
        channels: int64 (C, CHANNEL_FIELDS): destination and worker-table row of each channel.
        host_uplink / host_downlink: int64 (H,): channel of each host's links.
        host_group: int64 (H,): each host's job.
        groups: int64 (G, n): the hosts of each job, in bitmap order.
        port_channel: int64 (switches, ports): the channel leaving each switch port.
        members: int64 (switches, G, MAX_GROUP_PORTS + 1): count, then the ports of each job's children at
            each switch (a switch outside a job's tree has none).
        switch_uplink: int64 (switches, G): the channel a switch sends a job's partial sums up, -1 at the job's
            root (and where the switch is not in the job's tree).
        switch_names: per switch, its name.
        rack_of: int64 (H,): each host's switch.
        link_rate_bps: float64 (C,): each channel's rate, bits/s.
        link_delay_s: float64 (C,): each channel's propagation delay, seconds.
        link_queue_bytes: int64 (C,): each channel's egress queue (tail drop), bytes.
        topology: the shape it lowers (paths between workers come from it: `switchsim.sim.routes`).
        extra_hosts: hosts after the workers that belong to no job (parameter servers), on the first switch.
    """

    names: list[str]
    channels: np.ndarray
    host_uplink: np.ndarray
    host_downlink: np.ndarray
    host_group: np.ndarray
    groups: np.ndarray
    port_channel: np.ndarray
    members: np.ndarray
    switch_uplink: np.ndarray
    switch_names: list[str]
    rack_of: np.ndarray
    link_rate_bps: np.ndarray
    link_delay_s: np.ndarray
    link_queue_bytes: np.ndarray
    topology: Topology
    extra_hosts: int = 0

    @property
    def hosts(self) -> int:
        """Hosts (workers, then any extra hosts)."""
        return len(self.host_uplink)

    @property
    def workers(self) -> int:
        """Worker hosts (the job members), numbered 0..workers-1."""
        return len(self.host_uplink) - self.extra_hosts

    @property
    def switches(self) -> int:
        """Switches."""
        return len(self.switch_names)


def build_network(topology: Topology, request_kind: int, switch_result_kind: int, host_result_kind: int,
                  extra_hosts: int = 0, switchml_jobs: frozenset[int] | None = None) -> Network:
    """The arrays of ``topology``; the kinds are the event kinds a channel's arrival becomes.

    Only the aggregation trees of ``switchml_jobs`` (default: every job) are lowered into the
    worker tables: jobs sharing a fabric with host collectives (`switchsim.sim.tenants`) need no tree.

    ``extra_hosts`` (parameter servers) are added after the workers on the first switch, in no job, with
    the first host link's rate, delay and queue; their channels (up, down for each) come after every other
    channel, so the workers' channel numbers do not change.

    Raises:
        TopologyError: two jobs' aggregation trees share a link (a channel's worker-table row is per job).
    """
    hosts, switches = topology.hosts, topology.switches
    count = topology.channels + 2 * extra_hosts
    channels = np.full((count, CHANNEL_FIELDS), -1, np.int64)
    first_port = len(switches[0].children) + len(switches[0].parents)  # the extra hosts' ports on switch 0
    ports = max(first_port + extra_hosts, *(len(s.children) + len(s.parents) for s in switches))
    port_channel = np.full((len(switches), ports), -1, np.int64)
    groups = np.array(topology.job_groups, dtype=np.int64)
    members = np.zeros((len(switches), len(groups), MAX_GROUP_PORTS + 1), np.int64)
    switch_uplink = np.full((len(switches), len(groups)), -1, np.int64)
    host_group = np.full(hosts + extra_hosts, -1, np.int64)
    rates = np.zeros(count, np.float64)  # per channel
    delays = np.zeros(count, np.float64)
    queues = np.zeros(count, np.int64)
    port_of: dict[tuple[int, int], int] = {}  # (switch, neighbour node) -> port
    for s, switch in enumerate(switches):
        for port, node in enumerate((*switch.children, *(hosts + p for p in switch.parents))):
            port_of[s, node] = port
    for i, link in enumerate(topology.links):
        up, down = topology.up_channel(i), topology.down_channel(i)
        upper = link.upper - hosts
        lower_is_host = link.lower < hosts
        channels[up, :CH_SOURCE_HOST + 1] = (request_kind, upper, link.lower if lower_is_host else -1)
        channels[up, CH_PORT] = port_of[upper, link.lower]
        channels[down, :CH_SOURCE_HOST + 1] = (host_result_kind if lower_is_host else switch_result_kind,
                                               link.lower if lower_is_host else link.lower - hosts, -1)
        port_channel[upper, port_of[upper, link.lower]] = down
        if not lower_is_host:
            port_channel[link.lower - hosts, port_of[link.lower - hosts, link.upper]] = up
        rates[up] = rates[down] = link.rate_bps
        delays[up] = delays[down] = link.delay_s
        queues[up] = queues[down] = link.queue_bytes
    for g, job in enumerate(topology.jobs):
        host_group[list(job.hosts)] = g
        if switchml_jobs is not None and g not in switchml_jobs:
            continue
        for s, children in job.children.items():
            for bit, child in enumerate(children):
                i = topology.link_between(child, hosts + s)
                up, down = topology.up_channel(i), topology.down_channel(i)
                if channels[up, CH_GROUP] >= 0:
                    raise TopologyError(f"{topology.kind}: jobs {int(channels[up, CH_GROUP])} and {g} both aggregate "
                                        f"over link {topology.channel_names()[up]}; give each job its own racks")
                channels[up, CH_WORKER_ID:CH_GROUP + 1] = (bit, len(children), g)
                channels[down, CH_GROUP] = g
                size = members[s, g, 0]
                members[s, g, 1 + size] = port_of[s, child]
                members[s, g, 0] = size + 1
        for s, parent in job.parent.items():
            switch_uplink[s, g] = topology.up_channel(topology.link_between(hosts + s, hosts + parent))
    names = topology.channel_names()
    host_uplink = [*range(hosts)]
    host_downlink = [*range(hosts, 2 * hosts)]
    first_switch, host_link = switches[0].name, topology.links[0]
    for e in range(extra_hosts):  # extra hosts: on the first switch, ports after its own, in no job
        h, port = hosts + e, first_port + e
        up, down = topology.channels + 2 * e, topology.channels + 2 * e + 1
        host_uplink.append(up)
        host_downlink.append(down)
        names += [f"h{h}->{first_switch}", f"{first_switch}->h{h}"]
        channels[up, :] = (request_kind, 0, h, -1, 0, -1, port)
        channels[down, :CH_SOURCE_HOST + 1] = (host_result_kind, h, -1)
        port_channel[0, port] = down
        rates[up] = rates[down] = host_link.rate_bps
        delays[up] = delays[down] = host_link.delay_s
        queues[up] = queues[down] = host_link.queue_bytes
    return Network(
        names=names,
        channels=channels,
        host_uplink=np.array(host_uplink, np.int64),
        host_downlink=np.array(host_downlink, np.int64),
        host_group=host_group,
        groups=groups,
        port_channel=port_channel,
        members=members,
        switch_uplink=switch_uplink,
        switch_names=[switch.name for switch in switches],
        rack_of=np.array([*topology.host_switch, *[0] * extra_hosts], np.int64),
        link_rate_bps=rates,
        link_delay_s=delays,
        link_queue_bytes=queues,
        topology=topology,
        extra_hosts=extra_hosts,
    )
