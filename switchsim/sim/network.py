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

from switchsim.config import LinkConfig, TopologyConfig

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
        link_rate_bps: float64 (C,): each channel's rate, bits/s.
        link_delay_s: float64 (C,): each channel's propagation delay, seconds.
        link_queue_bytes: int64 (C,): each channel's egress queue (tail drop), bytes.
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
        """Switches (ToRs first, spine last on two levels)."""
        return len(self.switch_names)


def build_network(topology: TopologyConfig, request_kind: int, tor_result_kind: int, host_result_kind: int,
                  link: LinkConfig | None = None, extra_hosts: int = 0) -> Network:
    """The arrays of ``topology``; the kinds are the event kinds a channel's arrival becomes.

    Every channel gets ``link``'s rate, delay and queue (the default `LinkConfig` when None).
    ``extra_hosts`` (parameter servers) are added after the workers on the first switch, in no job;
    their channels come after every other channel, so the workers' channel numbers do not change.
    """
    link = link or LinkConfig()
    n = topology.workers
    two_level = topology.kind == "two_level"
    racks = topology.racks if two_level else 1
    workers = topology.total_workers
    rack_of = np.array([h // n for h in range(workers)] if two_level else [0] * workers, np.int64)
    rack_of = np.concatenate([rack_of, np.zeros(extra_hosts, np.int64)])
    host_group = np.zeros(workers, np.int64) if two_level else np.array([h // n for h in range(workers)], np.int64)
    host_group = np.concatenate([host_group, np.full(extra_hosts, -1, np.int64)])
    groups = np.array(topology.job_groups, dtype=np.int64)
    switch_names = [f"tor{r}" for r in range(racks)] + ["spine"] if two_level else ["sw0"]
    switches = len(switch_names)
    count = 2 * workers + (2 * racks if two_level else 0) + 2 * extra_hosts
    channels = np.full((count, CHANNEL_FIELDS), -1, np.int64)
    names = [""] * count
    ports = max(n if two_level else workers, racks) + extra_hosts
    port_channel = np.full((switches, ports), -1, np.int64)
    members = np.zeros((switches, len(groups), MAX_GROUP_PORTS + 1), np.int64)
    switch_uplink = np.full(switches, -1, np.int64)

    def join(switch: int, group: int, port: int) -> None:
        size = members[switch, group, 0]
        members[switch, group, 1 + size] = port
        members[switch, group, 0] = size + 1

    for h in range(workers):
        switch = int(rack_of[h])
        port = h - switch * n if two_level else h
        up, down = h, workers + h
        names[up], names[down] = f"h{h}->{switch_names[switch]}", f"{switch_names[switch]}->h{h}"
        channels[up, :] = (request_kind, switch, h, h % n, n, host_group[h], port)
        channels[down, :CH_SOURCE_HOST + 1] = (host_result_kind, h, -1)
        port_channel[switch, port] = down
        join(switch, int(host_group[h]), port)
    if two_level:
        spine = racks
        for r in range(racks):
            up, down = 2 * workers + r, 2 * workers + racks + r
            names[up], names[down] = f"tor{r}->spine", f"spine->tor{r}"
            channels[up, :] = (request_kind, spine, -1, r, racks, 0, r)
            channels[down, :CH_SOURCE_HOST + 1] = (tor_result_kind, r, -1)
            port_channel[spine, r] = down
            switch_uplink[r] = up
            join(spine, 0, r)
    first_extra = count - 2 * extra_hosts
    host_uplink = np.concatenate([np.arange(workers), first_extra + 2 * np.arange(extra_hosts)]).astype(np.int64)
    host_downlink = np.concatenate([np.arange(workers, 2 * workers),
                                    first_extra + 1 + 2 * np.arange(extra_hosts)]).astype(np.int64)
    for e in range(extra_hosts):  # extra hosts: on the first switch, ports after the workers', in no job
        h, port = workers + e, (n if two_level else workers) + e
        up, down = int(host_uplink[h]), int(host_downlink[h])
        names[up], names[down] = f"h{h}->{switch_names[0]}", f"{switch_names[0]}->h{h}"
        channels[up, :] = (request_kind, 0, h, -1, 0, -1, port)
        channels[down, :CH_SOURCE_HOST + 1] = (host_result_kind, h, -1)
        port_channel[0, port] = down
    return Network(
        names=names,
        channels=channels,
        host_uplink=host_uplink,
        host_downlink=host_downlink,
        host_group=host_group,
        groups=groups,
        port_channel=port_channel,
        members=members,
        switch_uplink=switch_uplink,
        switch_names=switch_names,
        rack_of=rack_of,
        link_rate_bps=np.full(count, float(link.rate_bps)),
        link_delay_s=np.full(count, float(link.delay_s)),
        link_queue_bytes=np.full(count, int(link.queue_bytes), np.int64),
        extra_hosts=extra_hosts,
    )
