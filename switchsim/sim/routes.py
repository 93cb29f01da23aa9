"""Which channels a packet from one host to another crosses, in order.

`host_route` is the one place a host-to-host path is decided; the transports
(`switchsim.sim.transport`) forward every packet along it, hop by hop. This
body knows today's shapes (one switch; two levels, one spine). The `Topology`
(issue 17) replaces it with its own path and ECMP choice, keeping the signature.
"""

from __future__ import annotations

import numpy as np

from switchsim.sim.network import Network


def host_route(network: Network, source_host: int, destination_host: int, flow_hash: int) -> np.ndarray:
    """Channel ids from ``source_host`` to ``destination_host`` (int64): up, [ToR up, spine down,] down.

    ``flow_hash`` picks among equal-cost paths (there is one path on today's shapes, so it is unused).
    """
    del flow_hash  # one path per pair on one switch or under one spine
    up = int(network.host_uplink[source_host])
    down = int(network.host_downlink[destination_host])
    rack_source, rack_destination = int(network.rack_of[source_host]), int(network.rack_of[destination_host])
    if rack_source == rack_destination or int(network.switch_uplink[rack_source]) < 0:
        return np.array([up, down], np.int64)
    spine = network.switches - 1
    return np.array([up, int(network.switch_uplink[rack_source]), int(network.port_channel[spine, rack_destination]),
                     down], np.int64)
