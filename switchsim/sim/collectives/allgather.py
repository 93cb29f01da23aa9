"""All-gather with a rotated schedule: at step j (1..n-1) rank i sends its whole message to rank i + j mod n.

Each (i, j) is one flow of the rank's own elements; a rank's NIC serves its
flows in step order (the step is the flow's priority), so every downlink receives from about one sender at a
time. Every element a rank receives is checked against the sender's own element.
"""

from __future__ import annotations

from switchsim.sim import transport as t
from switchsim.sim.collectives.flows import FlowTable


def build(table: FlowTable, group: int, members: list[int], elements: int, servers: list[int]) -> None:
    """Add job ``group``'s rotated all-gather of ``elements`` elements per rank to ``table``."""
    del servers
    n = len(members)
    for step in range(1, n):
        for i in range(n):
            table.add(members[i], members[(i + step) % n], group, elements, check_delivered_from=0,
                      check_kind=t.CHECK_SOURCE, priority=step)
