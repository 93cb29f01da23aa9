"""Which channels a packet from one host to another crosses, in order.

`host_route` is the one place a host-to-host path is decided for the engines;
the transports (`switchsim.sim.transport`) forward every packet along it, hop
by hop. Between workers it is the `Topology`'s path (up by ECMP to the lowest
tier that covers the destination, then down). An extra host (a parameter
server) hangs off the first switch: its path is the first switch's first host's
path with that host's link swapped for the server's.
"""

from __future__ import annotations

import numpy as np

from switchsim.sim.network import Network


def host_route(network: Network, source_host: int, destination_host: int, flow_hash: int) -> np.ndarray:
    """Channel ids from ``source_host`` to ``destination_host`` (int64); ``flow_hash`` picks the ECMP path."""
    topology = network.topology
    workers = network.workers
    if source_host < workers and destination_host < workers:
        return np.array(topology.path(source_host, destination_host, flow_hash), np.int64)
    anchor = topology.switches[0].children[0]  # a host of the first switch stands in for an extra host
    source = anchor if source_host >= workers else source_host
    destination = anchor if destination_host >= workers else destination_host
    if source == destination:  # both ends on the first switch's first port (or both extra hosts)
        return np.array([network.host_uplink[source_host], network.host_downlink[destination_host]], np.int64)
    path = topology.path(source, destination, flow_hash)
    if source_host >= workers:
        path[0] = int(network.host_uplink[source_host])
    if destination_host >= workers:
        path[-1] = int(network.host_downlink[destination_host])
    return np.array(path, np.int64)
