"""Results of a simulated method, link summaries, and the closed forms they are checked against."""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field, replace

from switchsim.config import LinkConfig, WorkloadConfig
from switchsim.outcome import judged
from switchsim.protocol import spec


@dataclass(slots=True)
class LinkSummary:
    """One channel's totals over a run."""

    name: str
    packets: int
    bytes: int
    utilisation: float  #: busy time / run time
    max_queue_bytes: float
    queue_drops: int
    loss_drops: int


@dataclass(slots=True)
class MethodResult:
    """What one method (switchml, ring, ps, allgather) achieved on a scenario.

    Times are simulated seconds; ``ate_per_s`` is aggregated tensor elements
    per second of communication (elements x iterations / aggregation time).
    ``correct`` (every sum exact) is judged only when ``completed``; a run that
    hit its time limit has ``correct`` None and ``stopped_by`` "max_time"
    (`switchsim.outcome`).
    """

    method: str
    workers: int
    elements: int
    iterations: int
    time_s: float
    aggregation_time_s: float
    ate_per_s: float
    goodput_per_worker_bps: float
    correct: bool | None
    completed: bool
    stopped_by: str | None = None
    retransmissions: int = 0
    timeouts: int = 0
    packets: int = 0
    bytes: int = 0
    max_queue_bytes: float = 0.0
    max_link_utilisation: float = 0.0
    switch_counters: dict[str, int] = field(default_factory=dict)
    links: list[LinkSummary] = field(default_factory=list)
    wall_time_s: float = 0.0
    packet_hops: int = 0
    float_max_abs_error: float | None = None  #: float workloads: largest |decoded - exact float64 sum|
    float_relative_error: float | None = None  #: float workloads: ||decoded - exact|| / ||exact||, worst worker
    job: int | None = None  #: jobs sharing a fabric (`switchsim.sim.tenants`): the job; None: every job
    alone_time_s: float | None = None  #: jobs sharing a fabric: the job's aggregation time run alone
    slowdown: float | None = None  #: jobs sharing a fabric: aggregation time shared / alone

    def to_json(self) -> dict:
        """The summary.json record (links included)."""
        return asdict(self)


def method_result(
    method: str,
    workload: WorkloadConfig,
    workers: int,
    links: list[LinkSummary],
    time_s: float,
    elements: int,
    *,
    completed: bool,
    correct: bool,
    wall_time_s: float,
    packet_hops: int,
    **counts,
) -> MethodResult:
    """A `MethodResult` from what a run measured; the arithmetic every method shares.

    ``links`` has every channel; the record keeps those that carried traffic.
    Aggregation time is the run time less the compute phases; ATE/s and goodput
    are 0 for a run that did not complete. ``counts`` are the remaining fields
    (retransmissions, timeouts, switch_counters). ``workers`` is the job's size.
    """
    aggregation = max(time_s - workload.compute_s * workload.iterations, 1e-12)
    rate = elements * workload.iterations / aggregation if completed else 0.0
    used = [link for link in links if link.packets]
    return MethodResult(
        method=method,
        workers=workers,
        elements=elements,
        iterations=workload.iterations,
        time_s=time_s,
        aggregation_time_s=aggregation,
        ate_per_s=rate,
        goodput_per_worker_bps=rate * workload.element_bits,
        correct=judged(completed, correct),
        completed=completed,
        stopped_by=None if completed else "max_time",
        packets=sum(link.packets for link in links),
        bytes=sum(link.bytes for link in links),
        max_queue_bytes=max((link.max_queue_bytes for link in links), default=0.0),
        max_link_utilisation=max((link.utilisation for link in used), default=0.0),
        links=used,
        wall_time_s=wall_time_s,
        packet_hops=packet_hops,
        **counts,
    )


def stopped_result(method: str, workload: WorkloadConfig, workers: int, elements: int, time_s: float, reason: str,
                   wall_time_s: float) -> MethodResult:
    """The record of a run that could not go on: not finished (``stopped_by`` = ``reason``), not judged,
    with how far it got in simulated seconds and nothing else measured.

    Example:
        >>> r = stopped_result("ps", WorkloadConfig(), 4, 100, 0.5, "out of memory: ...", 1.0)
        >>> r.completed, r.correct, r.stopped_by, r.aggregation_time_s
        (False, None, 'out of memory: ...', 0.5)
    """
    record = method_result(method, workload, workers, [], time_s, elements, completed=False, correct=False,
                           wall_time_s=wall_time_s, packet_hops=0)
    return replace(record, stopped_by=reason)


def switchml_line_rate_ate(link: LinkConfig, elements_per_packet: int, element_bits: int = spec.ELEMENT_BITS) -> float:
    """Elements/s one worker link can carry: rate / (on-wire bits per packet) x k."""
    return link.rate_bps / (spec.wire_bytes(elements_per_packet, element_bits) * 8) * elements_per_packet


def switchml_round_trip_s(link: LinkConfig, elements_per_packet: int, pipeline_latency_s: float, hops: int = 2,
                          host_overhead_s: float = 0.0, element_bits: int = spec.ELEMENT_BITS) -> float:
    """Unloaded round trip of one SwitchML packet: ``hops`` x (serialization + delay) + switch latencies."""
    serialization = spec.wire_bytes(elements_per_packet, element_bits) * 8 / link.rate_bps
    switches = hops // 2 if hops > 2 else 1
    return hops * (serialization + link.delay_s) + switches * pipeline_latency_s + host_overhead_s


def switchml_ate_closed_form(link: LinkConfig, elements_per_packet: int, window: int, pipeline_latency_s: float,
                             element_bits: int = spec.ELEMENT_BITS) -> float:
    """Lossless one-rack SwitchML ATE/s: min(line-rate ceiling, W x k / RTT)."""
    rtt = switchml_round_trip_s(link, elements_per_packet, pipeline_latency_s, element_bits=element_bits)
    return min(switchml_line_rate_ate(link, elements_per_packet, element_bits), window * elements_per_packet / rtt)


#: On-wire bytes of a transport control packet (ACK, NAK, SACK): a minimum Ethernet frame (64 B)
#: with its preamble and inter-frame gap.
CONTROL_WIRE_BYTES = 64 + spec.PREAMBLE_BYTES + spec.INTERFRAME_GAP_BYTES


@functools.cache
def packet_wire_bytes(payload_bytes: int) -> int:
    """On-wire bytes of a baseline UDP packet carrying ``payload_bytes`` of application data."""
    headers = spec.ETHERNET_HEADER.nbytes + spec.IPV4_HEADER.nbytes + spec.UDP_HEADER.nbytes
    return payload_bytes + headers + spec.FCS_BYTES + spec.PREAMBLE_BYTES + spec.INTERFRAME_GAP_BYTES


def transport_packet_seconds(link: LinkConfig, payload_bytes: int) -> tuple[float, float]:
    """Seconds to serialize a transport data packet and a control packet (ACK) at the link rate."""
    return packet_wire_bytes(payload_bytes) * 8 / link.rate_bps, CONTROL_WIRE_BYTES * 8 / link.rate_bps


def _per_packet_and_latency(link: LinkConfig, payload_bytes: int, pipeline_latency_s: float,
                            ack_every: int) -> tuple[float, float]:
    """A data packet's share of its uplink (the packet and 1/ack_every of an ACK), and h(2): one data
    packet's unloaded time over two links and a switch."""
    data, control = transport_packet_seconds(link, payload_bytes)
    return data + control / ack_every, 2 * (data + link.delay_s) + pipeline_latency_s


def ring_time_closed_form(link: LinkConfig, workers: int, elements: int, payload_bytes: int,
                          pipeline_latency_s: float, element_bits: int = spec.ELEMENT_BITS,
                          ack_every: int = 4) -> float:
    """Lossless one-rack ring all-reduce, pipelined per packet: ``2(n-1) P_c t + h(2)``.

    Each rank's uplink carries one stream of 2(n-1) chunks of ``P_c = ceil(ceil(S/n) / E)``
    packets (E elements each) back to back, plus an ACK every ``ack_every`` packets of the
    stream it receives: ``t`` = data packet + ACK / ack_every. The last packet then takes h(2).
    """
    if workers == 1:
        return 0.0
    per_packet, latency = _per_packet_and_latency(link, payload_bytes, pipeline_latency_s, ack_every)
    chunk = -(-elements // workers)
    chunk_packets = max(1, -(-chunk // (payload_bytes * 8 // element_bits)))
    return 2 * (workers - 1) * chunk_packets * per_packet + latency


def allgather_time_closed_form(link: LinkConfig, workers: int, elements: int, payload_bytes: int,
                               pipeline_latency_s: float, element_bits: int = spec.ELEMENT_BITS,
                               ack_every: int = 4) -> float:
    """Lossless one-rack rotated all-gather: ``(n-1) P t + h(2)`` with ``P = ceil(S / E)`` packets per message.

    Every uplink sends n-1 messages back to back and every downlink receives from one sender at
    a time, so the uplinks stay busy (``t`` as in `ring_time_closed_form`).
    """
    if workers == 1:
        return 0.0
    per_packet, latency = _per_packet_and_latency(link, payload_bytes, pipeline_latency_s, ack_every)
    packets = max(1, -(-elements // (payload_bytes * 8 // element_bits)))
    return (workers - 1) * packets * per_packet + latency


def tree_busiest_streams(workers: int) -> int:
    """Streams of ceil(S/2/E) packets the busiest rank of NCCL's double binary tree sends (and receives).

    Per tree a rank sends its up-stream (unless it is the root) and one down-stream per child, and
    receives the mirror image (its children's up-streams, its parent's down-stream): 2 for n = 2,
    3 for n = 3, 4 from n = 4 on (an interior rank with two children in one tree is a leaf in the other).
    """
    from switchsim.sim.collectives.tree import double_tree  # the builder's own trees (imported on use)

    trees = double_tree(workers)
    return max(sum((tree[rank][0] >= 0) + len(tree[rank][1]) for tree in trees) for rank in range(workers))


def tree_time_closed_form(link: LinkConfig, workers: int, elements: int, payload_bytes: int,
                          pipeline_latency_s: float, element_bits: int = spec.ELEMENT_BITS,
                          ack_every: int = 4) -> float:
    """Lossless one-rack double binary tree, pipelined per packet: ``L P_h t + h(2)``, a lower bound.

    Each tree carries half the tensor, ``P_h = ceil(ceil(S/2) / E)`` packets per stream. The busiest
    rank's uplink carries ``L`` = `tree_busiest_streams` streams (4 from n = 4 on: up-stream and two
    down-streams in the tree where it has two children, its up-stream as a leaf in the other), and its
    downlink receives as many, so the ACKs it sends are 1/ack_every of ``L P_h`` packets: the uplink
    is busy at least ``L P_h t`` (``t`` as in `ring_time_closed_form`), and the last packet takes h(2).
    Pipeline fill and drain over the trees' depth (about 2 log2(n) h(2), tens of microseconds) are left out: a
    rank's uplink has its leaf stream to send while its dependent streams fill. The simulated tree
    is above this bound (1.07-1.12x at n = 4..16, docs/simulator.md says why).
    """
    if workers == 1:
        return 0.0
    per_packet, latency = _per_packet_and_latency(link, payload_bytes, pipeline_latency_s, ack_every)
    half = -(-elements // 2)
    packets = max(1, -(-half // (payload_bytes * 8 // element_bits)))
    return tree_busiest_streams(workers) * packets * per_packet + latency


def ps_time_closed_form(link: LinkConfig, workers: int, servers: int, elements: int, payload_bytes: int,
                        pipeline_latency_s: float, element_bits: int = spec.ELEMENT_BITS,
                        ack_every: int = 4) -> float:
    """Lossless one-rack sharded parameter server: ``max(n, servers) P_s t + 2 h(2)``, a lower bound.

    Server k owns a shard of ``ceil(S / servers)`` elements, ``P_s = ceil(shard / E)`` packets. Its
    downlink receives the n workers' pushes (``n P_s`` packets, and an ACK for every ack_every
    packets of its n pulls); its uplink sends the n pulls (``n P_s`` packets, and the ACKs of the
    pushes): ``n P_s t`` each way, pushes and pulls overlapping on the two directions because the
    server returns each sum as soon as its n inputs are in. A worker's link carries
    ``servers P_s`` packets each way (one push and one pull per server), the bottleneck when
    servers > n. The first push packet reaches a server after h(2) and the last pull packet
    reaches its worker h(2) after it is sent: ``max(n, servers) P_s t + 2 h(2)``. With n > 1 per
    server the n-way incast queues at the server's port (at most n windows); the bound assumes the
    queue holds them (no tail drop: ``link.queue_bytes`` >= n x window x packet).
    """
    per_packet, latency = _per_packet_and_latency(link, payload_bytes, pipeline_latency_s, ack_every)
    shard = -(-elements // servers)
    packets = max(1, -(-shard // (payload_bytes * 8 // element_bits)))
    return max(workers, servers) * packets * per_packet + 2 * latency


def hierarchical_ring_time_closed_form(link: LinkConfig, racks: int, hosts_per_rack: int, elements: int,
                                       payload_bytes: int, pipeline_latency_s: float,
                                       element_bits: int = spec.ELEMENT_BITS, ack_every: int = 4) -> float:
    """Lossless hierarchical ring, pipelined per packet: ``2(n-1) P' t + h(2)``, n = racks x hosts per rack.

    Each host's uplink carries its three streams (reduce-scatter and all-gather in the rack, the ring across
    racks) of 2(n-1) sub-chunks of ``P' = ceil(ceil(S/n) / E)`` packets in all, as the flat ring's one stream
    (``t`` as in `ring_time_closed_form`), and stays busy when the racks' uplinks carry the cross-rack
    streams without queueing; the last packet is an in-rack one (h(2)). One rack or one host per rack is
    the flat ring.
    """
    workers = racks * hosts_per_rack
    return ring_time_closed_form(link, workers, elements, payload_bytes, pipeline_latency_s, element_bits, ack_every)
