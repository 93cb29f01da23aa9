"""What each simulated event does, written once as numba functions over `SimState` arrays.

Both SwitchML engines call `handle_event` for every event, in the same order:
the fast engine from its compiled loop (`switchsim.sim.fast_engine`), the SimPy
engine from SimPy callbacks (`switchsim.sim.simpy_engine`). An event is a row
``(time, kind, target, header, channel, payload)``; handling one writes the
events it causes to ``out`` (in the order they are caused) and returns their
count. The engines only differ in how they keep the calendar, which is why they
give identical results.

Time is int64 picoseconds. Parts used, never re-implemented here:

* the worker protocol: `workers.protocol_state` (window, pool-index mapping,
  timers, backoff);
* the switch: `switchsim.pipeline.process.process_packet` on each switch's `SlotPool`;
* random decisions: `workers.quantizers.rng.counter_uniform`, keyed by
  (seed, channel, purpose) and indexed by the packet's number on its channel.

Events:

* ``BEGIN`` (host): start the host's next iteration (a fresh protocol instance).
* ``TIMER`` (host): the host's earliest timer may have expired.
* ``REQUEST`` (switch): a worker's packet (``payload`` = packet number, values
  regenerated from the workload) or a lower switch's partial (``payload`` = buffer) arrives.
* ``RESULT_AT_SWITCH`` (switch): a result comes down the job's aggregation tree;
  multicast to the job's children at this switch (hosts or switches further down).
* ``RESULT`` (host): a result arrives at a worker's NIC.
* ``RESULT_SEEN`` (host): the protocol sees it, ``host.receive_overhead_s`` later.

Payloads in flight (results, partials) live in a buffer pool with reference
counts, sized by what is in flight, never by the tensor.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from switchsim.pipeline.process import next_step, process_packet
from switchsim.pipeline.state import SlotPool
from switchsim.pipeline.tables import Recipients
from switchsim.protocol.spec import pool_index_set, pool_index_slot
from switchsim.sim.network import (
    CH_DESTINATION,
    CH_DESTINATION_KIND,
    CH_GROUP,
    CH_NUM_WORKERS,
    CH_PORT,
    CH_SOURCE_HOST,
    CH_WORKER_ID,
)
from workers import protocol_state as protocol
from workers.quantizers.rng import counter_uniform, counter_word

# --- event kinds -------------------------------------------------------------
BEGIN = 0
TIMER = 1
REQUEST = 2
RESULT_AT_SWITCH = 3
RESULT = 4
RESULT_SEEN = 5
#: transport kinds (`switchsim.sim.transport`): a transport packet reaches the far end of a channel
#: (target: its flow), a host's NIC may send (target: host), a flow's retransmission timer (target:
#: flow), a collective's iteration begins (target: its group row).
FLOW_PACKET = 6
NIC_SEND = 7
FLOW_TIMER = 8
GROUP_BEGIN = 9
#: columns of an event row
E_TIME, E_KIND, E_TARGET, E_HEADER, E_CHANNEL, E_PAYLOAD = range(6)
EVENT_FIELDS = 6

# --- scalar parameters (int64 array) -----------------------------------------
P_ELEMENTS_PER_PACKET = 0
P_ELEMENT_BITS = 1
P_WIRE_BYTES = 2
P_LATENCY = 3  #: switch pipeline, ps
P_SEND_OVERHEAD = 4
P_RECEIVE_OVERHEAD = 5
P_DUPLICATE_DELAY = 6
P_REORDER_DELAY = 7
P_HARDENED = 8
P_WINDOW = 9
P_TIMEOUT = 10
P_BACKOFF_THRESHOLD = 11
P_BACKOFF_INCREMENT = 12
P_ITERATIONS = 13
P_COMPUTE = 14
P_TOTAL_PACKETS = 15
P_SYNTHETIC = 16  #: 1: values from the counter-based generator; 0: from ``tensors``
P_ELEMENTS = 17  #: S, tensor elements per worker (synthetic)
P_CAPTURE_HOST = 18  #: host whose links are captured, -1 for none
P_KEEP_RESULTS = 19  #: 1: write the last iteration's results to ``final``
P_RECOVERY = 20  #: loss-recovery policy (`workers.protocol_state.RECOVERY_POLICIES` index)
P_RTO_MIN = 21  #: the ``rto`` policy's floor, ps
# 22: unused (was the count of hosts running SwitchML, now the per-host H_SWITCHML flag)
P_TRANSPORT = 23  #: `switchsim.sim.transport` TRANSPORTS index
P_FLOW_ELEMENTS = 24  #: elements per transport data packet
P_ACK_EVERY = 25  #: a receiver ACKs at least every this many in-order packets
P_RTO = 26  #: rdma-gbn's local ACK timeout; selective's RTO_high, ps
P_RTO_LOW = 27  #: selective's RTO_low, ps
P_RTO_LOW_PACKETS = 28  #: selective uses RTO_low with at most this many packets in flight
P_SEND_MASK = 29  #: send-queue slots per flow - 1 (a power of two - 1)
P_RECEIVE_MASK = 30  #: receive-queue slots per flow - 1
PARAMETERS = 31

# --- probabilities (float64 array) and their random-stream purposes -----------
F_LOSS, F_DUPLICATE, F_REORDER = range(3)

# --- run-wide counters (int64 array) ------------------------------------------
G_HOSTS_REMAINING = 0
G_FREE_BUFFER = 1  #: head of the free list, -1 when empty (then in use, then peak: `take_from_free_list`)
G_BUFFERS_IN_USE = 2
G_PEAK_BUFFERS = 3
G_CAPTURED = 4
G_CAPTURE_LEFT_OUT = 5
G_CHECKED_PACKETS = 6  #: results compared in full with their expected sum
G_WRONG_PACKETS = 7  #: results that differed
G_FLOW_FREE_BUFFER = 8  #: transport payload pool: head of the free list (then in use, then peak, as above)
G_FLOW_BUFFERS_IN_USE = 9
G_FLOW_PEAK_BUFFERS = 10
G_SEND_BACKLOG_PEAK = 11  #: most send-queue slots one flow has used (produced, not yet acknowledged)
G_CHECKED_ELEMENTS = 12  #: transport: final elements compared with their exact value
G_WRONG_ELEMENTS = 13
COUNTERS = 14

# --- per-host columns (int64) --------------------------------------------------
H_GROUP = 0
H_UPLINK = 1
H_BUSY_UNTIL = 2  #: the host's send path is busy until (send overhead)
H_TIMER_AT = 3  #: time of the timer event in the calendar, NEVER if none
H_ITERATION = 4  #: iteration running (or next to run)
H_ACTIVE = 5  #: 1 while a protocol instance runs
H_RETRANSMISSIONS = 6  #: over all iterations
H_TIMEOUTS = 7
H_SENT = 8
H_DONE = 9
H_SWITCHML = 10  #: 1: the host runs SwitchML (it begins at P_COMPUTE); 0: a collective's host, or idle
H_START_SLOT = 11  #: first slot of its job's allotment (the job's slots: start .. start + window)
H_FINISHED_AT = 12  #: time it finished its last iteration, ps (0 until then)
H_WRONG_RESULTS = 13  #: results it received that differed from the exact sum
HOST_FIELDS = 14

# --- per-channel counters (int64) -------------------------------------------------
C_BUSY_UNTIL = 0
C_PACKETS = 1  #: put on the wire (lost ones included); also the next packet's random-stream index
C_BYTES = 2
C_QUEUE_DROPS = 3
C_LOSS_DROPS = 4
C_DUPLICATES = 5
C_MAX_BACKLOG = 6  #: deepest backlog a packet found, ps of transmission
CHANNEL_COUNTERS = 7

# --- packet size classes: columns of ``channel_serialization`` -----------------------
SIZE_SWITCHML = 0  #: a SwitchML packet
SIZE_DATA = 1  #: a transport data packet (``baselines.packet_payload_bytes``)
SIZE_CONTROL = 2  #: a transport ACK / NAK / SACK
SIZE_CLASSES = 3

NEVER = protocol.NEVER
_NOBODY = int(Recipients.NONE)
_JOB = int(Recipients.JOB)


class SimState(NamedTuple):
    """Every array a SwitchML run reads or writes (built by `switchsim.sim.state.new_state`)."""

    parameters: np.ndarray  #: int64 (PARAMETERS,)
    probabilities: np.ndarray  #: float64 (3,): loss, duplicate, reorder
    counters: np.ndarray  #: int64 (COUNTERS,)
    hosts: np.ndarray  #: int64 (H, HOST_FIELDS)
    channels: np.ndarray  #: int64 (C, CHANNEL_FIELDS): `switchsim.sim.network` layout
    channel_counters: np.ndarray  #: int64 (C, CHANNEL_COUNTERS)
    channel_keys: np.ndarray  #: uint64 (C, 3): random-stream key per purpose
    port_channel: np.ndarray  #: int64 (switches, ports)
    members: np.ndarray  #: int64 (switches, G, 33)
    switch_uplink: np.ndarray  #: int64 (switches, G): a job's partial sums go up this channel, -1 at its root
    groups: np.ndarray  #: int64 (G, n)
    bitmap: np.ndarray  #: SlotPool arrays with a leading switch axis
    counter: np.ndarray
    values: np.ndarray
    exponents: np.ndarray
    job_number: np.ndarray
    tsi: np.ndarray
    done: np.ndarray
    pool_counters: np.ndarray
    protocol_config: np.ndarray  #: `workers.protocol_state` arrays, one instance per host
    protocol_status: np.ndarray
    protocol_lanes: np.ndarray
    buffer_values: np.ndarray  #: int32 (B, k): payloads in flight
    buffer_exponents: np.ndarray  #: int8 (B, 2)
    buffer_links: np.ndarray  #: int64 (B, 2): reference count, next free buffer
    host_keys: np.ndarray  #: uint64 (H,): synthetic generator key per host
    tensors: np.ndarray  #: int32 (H, P*k) in-memory workload, else (1, 1)
    request_exponents: np.ndarray  #: int8 (H, P, 2) in-memory workloads (zeros for int32), else (1, 1, 2)
    expected: np.ndarray  #: int32 (G, P*k) in-memory expected sums, else (1, 1)
    check_values: np.ndarray  #: int32 (G, 2W, k): synthetic expected sums, per pool position
    check_packet: np.ndarray  #: int64 (G, 2W): the packet whose sum ``check_values`` holds
    final: np.ndarray  #: int32 (H, P*k): last iteration's results (``P_KEEP_RESULTS``), else (1, 1)
    final_exponents: np.ndarray  #: int8 (H, P, 2) likewise
    capture_meta: np.ndarray  #: int64 (limit, 3): departure, is result, header
    capture_values: np.ndarray  #: int32 (limit, k)
    capture_exponents: np.ndarray  #: int8 (limit, 2)
    scratch_values: np.ndarray  #: int32 (2, k): request values, switch output
    scratch_exponents: np.ndarray  #: int8 (2, 2)
    scratch_packets: np.ndarray  #: int64 (W,): packets the protocol asks to send
    size_class_bytes: np.ndarray  #: int64 (SIZE_CLASSES,): on-wire bytes of each packet size class
    channel_serialization: np.ndarray  #: int64 (C, SIZE_CLASSES): ps to serialize each size class
    channel_delay: np.ndarray  #: int64 (C,): propagation, ps
    channel_queue: np.ndarray  #: int64 (C,): queue capacity, ps of transmission at the channel's rate
    # transport flows (`switchsim.sim.transport`; one-row placeholders in a SwitchML-only state)
    flows: np.ndarray  #: int64 (F, transport.FLOW_FIELDS)
    flow_routes: np.ndarray  #: int64 (F, 2, hops): channels forward (data) and back (control), -1 padded
    flow_consumers: np.ndarray  #: int64 (X, 4): (consumer flow, packet offset, from, until) of each flow's
    #: deliveries: delivered packets p in [from, until) feed packet p + offset of the consumer; then each
    #: flow's suppliers as (supplier flow, offset, from, until) (``F_SUPPLIERS_START``..``END``)
    flow_send: np.ndarray  #: int64 (F, send slots): buffer of each produced packet until acknowledged, -1
    flow_inputs: np.ndarray  #: int64 (F, send slots): inputs a slot has received
    flow_sacked: np.ndarray  #: int8 (F, send slots): selective: the receiver holds this packet
    flow_receive: np.ndarray  #: int64 (F, receive slots): selective: buffers held out of order, -1
    flow_values: np.ndarray  #: int32 (B2, P_FLOW_ELEMENTS): transport payloads
    flow_buffer_links: np.ndarray  #: int64 (B2, 2): reference count, next free
    host_flow_start: np.ndarray  #: int64 (H + 1,): host h sends flows host_flow_list[start[h]:start[h+1]]
    host_flow_list: np.ndarray  #: int64 (F,): flows by sending host, in the NIC's priority order
    host_nic: np.ndarray  #: int64 (H, 3): pending NIC_SEND time (NEVER if none), first unfinished list index,
    #: list index last served
    collective_groups: np.ndarray  #: int64 (G2, transport.GROUP_FIELDS): each collective job's progress
    expected_ready: np.ndarray  #: int8 (G, L): synthetic collectives: ``expected`` holds element x
    flow_scratch: np.ndarray  #: int32 (2, P_FLOW_ELEMENTS)


# --- headers -------------------------------------------------------------------
@numba.njit(cache=True, nogil=True, _nrt=False)
def make_header(job_number, pool_index, tsi):
    """Pack the SwitchML fields an event carries into one int64."""
    return (job_number << 48) | (pool_index << 32) | tsi


@numba.njit(cache=True, nogil=True, _nrt=False)
def header_fields(header):
    """``(job_number, pool_index, tsi)`` of a packed header."""
    return (header >> 48) & 0xFF, (header >> 32) & 0xFFFF, header & 0xFFFFFFFF


# --- values ----------------------------------------------------------------------
@numba.njit(cache=True, nogil=True, _nrt=False)
def copy_into(target, source):
    """``target[:] = source`` element by element (no temporary: the handlers run without numba's allocator)."""
    for i in range(source.shape[0]):
        target[i] = source[i]


@numba.njit(cache=True, nogil=True, _nrt=False)
def to_element_bits(value, bits):
    """An int32 as a ``bits``-wide wire element carries it: the low bits, sign-extended."""
    if bits == 32:
        return value
    shift = 32 - bits
    return np.int32(np.int32(value << shift) >> shift)


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def synthetic_element(key, index, bits):
    """Synthetic element ``index`` of the host whose generator is ``key``: the high 32 bits of
    `counter_word` (key, index) as an int32, as a ``bits``-wide wire element carries it."""
    high = np.int64(counter_word(key, np.uint64(index)) >> np.uint64(32))
    return to_element_bits(np.int32(high - ((high >> 31) << 32)), bits)


@numba.njit(cache=True, nogil=True, _nrt=False)
def synthetic_values(key, first, elements, bits, out):
    """``out[i]`` = `synthetic_element` ``first + i`` of the host with generator ``key`` (0 past ``elements``)."""
    count = min(out.shape[0], max(elements - first, 0))
    for i in range(count):
        out[i] = synthetic_element(key, first + i, bits)
    for i in range(count, out.shape[0]):
        out[i] = 0


@numba.njit(cache=True, nogil=True, _nrt=False)
def synthetic_block(key, first, elements, bits, out):
    """`synthetic_values` as a compiled entry point for Python callers (the baselines)."""
    synthetic_values(key, first, elements, bits, out)


@numba.njit(cache=True, nogil=True, _nrt=False)
def synthetic_accumulate(key, first, elements, bits, target):
    """``target[i] += `` synthetic element ``first + i`` (int32, wrapping): a baseline adding a host's range."""
    count = min(target.shape[0], max(elements - first, 0))
    for i in range(count):
        target[i] += synthetic_element(key, first + i, bits)


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def request_values(state, host, packet, out_values, out_exponents):
    """The values and exponents host ``host`` sends in ``packet`` (regenerated, never stored per packet)."""
    parameters = state.parameters
    k = parameters[P_ELEMENTS_PER_PACKET]
    if parameters[P_SYNTHETIC]:
        synthetic_values(state.host_keys[host], packet * k, parameters[P_ELEMENTS], parameters[P_ELEMENT_BITS],
                         out_values)
        out_exponents[0] = 0
        out_exponents[1] = 0
    else:
        copy_into(out_values, state.tensors[host, packet * k:(packet + 1) * k])
        copy_into(out_exponents, state.request_exponents[host, packet])


@numba.njit(cache=True, nogil=True, _nrt=False)
def _same(received, expected):
    for i in range(received.shape[0]):
        if received[i] != expected[i]:
            return False
    return True


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def result_is_exact(state, group, packet, position, received):
    """Does ``received`` (int32 (k,)) equal the exact sum of ``packet`` for job ``group``, at the wire width?

    In-memory workloads compare with the precomputed sums. Synthetic ones
    compute the sum from the generator once per chunk (O(n k)), keep it at the
    chunk's pool position while the job's workers collect their copies, and
    recompute if the position has moved on to another packet.
    """
    parameters = state.parameters
    k = parameters[P_ELEMENTS_PER_PACKET]
    if not parameters[P_SYNTHETIC]:
        return _same(received, state.expected[group, packet * k:(packet + 1) * k])
    if state.check_packet[group, position] != packet:
        synthetic_sum(state.check_values[group, position], state.host_keys, state.groups[group], packet * k,
                       parameters[P_ELEMENTS], parameters[P_ELEMENT_BITS], state.scratch_values[0])
        state.check_packet[group, position] = packet
    return _same(received, state.check_values[group, position])


@numba.njit(cache=True, nogil=True, _nrt=False)
def synthetic_sum(total, host_keys, members, first, elements, bits, row):
    """``total`` = the wire-width sum over ``members`` of their synthetic elements ``first ..``."""
    k = total.shape[0]
    for i in range(k):
        total[i] = 0
    for member in range(members.shape[0]):
        synthetic_values(host_keys[members[member]], first, elements, bits, row)
        for i in range(k):
            total[i] += row[i]  # int32: wraps as the switch's registers do
    for i in range(k):
        total[i] = to_element_bits(total[i], bits)


# --- payload buffers ------------------------------------------------------------------
@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def take_from_free_list(links, counters, free):
    """The head of a payload pool's free list, now in use with no references; ``counters[free]`` is the
    pool's free-list head, ``free + 1`` its buffers in use, ``free + 2`` their peak (SwitchML's pool:
    `G_FREE_BUFFER`; the transports': `G_FLOW_FREE_BUFFER`)."""
    buffer = counters[free]
    counters[free] = links[buffer, 1]
    counters[free + 1] += 1
    if counters[free + 1] > counters[free + 2]:
        counters[free + 2] = counters[free + 1]
    links[buffer, 0] = 0
    return buffer


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def drop_reference(links, counters, free, buffer):
    """Drop one reference to ``buffer``; at zero it returns to the free list (counters as in
    `take_from_free_list`)."""
    links[buffer, 0] -= 1
    if links[buffer, 0] <= 0:
        links[buffer, 1] = counters[free]
        counters[free] = buffer
        counters[free + 1] -= 1


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def allocate_buffer(state, values, exponents):
    """A buffer holding a copy of ``values``/``exponents``, with no references yet."""
    buffer = take_from_free_list(state.buffer_links, state.counters, G_FREE_BUFFER)
    copy_into(state.buffer_values[buffer], values)
    state.buffer_exponents[buffer, 0] = exponents[0]
    state.buffer_exponents[buffer, 1] = exponents[1]
    return buffer


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def release_buffer(state, buffer):
    """Drop one reference; the buffer returns to the free list at zero."""
    drop_reference(state.buffer_links, state.counters, G_FREE_BUFFER, buffer)


# --- links ----------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True, _nrt=False)
def _capture(state, channel, departure, header, payload):
    capture_host = state.parameters[P_CAPTURE_HOST]
    counters = state.counters
    source_host = state.channels[channel, CH_SOURCE_HOST]
    is_result = state.channels[channel, CH_DESTINATION_KIND] == RESULT and state.channels[
        channel, CH_DESTINATION] == capture_host
    if source_host != capture_host and not is_result:
        return
    row = counters[G_CAPTURED]
    if row >= state.capture_meta.shape[0]:
        counters[G_CAPTURE_LEFT_OUT] += 1
        return
    counters[G_CAPTURED] += 1
    state.capture_meta[row, 0] = departure
    state.capture_meta[row, 1] = is_result
    state.capture_meta[row, 2] = header
    if source_host >= 0:
        request_values(state, source_host, payload, state.capture_values[row], state.capture_exponents[row])
    else:
        copy_into(state.capture_values[row], state.buffer_values[payload])
        copy_into(state.capture_exponents[row], state.buffer_exponents[payload])


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _emit(out, count, time, kind, target, header, channel, payload):
    out[count, E_TIME] = time
    out[count, E_KIND] = kind
    out[count, E_TARGET] = target
    out[count, E_HEADER] = header
    out[count, E_CHANNEL] = channel
    out[count, E_PAYLOAD] = payload
    return count + 1


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def channel_transmit(state, channel, ready, size_class):
    """Put a packet of ``size_class`` on ``channel`` at ``ready`` (ps): ``(departure, arrival, copy_arrival)``.

    The one link model of every packet (SwitchML's and the transports'). Serialization
    (``channel_serialization[channel, size_class]``) starts when the transmitter is
    free; a packet that would wait longer than the queue holds is tail-dropped
    (departure -1); it arrives ``channel_delay`` after its last bit left. Loss
    (arrival -1), reordering (held back) and duplication (a second copy at
    ``copy_arrival``, else -1) are drawn from the channel's streams at the packet's index.
    """
    parameters = state.parameters
    stats = state.channel_counters
    busy = stats[channel, C_BUSY_UNTIL]
    serialization = state.channel_serialization[channel, size_class]
    start = ready
    if busy > ready:
        backlog = busy - ready
        if backlog + serialization > state.channel_queue[channel]:
            stats[channel, C_QUEUE_DROPS] += 1
            return -1, -1, -1
        if backlog > stats[channel, C_MAX_BACKLOG]:
            stats[channel, C_MAX_BACKLOG] = backlog
        start = busy
    departure = start + serialization
    stats[channel, C_BUSY_UNTIL] = departure
    index = np.uint64(stats[channel, C_PACKETS])
    stats[channel, C_PACKETS] += 1
    stats[channel, C_BYTES] += state.size_class_bytes[size_class]
    arrival = departure + state.channel_delay[channel]
    probabilities = state.probabilities
    keys = state.channel_keys
    if probabilities[F_LOSS] > 0.0 and counter_uniform(keys[channel, F_LOSS], index) < probabilities[F_LOSS]:
        stats[channel, C_LOSS_DROPS] += 1
        return departure, -1, -1
    if probabilities[F_REORDER] > 0.0 and counter_uniform(keys[channel, F_REORDER], index) < probabilities[F_REORDER]:
        arrival += parameters[P_REORDER_DELAY]
    copy = -1
    if probabilities[F_DUPLICATE] > 0.0 and counter_uniform(
            keys[channel, F_DUPLICATE], index) < probabilities[F_DUPLICATE]:
        stats[channel, C_DUPLICATES] += 1
        copy = arrival + parameters[P_DUPLICATE_DELAY]
    return departure, arrival, copy


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def channel_send(state, channel, ready, header, payload, is_buffer, out, count, size_class=SIZE_SWITCHML):
    """Send a SwitchML packet on ``channel`` (`channel_transmit`); emit its arrival(s) as the channel's
    destination kind; return the new ``count``. A duplicate copy is emitted first (as it always was)."""
    departure, arrival, copy = channel_transmit(state, channel, ready, size_class)
    if departure < 0:
        return count
    if state.parameters[P_CAPTURE_HOST] >= 0:
        _capture(state, channel, departure, header, payload)
    if arrival < 0:
        return count
    kind = state.channels[channel, CH_DESTINATION_KIND]
    target = state.channels[channel, CH_DESTINATION]
    if copy >= 0:
        count = _emit(out, count, copy, kind, target, header, channel, payload)
        if is_buffer:
            state.buffer_links[payload, 0] += 1
    count = _emit(out, count, arrival, kind, target, header, channel, payload)
    if is_buffer:
        state.buffer_links[payload, 0] += 1
    return count


# --- workers ----------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _worker_send(state, host, now, packets, sends, out, count):
    """Send ``packets[:sends]`` on the host's uplink (after the send overhead); re-aim its timer."""
    parameters = state.parameters
    hosts = state.hosts
    config = state.protocol_config
    job = config[host, protocol.C_JOB_NUMBER]
    overhead = parameters[P_SEND_OVERHEAD]
    ready = now
    for i in range(sends):
        packet = packets[i]
        if overhead:
            hosts[host, H_BUSY_UNTIL] = max(hosts[host, H_BUSY_UNTIL], now) + overhead
            ready = hosts[host, H_BUSY_UNTIL]
        header = make_header(job, protocol.pool_index_of(config, host, packet), protocol.packet_tsi(packet))
        count = channel_send(state, hosts[host, H_UPLINK], ready, header, packet, False, out, count)
    deadline = protocol.next_deadline(state.protocol_status, state.protocol_lanes, host)
    if deadline < hosts[host, H_TIMER_AT]:
        hosts[host, H_TIMER_AT] = deadline
        count = _emit(out, count, deadline, TIMER, host, 0, -1, 0)
    return count


@numba.njit(cache=True, nogil=True, _nrt=False)
def _begin(state, host, now, out, count):
    parameters = state.parameters
    hosts = state.hosts
    iteration = hosts[host, H_ITERATION]
    window = parameters[P_WINDOW]
    total = parameters[P_TOTAL_PACKETS]
    uplink = state.channels[hosts[host, H_UPLINK]]
    protocol.configure(state.protocol_config, state.protocol_status, state.protocol_lanes, host,
                       uplink[CH_WORKER_ID], uplink[CH_NUM_WORKERS], window, hosts[host, H_START_SLOT],
                       parameters[P_ELEMENTS_PER_PACKET],
                       iteration & 0xFF, (iteration * total) % (2 * window), total, parameters[P_TIMEOUT],
                       parameters[P_BACKOFF_THRESHOLD], parameters[P_BACKOFF_INCREMENT], parameters[P_RECOVERY],
                       parameters[P_RTO_MIN])
    hosts[host, H_ACTIVE] = 1
    hosts[host, H_TIMER_AT] = NEVER
    packets = state.scratch_packets
    sends = protocol.start(state.protocol_config, state.protocol_status, state.protocol_lanes, host, now, packets)
    return _worker_send(state, host, now, packets, sends, out, count)


@numba.njit(cache=True, nogil=True, _nrt=False)
def _finish_iteration(state, host, now, out, count):
    parameters = state.parameters
    hosts = state.hosts
    status = state.protocol_status
    hosts[host, H_ACTIVE] = 0
    hosts[host, H_RETRANSMISSIONS] += status[host, protocol.S_RETRANSMISSIONS]
    hosts[host, H_TIMEOUTS] += status[host, protocol.S_TIMEOUTS]
    hosts[host, H_SENT] += status[host, protocol.S_SENT]
    hosts[host, H_ITERATION] += 1
    if hosts[host, H_ITERATION] == parameters[P_ITERATIONS]:
        hosts[host, H_DONE] = 1
        hosts[host, H_FINISHED_AT] = now
        state.counters[G_HOSTS_REMAINING] -= 1
        return count
    if parameters[P_COMPUTE]:
        return _emit(out, count, now + parameters[P_COMPUTE], BEGIN, host, 0, -1, 0)
    return _begin(state, host, now, out, count)


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _worker_result(state, host, now, header, buffer, out, count):
    """The protocol takes a result (or drops it); check it in full; send what it releases."""
    hosts = state.hosts
    if not hosts[host, H_ACTIVE]:
        release_buffer(state, buffer)
        return count
    job, pool_index, tsi = header_fields(header)
    packet, following = protocol.on_result(state.protocol_config, state.protocol_status, state.protocol_lanes, host,
                                           now, job, tsi, pool_index)
    if packet >= 0:
        parameters = state.parameters
        group = hosts[host, H_GROUP]
        window = parameters[P_WINDOW]
        position = (packet + state.protocol_config[host, protocol.C_SHIFT]) % (2 * window)
        received = state.buffer_values[buffer]
        state.counters[G_CHECKED_PACKETS] += 1
        if not result_is_exact(state, group, packet, position, received):
            state.counters[G_WRONG_PACKETS] += 1
            hosts[host, H_WRONG_RESULTS] += 1
        if parameters[P_KEEP_RESULTS] and hosts[host, H_ITERATION] == parameters[P_ITERATIONS] - 1:
            k = parameters[P_ELEMENTS_PER_PACKET]
            copy_into(state.final[host, packet * k:(packet + 1) * k], received)
            copy_into(state.final_exponents[host, packet], state.buffer_exponents[buffer])
    release_buffer(state, buffer)
    packets = state.scratch_packets
    sends = 0
    if following >= 0:
        packets[0] = following
        sends = 1
    count = _worker_send(state, host, now, packets, sends, out, count)
    if state.protocol_status[host, protocol.S_REMAINING] == 0:
        count = _finish_iteration(state, host, now, out, count)
    return count


@numba.njit(cache=True, nogil=True, _nrt=False)
def _timer(state, host, now, out, count):
    hosts = state.hosts
    if hosts[host, H_TIMER_AT] != now or not hosts[host, H_ACTIVE]:
        return count  # superseded by an earlier timer, or the iteration ended
    hosts[host, H_TIMER_AT] = NEVER
    packets = state.scratch_packets
    sends = protocol.on_timeout(state.protocol_config, state.protocol_status, state.protocol_lanes, host, now, packets)
    return _worker_send(state, host, now, packets, sends, out, count)


# --- switches ------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _multicast(state, switch, group, ready, header, buffer, out, count):
    members = state.members[switch, group]
    for i in range(members[0]):
        count = channel_send(state, state.port_channel[switch, members[1 + i]], ready, header, buffer, True, out,
                             count)
    return count


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _request(state, switch, now, header, channel, payload, out, count):
    """A packet reaches a switch's pipeline; the reply decision: up (ToR), multicast or unicast."""
    parameters = state.parameters
    entry = state.channels[channel]
    source_host = entry[CH_SOURCE_HOST]
    values = state.scratch_values[0]
    exponents = state.scratch_exponents[0]
    if source_host >= 0:
        request_values(state, source_host, payload, values, exponents)
    else:
        copy_into(values, state.buffer_values[payload])
        copy_into(exponents, state.buffer_exponents[payload])
        release_buffer(state, payload)
    job, pool_index, tsi = header_fields(header)
    pool = SlotPool(state.bitmap[switch], state.counter[switch], state.values[switch], state.exponents[switch],
                    state.job_number[switch], state.tsi[switch], state.done[switch], state.pool_counters[switch])
    out_values = state.scratch_values[1]
    out_exponents = state.scratch_exponents[1]
    slot, pool_set = pool_index_slot(pool_index), pool_index_set(pool_index)
    action = process_packet(pool, parameters[P_HARDENED] != 0, entry[CH_WORKER_ID], entry[CH_NUM_WORKERS], job, tsi,
                            slot, pool_set, exponents, values, out_values, out_exponents)
    recipients, reply_pool_index = next_step(action, slot, pool_set)
    if recipients == _NOBODY:
        return count
    header = make_header(job, reply_pool_index, tsi)
    bits = parameters[P_ELEMENT_BITS]
    if bits != 32:
        for i in range(out_values.shape[0]):
            out_values[i] = to_element_bits(out_values[i], bits)
    buffer = allocate_buffer(state, out_values, out_exponents)
    ready = now + parameters[P_LATENCY]
    uplink = state.switch_uplink[switch, entry[CH_GROUP]]
    if uplink >= 0:  # below the job's root: the completed (or re-requested) partial goes up as one contribution
        count = channel_send(state, uplink, ready, header, buffer, True, out, count)
    elif recipients == _JOB:
        count = _multicast(state, switch, entry[CH_GROUP], ready, header, buffer, out, count)
    else:
        count = channel_send(state, state.port_channel[switch, entry[CH_PORT]], ready, header, buffer, True, out,
                             count)
    if state.buffer_links[buffer, 0] == 0:  # every copy was dropped
        state.buffer_links[buffer, 0] = 1
        release_buffer(state, buffer)
    return count


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def handle_event(state, now, kind, target, header, channel, payload, out):
    """Do one event at ``now`` (ps); write the events it causes to ``out``; return their count.

    Inlined into the fast engine's loop (numba passes the state tuple by value:
    a real call per event costs about 0.2 us); Python callers use `handle_one_event`.
    """
    if kind == REQUEST:
        return _request(state, target, now, header, channel, payload, out, 0)
    if kind == RESULT and state.parameters[P_RECEIVE_OVERHEAD]:
        return _emit(out, 0, now + state.parameters[P_RECEIVE_OVERHEAD], RESULT_SEEN, target, header, channel,
                     payload)
    if kind == RESULT or kind == RESULT_SEEN:
        return _worker_result(state, target, now, header, payload, out, 0)
    if kind == TIMER:
        return _timer(state, target, now, out, 0)
    if kind == RESULT_AT_SWITCH:
        count = _multicast(state, target, state.channels[channel, CH_GROUP], now + state.parameters[P_LATENCY],
                           header, payload, out, 0)
        release_buffer(state, payload)
        return count
    if kind != BEGIN:
        return transport.flow_event(state, now, kind, target, header, channel, payload, out)
    return _begin(state, target, now, out, 0)


@numba.njit(cache=True, nogil=True, _nrt=False)
def handle_one_event(state, now, kind, target, header, channel, payload, out):
    """`handle_event` as a compiled entry point for Python callers (the SimPy engine)."""
    return handle_event(state, now, kind, target, header, channel, payload, out)


from switchsim.sim import transport  # noqa: E402  (it builds on the link model above)
