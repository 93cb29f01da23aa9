"""The packet-level network of a scenario as arrays: channels, switches, worker tables, job groups.

Both SwitchML engines (`switchsim.sim.fast_engine`, `switchsim.sim.simpy_engine`)
run on this one description, so they number channels, ports and groups alike.

* one_rack: hosts 0..n-1 on switch 0;
* multi_job: ``jobs`` x n hosts on switch 0; job j owns hosts j*n .. j*n+n-1;
* two_level: ``racks`` x n hosts; rack r's hosts on ToR switch r; switch
  ``racks`` is the spine, whose "workers" are the ToRs (ToR r is bit r).

Channels, in this order (the order of reports and of the random streams):
``h{i}->{switch}`` for every host, ``{switch}->h{i}`` for every host, then
``tor{r}->spine`` and ``spine->tor{r}`` for every rack.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from switchsim.config import TopologyConfig

# channel columns (int64): what arrives where, and who the sender is in the receiver's worker table
CH_DESTINATION_KIND = 0  #: an event kind of `switchsim.sim.events` (request at a switch, result at a ToR or host)
CH_DESTINATION = 1  #: switch or host index at the far end
CH_SOURCE_HOST = 2  #: the sending host (host uplinks), else -1
CH_WORKER_ID = 3  #: the sender's bitmap bit at the receiving switch (uplinks only)
CH_NUM_WORKERS = 4  #: n of the sender's job at the receiving switch
CH_GROUP = 5  #: the sender's job (multicast group)
CH_PORT = 6  #: the receiving switch's port towards the sender
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
        port_channel: int64 (switches, ports): the downlink channel of each switch port.
        members: int64 (switches, G, MAX_GROUP_PORTS + 1): count, then the ports of each job at each switch.
        switch_uplink: int64 (switches,): a ToR's channel to the spine, else -1.
        switch_names: per switch, its name.
        rack_of: int64 (H,): each host's switch.
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

    @property
    def hosts(self) -> int:
        """Worker hosts."""
        return len(self.host_uplink)

    @property
    def switches(self) -> int:
        """Switches (ToRs first, spine last on two levels)."""
        return len(self.switch_names)


def build_network(topology: TopologyConfig, request_kind: int, tor_result_kind: int, host_result_kind: int) -> Network:
    """The arrays of ``topology``; the kinds are the event kinds a channel's arrival becomes."""
    n = topology.workers
    two_level = topology.kind == "two_level"
    racks = topology.racks if two_level else 1
    hosts = topology.total_workers
    rack_of = np.array([h // n for h in range(hosts)] if two_level else [0] * hosts, np.int64)
    host_group = np.zeros(hosts, np.int64) if two_level else np.array([h // n for h in range(hosts)], np.int64)
    groups = np.array(topology.job_groups, dtype=np.int64)
    switch_names = [f"tor{r}" for r in range(racks)] + ["spine"] if two_level else ["sw0"]
    switches = len(switch_names)
    count = 2 * hosts + (2 * racks if two_level else 0)
    channels = np.full((count, CHANNEL_FIELDS), -1, np.int64)
    names = [""] * count
    ports = max(n if two_level else hosts, racks)
    port_channel = np.full((switches, ports), -1, np.int64)
    members = np.zeros((switches, len(groups), MAX_GROUP_PORTS + 1), np.int64)
    switch_uplink = np.full(switches, -1, np.int64)

    def join(switch: int, group: int, port: int) -> None:
        size = members[switch, group, 0]
        members[switch, group, 1 + size] = port
        members[switch, group, 0] = size + 1

    for h in range(hosts):
        switch = int(rack_of[h])
        port = h - switch * n if two_level else h
        up, down = h, hosts + h
        names[up], names[down] = f"h{h}->{switch_names[switch]}", f"{switch_names[switch]}->h{h}"
        channels[up, :] = (request_kind, switch, h, h % n, n, host_group[h], port)
        channels[down, :CH_SOURCE_HOST + 1] = (host_result_kind, h, -1)
        port_channel[switch, port] = down
        join(switch, int(host_group[h]), port)
    if two_level:
        spine = racks
        for r in range(racks):
            up, down = 2 * hosts + r, 2 * hosts + racks + r
            names[up], names[down] = f"tor{r}->spine", f"spine->tor{r}"
            channels[up, :] = (request_kind, spine, -1, r, racks, 0, r)
            channels[down, :CH_SOURCE_HOST + 1] = (tor_result_kind, r, -1)
            port_channel[spine, r] = down
            switch_uplink[r] = up
            join(spine, 0, r)
    return Network(
        names=names,
        channels=channels,
        host_uplink=np.arange(hosts, dtype=np.int64),
        host_downlink=np.arange(hosts, 2 * hosts, dtype=np.int64),
        host_group=host_group,
        groups=groups,
        port_channel=port_channel,
        members=members,
        switch_uplink=switch_uplink,
        switch_names=switch_names,
        rack_of=rack_of,
    )
