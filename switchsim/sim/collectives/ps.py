"""Sharded parameter server: S server hosts, server k owns the k-th of S equal shards.

Every worker pushes shard k to server k (its own elements); server k sums the
n pushes packet by packet (the first pull flow collects the n inputs; the
others are copies of it, a fan-out) and sends each sum back to every worker,
who checks it. S = 1 is the classic parameter server: n-way incast on its link.
"""

from __future__ import annotations

from itertools import pairwise

from switchsim.sim.collectives.flows import FlowTable, ceil_div


def build(table: FlowTable, group: int, members: list[int], elements: int, servers: list[int]) -> None:
    """Add job ``group``'s push and pull flows over ``servers`` to ``table``."""
    shard = ceil_div(elements, len(servers))
    n = len(members)
    for k, server in enumerate(servers):
        base = k * shard
        pushes = [table.add(worker, server, group, shard, element_base=base) for worker in members]
        pulls = [table.add(server, worker, group, shard, element_base=base, dependent_from=0, inputs=n,
                           check_delivered_from=0) for worker in members]
        for push in pushes:
            table.feed(push, pulls[0])
        for a, b in pairwise(pulls):
            table.mirror(a, b)
