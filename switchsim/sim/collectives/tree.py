"""NCCL's double binary tree: two binary trees over the ranks, each reducing half the tensor up to its root
and broadcasting the sum back down, pipelined per packet.

The trees are NCCL's (``ncclGetBtree`` / ``ncclGetDtree`` in NCCL's ``src/graph/trees.cc``): in the first,
rank r's parent clears r's lowest set bit and sets the next one (rank 0 is the root, with one child);
the second is the first mirrored (r -> n-1-r) for an even n, shifted by one for an odd n, so that a rank
is an interior node in at most one of them. In each tree a rank's flow to its parent carries its half
plus its children's partial sums (a leaf's is its own elements); the root adds its children's sums to its
own, and every rank forwards the sum it receives from its parent to its children (copies of one stream).
"""

from __future__ import annotations

from itertools import pairwise

from switchsim.sim.collectives.flows import FlowTable, ceil_div


def binary_tree(ranks: int, rank: int) -> tuple[int, list[int]]:
    """``(parent, children)`` of ``rank`` in NCCL's binary tree over ``ranks`` ranks (parent -1: the root)."""
    bit = 1
    while bit < ranks and not bit & rank:
        bit <<= 1
    if rank == 0:
        return -1, [bit >> 1] if ranks > 1 else []
    parent = (rank ^ bit) | (bit << 1)
    if parent >= ranks:
        parent = rank ^ bit
    low = bit >> 1
    children = [rank - low] if low else []
    while low and rank + low >= ranks:
        low >>= 1
    if low:
        children.append(rank + low)
    return parent, children


def double_tree(ranks: int) -> list[list[tuple[int, list[int]]]]:
    """The two trees: per tree, per rank, ``(parent, children)``."""
    first = [binary_tree(ranks, r) for r in range(ranks)]
    if ranks % 2:  # shift by one
        def moved(r: int) -> int:
            return -1 if r < 0 else (r + 1) % ranks
        source = [first[(r - 1) % ranks] for r in range(ranks)]
    else:  # mirror
        def moved(r: int) -> int:
            return -1 if r < 0 else ranks - 1 - r
        source = [first[ranks - 1 - r] for r in range(ranks)]
    second = [(moved(parent), [moved(c) for c in children]) for parent, children in source]
    return [first, second]


def build(table: FlowTable, group: int, members: list[int], elements: int, servers: list[int]) -> None:
    """Add job ``group``'s double binary tree over ``elements`` elements to ``table``."""
    del servers
    n = len(members)
    if n == 1:
        return
    half = ceil_div(elements, 2)
    packets = max(1, ceil_div(half, table.elements_per_packet))
    for index, tree in enumerate(double_tree(n)):
        base = index * half
        up: dict[int, int] = {}
        down: dict[tuple[int, int], int] = {}
        for rank, (parent, children) in enumerate(tree):
            if parent >= 0:
                up[rank] = table.add(members[rank], members[parent], group, half, element_base=base,
                                     packets=packets, dependent_from=0 if children else packets,
                                     inputs=len(children), add_until=packets)
        for rank, (parent, children) in enumerate(tree):
            for position, child in enumerate(children):
                first = position == 0
                root = parent < 0
                down[rank, child] = table.add(
                    members[rank], members[child], group, half, element_base=base, packets=packets,
                    dependent_from=0, inputs=(len(children) if root else 1) if first else 1,
                    add_until=packets if root and first else 0,
                    check_produced=(0, packets) if root and first else (0, 0), check_delivered_from=0)
        for rank, (parent, children) in enumerate(tree):
            if not children:
                continue
            first = down[rank, children[0]]
            for child in children:
                table.feed(up[child], up[rank] if parent >= 0 else first)
            if parent >= 0:
                table.feed(down[parent, rank], first)
            for a, b in pairwise(children):
                table.mirror(down[rank, a], down[rank, b])
