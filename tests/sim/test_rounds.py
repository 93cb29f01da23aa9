"""Rounds: a ring whose step would carry more than NCCL's chunk loops over the tensor (`baselines.chunk_bytes`)."""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import pytest

from switchsim.config import ScenarioError, scenario_from_dict
from switchsim.pipeline import wrapped_sum
from switchsim.sim import fast_engine, transport
from switchsim.sim import handlers as h
from switchsim.sim.collective_method import build_state, run_collective
from switchsim.sim.collectives import REGISTRY
from switchsim.sim.collectives.flows import FlowTable
from switchsim.sim.metrics import hierarchical_ring_time_closed_form, ring_time_closed_form
from switchsim.sim.run import make_tensors
from switchsim.sim.state import ticks

FAULTS = {"loss": 0.02, "duplicate": 0.02, "reorder": 0.02, "reorder_delay_s": 3e-6, "duplicate_delay_s": 1e-6}
E = 368  # int32 elements of a 1472-byte payload


def scenario(method, topology, elements, chunk_bytes, transport_name="rdma-gbn", link=None, source="synthetic"):
    return scenario_from_dict({"methods": [method], "topology": topology, "link": link or {},
                               "workload": {"elements": elements, "source": source},
                               "baselines": {"transport": transport_name, "chunk_bytes": chunk_bytes}})


def summary(result):
    record = asdict(result)
    record.pop("wall_time_s")
    return record


def test_a_table_needs_the_rounds_that_keep_each_step_within_its_chunk():
    table = FlowTable(E, lambda source, destination, flow_hash: np.array([source], np.int64), chunk_elements=1000)
    assert [table.rounds(s) for s in (1, 1000, 1001, 5000)] == [1, 1, 2, 5]
    assert FlowTable(E, table.route).rounds(10**9) == 1  # no chunk: one round


def test_repeated_flows_move_their_ranges_by_a_round_and_feed_within_each_round():
    """A 4-rank ring in 3 rounds: packet q of round r carries round 0's elements of q plus r round_elements;
    a delivery feeds the consumer's same round, one step on, and the last step feeds nothing."""
    s = scenario("ring", {"kind": "one_rack", "workers": 4}, 30_000, chunk_bytes=4 * 2500)
    _, state = build_state("ring", s, None, 30_000)
    flows = state.flows
    step = int(flows[0, transport.F_DEPENDENT_FROM])  # P_c packets of a 2,500-element chunk
    assert step == -(-2500 // E)
    round_packets = int(flows[0, transport.F_ROUND_PACKETS])
    assert round_packets == 2 * 3 * step and flows[0, transport.F_PACKETS] == 3 * round_packets
    assert flows[0, transport.F_ROUND_ELEMENTS] == 4 * 2500
    for q in (0, 5, step, round_packets - 1):
        first, count = transport.packet_range(flows, 0, q, E)
        assert transport.packet_range(flows, 0, 2 * round_packets + q, E) == (first + 2 * 10_000, count)
    consumer = int(state.flow_consumers[flows[0, transport.F_CONSUMERS_START], 0])
    feed = state.flow_consumers[flows[0, transport.F_CONSUMERS_START]]
    fed = [transport.fed_packet(flows[0], flows[consumer], feed[1], feed[2], feed[3], q)
           for q in (round_packets + 3, round_packets + round_packets - step, 2 * round_packets - 1)]
    assert fed == [round_packets + 3 + step, -1, -1]


def test_credit_reaches_into_the_consumers_next_round(monkeypatch):
    """The consumer near the end of round 0: the stage buffer it has left spills into round 1, where its
    feed begins again at the step's first packet. (A stage buffer of windows, smaller than a round: NCCL's
    FIFO, the ring's, would cover the whole ring here.)"""
    monkeypatch.setitem(REGISTRY, "ring", replace(REGISTRY["ring"], stage_buffer_bytes=0))
    s = scenario("ring", {"kind": "one_rack", "workers": 4}, 300_000, chunk_bytes=4 * 25_000)
    _, state = build_state("ring", s, None, 300_000)
    flows = state.flows
    consumer = int(state.flow_consumers[flows[0, transport.F_CONSUMERS_START], 0])
    round_packets = int(flows[0, transport.F_ROUND_PACKETS])
    room = int(flows[consumer, transport.F_STAGE_BUFFER])
    flows[consumer, transport.F_UNA] = 5
    assert transport.credit(state, 0) == 5 + room  # as with one round
    flows[consumer, transport.F_UNA] = round_packets - 10
    assert transport.credit(state, 0) == round_packets + room - 10


@pytest.mark.parametrize(("method", "topology"), [
    ("ring", {"kind": "one_rack", "workers": 4}),
    ("hierarchical-ring", {"kind": "two_level", "workers": 2, "racks": 3}),
])
def test_rounds_end_every_rank_with_the_sum_and_check_every_element_once(method, topology):
    elements = 20_001
    s = scenario(method, topology, elements, chunk_bytes=4 * 1500, source="tensors")
    tensors = make_tensors(s)
    _, state = build_state(method, s, tensors, elements)
    rounds = int(state.flows[0, transport.F_PACKETS] // state.flows[0, transport.F_ROUND_PACKETS])
    assert rounds > 2
    result, final = run_collective(method, s, tensors)
    assert result.completed and result.correct
    expected = wrapped_sum(tensors)
    for worker in range(tensors.shape[0]):
        assert np.array_equal(final[worker], expected)


@pytest.mark.parametrize("transport_name", list(transport.TRANSPORTS))
@pytest.mark.parametrize(("method", "topology"), [
    ("ring", {"kind": "two_level", "workers": 2, "racks": 2}),
    ("hierarchical-ring", {"kind": "fat_tree", "k": 4}),
])
def test_both_engines_agree_on_rounds_under_loss_duplication_and_reordering(method, topology, transport_name):
    s = scenario(method, topology, 6000, chunk_bytes=4 * 400, transport_name=transport_name, link=FAULTS)
    fast, _ = run_collective(method, s, None, engine="fast")
    simpy, _ = run_collective(method, s, None, engine="simpy")
    assert fast.completed and fast.correct and fast.retransmissions > 0
    assert summary(fast) == summary(simpy)


def run(s, elements):
    """(end time in s, peak payload buffers) of the scenario's method on the fast engine; every result exact."""
    method = s.methods[0]
    _, state = build_state(method, s, None, elements)
    state, completed, end, _ = fast_engine.run(state, ticks(s.max_time_s))
    assert completed and state.counters[h.G_WRONG_ELEMENTS] == 0 and state.counters[h.G_CHECKED_ELEMENTS] > 0
    return end / 1e12, int(state.counters[h.G_FLOW_PEAK_BUFFERS])


def test_a_ring_in_rounds_keeps_its_closed_form_and_holds_a_round():
    """Rounds follow each other without a gap (each flow sends its next round's own chunk while the last
    steps of the round before drain), so every uplink stays busy; each rank holds about one round's chunk."""
    elements = 400_000
    s = scenario("ring", {"kind": "one_rack", "workers": 4}, elements, chunk_bytes=4 * 25_000)
    rounds_time, rounds_peak = run(s, elements)
    whole_time, whole_peak = run(replace(s, baselines=replace(s.baselines, chunk_bytes=0)), elements)
    closed = ring_time_closed_form(s.link, 4, elements, s.baselines.packet_payload_bytes, s.switch.pipeline_latency_s)
    assert rounds_time == pytest.approx(closed, rel=0.02) and whole_time == pytest.approx(closed, rel=0.02)
    assert rounds_peak < whole_peak / 2  # four rounds of a quarter of the chunk


def test_hierarchical_ring_in_rounds_holds_less_and_keeps_its_closed_form():
    """Each host holds what arrives while it sends its own intra chunk: the whole S / m in one round, about
    two rounds' steps (reduce-scatter of one, all-gather of the one before) in rounds. Rounds also cut the
    cross-rack ring's steps (P' / rounds packets), so rounds of a few packets would make it wait on latency;
    four rounds of 50,000 elements keep it within 2 %."""
    elements = 400_000
    topology = {"kind": "two_level", "workers": 2, "racks": 4}
    peaks = {}
    for chunk_bytes in (0, 4 * 50_000):
        s = scenario("hierarchical-ring", topology, elements, chunk_bytes=chunk_bytes)
        closed = hierarchical_ring_time_closed_form(s.link, 4, 2, elements, s.baselines.packet_payload_bytes,
                                                    s.switch.pipeline_latency_s)
        end, peaks[chunk_bytes] = run(s, elements)
        assert end == pytest.approx(closed, rel=0.02)
    hosts, intra_chunk = 8, elements // 2  # S / m elements a host holds in one round
    assert peaks[0] > hosts * intra_chunk / E / 2
    assert peaks[4 * 50_000] < peaks[0] / 3


def test_chunk_bytes_is_checked_and_named():
    with pytest.raises(ScenarioError, match=r"baselines\.chunk_bytes.*0 \(one round\) or an integer in 1472"):
        scenario("ring", {"kind": "one_rack", "workers": 4}, 1000, chunk_bytes=100)
    with pytest.raises(ScenarioError, match=r"baselines\.chunk_bytes"):
        scenario("ring", {"kind": "one_rack", "workers": 4}, 1000, chunk_bytes=2.5e6)


def test_skipping_a_rounds_own_packets_never_reads_an_older_rounds_slot():
    """A 2-rank ring in 2 rounds: when a rank's send queue still holds round 0's produced packets, the
    next produced packet after round 1's own ones shares a slot with one of them (this was read as
    complete and sent with round 0's values: 240 wrong packets)."""
    elements = 200_000
    s = scenario("ring", {"kind": "one_rack", "workers": 2}, elements, chunk_bytes=4 * 50_000)
    _, state = build_state("ring", s, None, elements)
    assert state.flows[0, transport.F_PACKETS] == 2 * state.flows[0, transport.F_ROUND_PACKETS]
    state, completed, _, _ = fast_engine.run(state, ticks(s.max_time_s))
    assert completed and state.counters[h.G_WRONG_PACKETS] == 0
    assert state.counters[h.G_CHECKED_ELEMENTS] == 2 * elements  # every element of both ranks


def test_the_memory_estimate_covers_two_stages_of_a_round_at_once():
    """In rounds a host's reduce-scatter stage of one round and its all-gather stage of the round before
    each hold up to a round's step; `collective_bytes` counts both (and the pool doubling)."""
    from switchsim.sim.memory import collective_bytes

    elements = 400_000
    s = scenario("hierarchical-ring", {"kind": "two_level", "workers": 4, "racks": 4}, elements,
                 chunk_bytes=4 * 20_000)
    rounds_time, peak = run(s, elements)
    del rounds_time
    held = peak * E * 4
    ring_bytes = collective_bytes(replace(s, methods=("ring",)), "ring")
    one_round_step = -(-20_000 // E) * E * 4 * 16  # a step of every host
    assert held > one_round_step
    assert held < collective_bytes(s, "hierarchical-ring") - ring_bytes
    whole = replace(s, baselines=replace(s.baselines, chunk_bytes=0))
    assert collective_bytes(s, "hierarchical-ring") < collective_bytes(whole, "hierarchical-ring")


def test_credit_of_a_feed_with_a_negative_offset_counts_the_consumers_rounds():
    """The hierarchical ring's last reduce-scatter step feeds the cross-rack ring with offset -(m-2) P: its
    packets sit further into their round than the consumer's round is long. Room is counted in the
    consumer's slots (this read the supplier's packet as the consumer's and let it run two rounds ahead)."""
    elements = 400_000
    s = scenario("hierarchical-ring", {"kind": "two_level", "workers": 4, "racks": 2}, elements,
                 chunk_bytes=4 * 50_000)
    _, state = build_state("hierarchical-ring", s, None, elements)
    flows = state.flows
    rows = state.flow_consumers[flows[0, transport.F_CONSUMERS_START]:flows[0, transport.F_CONSUMERS_END]]
    (across, offset, start, _until), = [row for row in rows if row[1] < 0]
    (ring_next, *_), = [row for row in rows if row[1] > 0]
    assert start == -offset and -offset > flows[across, transport.F_ROUND_PACKETS]  # (m-2) P > 2(r-1) P'
    flows[ring_next, transport.F_UNA] = flows[ring_next, transport.F_PACKETS]  # only the cross-rack feed limits
    room = int(flows[across, transport.F_STAGE_BUFFER])
    assert room < flows[across, transport.F_ROUND_PACKETS]
    assert transport.credit(state, 0) == start + room
    flows[across, transport.F_UNA] = flows[across, transport.F_ROUND_PACKETS] + 3  # 3 into its second round
    assert transport.credit(state, 0) == flows[0, transport.F_ROUND_PACKETS] + start + 3 + room


def test_a_mirror_copy_a_round_ahead_is_noted_before_the_event_that_writes_it():
    """The hierarchical ring's X(a, j) copies its step r-1 into block 0 of G(a, j)'s round. The delivery that
    completes round k+1's first such packet writes the copy at once, a round (thousands of slots) past a
    lagging G's queue: the engines grow the queues only between events, so the copy must be noted when the
    feeder sends, as feeds are. It was not: at full size on fat-tree-oversubscribed the copy overwrote a
    slot G still held (2 wrong packets, and the ring stalled)."""
    elements = 400_000
    s = scenario("hierarchical-ring", {"kind": "two_level", "workers": 4, "racks": 2}, elements,
                 chunk_bytes=4 * 50_000)  # G's round (3 steps of 2 blocks) is longer than X's (2 steps of 1)
    _, state = build_state("hierarchical-ring", s, None, elements)
    flows = state.flows
    across, gather, behind = 1, 2, 3 * (1 * 4 + 0) + 1  # X(0, 0), G(0, 0) and X(1, 0), which feeds X(0, 0)
    assert flows[across, transport.F_MIRROR] == gather
    sub_packets = flows[across, transport.F_MIRROR_UNTIL] - flows[across, transport.F_MIRROR_FROM]
    round_x, round_g = flows[across, transport.F_ROUND_PACKETS], flows[gather, transport.F_ROUND_PACKETS]
    assert flows[across, transport.F_PACKETS] > round_x  # rounds
    feeder_packet = round_x + flows[across, transport.F_MIRROR_FROM] - sub_packets  # feeds round 1's first copy
    target = transport.fed_packet(flows[behind], flows[across], sub_packets, 0, round_x - sub_packets,
                                  feeder_packet)
    assert target == round_x + flows[across, transport.F_MIRROR_FROM]
    copy = transport.mirror_copy(flows[across], flows[gather], target)
    assert copy == round_g  # block 0 of G's round 1
    state.counters[h.G_SEND_BACKLOG_PEAK] = 0  # G still at its first packet: the copy is a whole round ahead
    needed = copy + 1 - transport.queue_base(flows[gather])
    assert needed > target + 1 - transport.queue_base(flows[across])  # more than the feed's own target needs
    transport._note_consumer_backlogs(state, flows[behind], feeder_packet)
    assert state.counters[h.G_SEND_BACKLOG_PEAK] == needed
