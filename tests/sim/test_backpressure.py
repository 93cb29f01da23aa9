"""Back-pressure between pipeline stages (credits) and the receiver's ACK-coalescing timer (`transport`)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from switchsim.config import scenario_from_dict
from switchsim.sim import fast_engine, transport
from switchsim.sim import handlers as h
from switchsim.sim import state as sim_state
from switchsim.sim.collective_method import build_state, run_collective
from switchsim.sim.collectives import NCCL_BUFFSIZE, REGISTRY
from switchsim.sim.metrics import ring_time_closed_form
from switchsim.sim.state import ticks

#: NCCL's 4 MiB receive FIFO in packets of the default 1,472-byte payload.
NCCL_FIFO_PACKETS = 2850


def scenario(method, topology, elements, transport_name="rdma-gbn", link=None):
    return scenario_from_dict({"methods": [method], "topology": topology,
                               "link": link or {"rate_bps": 100e9, "delay_s": 1e-6},
                               "workload": {"elements": elements, "source": "synthetic"},
                               "baselines": {"transport": transport_name}})


def ring_state(workers=4, elements=400_000):
    s = scenario("ring", {"kind": "one_rack", "workers": workers}, elements)
    return build_state("ring", s, None, elements)[1]


def test_credit_lets_a_ring_rank_run_its_consumers_stage_buffer_ahead_of_it(monkeypatch):
    """Flow f of a ring feeds flow f+1 with offset one step: f may send p while p < UNA(f+1) + F_STAGE_BUFFER,
    and without limit once that covers every packet that feeds the consumer. (A stage buffer of windows, so
    that it is smaller than the flows; NCCL's FIFO would cover this ring's every packet.)"""
    monkeypatch.setitem(REGISTRY, "ring", dataclasses.replace(REGISTRY["ring"], stage_buffer_bytes=0))
    state = ring_state()
    flows = state.flows
    row, consumer_row = flows[0], state.flow_consumers[flows[0, transport.F_CONSUMERS_START]]
    consumer = int(consumer_row[0])
    room = int(flows[consumer, transport.F_STAGE_BUFFER])
    assert room == sim_state.STAGE_BUFFER_WINDOWS * flows[consumer, transport.F_WINDOW]
    assert consumer_row[2] == 0 and consumer_row[1] == flows[consumer, transport.F_DEPENDENT_FROM]
    assert transport.credit(state, 0) == room
    flows[consumer, transport.F_UNA] = 300
    assert transport.credit(state, 0) == 300 + room
    feeding_until = flows[consumer, transport.F_PACKETS] - consumer_row[1]
    flows[consumer, transport.F_UNA] = feeding_until - room
    assert transport.credit(state, 0) == row[transport.F_PACKETS]  # its last packets feed nothing


def test_every_flow_of_a_ring_starts_with_its_credit():
    state = ring_state()
    state, _, _, _ = fast_engine.run(state, 1)  # the first event begins the iteration
    flows = state.flows
    for flow in range(len(flows)):
        assert flows[flow, transport.F_CREDIT] == transport.credit(state, flow) == flows[flow, transport.F_CREDIT_SENT]


@pytest.mark.parametrize(("method", "topology"), [
    ("ring", {"kind": "one_rack", "workers": 2}),
    ("ring", {"kind": "one_rack", "workers": 8}),
    ("hierarchical-ring", {"kind": "two_level", "workers": 2, "racks": 4}),
    ("hierarchical-ring", {"kind": "fat_tree", "k": 4}),
])
@pytest.mark.parametrize("transport_name", list(transport.TRANSPORTS))
def test_rings_whose_steps_outgrow_the_stage_buffer_still_finish_exactly(method, topology, transport_name,
                                                                        monkeypatch):
    """A ring step of more than twice the stage buffer: each rank holds what arrives
    while it sends a step, and no cycle of ranks waits for credit (this hung before the step was counted).
    The rings' stage buffer is NCCL's FIFO, larger than any step of a 2 MiB chunk: here its windows alone."""
    monkeypatch.setitem(REGISTRY, method, dataclasses.replace(REGISTRY[method], stage_buffer_bytes=0))
    elements = 1_600_000
    s = scenario(method, topology, elements, transport_name)
    _, state = build_state(method, s, None, elements)
    step = state.flows[:, transport.F_DEPENDENT_FROM].max()
    assert step > 2 * state.flows[:, transport.F_STAGE_BUFFER].max()
    result, _ = run_collective(method, s, None)
    assert result.completed and result.correct


def test_the_flat_rings_stage_buffer_is_nccls_fifo_and_the_others_keep_their_windows():
    assert -(-NCCL_BUFFSIZE // 1472) == NCCL_FIFO_PACKETS
    s = scenario("ring", {"kind": "two_level", "workers": 2, "racks": 2}, 100_000)
    for method in ("ring", "hierarchical-ring", "tree", "ps"):
        flows = build_state(method, s, None, 100_000)[1].flows
        windows = sim_state.STAGE_BUFFER_WINDOWS * flows[:, transport.F_WINDOW]
        expected = np.maximum(windows, NCCL_FIFO_PACKETS) if method == "ring" else windows
        assert np.array_equal(flows[:, transport.F_STAGE_BUFFER], expected), method


def test_the_flat_ring_on_a_fat_tree_runs_near_its_closed_form():
    """With a stage buffer of 2 windows the flat ring on fat_tree k = 8 ran 1.30x its closed form (credits held
    each rank behind the ECMP-delayed ranks); with NCCL's FIFO, 1.0115x."""
    elements = 3_276_800
    s = scenario("ring", {"kind": "fat_tree", "k": 8}, elements)
    result, _ = run_collective("ring", s, None)
    bound = ring_time_closed_form(s.link, s.topology.workers_per_job, elements, 1472, 1e-6)
    assert result.completed and result.correct
    assert result.time_s < 1.02 * bound, result.time_s / bound


def peak_buffers(method, s, elements, stage_buffer_windows, monkeypatch):
    monkeypatch.setattr(sim_state, "STAGE_BUFFER_WINDOWS", stage_buffer_windows)
    _, state = build_state(method, s, None, elements)
    state, completed, end, _ = fast_engine.run(state, ticks(s.max_time_s))
    assert completed
    return int(state.counters[h.G_FLOW_PEAK_BUFFERS]), end


def test_a_tree_behind_oversubscribed_uplinks_holds_only_its_stage_buffers(monkeypatch):
    """The tree's streams cross 4:1 ToR uplinks: without back-pressure every packet a leaf sends waits at its
    parent for the slow uplink; with it, each stage holds its room. Same exact sums, no slower."""
    elements = 1_000_000
    s = scenario("tree", {"kind": "fat_tree", "k": 4, "oversubscription": 4.0}, elements)
    unbounded, unbounded_end = peak_buffers("tree", s, elements, 10**6, monkeypatch)
    bounded, bounded_end = peak_buffers("tree", s, elements, 2, monkeypatch)
    assert bounded * 3 < unbounded
    assert bounded_end <= 1.01 * unbounded_end
    monkeypatch.undo()
    result, _ = run_collective("tree", s, None)
    assert result.correct


def test_the_receiver_acknowledges_every_ack_every_packets_not_every_packet():
    """On a lossless two-rank ring each host's uplink carries its data and about one ACK per ``ACK_EVERY`` of
    the other rank's packets (the coalescing timer covers the tail; before it, a sender that caught up with
    its data asked for an ACK on every packet)."""
    elements = 400_000
    s = scenario("ring", {"kind": "one_rack", "workers": 2}, elements)
    _, state = build_state("ring", s, None, elements)
    data = int(state.flows[0, transport.F_PACKETS])
    result, _ = run_collective("ring", s, None)
    uplink = next(link for link in result.links if link.packets and link.name.startswith("h0->"))
    acks = uplink.packets - data
    assert data / sim_state.ACK_EVERY <= acks <= 1.1 * data / sim_state.ACK_EVERY + 4


def test_the_credit_delay_and_the_ack_timer_come_from_the_flows_path():
    """One rack: a flow crosses two channels and one switch. A credit takes one control packet's unloaded time
    back; the ACK timer is ``ACK_DELAY_WINDOWS`` windows of data packets at the slowest channel."""
    state = ring_state(workers=2)
    serialization = state.channel_serialization
    forward = state.flow_routes[0, 0][state.flow_routes[0, 0] >= 0]
    back = state.flow_routes[0, 1][state.flow_routes[0, 1] >= 0]
    t_data, t_ack = int(serialization[forward[0], h.SIZE_DATA]), int(serialization[back[0], h.SIZE_CONTROL])
    delay, latency = 1_000_000, 1_000_000  # 1 us links and pipeline, ps
    assert len(forward) == len(back) == 2
    assert sim_state.slowest_data_time(state, forward) == t_data
    assert sim_state.one_way_time(state, forward, h.SIZE_DATA, latency) == 2 * (t_data + delay) + latency
    assert state.flows[0, transport.F_CREDIT_DELAY] == 2 * (t_ack + delay) + latency
    assert state.flows[0, transport.F_ACK_DELAY] == (sim_state.ACK_DELAY_WINDOWS * state.flows[0, transport.F_WINDOW]
                                                     * t_data)
