"""Flat ring all-reduce: reduce-scatter then all-gather, one stream per rank to the next, pipelined per packet.

Ranks are the job's hosts in topology order (rack-consecutive, as NCCL orders
its ring). Rank i's flow to rank i+1 carries 2(n-1) steps of one chunk of
``ceil(S/n)`` elements (P_c packets each): at step s the chunk ``i - s mod
n``. Step 0 is rank i's own chunk; packet q of step s >= 1 is produced when
packet q - P_c (step s-1) of the flow into rank i is delivered: rank i adds
its own elements to it during steps 1..n-1 (reduce-scatter, and the step that
completes the chunk) and forwards it unchanged afterwards (all-gather).

A chunk of more than ``table.chunk_elements`` (NCCL's chunk, ``baselines.chunk_bytes``)
makes the ring loop over the tensor in rounds, as NCCL's kernel does: each round
is this ring over ``ceil(S / rounds)`` elements, and every flow sends its rounds
in order.
"""

from __future__ import annotations

from switchsim.sim.collectives.flows import FlowTable, ceil_div


def build(table: FlowTable, group: int, members: list[int], elements: int, servers: list[int]) -> None:
    """Add the ring of job ``group`` (hosts ``members``) over ``elements`` elements to ``table``."""
    del servers
    n = len(members)
    if n == 1:
        return
    rounds = table.rounds(ceil_div(elements, n))
    chunk = ceil_div(ceil_div(elements, rounds), n)
    per_chunk = max(1, ceil_div(chunk, table.elements_per_packet))
    packets = 2 * (n - 1) * per_chunk
    first = len(table)
    for i in range(n):
        table.add(members[i], members[(i + 1) % n], group, chunk, chunks=n, chunk0=i, chunk_packets=per_chunk,
                  packets=packets, dependent_from=per_chunk, inputs=1, add_until=n * per_chunk,
                  check_produced=((n - 1) * per_chunk, n * per_chunk), check_delivered_from=(n - 1) * per_chunk)
    for i in range(n):
        table.feed(first + (i - 1) % n, first + i, per_chunk)
    table.repeat(first, rounds, n * chunk)
