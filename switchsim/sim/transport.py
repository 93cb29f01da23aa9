"""Reliable transports for the host collectives, packet by packet, as numba handlers over `SimState` arrays.

A collective (`switchsim.sim.collectives`) is a set of *flows*: a stream of
packets from one host to another along a route of channels, carried by a
transport. Every packet crosses every channel of its route through
`switchsim.sim.handlers.channel_transmit`, the link model SwitchML's packets
use (serialization at the channel's rate, tail-drop queue, propagation, loss,
duplication, reordering from the channel's random streams), and waits the
switch pipeline latency at every switch. The engines see four event kinds
(`handlers.FLOW_PACKET`, `NIC_SEND`, `FLOW_TIMER`, `GROUP_BEGIN`), all handled
by `flow_event`, so both engines run the collectives exactly as they run SwitchML.

Data. A flow's packet ``q`` carries the elements of one range (`packet_range`).
The first ``F_DEPENDENT_FROM`` packets are the sender's own contribution
(regenerated at every transmission). Later ones are *produced*: each delivery
of packet ``p`` of an input flow at the sender is added into slot ``p +
offset`` (``flow_consumers``: consumer, offset, and the range of ``p`` it takes);
a slot with all its inputs (``F_INPUTS``, one more in ``[F_EXTRA_INPUTS_FROM,
F_EXTRA_INPUTS_UNTIL)``; plus the sender's own contribution when ``q <
F_ADD_UNTIL``) is complete, checked if it is final, copied (those in
``[F_MIRROR_FROM, F_MIRROR_UNTIL)``, into packet ``q + F_MIRROR_OFFSET``) to the
``F_MIRROR`` chain (a fan-out), and may be sent. So a
rank forwards a packet as soon as it has it (store-and-forward per packet).

Rounds. A schedule may loop over its tensor in rounds, as NCCL's kernels loop
over chunks of at most ``NCCL_BUFFSIZE / NCCL_STEPS * CHUNKSTEPS`` bytes per
rank and step: packet ``q`` of a flow is then packet ``w = q % F_ROUND_PACKETS``
of round ``q // F_ROUND_PACKETS``, with every range above (own contribution,
inputs, checks, mirror, feeds) read on ``w`` and its elements moved by the
round times ``F_ROUND_ELEMENTS``. A flow sends its rounds in order, so a stage
never holds more than one round's step.

Values are int32 wrapping additions at the wire width; every final element a
rank ends with is compared with its exact value (the job's sum, or for an
all-gather the source's element).

Transports (``P_TRANSPORT``), documented with their sources in docs/simulator.md:

* ``rdma-gbn`` (RoCE RC): the receiver accepts only the next PSN; on a gap it
  sends one NAK and drops every out-of-order packet until the missing one
  arrives; the sender goes back to the NAKed PSN; a local ACK timeout (fixed,
  ``P_RTO``) resends from the oldest unacknowledged packet.
* ``selective`` (IRN): the receiver keeps out-of-order packets and answers each
  with a SACK (cumulative ACK + the PSN received); the sender resends only the
  holes below the highest SACKed PSN, once per loss episode; an RTO (RTO_low
  with at most ``P_RTO_LOW_PACKETS`` in flight, else RTO_high) resends every
  unSACKed packet.

Both: at most ``F_WINDOW`` packets past the oldest unacknowledged one (one
bandwidth-delay product); ACKs are coalesced: every ``P_ACK_EVERY`` in-order
packets, at once for a packet whose AckReq bit the sender set (the last one its
window lets it send, or a retransmission), and otherwise when the
receiver's coalescing timer (``F_ACK_DELAY``: ``state.ACK_DELAY_WINDOWS`` window
times at the path's slowest link, set when an in-order packet finds none running)
fires. A host's NIC sends one packet at a time on its
uplink, from its flows that may send: those of the lowest ``F_PRIORITY`` (an
all-gather's step), round-robin among equals (the tree's or the servers' streams).

Back-pressure between pipeline stages (credits, as NCCL's per-connection FIFOs
of ``NCCL_STEPS`` slots): a consumer holds the packets it is fed until they are
acknowledged; besides a whole step of a ring (what arrives while it sends the
packets that do not wait for this feed), it has room for ``F_STAGE_BUFFER``
more, so a flow that feeds it may send a packet only if that packet's slot falls
in that room (`credit`). The receiver grants credit as the consumer's packets
are acknowledged and as the flow's packets are delivered (`_offer_credit`); a
grant reaches the sender ``F_CREDIT_DELAY`` later (the unloaded one-way time
back, never lost: NCCL returns credits as RDMA writes on the reliable
connection). A stage thus never buffers more than its room, however slow the
link after it.
"""

from __future__ import annotations

import numba
import numpy as np

from switchsim.sim import handlers as h

#: Transports, by their scenario names (index = ``P_TRANSPORT``).
TRANSPORTS = ("rdma-gbn", "selective")
GO_BACK_N = 0
SELECTIVE = 1

# --- flow columns (int64) ------------------------------------------------------------
F_SOURCE = 0  #: sending host
F_DESTINATION = 1  #: receiving host
F_PACKETS = 2
F_GROUP = 3  #: the job (row of ``groups`` and ``collective_groups``)
F_HOPS = 4  #: channels of the forward route
F_BACK_HOPS = 5  #: channels of the route back (ACKs)
F_WINDOW = 6  #: packets in flight at most
F_DEPENDENT_FROM = 7  #: packets before this are the sender's own contribution
F_INPUTS = 8  #: inputs a produced packet needs
F_ADD_UNTIL = 9  #: produced packets before this also get the sender's own contribution
F_MIRROR = 10  #: a flow whose packets are copies of this flow's produced packets, -1
F_CHECK_PRODUCED_FROM = 11  #: produced packets in [FROM, UNTIL) are final at the sender: checked
F_CHECK_PRODUCED_UNTIL = 12
F_CHECK_DELIVERED_FROM = 13  #: delivered packets from this one on are final at the receiver: checked
F_CHECK_KIND = 14  #: CHECK_SUM or CHECK_SOURCE
F_CHUNK0 = 15  #: packet q's chunk is (CHUNK0 - q // CHUNK_PACKETS) mod CHUNKS
F_CHUNKS = 16
F_CHUNK_PACKETS = 17
F_CHUNK_ELEMENTS = 18
F_ELEMENT_BASE = 19
F_CONSUMERS_START = 20  #: rows of ``flow_consumers`` fed by this flow's deliveries
F_CONSUMERS_END = 21
# dynamic
F_AVAILABLE = 22  #: packets 0..AVAILABLE-1 may be sent
F_UNA = 23  #: oldest unacknowledged
F_NXT = 24  #: next new (go-back-N: next) packet to send
F_HIGH = 25  #: highest packet sent + 1
F_RCV_NXT = 26  #: receiver: next expected
F_UNACKED = 27  #: receiver: in-order packets since its last ACK
F_NAK_SENT = 28  #: go-back-N receiver: a NAK is out for the current gap
F_DEADLINE = 29  #: retransmission deadline, NEVER if none
F_TIMER_EVENT = 30  #: time of the pending FLOW_TIMER event, NEVER if none
F_RETX_NEXT = 31  #: selective: next packet to consider for retransmission
F_RETX_LIMIT = 32  #: selective: packets below this (not SACKed) are lost
F_RETRANSMISSIONS = 33
F_TIMEOUTS = 34
F_PRIORITY = 35  #: a host's NIC serves its lowest-priority sendable flows first, round-robin among equals
# static again (appended after the dynamic block, so every older column keeps its index)
F_SUBCHUNKS = 36  #: a chunk's packets are SUBCHUNKS blocks of SUBCHUNK_PACKETS (`packet_range`); 1: one block
F_SUBCHUNK0 = 37  #: block b of a chunk carries sub-chunk (SUBCHUNK0 - b) mod SUBCHUNKS
F_SUBCHUNK_PACKETS = 38
F_SUBCHUNK_ELEMENTS = 39
F_EXTRA_INPUTS_FROM = 40  #: produced packets in [FROM, UNTIL) need INPUTS + 1 inputs
F_EXTRA_INPUTS_UNTIL = 41
F_MIRROR_FROM = 42  #: produced packets p in [FROM, UNTIL) are copied into packet p + OFFSET of F_MIRROR
F_MIRROR_UNTIL = 43
F_MIRROR_OFFSET = 44
F_STAGE_BUFFER = 45  #: as a consumer: packets it may hold beyond a ring step (`credit`)
F_CREDIT_DELAY = 46  #: a credit's time from the receiver back to the sender (one way, unloaded), ps
F_ACK_DELAY = 47  #: the receiver's ACK coalescing timer, ps
F_SUPPLIERS_START = 48  #: rows of ``flow_consumers`` that feed this flow (its suppliers' rows, copied)
F_SUPPLIERS_END = 49
# dynamic again
F_CREDIT = 50  #: sender: packets before this may be sent (the receiver's stage buffer has room)
F_CREDIT_SENT = 51  #: receiver: the credit it last granted
F_ACK_TIMER = 52  #: receiver: time of the pending ACK-coalescing timer, NEVER if none
# static again: rounds (NCCL's loop over chunks): packet q is packet q % ROUND_PACKETS of round q // ROUND_PACKETS
F_ROUND_PACKETS = 53  #: packets of one round (every per-packet rule above reads the index within the round)
F_ROUND_ELEMENTS = 54  #: elements a round moves the flow's ranges by
FLOW_FIELDS = 55
FIRST_DYNAMIC = F_AVAILABLE

CHECK_SUM = 0  #: final packets hold the job's exact sum of their range
CHECK_SOURCE = 1  #: final packets hold the sending host's own elements (all-gather)

# --- collective group columns -----------------------------------------------------
GR_WORK = 0  #: flows' "all delivered" and "all acknowledged" events left in this iteration
GR_ITERATION = 1
GR_FIRST_FLOW = 2
GR_END_FLOW = 3
GR_HOSTS = 4  #: worker hosts of the job (removed from G_HOSTS_REMAINING at the end); 0: not a collective job
GR_FINISHED_AT = 5  #: time its last iteration ended, ps (0 until then)
GR_WRONG_ELEMENTS = 6  #: final elements that differed from their exact value
GROUP_FIELDS = 7

# --- packet types and header layout -------------------------------------------------------
DATA = 0
ACK = 1
NAK = 2  #: go-back-N: sequence error, resend from the PSN
SACK = 3  #: selective: cumulative ACK + the PSN just received (in the payload)
_PSN_MASK = (1 << 40) - 1

NEVER = h.NEVER

# --- FLOW_TIMER events: the header says which timer (bits 0..7) and, for a credit, the iteration (bits 8..15) ---
RETRANSMIT_TIMER = 0  #: the sender's retransmission deadline
ACK_TIMER = 1  #: the receiver's ACK coalescing timer
CREDIT_ARRIVES = 2  #: a credit grant reaches the sender (payload: the new credit)


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def pack(kind, ack_request, iteration, hop, psn):
    """A transport header as one int64: psn (40 bits), hop (8), iteration tag (8), type (2), AckReq (1)."""
    return (ack_request << 58) | (kind << 56) | ((iteration & 0xFF) << 48) | (hop << 40) | psn


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def unpack(header):
    """``(type, ack_request, iteration tag, hop, psn)`` of a packed header."""
    return (header >> 56) & 3, (header >> 58) & 1, (header >> 48) & 0xFF, (header >> 40) & 0xFF, header & _PSN_MASK


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def within_round(row, packet):
    """The index of ``packet`` of the flow ``row`` within its round (the packet itself with one round)."""
    return packet % row[F_ROUND_PACKETS]


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def fed_packet(supplier, consumer, offset, start, until, packet):
    """The packet of the flow ``consumer`` that the delivery of ``packet`` of ``supplier`` is an input of, by
    the feed (``offset``, ``[start, until)``, read within the round), or -1 (not fed, or past the
    consumer's round)."""
    within = within_round(supplier, packet)
    if within < start or within >= until or within + offset >= consumer[F_ROUND_PACKETS]:
        return -1
    return packet // supplier[F_ROUND_PACKETS] * consumer[F_ROUND_PACKETS] + within + offset


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def mirror_copy(head, mirror, packet):
    """The packet of the flow ``mirror`` that copies produced ``packet`` of the flow ``head`` (whose
    ``F_MIRROR`` it is), or -1 (outside the mirrored range); round r's copies go to the mirror's round r."""
    within = within_round(head, packet)
    if within < head[F_MIRROR_FROM] or within >= head[F_MIRROR_UNTIL]:
        return -1
    return packet // head[F_ROUND_PACKETS] * mirror[F_ROUND_PACKETS] + within + head[F_MIRROR_OFFSET]


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def queue_base(row):
    """The first packet the flow's send-queue slots can hold: its oldest unacknowledged packet, or the
    first produced one of that packet's round while the sender's own packets (which never enter the
    queue) are unacknowledged."""
    una = row[F_UNA]
    return max(una, una - within_round(row, una) + row[F_DEPENDENT_FROM])


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def packet_range(flows, flow, packet, elements_per_packet):
    """``(first element, elements)`` of ``packet`` of ``flow``.

    Within its round (`within_round`), packet q is the k = ``q % CHUNK_PACKETS``-th of chunk ``(CHUNK0 - q //
    CHUNK_PACKETS) mod CHUNKS``; a chunk's packets are blocks of ``SUBCHUNK_PACKETS``, block b carrying
    sub-chunk ``(SUBCHUNK0 - b) mod SUBCHUNKS`` (``SUBCHUNK_ELEMENTS`` each). One block of the whole chunk
    (the default) is a plain chunk. Round r's elements are round 0's moved by r ``ROUND_ELEMENTS``.
    """
    row = flows[flow]
    base = row[F_ELEMENT_BASE] + packet // row[F_ROUND_PACKETS] * row[F_ROUND_ELEMENTS]
    packet = within_round(row, packet)
    chunk_packets = row[F_CHUNK_PACKETS]
    chunk = (row[F_CHUNK0] - packet // chunk_packets) % row[F_CHUNKS]
    within = packet % chunk_packets
    subchunk_packets = row[F_SUBCHUNK_PACKETS]
    subchunk = (row[F_SUBCHUNK0] - within // subchunk_packets) % row[F_SUBCHUNKS]
    subchunk_first = base + chunk * row[F_CHUNK_ELEMENTS] + subchunk * row[F_SUBCHUNK_ELEMENTS]
    first = subchunk_first + (within % subchunk_packets) * elements_per_packet
    return first, min(elements_per_packet, subchunk_first + row[F_SUBCHUNK_ELEMENTS] - first)


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def inputs_needed(row, packet):
    """Inputs produced ``packet`` of the flow ``row`` needs: ``F_INPUTS``, one more in the extra-input range."""
    within = within_round(row, packet)
    return row[F_INPUTS] + (1 if row[F_EXTRA_INPUTS_FROM] <= within < row[F_EXTRA_INPUTS_UNTIL] else 0)


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def credit(state, flow):
    """Packets of ``flow`` its receiver can take now (``F_PACKETS`` if nothing limits it).

    A delivered packet p of ``flow`` in a feed's ``[start, until)`` becomes an input of packet ``p + offset``
    of the consumer (if it has one), which holds it until it is acknowledged. Its first ``start + offset``
    packets do not wait for this feed (a ring rank's own chunk, or a step fed by another flow), and it holds
    what this feed delivers while it sends them, a whole step of a ring. Beyond that it has room for
    ``F_STAGE_BUFFER`` packets: the flow may send p only while ``p + offset < UNA + start + offset +
    F_STAGE_BUFFER``, UNA being the consumer's oldest unacknowledged packet. Around a ring every flow may
    then run ``F_STAGE_BUFFER`` ahead of the next, so no cycle of flows can all wait. In rounds the same
    holds within each round (`fed_packet`): the consumer's room, counted on from its UNA, may reach into its
    next round, where the flow's packets that feed it begin again at ``start``.
    """
    flows = state.flows
    row = flows[flow]
    consumers = state.flow_consumers
    limit = row[F_PACKETS]
    for i in range(row[F_CONSUMERS_START], row[F_CONSUMERS_END]):
        consumer = flows[consumers[i, 0]]
        offset = consumers[i, 1]
        round_packets = consumer[F_ROUND_PACKETS]
        first = consumers[i, 2] + offset  # the consumer's slots this feed fills, within a round
        end = min(consumers[i, 3] + offset, round_packets)  # (none past its round's end)
        if first >= end:
            continue
        room = consumer[F_UNA] + first + consumer[F_STAGE_BUFFER]  # the first slot it has no room for
        blocked_round, blocked = room // round_packets, room % round_packets
        if blocked < first:
            blocked = first
        elif blocked >= end:
            blocked_round, blocked = blocked_round + 1, first
        limit = min(limit, blocked_round * row[F_ROUND_PACKETS] + blocked - offset)
    return limit


# --- payload pool ----------------------------------------------------------------------
@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _allocate(state):
    """A transport payload buffer, in use with no references yet."""
    return h.take_from_free_list(state.flow_buffer_links, state.counters, h.G_FLOW_FREE_BUFFER)


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _release(state, buffer):
    """Drop one reference; the buffer returns to the transports' free list at zero."""
    h.drop_reference(state.flow_buffer_links, state.counters, h.G_FLOW_FREE_BUFFER, buffer)


# --- values ------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def contribution(state, host, first, count, out):
    """``out[:count]`` = host ``host``'s elements ``first ..`` (synthetic generator or in-memory tensor)."""
    parameters = state.parameters
    if parameters[h.P_SYNTHETIC]:
        h.synthetic_values(state.host_keys[host], first, parameters[h.P_ELEMENTS], parameters[h.P_ELEMENT_BITS],
                           out[:count])
    else:
        h.copy_into(out[:count], state.tensors[host, first:first + count])


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _check(state, flow, packet, values, host):
    """Compare a final packet (``host``'s) with its exact value; count its elements (and a wrong packet).

    With ``P_KEEP_RESULTS``, a sum of the last iteration is also written to ``final[host]``.
    """
    parameters = state.parameters
    flows = state.flows
    first, count = packet_range(flows, flow, packet, parameters[h.P_FLOW_ELEMENTS])
    bits = parameters[h.P_ELEMENT_BITS]
    group = flows[flow, F_GROUP]
    if flows[flow, F_CHECK_KIND] == CHECK_SOURCE:
        expected = state.flow_scratch[1, :count]
        contribution(state, flows[flow, F_SOURCE], first, count, expected)
    else:
        expected = state.expected[group, first:first + count]
        if parameters[h.P_SYNTHETIC] and not state.expected_ready[group, first]:
            h.synthetic_sum(expected, state.host_keys, state.groups[group], first, parameters[h.P_ELEMENTS], bits,
                            state.flow_scratch[1, :count])
            state.expected_ready[group, first] = 1
    wrong = 0
    for i in range(count):
        if h.to_element_bits(values[i], bits) != expected[i]:
            wrong += 1
    if parameters[h.P_KEEP_RESULTS] and flows[flow, F_CHECK_KIND] == CHECK_SUM and \
            state.collective_groups[group, GR_ITERATION] == parameters[h.P_ITERATIONS] - 1:
        for i in range(count):
            state.final[host, first + i] = h.to_element_bits(values[i], bits)
    counters = state.counters
    counters[h.G_CHECKED_ELEMENTS] += count
    counters[h.G_WRONG_ELEMENTS] += wrong
    state.collective_groups[group, GR_WRONG_ELEMENTS] += wrong
    counters[h.G_CHECKED_PACKETS] += 1
    if wrong:
        counters[h.G_WRONG_PACKETS] += 1


# --- events out ----------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _kick(state, host, now, out, count):
    """Make sure the host's NIC looks for a packet to send once its uplink is free."""
    nic = state.host_nic
    if nic[host, 0] != NEVER:
        return count
    busy = state.channel_counters[state.hosts[host, h.H_UPLINK], h.C_BUSY_UNTIL]
    at = max(now, busy)
    nic[host, 0] = at
    return h._emit(out, count, at, h.NIC_SEND, host, 0, -1, 0)


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _hop(state, flow, direction, hop, ready, header, payload, out, count):
    """Transmit a transport packet on hop ``hop`` of the flow's route (``direction`` 0: data, 1: control)."""
    channel = state.flow_routes[flow, direction, hop]
    data = direction == 0
    _departure, arrival, copy = h.channel_transmit(state, channel, ready, h.SIZE_DATA if data else h.SIZE_CONTROL)
    if arrival < 0:
        return count
    header = (header & ~(np.int64(0xFF) << 40)) | (np.int64(hop) << 40)
    if copy >= 0:
        count = h._emit(out, count, copy, h.FLOW_PACKET, flow, header, channel, payload)
        if data:
            state.flow_buffer_links[payload, 0] += 1
    count = h._emit(out, count, arrival, h.FLOW_PACKET, flow, header, channel, payload)
    if data:
        state.flow_buffer_links[payload, 0] += 1
    return count


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _control(state, flow, now, kind, psn, extra, out, count):
    """The receiver sends an ACK / NAK / SACK back to the flow's sender."""
    iteration = state.collective_groups[state.flows[flow, F_GROUP], GR_ITERATION]
    return _hop(state, flow, 1, 0, now, pack(kind, 0, iteration, 0, psn), extra, out, count)


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _set_deadline(state, flow, deadline, out, count):
    row = state.flows[flow]
    row[F_DEADLINE] = deadline
    if deadline < row[F_TIMER_EVENT]:
        row[F_TIMER_EVENT] = deadline
        count = h._emit(out, count, deadline, h.FLOW_TIMER, flow, RETRANSMIT_TIMER, -1, 0)
    return count


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _rto(state, flow):
    parameters = state.parameters
    row = state.flows[flow]
    if parameters[h.P_TRANSPORT] == SELECTIVE and row[F_HIGH] - row[F_UNA] <= parameters[h.P_RTO_LOW_PACKETS]:
        return parameters[h.P_RTO_LOW]
    return parameters[h.P_RTO]


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _offer_credit(state, flow, now, out, count):
    """The receiver of ``flow`` grants the sender more credit if it has room and the sender needs it soon:
    its last grant is within two windows of what has arrived, and the new one is ``P_ACK_EVERY`` packets
    more, or the sender has used all it had."""
    row = state.flows[flow]
    granted = row[F_CREDIT_SENT]
    if granted >= row[F_PACKETS] or granted - row[F_RCV_NXT] > 2 * row[F_WINDOW]:
        return count
    new = credit(state, flow)
    if new <= granted or (new - granted < state.parameters[h.P_ACK_EVERY] and new < row[F_PACKETS]
                          and granted > row[F_RCV_NXT]):
        return count
    row[F_CREDIT_SENT] = new
    iteration = state.collective_groups[row[F_GROUP], GR_ITERATION] & 0xFF
    return h._emit(out, count, now + row[F_CREDIT_DELAY], h.FLOW_TIMER, flow, CREDIT_ARRIVES | (iteration << 8),
                   -1, new)


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _credit_arrives(state, flow, now, header, new, out, count):
    """A grant reaches the sender: it may send up to ``new`` (a grant of an earlier iteration is stale)."""
    row = state.flows[flow]
    if (header >> 8) & 0xFF != state.collective_groups[row[F_GROUP], GR_ITERATION] & 0xFF or new <= row[F_CREDIT]:
        return count
    row[F_CREDIT] = new
    return _kick(state, row[F_SOURCE], now, out, count)


# --- iterations ----------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True, _nrt=False)
def _work_done(state, group, now, out, count):
    """One of the group's flows delivered, or had acknowledged, its last packet."""
    row = state.collective_groups[group]
    row[GR_WORK] -= 1
    if row[GR_WORK] > 0:
        return count
    row[GR_ITERATION] += 1
    if row[GR_ITERATION] >= state.parameters[h.P_ITERATIONS]:
        state.counters[h.G_HOSTS_REMAINING] -= row[GR_HOSTS]
        row[GR_FINISHED_AT] = now
        return count
    return h._emit(out, count, now + state.parameters[h.P_COMPUTE], h.GROUP_BEGIN, group, 0, -1, 0)


@numba.njit(cache=True, nogil=True, _nrt=False)
def _group_begin(state, group, now, out, count):
    """Start an iteration of a collective: every flow fresh, every sender's NIC woken."""
    row = state.collective_groups[group]
    flows = state.flows
    for flow in range(row[GR_FIRST_FLOW], row[GR_END_FLOW]):
        f = flows[flow]
        for field in range(FIRST_DYNAMIC, F_RETRANSMISSIONS):
            f[field] = 0
        # the first round's own packets; every round's if the flow sends only its own
        f[F_AVAILABLE] = f[F_PACKETS] if f[F_DEPENDENT_FROM] >= f[F_ROUND_PACKETS] else f[F_DEPENDENT_FROM]
        f[F_DEADLINE] = NEVER
        f[F_TIMER_EVENT] = NEVER
        f[F_ACK_TIMER] = NEVER
    for flow in range(row[GR_FIRST_FLOW], row[GR_END_FLOW]):  # every consumer fresh: the first grants
        granted = credit(state, flow)
        flows[flow, F_CREDIT] = granted
        flows[flow, F_CREDIT_SENT] = granted
    row[GR_WORK] = 2 * (row[GR_END_FLOW] - row[GR_FIRST_FLOW])
    if row[GR_WORK] == 0:  # one worker: nothing to move
        row[GR_WORK] = 1
        return _work_done(state, group, now, out, count)
    for flow in range(row[GR_FIRST_FLOW], row[GR_END_FLOW]):
        host = flows[flow, F_SOURCE]
        state.host_nic[host, 1] = state.host_flow_start[host]
        count = _kick(state, host, now, out, count)
    return count


# --- sender ----------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _note_backlog(state, row, packet):
    """Record the send queue's span once ``packet`` is in it: slots hold packets from `queue_base` on;
    the engines grow the queues before it wraps."""
    backlog = packet + 1 - queue_base(row)
    if backlog > state.counters[h.G_SEND_BACKLOG_PEAK]:
        state.counters[h.G_SEND_BACKLOG_PEAK] = backlog


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _note_consumer_backlogs(state, row, packet):
    """Record, when ``packet`` of the flow ``row`` first leaves, the send-queue span its delivery will need
    in each flow it feeds. A feed with an offset may land far past a consumer's oldest unacknowledged
    packet in one event (the hierarchical ring's all-gather is fed a block, or a step, ahead); noting it
    a hop early lets the engines grow the queues before the delivery writes its slot."""
    flows = state.flows
    consumers = state.flow_consumers
    for i in range(row[F_CONSUMERS_START], row[F_CONSUMERS_END]):
        consumer = flows[consumers[i, 0]]
        target = fed_packet(row, consumer, consumers[i, 1], consumers[i, 2], consumers[i, 3], packet)
        if 0 <= target < consumer[F_PACKETS]:
            _note_backlog(state, consumer, target)
            _note_mirror_backlogs(state, consumer, target)


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _note_mirror_backlogs(state, head, packet):
    """Record the send-queue span the copies of produced ``packet`` of the flow ``head`` will need in its
    mirror chain (`_advance` writes them in the event that completes the packet, too late to grow first).
    A round's first mirrored packet lands a round ahead of a lagging copy's queue (the hierarchical ring's
    all-gather: its round's first block; a jump of thousands of slots): there the whole chain is noted,
    elsewhere (one slot further than the last) the first copy, which the engines' margin covers."""
    flows = state.flows
    whole_chain = within_round(head, packet) == head[F_MIRROR_FROM]
    while head[F_MIRROR] >= 0:
        mirror = flows[head[F_MIRROR]]
        copy = mirror_copy(head, mirror, packet)
        if copy < 0 or copy >= mirror[F_PACKETS]:
            return
        _note_backlog(state, mirror, copy)
        if not whole_chain:
            return
        head, packet = mirror, copy


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _advance(state, flow, now, out, count):
    """Make complete slots sendable in order (checking final ones, feeding the mirror chain)."""
    flows = state.flows
    mask = state.parameters[h.P_SEND_MASK]
    current = flow
    while current >= 0:
        row = flows[current]
        moved = False
        while row[F_AVAILABLE] < row[F_PACKETS]:
            packet = row[F_AVAILABLE]
            within = within_round(row, packet)
            if within < row[F_DEPENDENT_FROM]:  # a later round's own packets: sendable at once
                row[F_AVAILABLE] = min(packet - within + row[F_DEPENDENT_FROM], row[F_PACKETS])
                moved = True
                continue
            if packet - queue_base(row) > mask:  # its slot still holds an older packet: it has no inputs yet
                break
            slot = packet & mask
            if state.flow_inputs[current, slot] < inputs_needed(row, packet):
                break
            buffer = state.flow_send[current, slot]
            if row[F_CHECK_PRODUCED_FROM] <= within < row[F_CHECK_PRODUCED_UNTIL]:
                _check(state, current, packet, state.flow_values[buffer], row[F_SOURCE])
            mirror = row[F_MIRROR]
            copy = mirror_copy(row, flows[mirror], packet) if mirror >= 0 else -1
            if copy >= 0:
                copy_slot = copy & mask
                _note_backlog(state, flows[mirror], copy)
                state.flow_send[mirror, copy_slot] = buffer
                state.flow_buffer_links[buffer, 0] += 1
                state.flow_inputs[mirror, copy_slot] = inputs_needed(flows[mirror], copy)
            row[F_AVAILABLE] = packet + 1
            moved = True
        if moved:
            count = _kick(state, row[F_SOURCE], now, out, count)
        current = row[F_MIRROR]
    return count


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _contribute(state, flow, packet, values, now, out, count):
    """An input of ``packet`` of ``flow`` (a delivery at its sender) is added into its slot."""
    parameters = state.parameters
    flows = state.flows
    row = flows[flow]
    if packet >= row[F_PACKETS]:
        return count
    mask = parameters[h.P_SEND_MASK]
    slot = packet & mask
    first, elements = packet_range(flows, flow, packet, parameters[h.P_FLOW_ELEMENTS])
    bits = parameters[h.P_ELEMENT_BITS]
    if state.flow_inputs[flow, slot] == 0:
        buffer = _allocate(state)
        state.flow_buffer_links[buffer, 0] = 1
        state.flow_send[flow, slot] = buffer
        target = state.flow_values[buffer]
        if within_round(row, packet) < row[F_ADD_UNTIL]:
            own = state.flow_scratch[0, :elements]
            contribution(state, row[F_SOURCE], first, elements, own)
            for i in range(elements):
                target[i] = h.to_element_bits(values[i] + own[i], bits)
        else:
            for i in range(elements):
                target[i] = values[i]
        _note_backlog(state, row, packet)
    else:
        target = state.flow_values[state.flow_send[flow, slot]]
        for i in range(elements):
            target[i] = h.to_element_bits(target[i] + values[i], bits)
    state.flow_inputs[flow, slot] += 1
    if state.flow_inputs[flow, slot] == inputs_needed(row, packet) and packet == row[F_AVAILABLE]:
        count = _advance(state, flow, now, out, count)
    return count


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _next_packet(state, flow):
    """The packet the flow would send now, or -1."""
    row = state.flows[flow]
    if state.parameters[h.P_TRANSPORT] == SELECTIVE:
        mask = state.parameters[h.P_SEND_MASK]
        while row[F_RETX_NEXT] < row[F_RETX_LIMIT] and (
                row[F_RETX_NEXT] < row[F_UNA] or state.flow_sacked[flow, row[F_RETX_NEXT] & mask]):
            row[F_RETX_NEXT] += 1
        if row[F_RETX_NEXT] < row[F_RETX_LIMIT]:
            return row[F_RETX_NEXT]
    packet = row[F_NXT]
    if packet < row[F_AVAILABLE] and packet < row[F_UNA] + row[F_WINDOW] and packet < row[F_CREDIT]:
        return packet
    return -1


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _send(state, flow, packet, now, out, count):
    """Transmit ``packet`` of ``flow`` from its sender's NIC now."""
    parameters = state.parameters
    row = state.flows[flow]
    retransmission = packet < row[F_HIGH]
    if retransmission:
        row[F_RETRANSMISSIONS] += 1
    else:
        _note_consumer_backlogs(state, row, packet)
    if parameters[h.P_TRANSPORT] == SELECTIVE and packet < row[F_NXT]:
        row[F_RETX_NEXT] = packet + 1
    else:
        row[F_NXT] = packet + 1
    if packet + 1 > row[F_HIGH]:
        row[F_HIGH] = packet + 1
    fresh = within_round(row, packet) < row[F_DEPENDENT_FROM]
    if fresh:  # the sender's own elements, regenerated for this transmission
        buffer = _allocate(state)
        first, elements = packet_range(state.flows, flow, packet, parameters[h.P_FLOW_ELEMENTS])
        contribution(state, row[F_SOURCE], first, elements, state.flow_values[buffer])
    else:
        buffer = state.flow_send[flow, packet & parameters[h.P_SEND_MASK]]
    last = packet + 1 >= row[F_UNA] + row[F_WINDOW] or retransmission  # it needs ACKs to go on (credit: not)
    iteration = state.collective_groups[row[F_GROUP], GR_ITERATION]
    header = pack(DATA, np.int64(last), iteration, 0, packet)
    count = _hop(state, flow, 0, 0, now, header, buffer, out, count)
    if fresh and state.flow_buffer_links[buffer, 0] == 0:  # lost on the first link
        state.flow_buffer_links[buffer, 0] = 1
        _release(state, buffer)
    if row[F_DEADLINE] == NEVER:
        count = _set_deadline(state, flow, now + _rto(state, flow), out, count)
    return count


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _nic_send(state, host, now, out, count):
    """The host's NIC sends one packet of its first flow that may send; looks again when it has left."""
    nic = state.host_nic
    if nic[host, 0] != now:
        return count  # superseded
    nic[host, 0] = NEVER
    uplink = state.hosts[host, h.H_UPLINK]
    busy = state.channel_counters[uplink, h.C_BUSY_UNTIL]
    if busy > now:
        nic[host, 0] = busy
        return h._emit(out, count, busy, h.NIC_SEND, host, 0, -1, 0)
    flows = state.flows
    end = state.host_flow_start[host + 1]
    index = nic[host, 1]
    while index < end and flows[state.host_flow_list[index], F_UNA] >= flows[state.host_flow_list[index], F_PACKETS]:
        index += 1
    nic[host, 1] = index
    chosen = -1
    first = -1
    priority = -1
    for i in range(index, end):  # the list is sorted by priority: the first sendable flow fixes it
        flow = state.host_flow_list[i]
        if first >= 0 and flows[flow, F_PRIORITY] != priority:
            break
        if _next_packet(state, flow) >= 0:
            if first < 0:
                first = i
                priority = flows[flow, F_PRIORITY]
            if i > nic[host, 2]:  # round robin: the next sendable flow after the last one served
                chosen = i
                break
    if first < 0:
        return count
    if chosen < 0:
        chosen = first
    nic[host, 2] = chosen
    flow = state.host_flow_list[chosen]
    count = _send(state, flow, _next_packet(state, flow), now, out, count)
    at = state.channel_counters[uplink, h.C_BUSY_UNTIL]
    nic[host, 0] = at
    return h._emit(out, count, at, h.NIC_SEND, host, 0, -1, 0)


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _acknowledged(state, flow, acknowledged, now, out, count):
    """Cumulative acknowledgement of every packet before ``acknowledged``."""
    row = state.flows[flow]
    if acknowledged <= row[F_UNA]:
        return count
    mask = state.parameters[h.P_SEND_MASK]
    for packet in range(row[F_UNA], acknowledged):
        slot = packet & mask
        state.flow_sacked[flow, slot] = 0
        if within_round(row, packet) >= row[F_DEPENDENT_FROM]:  # a produced packet leaves the send queue
            # (own ones never enter it)
            _release(state, state.flow_send[flow, slot])
            state.flow_send[flow, slot] = -1
            state.flow_inputs[flow, slot] = 0
    row[F_UNA] = acknowledged
    if row[F_NXT] < acknowledged:
        row[F_NXT] = acknowledged
    consumers = state.flow_consumers
    for i in range(row[F_SUPPLIERS_START], row[F_SUPPLIERS_END]):  # room in this stage: the feeders' credit
        count = _offer_credit(state, consumers[i, 0], now, out, count)
    if acknowledged >= row[F_PACKETS]:
        row[F_DEADLINE] = NEVER
        count = _work_done(state, row[F_GROUP], now, out, count)
    elif acknowledged < row[F_HIGH]:
        count = _set_deadline(state, flow, now + _rto(state, flow), out, count)
    else:
        row[F_DEADLINE] = NEVER
    return _kick(state, row[F_SOURCE], now, out, count)


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _ack_timer(state, flow, now, out, count):
    """The receiver's coalescing timer: acknowledge what has arrived in order since the last ACK."""
    row = state.flows[flow]
    if row[F_ACK_TIMER] != now:
        return count  # superseded
    row[F_ACK_TIMER] = NEVER
    if row[F_UNACKED] == 0:
        return count
    row[F_UNACKED] = 0
    return _control(state, flow, now, ACK, row[F_RCV_NXT], 0, out, count)


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _acknowledge_in_order(state, flow, now, ack_request, acknowledged, out, count):
    """After in-order deliveries up to ``acknowledged``: ACK now (AckReq, ``P_ACK_EVERY`` unacknowledged, or
    the last packet) or make sure the coalescing timer runs; then offer the sender credit."""
    row = state.flows[flow]
    row[F_UNACKED] += 1
    if ack_request or row[F_UNACKED] >= state.parameters[h.P_ACK_EVERY] or acknowledged >= row[F_PACKETS]:
        row[F_UNACKED] = 0
        count = _control(state, flow, now, ACK, acknowledged, 0, out, count)
    elif row[F_ACK_TIMER] == NEVER:
        row[F_ACK_TIMER] = now + row[F_ACK_DELAY]
        count = h._emit(out, count, row[F_ACK_TIMER], h.FLOW_TIMER, flow, ACK_TIMER, -1, 0)
    return _offer_credit(state, flow, now, out, count)


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _timer(state, flow, now, header, payload, out, count):
    """A FLOW_TIMER event: the receiver's ACK timer, a credit grant arriving, or the retransmission deadline."""
    which = header & 0xFF
    if which == ACK_TIMER:
        return _ack_timer(state, flow, now, out, count)
    if which == CREDIT_ARRIVES:
        return _credit_arrives(state, flow, now, header, payload, out, count)
    row = state.flows[flow]
    if row[F_TIMER_EVENT] != now:
        return count  # superseded
    row[F_TIMER_EVENT] = NEVER
    if row[F_DEADLINE] == NEVER:
        return count
    if row[F_DEADLINE] > now:
        row[F_TIMER_EVENT] = row[F_DEADLINE]
        return h._emit(out, count, row[F_DEADLINE], h.FLOW_TIMER, flow, RETRANSMIT_TIMER, -1, 0)
    row[F_DEADLINE] = NEVER
    row[F_TIMEOUTS] += 1
    if state.parameters[h.P_TRANSPORT] == SELECTIVE:
        row[F_RETX_NEXT] = row[F_UNA]
        row[F_RETX_LIMIT] = row[F_HIGH]
    else:
        row[F_NXT] = row[F_UNA]
    return _kick(state, row[F_SOURCE], now, out, count)


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _sender_control(state, flow, now, kind, psn, extra, out, count):
    row = state.flows[flow]
    count = _acknowledged(state, flow, psn, now, out, count)
    if kind == NAK:
        go_back = max(psn, row[F_UNA])
        if go_back < row[F_NXT]:
            row[F_NXT] = go_back
            count = _kick(state, row[F_SOURCE], now, out, count)
    elif kind == SACK and extra >= row[F_UNA]:
        state.flow_sacked[flow, extra & state.parameters[h.P_SEND_MASK]] = 1
        if extra > row[F_RETX_LIMIT]:
            if row[F_RETX_LIMIT] <= row[F_UNA]:
                row[F_RETX_NEXT] = row[F_UNA]  # a new loss episode
            row[F_RETX_LIMIT] = extra
            count = _kick(state, row[F_SOURCE], now, out, count)
    return count


# --- receiver ------------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _deliver(state, flow, packet, buffer, now, out, count):
    """In-order delivery of ``packet`` at the receiver: check it if final, feed the flows it is an input of."""
    flows = state.flows
    row = flows[flow]
    values = state.flow_values[buffer]
    if within_round(row, packet) >= row[F_CHECK_DELIVERED_FROM]:
        _check(state, flow, packet, values, row[F_DESTINATION])
    consumers = state.flow_consumers
    for i in range(row[F_CONSUMERS_START], row[F_CONSUMERS_END]):
        target = fed_packet(row, flows[consumers[i, 0]], consumers[i, 1], consumers[i, 2], consumers[i, 3], packet)
        if target >= 0:
            count = _contribute(state, consumers[i, 0], target, values, now, out, count)
    _release(state, buffer)
    row[F_RCV_NXT] = packet + 1
    if packet + 1 == row[F_PACKETS]:
        count = _work_done(state, row[F_GROUP], now, out, count)
    return count


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _receive(state, flow, now, ack_request, psn, buffer, out, count):
    parameters = state.parameters
    row = state.flows[flow]
    expected = row[F_RCV_NXT]
    if parameters[h.P_TRANSPORT] == GO_BACK_N:
        if psn == expected:
            row[F_NAK_SENT] = 0
            count = _deliver(state, flow, psn, buffer, now, out, count)
            return _acknowledge_in_order(state, flow, now, ack_request, psn + 1, out, count)
        _release(state, buffer)
        if psn > expected:
            if not row[F_NAK_SENT]:
                row[F_NAK_SENT] = 1
                count = _control(state, flow, now, NAK, expected, 0, out, count)
            return count
        return _control(state, flow, now, ACK, expected, 0, out, count)  # a duplicate: acknowledge again
    # selective
    mask = parameters[h.P_RECEIVE_MASK]
    if psn < expected or psn > expected + mask or (psn > expected and state.flow_receive[flow, psn & mask] >= 0):
        _release(state, buffer)
        return _control(state, flow, now, ACK, expected, 0, out, count)
    if psn > expected:
        state.flow_receive[flow, psn & mask] = buffer
        return _control(state, flow, now, SACK, expected, psn, out, count)
    count = _deliver(state, flow, psn, buffer, now, out, count)
    following = psn + 1
    held = False
    while following < row[F_PACKETS] and state.flow_receive[flow, following & mask] >= 0:
        slot = following & mask
        stored = state.flow_receive[flow, slot]
        state.flow_receive[flow, slot] = -1
        count = _deliver(state, flow, following, stored, now, out, count)
        following += 1
        held = True
    return _acknowledge_in_order(state, flow, now, held or ack_request, following, out, count)


# --- the events --------------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def _packet(state, flow, now, header, payload, out, count):
    """A transport packet reaches the far end of hop ``hop``: a switch forwards it; a host takes it."""
    kind, ack_request, iteration, hop, psn = unpack(header)
    row = state.flows[flow]
    data = kind == DATA
    hops = row[F_HOPS] if data else row[F_BACK_HOPS]
    if hop + 1 < hops:
        count = _hop(state, flow, 0 if data else 1, hop + 1, now + state.parameters[h.P_LATENCY], header, payload,
                     out, count)
        if data:
            _release(state, payload)
        return count
    current = state.collective_groups[row[F_GROUP], GR_ITERATION] & 0xFF
    if iteration != current:  # a late copy from an earlier iteration
        if data:
            _release(state, payload)
        return count
    if data:
        return _receive(state, flow, now, ack_request, psn, payload, out, count)
    return _sender_control(state, flow, now, kind, psn, payload, out, count)


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def flow_event(state, now, kind, target, header, channel, payload, out):
    """Handle one transport event (`switchsim.sim.handlers` FLOW_PACKET, NIC_SEND, FLOW_TIMER, GROUP_BEGIN)."""
    if kind == h.FLOW_PACKET:
        return _packet(state, target, now, header, payload, out, 0)
    if kind == h.NIC_SEND:
        return _nic_send(state, target, now, out, 0)
    if kind == h.FLOW_TIMER:
        return _timer(state, target, now, header, payload, out, 0)
    return _group_begin(state, target, now, out, 0)
