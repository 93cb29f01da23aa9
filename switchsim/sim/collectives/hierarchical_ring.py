"""Hierarchical (2D) ring all-reduce: reduce-scatter inside each rack, rings across racks, all-gather inside
each rack (Horovod's hierarchical all-reduce, the 2D ring), pipelined per packet like `ring`.

A job of n = m r hosts: r racks (hosts grouped by their ToR, racks in order of their first host) of m hosts
each, hosts in topology order. Rack a's host j (local rank j) has three flows:

* I(a, j) to (a, j+1): the intra-rack reduce-scatter, m-1 steps of one intra chunk of c = r c' elements
  (c' = ceil(S / n), the flat ring's chunk; P = r P' packets, P' = ceil(c' / E)); step s carries chunk
  (j - s) mod m. Its packets are r blocks of P', block b the sub-chunk (a - b) mod r, so that the last step
  delivers its sub-chunks in the order the inter-rack ring needs them.
* X(a, j) to (a+1, j): a flat ring across racks over the rack's sum of intra chunk (j+1) mod m cut in r
  sub-chunks of c': 2(r-1) steps of P' packets. Step s (0..r-1) adds block s of the last step of I(a, j-1)
  and the host's own elements (and from step 1 on the delivery of step s-1 of X(a-1, j)); step r-1
  completes sub-chunk (a+1) mod r (checked at the sender); later steps forward what X(a-1, j) delivers
  (final: checked at the receiver).
* G(a, j) to (a, j+1): the intra-rack all-gather, m-1 steps of intra chunks, step t carrying chunk
  (j+1-t) mod m. Step 0's block 0 is the sub-chunk X(a, j) completed (a copy of its step r-1), blocks
  1..r-1 are X(a-1, j)'s final deliveries in the order they arrive; later steps forward G(a, j-1)'s.

Every final element of every rank is checked exactly once, and each host's uplink carries 2(n-1) P'
packets, as in the flat ring; only the 2(r-1) P' of X leave the rack. One rack or one host per rack is the
flat ring itself.

An intra chunk of more than ``table.chunk_elements`` (NCCL's chunk: Horovod's steps are NCCL
collectives) makes the whole schedule loop over the tensor in rounds of ``ceil(S / rounds)``
elements, every flow sending its rounds in order, so a host holds one round's intra chunk.
"""

from __future__ import annotations

from switchsim.sim.collectives import ring
from switchsim.sim.collectives.flows import FlowTable, ceil_div


def racks(table: FlowTable, group: int, members: list[int]) -> list[list[int]]:
    """Job ``group``'s hosts by rack (their first switch), racks in order of their first host, hosts in
    topology order; ValueError naming the job and the rack sizes if the racks are not all the same size."""
    if table.rack_of is None:
        raise ValueError(f"job {group}: hierarchical-ring needs each host's rack (FlowTable.rack_of)")
    by_rack: dict[int, list[int]] = {}
    for host in sorted(members):
        by_rack.setdefault(int(table.rack_of[host]), []).append(host)
    grouped = list(by_rack.values())
    sizes = [len(hosts) for hosts in grouped]
    if len(set(sizes)) > 1:
        raise ValueError(f"hierarchical-ring: job {group} has racks of unequal sizes {sizes} (hosts per rack); "
                         "it needs the same number of hosts in every rack")
    return grouped


def build(table: FlowTable, group: int, members: list[int], elements: int, servers: list[int]) -> None:
    """Add job ``group``'s hierarchical ring over ``elements`` elements to ``table`` (module docstring)."""
    grouped = racks(table, group, members)
    r, m = len(grouped), len(grouped[0])
    if r == 1 or m == 1:
        ring.build(table, group, members, elements, servers)
        return
    rounds = table.rounds(ceil_div(elements, m))
    sub = ceil_div(ceil_div(elements, rounds), m * r)  # c': a sub-chunk, the flat ring's chunk (per round)
    sub_packets = max(1, ceil_div(sub, table.elements_per_packet))  # P'
    chunk, per_chunk = r * sub, r * sub_packets  # c, P: an intra-rack chunk of r sub-chunks
    intra = (m - 1) * per_chunk
    inter = 2 * (r - 1) * sub_packets
    first = len(table)
    reduce_scatter, gather, across = {}, {}, {}
    blocks = {"chunk_packets": per_chunk, "subchunks": r, "subchunk_packets": sub_packets,
              "subchunk_elements": sub}
    for a in range(r):
        for j in range(m):
            source, right = grouped[a][j], grouped[a][(j + 1) % m]
            reduce_scatter[a, j] = table.add(
                source, right, group, chunk, chunks=m, chunk0=j, packets=intra, subchunk0=a,
                dependent_from=per_chunk, inputs=1, add_until=intra, **blocks)
            across[a, j] = table.add(
                source, grouped[(a + 1) % r][j], group, sub, chunks=r, chunk0=a, chunk_packets=sub_packets,
                packets=inter, element_base=((j + 1) % m) * chunk, dependent_from=0, inputs=1,
                extra_inputs=(sub_packets, r * sub_packets), add_until=r * sub_packets,
                check_produced=((r - 1) * sub_packets, r * sub_packets),
                check_delivered_from=(r - 1) * sub_packets)
            gather[a, j] = table.add(
                source, right, group, chunk, chunks=m, chunk0=(j + 1) % m, packets=intra,
                subchunk0=(a + 1) % r, dependent_from=0, inputs=1, check_delivered_from=0, **blocks)
    last_step = ((m - 2) * per_chunk, intra)
    for a in range(r):
        for j in range(m):
            left, behind = (a, (j - 1) % m), ((a - 1) % r, j)
            table.feed(reduce_scatter[left], reduce_scatter[a, j], per_chunk, packets=(0, last_step[0]))
            table.feed(reduce_scatter[left], across[a, j], -last_step[0], packets=last_step)
            table.feed(across[behind], across[a, j], sub_packets, packets=(0, inter - sub_packets))
            table.feed(across[behind], gather[a, j], -(r - 2) * sub_packets,
                       packets=((r - 1) * sub_packets, inter))
            table.feed(gather[left], gather[a, j], per_chunk, packets=(0, intra - per_chunk))
            table.mirror(across[a, j], gather[a, j], packets=((r - 1) * sub_packets, r * sub_packets),
                         offset=-(r - 1) * sub_packets)
    table.repeat(first, rounds, m * chunk)
