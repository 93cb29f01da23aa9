"""A collective's schedule as flows: who sends what to whom, fed by which deliveries.

A builder (`switchsim.sim.collectives.ring` and the others) adds flows to a
`FlowTable` in the order each host's NIC should serve them; `FlowTable.arrays`
lays them out as the `switchsim.sim.transport` arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from switchsim.sim import transport as t


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` for non-negative integers."""
    return -(-a // b)


def flow_hash(group: int, source: int, destination: int, nth: int) -> int:
    """The ECMP hash of the ``nth`` flow of job ``group`` from ``source`` to ``destination`` (a 63-bit int).

    Example:
        >>> flow_hash(0, 1, 2, 0) == flow_hash(0, 1, 2, 0) != flow_hash(1, 1, 2, 0)
        True
    """
    prime = 1_000_003
    return (((group * prime + source) * prime + destination) * prime + nth) & ((1 << 63) - 1)


@dataclass(slots=True)
class FlowTable:
    """Flows of one run, as rows of ``transport.FLOW_FIELDS`` static columns.

    Attributes:
        elements_per_packet: elements one data packet carries (E).
        route: ``route(source, destination, flow_hash)``: channels from a host to another.
        rack_of: each host's first switch (its ToR), for schedules that follow racks; None if unknown.
        chunk_elements: the most elements a ring rank sends in one step (NCCL's chunk); a larger tensor
            runs in rounds (`rounds`, `repeat`). 0: no limit.

    A flow's ECMP hash (`flow_hash`) depends only on its job, its two hosts and how many flows
    of that job between them came before, as a switch hashing the 5-tuple sees it: never on
    its place in the table, so a job takes the same paths whichever other jobs share the fabric.
    """

    elements_per_packet: int
    route: Callable[[int, int, int], np.ndarray]
    rack_of: np.ndarray | None = None
    chunk_elements: int = 0
    rows: list[np.ndarray] = field(default_factory=list)
    consumers: list[list[tuple[int, int, int, int]]] = field(default_factory=list)
    forward: list[np.ndarray] = field(default_factory=list)
    back: list[np.ndarray] = field(default_factory=list)
    pair_flows: dict[tuple[int, int, int], int] = field(default_factory=dict)

    def add(self, source: int, destination: int, group: int, chunk_elements: int, *, chunks: int = 1,
            chunk0: int = 0, chunk_packets: int | None = None, packets: int | None = None, element_base: int = 0,
            dependent_from: int | None = None, inputs: int = 0, add_until: int = 0,
            check_produced: tuple[int, int] = (0, 0), check_delivered_from: int | None = None,
            check_kind: int = t.CHECK_SUM, priority: int = 0, subchunks: int = 1, subchunk0: int = 0,
            subchunk_packets: int | None = None, subchunk_elements: int | None = None,
            extra_inputs: tuple[int, int] = (0, 0)) -> int:
        """A flow of ``packets`` packets (default: one chunk); returns its number.

        Packet q carries chunk ``(chunk0 - q // chunk_packets) mod chunks`` (chunks of ``chunk_elements``
        from ``element_base``), its ``q % chunk_packets``-th packet. Packets before ``dependent_from``
        (default: all) are the source's own elements; later ones wait for ``inputs`` deliveries (`feed`)
        and get the source's own elements added before ``add_until``. Produced packets in
        ``check_produced`` and delivered ones from ``check_delivered_from`` (default: none) are final.
        The sender's NIC serves its flows of the lowest ``priority`` first, round-robin among equals.
        A chunk may be cut in ``subchunks`` sub-chunks of ``subchunk_elements`` (``subchunk_packets``
        packets each), block b of a chunk's packets carrying sub-chunk ``(subchunk0 - b) mod subchunks``
        (default: one sub-chunk, the chunk). Produced packets in ``extra_inputs`` need ``inputs + 1`` inputs.
        """
        chunk_packets = chunk_packets or max(1, ceil_div(chunk_elements, self.elements_per_packet))
        packets = chunk_packets if packets is None else packets
        row = np.zeros(t.FLOW_FIELDS, np.int64)
        row[t.F_SOURCE], row[t.F_DESTINATION], row[t.F_PACKETS], row[t.F_GROUP] = source, destination, packets, group
        row[t.F_DEPENDENT_FROM] = packets if dependent_from is None else dependent_from
        row[t.F_INPUTS], row[t.F_ADD_UNTIL], row[t.F_MIRROR] = inputs, add_until, -1
        row[t.F_CHECK_PRODUCED_FROM], row[t.F_CHECK_PRODUCED_UNTIL] = check_produced
        row[t.F_CHECK_DELIVERED_FROM] = packets if check_delivered_from is None else check_delivered_from
        row[t.F_CHECK_KIND] = check_kind
        row[t.F_CHUNK0], row[t.F_CHUNKS], row[t.F_CHUNK_PACKETS] = chunk0, chunks, chunk_packets
        row[t.F_CHUNK_ELEMENTS], row[t.F_ELEMENT_BASE] = chunk_elements, element_base
        row[t.F_PRIORITY] = priority
        row[t.F_SUBCHUNKS], row[t.F_SUBCHUNK0] = subchunks, subchunk0
        row[t.F_SUBCHUNK_PACKETS] = subchunk_packets or chunk_packets
        row[t.F_SUBCHUNK_ELEMENTS] = chunk_elements if subchunk_elements is None else subchunk_elements
        row[t.F_EXTRA_INPUTS_FROM], row[t.F_EXTRA_INPUTS_UNTIL] = extra_inputs
        row[t.F_MIRROR_FROM], row[t.F_MIRROR_UNTIL], row[t.F_MIRROR_OFFSET] = 0, packets, 0
        row[t.F_ROUND_PACKETS], row[t.F_ROUND_ELEMENTS] = packets, 0
        flow = len(self.rows)
        self.rows.append(row)
        self.consumers.append([])
        pair = (group, source, destination)
        key = flow_hash(group, source, destination, self.pair_flows.get(pair, 0))
        self.pair_flows[pair] = self.pair_flows.get(pair, 0) + 1
        self.forward.append(self.route(source, destination, key))
        self.back.append(self.route(destination, source, key))
        return flow

    def feed(self, input_flow: int, consumer: int, offset: int = 0, packets: tuple[int, int] | None = None) -> None:
        """Each delivery of packet p of ``input_flow`` in ``packets`` = [from, until) (default: all) is an
        input of packet ``p + offset`` of ``consumer``."""
        start, until = (0, int(self.rows[input_flow][t.F_PACKETS])) if packets is None else packets
        if start + offset < 0:
            raise ValueError(f"feed of flow {input_flow} into flow {consumer}: packet {start} + offset {offset} < 0")
        self.consumers[input_flow].append((consumer, offset, start, until))

    def mirror(self, flow: int, copy: int, packets: tuple[int, int] | None = None, offset: int = 0) -> None:
        """``copy``'s packets are ``flow``'s produced packets (the same values, sent to another host): produced
        packet p in ``packets`` = [from, until) (default: all) is packet ``p + offset`` of ``copy``."""
        row = self.rows[flow]
        row[t.F_MIRROR] = copy
        if packets is not None:
            row[t.F_MIRROR_FROM], row[t.F_MIRROR_UNTIL] = packets
        row[t.F_MIRROR_OFFSET] = offset
        self.rows[copy][t.F_INPUTS] = 1
        self.rows[copy][t.F_DEPENDENT_FROM] = 0

    def rounds(self, step_elements: int) -> int:
        """Rounds a schedule whose rank sends ``step_elements`` elements per step needs so that no step
        carries more than ``chunk_elements`` (1 if unlimited)."""
        return max(1, ceil_div(step_elements, self.chunk_elements)) if self.chunk_elements else 1

    def repeat(self, first: int, rounds: int, round_elements: int) -> None:
        """Flows ``first`` onwards, each built for one round, run ``rounds`` rounds in order, round r over the
        elements of round 0 moved by r ``round_elements`` (their feeds and mirrors repeat per round)."""
        for row in self.rows[first:]:
            row[t.F_ROUND_PACKETS] = row[t.F_PACKETS]
            row[t.F_PACKETS] *= rounds
            row[t.F_ROUND_ELEMENTS] = round_elements

    def __len__(self) -> int:
        return len(self.rows)
