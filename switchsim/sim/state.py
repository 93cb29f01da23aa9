"""Building a `SimState` for a SwitchML run: integer time, random-stream keys, sized buffers; growing it.

Simulated time is int64 picoseconds everywhere (2**63 ps is about 106 days), so
two engines never disagree on an instant by a rounding. Seconds are converted
once, here, exactly from their decimal text: ``ticks("1e-6") = 1_000_000``.
Serialization of ``B`` on-wire bytes at ``R`` bit/s is ``ceil(B * 8e12 / R)``
ps; the queue holds ``floor(queue_bytes * 8e12 / R)`` ps of transmission.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from switchsim.config import Scenario
from switchsim.pipeline.state import SwitchConfig, new_slot_pool, wrapped_sum
from switchsim.protocol import spec
from switchsim.protocol.codec import to_wire_width
from switchsim.sim import handlers as h
from switchsim.sim import transport
from switchsim.sim.metrics import CONTROL_WIRE_BYTES, packet_wire_bytes
from switchsim.sim.network import Network
from workers import protocol_state as protocol
from workers.quantizers.rng import stream_key

#: Picoseconds per second.
TICKS_PER_SECOND = 10**12
#: ``step`` of the random streams (`workers.quantizers.rng.stream_key`): link faults use
#: (seed, channel, LINK_STREAM + purpose), synthetic elements (seed, host, SYNTHETIC_STREAM).
LINK_STREAM = 0x4C494E00
SYNTHETIC_STREAM = 0x53594E54


def ticks(seconds: float) -> int:
    """Seconds as integer picoseconds, rounded from the decimal the user wrote."""
    return round(Decimal(repr(float(seconds))) * TICKS_PER_SECOND)


def seconds(ticks_: int) -> float:
    """Picoseconds as seconds (for reports)."""
    return ticks_ / TICKS_PER_SECOND


def transmission_ticks(size_bytes: int, rate_bps: float, round_up: bool = True) -> int:
    """Picoseconds to transmit ``size_bytes`` at ``rate_bps`` (rounded up, or down for capacities)."""
    numerator = Decimal(size_bytes * 8 * TICKS_PER_SECOND)
    exact = numerator / Decimal(repr(float(rate_bps)))
    return math.ceil(exact) if round_up else math.floor(exact)


@dataclass(frozen=True, slots=True)
class RunInputs:
    """What a SwitchML run carries: in-memory tensors, or a synthetic generator.

    Attributes:
        elements: S, elements per worker.
        tensors: int32 (H, L) with L >= S elements on the wire, or None for the synthetic workload.
        exponents: int8 (H, P, 2) per-packet exponents (float workloads), or None.
        keep_results: write the last iteration's results (in-memory only).
    """

    elements: int
    tensors: np.ndarray | None = None
    exponents: np.ndarray | None = None
    keep_results: bool = False


def size_class_bytes(scenario: Scenario) -> np.ndarray:
    """On-wire bytes of each packet size class (`switchsim.sim.handlers` SIZE_*), int64 (SIZE_CLASSES,).

    SIZE_SWITCHML: a SwitchML packet of k elements; SIZE_DATA: a transport data packet of
    ``baselines.packet_payload_bytes`` (a message's last, partial packet is padded to it);
    SIZE_CONTROL: an ACK, NAK or SACK, a minimum Ethernet frame.
    """
    sizes = np.zeros(h.SIZE_CLASSES, np.int64)
    sizes[h.SIZE_SWITCHML] = spec.wire_bytes(scenario.elements_per_packet, scenario.element_bits)
    sizes[h.SIZE_DATA] = packet_wire_bytes(scenario.baselines.packet_payload_bytes)
    sizes[h.SIZE_CONTROL] = CONTROL_WIRE_BYTES
    return sizes


def channel_tables(network: Network, class_bytes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per channel: serialization of each size class (int64 (C, SIZE_CLASSES) ps), delay (ps), queue (ps).

    Exact integers from the network's per-channel rate, delay and queue (`transmission_ticks`,
    `ticks`), computed once per distinct link.
    """
    count = len(network.names)
    serialization = np.zeros((count, len(class_bytes)), np.int64)
    delay = np.zeros(count, np.int64)
    queue = np.zeros(count, np.int64)
    cache: dict[tuple[float, float, int], tuple[list[int], int, int]] = {}
    for c in range(count):
        key = (float(network.link_rate_bps[c]), float(network.link_delay_s[c]), int(network.link_queue_bytes[c]))
        if key not in cache:
            rate, delay_s, queue_bytes = key
            cache[key] = ([transmission_ticks(int(b), rate) for b in class_bytes], ticks(delay_s),
                          transmission_ticks(queue_bytes, rate, round_up=False))
        serialization[c], delay[c], queue[c] = cache[key]
    return serialization, delay, queue


def initial_buffers(network: Network, window: int) -> int:
    """Starting size of the payload-buffer pool (it grows on demand)."""
    return 64 + 4 * (network.hosts + network.switches) * min(window, 64)


def new_state(scenario: Scenario, network: Network, inputs: RunInputs, capture_host: int = -1,
              capture_limit: int = 0) -> h.SimState:
    """Zeroed registers and counters, parameters and keys for one run of ``scenario``."""
    k = scenario.elements_per_packet
    bits = scenario.element_bits
    window = scenario.switchml.window
    link = scenario.link
    stream_elements = inputs.elements if inputs.tensors is None else inputs.tensors.shape[1]
    total_packets = max(1, -(-stream_elements // k))
    hosts = network.hosts
    wire = spec.wire_bytes(k, bits)
    parameters = np.zeros(h.PARAMETERS, np.int64)
    parameters[h.P_ELEMENTS_PER_PACKET] = k
    parameters[h.P_ELEMENT_BITS] = bits
    parameters[h.P_WIRE_BYTES] = wire
    parameters[h.P_LATENCY] = ticks(scenario.switch.pipeline_latency_s)
    parameters[h.P_SEND_OVERHEAD] = ticks(scenario.host.send_overhead_s)
    parameters[h.P_RECEIVE_OVERHEAD] = ticks(scenario.host.receive_overhead_s)
    parameters[h.P_DUPLICATE_DELAY] = ticks(link.duplicate_delay_s)
    parameters[h.P_REORDER_DELAY] = ticks(link.reorder_delay_s)
    parameters[h.P_HARDENED] = int(scenario.switch.hardened)
    parameters[h.P_WINDOW] = window
    parameters[h.P_TIMEOUT] = ticks(scenario.switchml.timeout_s)
    parameters[h.P_BACKOFF_THRESHOLD] = scenario.switchml.backoff_threshold
    parameters[h.P_BACKOFF_INCREMENT] = scenario.switchml.backoff_threshold_increment
    parameters[h.P_RECOVERY] = protocol.RECOVERY_POLICIES.index(scenario.switchml.recovery)
    parameters[h.P_RTO_MIN] = ticks(scenario.switchml.rto_min_s)
    parameters[h.P_ITERATIONS] = scenario.workload.iterations
    parameters[h.P_COMPUTE] = ticks(scenario.workload.compute_s)
    parameters[h.P_TOTAL_PACKETS] = total_packets
    parameters[h.P_SYNTHETIC] = int(inputs.tensors is None)
    parameters[h.P_ELEMENTS] = inputs.elements
    parameters[h.P_CAPTURE_HOST] = capture_host
    parameters[h.P_KEEP_RESULTS] = int(inputs.keep_results)

    channel_count = len(network.names)
    channel_keys = np.array([[stream_key(scenario.seed, c, LINK_STREAM + purpose) for purpose in range(3)]
                             for c in range(channel_count)], np.uint64).reshape(channel_count, 3)
    hosts_array = np.zeros((hosts, h.HOST_FIELDS), np.int64)
    hosts_array[:, h.H_GROUP] = network.host_group
    hosts_array[:, h.H_UPLINK] = network.host_uplink
    hosts_array[:, h.H_TIMER_AT] = h.NEVER
    hosts_array[:, h.H_SWITCHML] = 1
    hosts_array[:, h.H_START_SLOT] = network.host_group * window  # job g's allotment: slots g W .. (g + 1) W
    counters = np.zeros(h.COUNTERS, np.int64)
    counters[h.G_HOSTS_REMAINING] = hosts
    pool = new_slot_pool(SwitchConfig(slots=scenario.switch.slots, elements_per_packet=k,
                                      hardened=scenario.switch.hardened))
    pools = [np.repeat(array[np.newaxis], network.switches, axis=0) for array in pool]
    buffers = initial_buffers(network, window)
    groups = len(network.groups)
    synthetic = inputs.tensors is None
    if synthetic:
        host_keys = np.array([stream_key(scenario.seed, host, SYNTHETIC_STREAM) for host in range(hosts)], np.uint64)
        tensors = np.zeros((1, 1), np.int32)
        request_exponents = np.zeros((1, 1, 2), np.int8)
        expected = np.zeros((1, 1), np.int32)
        check_values = np.zeros((groups, 2 * window, k), np.int32)
        check_packet = np.full((groups, 2 * window), -1, np.int64)
    else:
        host_keys = np.zeros(hosts, np.uint64)
        tensors = _padded(inputs.tensors, total_packets * k)
        request_exponents = (np.zeros((hosts, total_packets, 2), np.int8) if inputs.exponents is None
                             else np.ascontiguousarray(inputs.exponents, np.int8).reshape(hosts, total_packets, 2))
        expected = np.stack([to_wire_width(wrapped_sum(tensors[group]), bits) for group in network.groups])
        check_values = np.zeros((1, 1, k), np.int32)
        check_packet = np.zeros((1, 1), np.int64)
    keep = inputs.keep_results and not synthetic
    config, status, lanes = protocol.new_protocol_state(hosts, window)
    limit = max(capture_limit, 1)
    class_bytes = size_class_bytes(scenario)
    serialization, delay, queue = channel_tables(network, class_bytes)
    return h.SimState(
        parameters=parameters,
        probabilities=np.array([link.loss, link.duplicate, link.reorder], np.float64),
        counters=counters,
        hosts=hosts_array,
        channels=network.channels,
        channel_counters=np.zeros((channel_count, h.CHANNEL_COUNTERS), np.int64),
        channel_keys=channel_keys,
        port_channel=network.port_channel,
        members=network.members,
        switch_uplink=network.switch_uplink,
        groups=network.groups,
        bitmap=pools[0],
        counter=pools[1],
        values=pools[2],
        exponents=pools[3],
        job_number=pools[4],
        tsi=pools[5],
        done=pools[6],
        pool_counters=pools[7],
        protocol_config=config,
        protocol_status=status,
        protocol_lanes=lanes,
        buffer_values=np.zeros((buffers, k), np.int32),
        buffer_exponents=np.zeros((buffers, 2), np.int8),
        buffer_links=_free_list(0, buffers),
        host_keys=host_keys,
        tensors=tensors,
        request_exponents=request_exponents,
        expected=expected,
        check_values=check_values,
        check_packet=check_packet,
        final=np.zeros((hosts, total_packets * k) if keep else (1, 1), np.int32),
        final_exponents=np.zeros((hosts, total_packets, 2) if keep else (1, 1, 2), np.int8),
        capture_meta=np.zeros((limit, 3), np.int64),
        capture_values=np.zeros((limit, k), np.int32),
        capture_exponents=np.zeros((limit, 2), np.int8),
        scratch_values=np.zeros((2, k), np.int32),
        scratch_exponents=np.zeros((2, 2), np.int8),
        scratch_packets=np.zeros(max(window, 1), np.int64),
        size_class_bytes=class_bytes,
        channel_serialization=serialization,
        channel_delay=delay,
        channel_queue=queue,
        **empty_flow_arrays(),
    )


def empty_flow_arrays() -> dict[str, np.ndarray]:
    """The transport arrays of a state without flows (one-row placeholders numba can type)."""
    return {
        "flows": np.zeros((0, transport.FLOW_FIELDS), np.int64),
        "flow_routes": np.full((0, 2, 1), -1, np.int64),
        "flow_consumers": np.zeros((0, 4), np.int64),
        "flow_send": np.full((0, 1), -1, np.int64),
        "flow_inputs": np.zeros((0, 1), np.int64),
        "flow_sacked": np.zeros((0, 1), np.int8),
        "flow_receive": np.full((0, 1), -1, np.int64),
        "flow_values": np.zeros((1, 1), np.int32),
        "flow_buffer_links": _free_list(0, 1),
        "host_flow_start": np.zeros(1, np.int64),
        "host_flow_list": np.zeros(0, np.int64),
        "host_nic": np.zeros((0, 3), np.int64),
        "collective_groups": np.zeros((0, transport.GROUP_FIELDS), np.int64),
        "expected_ready": np.zeros((1, 1), np.int8),
        "flow_scratch": np.zeros((2, 1), np.int32),
    }


#: A receiver ACKs at least every this many in-order packets (`switchsim.sim.transport`).
ACK_EVERY = 4
#: RoCE's local ACK timeout unit: 4.096 us x 2**k.
RDMA_TIMEOUT_UNIT_S = 4.096e-6
#: IRN's RTO_low, and the most packets in flight for which it applies (Mittal et al., SIGCOMM 2018).
RTO_LOW_S = 100e-6
RTO_LOW_PACKETS = 3


#: The receiver's ACK-coalescing timer, in window times at the path's slowest link (about two unloaded round
#: trips): a sender that needs an ACK sooner (its window is full, or it retransmits) asks for one with AckReq.
#: Measured on one rack (docs/simulator.md): 0.5, 0.75, 1, 1.5 and 2 windows put the worst collective at 4.7,
#: 4.6, 4.9, 4.3 and 2.7 % above its closed form; a timer of 4 packet times ACKs a shared flow per packet.
ACK_DELAY_WINDOWS = 2


#: A consumer's stage buffer, in windows of its own (`transport.credit`): room for its window in flight and
#: for what its feeders send while a credit comes back, or the collective's receive FIFO if larger (its
#: registry entry's ``stage_buffer_bytes``: NCCL's 4 MiB of NCCL_STEPS = 8 slots a connection for the rings).
#: Measured on one rack: one window slowed the ring by 6-11 %; with two the tree and the parameter server run
#: closer to their bounds than with three or four, and the tree holds half the buffers behind a 4:1 uplink.
STAGE_BUFFER_WINDOWS = 2


def one_way_time(state: h.SimState, route: np.ndarray, size_class: int, latency: int) -> int:
    """A packet of ``size_class`` along ``route`` unloaded: serialization and propagation on each channel and
    the switch latency at each switch between them, ps."""
    return int(state.channel_serialization[route, size_class].sum() + state.channel_delay[route].sum()
               + latency * (len(route) - 1))


def slowest_data_time(state: h.SimState, route: np.ndarray) -> int:
    """A data packet's serialization on the slowest channel of ``route``, ps."""
    return int(state.channel_serialization[route, h.SIZE_DATA].max())


def flow_window(state: h.SimState, forward: np.ndarray, back: np.ndarray, latency: int) -> int:
    """Packets a flow may have in flight: one bandwidth-delay product of its path, plus the ACK coalescing.

    The round trip is a data packet's unloaded time along ``forward`` plus an ACK's along ``back``
    (`one_way_time`); the BDP is that over the slowest channel's data-packet serialization.
    """
    round_trip = one_way_time(state, forward, h.SIZE_DATA, latency) + one_way_time(state, back, h.SIZE_CONTROL, latency)
    return max(2, -(-round_trip // slowest_data_time(state, forward)) + ACK_EVERY + 2)


def _power_of_two(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def with_flows(state: h.SimState, scenario: Scenario, table, tensors: np.ndarray | None,
               collective_jobs: np.ndarray | None = None, switchml_hosts: np.ndarray | None = None) -> h.SimState:
    """``state`` (from `new_state`) carrying the flows of ``table`` (a `FlowTable`).

    Parameters of the transport, the flows' windows, routes and queues, the NIC
    lists, one collective group per job, and the exact values to check against:
    in-memory ``tensors`` (hosts x S) are padded to the schedule's element range
    with their sums precomputed; the synthetic workload's sums are computed on
    first use (``expected_ready``).

    By default every job is a collective job and no host runs SwitchML. Jobs sharing a fabric
    (`switchsim.sim.tenants`) name them: ``collective_jobs`` (bool per job) run the table's flows,
    ``switchml_hosts`` (bool per host) run SwitchML at the same time; every other host is idle.
    """
    parameters = state.parameters.copy()
    baselines = scenario.baselines
    elements_per_packet = table.elements_per_packet
    parameters[h.P_SYNTHETIC] = int(tensors is None)
    parameters[h.P_TRANSPORT] = transport.TRANSPORTS.index(baselines.transport)
    parameters[h.P_FLOW_ELEMENTS] = elements_per_packet
    parameters[h.P_ACK_EVERY] = ACK_EVERY
    if baselines.transport == "rdma-gbn":
        parameters[h.P_RTO] = ticks(RDMA_TIMEOUT_UNIT_S * 2 ** baselines.rdma_timeout_exponent)
    else:
        parameters[h.P_RTO] = ticks(baselines.retransmit_timeout_s)
    parameters[h.P_RTO_LOW] = min(ticks(RTO_LOW_S), parameters[h.P_RTO])
    parameters[h.P_RTO_LOW_PACKETS] = RTO_LOW_PACKETS
    count = len(table)
    flows = np.array(table.rows, np.int64).reshape(count, transport.FLOW_FIELDS)
    hops = max([1] + [len(r) for r in table.forward] + [len(r) for r in table.back])
    routes = np.full((count, 2, hops), -1, np.int64)
    latency = int(parameters[h.P_LATENCY])
    consumers = []
    suppliers: list[list[tuple[int, int, int, int]]] = [[] for _ in range(count)]
    for f in range(count):
        forward, back = table.forward[f], table.back[f]
        routes[f, 0, :len(forward)] = forward
        routes[f, 1, :len(back)] = back
        flows[f, transport.F_HOPS], flows[f, transport.F_BACK_HOPS] = len(forward), len(back)
        flows[f, transport.F_WINDOW] = flow_window(state, forward, back, latency)
        # the collective's receive FIFO (set by `collective_method.build_job`), at least the windows
        flows[f, transport.F_STAGE_BUFFER] = max(STAGE_BUFFER_WINDOWS * flows[f, transport.F_WINDOW],
                                                 flows[f, transport.F_STAGE_BUFFER])
        flows[f, transport.F_CREDIT_DELAY] = one_way_time(state, back, h.SIZE_CONTROL, latency)
        flows[f, transport.F_ACK_DELAY] = (ACK_DELAY_WINDOWS * flows[f, transport.F_WINDOW]
                                           * slowest_data_time(state, forward))
        flows[f, transport.F_CONSUMERS_START] = len(consumers)
        consumers.extend(table.consumers[f])
        flows[f, transport.F_CONSUMERS_END] = len(consumers)
        for consumer, offset, start, until in table.consumers[f]:
            suppliers[consumer].append((f, offset, start, until))
    for f in range(count):  # after every flow's consumers: each flow's suppliers, in the same row format
        flows[f, transport.F_SUPPLIERS_START] = len(consumers)
        consumers.extend(suppliers[f])
        flows[f, transport.F_SUPPLIERS_END] = len(consumers)
    window = int(flows[:, transport.F_WINDOW].max()) if count else 1
    receive_slots = _power_of_two(window)
    send_slots = _power_of_two(2 * (window + receive_slots) + 64)
    parameters[h.P_SEND_MASK] = send_slots - 1
    parameters[h.P_RECEIVE_MASK] = receive_slots - 1
    hosts = state.hosts.shape[0]
    order = (np.lexsort((flows[:, transport.F_PRIORITY], flows[:, transport.F_SOURCE])) if count
             else np.zeros(0, np.int64))  # by host, then priority, then schedule order
    host_flow_start = np.searchsorted(flows[order, transport.F_SOURCE], np.arange(hosts + 1)).astype(np.int64)
    groups = state.groups
    collective_groups = np.zeros((len(groups), transport.GROUP_FIELDS), np.int64)
    for g in range(len(groups)):
        mine = np.flatnonzero(flows[:, transport.F_GROUP] == g)
        first, end = (int(mine[0]), int(mine[-1]) + 1) if len(mine) else (0, 0)
        if len(mine) != end - first:
            raise ValueError("a job's flows must be consecutive in the table")
        collective_groups[g, transport.GR_FIRST_FLOW:transport.GR_END_FLOW + 1] = first, end
        if collective_jobs is None or collective_jobs[g]:
            collective_groups[g, transport.GR_HOSTS] = groups.shape[1]
    hosts_array = state.hosts.copy()
    hosts_array[:, h.H_SWITCHML] = 0 if switchml_hosts is None else switchml_hosts
    counters = state.counters.copy()
    counters[h.G_HOSTS_REMAINING] = int(collective_groups[:, transport.GR_HOSTS].sum()
                                        + hosts_array[:, h.H_SWITCHML].sum())
    buffers = 64 + 2 * count * min(window, 64)
    links = _free_list(0, buffers)
    counters[h.G_FLOW_FREE_BUFFER] = 0
    length = 1
    if count:
        last_round = (flows[:, transport.F_PACKETS] - 1) // flows[:, transport.F_ROUND_PACKETS]
        ends = (flows[:, transport.F_ELEMENT_BASE] + flows[:, transport.F_CHUNKS] * flows[:, transport.F_CHUNK_ELEMENTS]
                + last_round * flows[:, transport.F_ROUND_ELEMENTS])
        length = int(ends.max())
    synthetic = tensors is None
    if synthetic:
        padded = np.zeros((1, 1), np.int32)
        expected = np.zeros((len(groups), length), np.int32)
        ready = np.zeros((len(groups), length), np.int8)
    else:
        padded = np.zeros((hosts, length), np.int32)
        padded[: tensors.shape[0], : tensors.shape[1]] = tensors
        expected = np.stack([to_wire_width(wrapped_sum(padded[group]), scenario.element_bits) for group in groups])
        ready = np.ones((1, 1), np.int8)
        parameters[h.P_KEEP_RESULTS] = 1
    return state._replace(
        final=np.zeros((hosts, length) if tensors is not None else (1, 1), np.int32),
        parameters=parameters,
        counters=counters,
        hosts=hosts_array,
        tensors=padded,
        expected=expected,
        expected_ready=ready,
        flows=flows,
        flow_routes=routes,
        flow_consumers=np.array(consumers, np.int64).reshape(len(consumers), 4),
        flow_send=np.full((count, send_slots), -1, np.int64),
        flow_inputs=np.zeros((count, send_slots), np.int64),
        flow_sacked=np.zeros((count, send_slots), np.int8),
        flow_receive=np.full((count, receive_slots), -1, np.int64),
        flow_values=np.zeros((buffers, elements_per_packet), np.int32),
        flow_buffer_links=links,
        host_flow_start=host_flow_start,
        host_flow_list=order.astype(np.int64),
        host_nic=np.stack([np.full(hosts, h.NEVER, np.int64), host_flow_start[:-1], np.full(hosts, -1, np.int64)],
                          axis=1),
        collective_groups=collective_groups,
        flow_scratch=np.zeros((2, elements_per_packet), np.int32),
    )


def _padded(tensors: np.ndarray, length: int) -> np.ndarray:
    if tensors.shape[1] == length and tensors.dtype == np.int32 and tensors.flags.c_contiguous:
        return tensors
    padded = np.zeros((tensors.shape[0], length), np.int32)
    padded[:, : tensors.shape[1]] = tensors
    return padded


def _free_list(first: int, end: int) -> np.ndarray:
    """Buffer links for buffers first..end-1, all free, chained in order (the last points to -1)."""
    links = np.zeros((end - first, 2), np.int64)
    links[:, 1] = np.arange(first + 1, end + 1)
    links[-1, 1] = -1
    return links


#: Transport payload buffers and send-queue slots kept free before each event (what one event may take).
FLOW_MARGIN = 64


def needs_more_buffers(state: h.SimState) -> bool:
    """True when a pool or the flows' send queues may not hold what one more event allocates."""
    counters = state.counters
    if counters[h.G_BUFFERS_IN_USE] + 2 > state.buffer_values.shape[0]:
        return True
    if counters[h.G_FLOW_BUFFERS_IN_USE] + FLOW_MARGIN > state.flow_values.shape[0] and state.flows.shape[0]:
        return True
    return bool(state.flows.shape[0]) and (
        counters[h.G_SEND_BACKLOG_PEAK] + state.flow_receive.shape[1] + FLOW_MARGIN > state.flow_send.shape[1])


class MemoryLimitError(MemoryError):
    """Growing a run's buffers or send queues would take more memory than the machine has available.

    The run cannot go on; its caller reports it as not finished (``stopped_by`` names what ran out), so
    the kernel's out-of-memory killer never ends the process without a word. ``reached_ps`` is about
    how far the run got: the latest time any link was busy until.
    """

    def __init__(self, message: str, reached_ps: int) -> None:
        super().__init__(message)
        self.reached_ps = reached_ps


def _room_for(state: h.SimState, extra_bytes: int, what: str, available: int | None) -> None:
    """Raise `MemoryLimitError` when ``extra_bytes`` more (the grown copy of ``what``) would not fit."""
    from switchsim.sim.memory import available_bytes

    available = available_bytes() if available is None else available
    if extra_bytes > available:
        reached = int(state.channel_counters[:, h.C_BUSY_UNTIL].max()) if len(state.channel_counters) else 0
        raise MemoryLimitError(f"out of memory: {what} would grow by {extra_bytes / 2**30:.1f} GiB with "
                               f"{available / 2**30:.1f} GiB available", reached)


def grow_buffers(state: h.SimState, available: int | None = None) -> h.SimState:
    """The state with whatever `needs_more_buffers` found short doubled (contents kept).

    Raises `MemoryLimitError` instead when the doubled arrays would not fit in the ``available`` bytes
    (default: what the machine has available now).
    """
    counters = state.counters
    if counters[h.G_BUFFERS_IN_USE] + 2 > state.buffer_values.shape[0]:
        _room_for(state, 2 * state.buffer_values.nbytes + 2 * state.buffer_links.nbytes, "SwitchML's payload buffers",
                  available)
        state = _grow_switchml_buffers(state)
    if state.flows.shape[0] and counters[h.G_FLOW_BUFFERS_IN_USE] + FLOW_MARGIN > state.flow_values.shape[0]:
        _room_for(state, 2 * (state.flow_values.nbytes + state.flow_buffer_links.nbytes),
                  "the host collectives' payload buffers", available)
        old = state.flow_values.shape[0]
        new = 2 * old
        values = np.zeros((new, state.flow_values.shape[1]), np.int32)
        values[:old] = state.flow_values
        links = np.zeros((new, 2), np.int64)
        links[:old] = state.flow_buffer_links
        links[old:] = _free_list(old, new)
        links[new - 1, 1] = counters[h.G_FLOW_FREE_BUFFER]
        counters[h.G_FLOW_FREE_BUFFER] = old
        state = state._replace(flow_values=values, flow_buffer_links=links)
    if state.flows.shape[0] and (counters[h.G_SEND_BACKLOG_PEAK] + state.flow_receive.shape[1] + FLOW_MARGIN
                                 > state.flow_send.shape[1]):
        _room_for(state, 2 * (state.flow_send.nbytes + state.flow_inputs.nbytes + state.flow_sacked.nbytes),
                  f"the send queues of {state.flows.shape[0]:,} flows (every flow as long as the longest backlog, "
                  f"{int(counters[h.G_SEND_BACKLOG_PEAK]):,} packets)", available)
        state = _grow_send_queues(state)
    return state


def _grow_send_queues(state: h.SimState) -> h.SimState:
    """Twice the send-queue slots per flow: each slot in use moves to its packet's place in the new ring."""
    old = state.flow_send.shape[1]
    new = 2 * old
    rows = np.arange(state.flows.shape[0])[:, np.newaxis]
    unacknowledged = state.flows[:, transport.F_UNA]
    produced = np.array([transport.queue_base(row) for row in state.flows], np.int64)
    arrays = {}
    # produced packets (buffers, inputs) live from the first unacknowledged produced one on; SACK marks
    # from the first unacknowledged packet on (own packets in flight have marks but no buffer)
    for name, fill, start in (("flow_send", -1, produced), ("flow_inputs", 0, produced),
                              ("flow_sacked", 0, unacknowledged)):
        packets = start[:, np.newaxis] + np.arange(old)[np.newaxis, :]
        before = getattr(state, name)
        after = np.full((before.shape[0], new), fill, before.dtype)
        after[rows, packets & (new - 1)] = before[rows, packets & (old - 1)]
        arrays[name] = after
    parameters = state.parameters.copy()
    parameters[h.P_SEND_MASK] = new - 1
    return state._replace(parameters=parameters, **arrays)


def _grow_switchml_buffers(state: h.SimState) -> h.SimState:
    """The state with twice the SwitchML payload buffers (contents kept, new ones on the free list)."""
    old = state.buffer_values.shape[0]
    new = 2 * old
    values = np.zeros((new, state.buffer_values.shape[1]), np.int32)
    values[:old] = state.buffer_values
    exponents = np.zeros((new, 2), np.int8)
    exponents[:old] = state.buffer_exponents
    links = np.zeros((new, 2), np.int64)
    links[:old] = state.buffer_links
    links[old:] = _free_list(old, new)
    links[new - 1, 1] = state.counters[h.G_FREE_BUFFER]
    state.counters[h.G_FREE_BUFFER] = old
    return state._replace(buffer_values=values, buffer_exponents=exponents, buffer_links=links)
