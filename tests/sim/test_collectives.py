"""Host collectives at packet level over a real transport: exact sums, both engines equal, closed forms."""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchsim.config import LinkConfig, ScenarioError, scenario_from_dict
from switchsim.pipeline import wrapped_sum
from switchsim.sim import fast_engine, transport
from switchsim.sim.collective_method import build_state, run_collective, run_method
from switchsim.sim.collectives import REGISTRY, by_compare_name, collective, method_names
from switchsim.sim.metrics import (
    allgather_time_closed_form,
    hierarchical_ring_time_closed_form,
    ps_time_closed_form,
    ring_time_closed_form,
    tree_busiest_streams,
    tree_time_closed_form,
)
from switchsim.sim.routes import host_route
from switchsim.sim.run import make_tensors
from switchsim.sim.state import ticks
from switchsim.sim.switchml_method import scenario_network

from ..builders import build_scenario

COLLECTIVES = [name for name in method_names() if not collective(name).is_switch]
TRANSPORTS = list(transport.TRANSPORTS)
FAULTS = {"loss": 0.02, "duplicate": 0.02, "reorder": 0.02, "reorder_delay_s": 3e-6, "duplicate_delay_s": 1e-6}


def synthetic(method, kind="one_rack", workers=4, elements=5000, transport_name="rdma-gbn", link=None, **baselines):
    return scenario_from_dict({"methods": [method], "topology": {"kind": kind, "workers": workers},
                               "link": link or {}, "workload": {"elements": elements, "source": "synthetic"},
                               "baselines": {"transport": transport_name, **baselines}})


def summary(result):
    record = asdict(result)
    record.pop("wall_time_s")
    return record


@pytest.mark.parametrize("method", COLLECTIVES)
@pytest.mark.parametrize("kind", ["one_rack", "two_level", "multi_job"])
def test_collectives_are_exact_and_keep_the_sums(method, kind):
    s = build_scenario(kind, methods=(method,), workers=3, elements=20_001)
    tensors = make_tensors(s)
    result, final = run_collective(method, s, tensors)
    assert result.completed and result.correct
    if collective(method).check_bytes_per_element:  # a reduction: every worker ends with its job's sum
        for group in s.topology.job_groups:
            expected = wrapped_sum(tensors[group])
            for worker in group:
                assert np.array_equal(final[worker], expected)


@pytest.mark.parametrize("method", COLLECTIVES)
@pytest.mark.parametrize("transport_name", TRANSPORTS)
def test_both_engines_agree_under_loss_duplication_and_reordering(method, transport_name):
    s = synthetic(method, kind="two_level", workers=2, elements=3000, transport_name=transport_name, link=FAULTS,
                  servers=2)
    fast, _ = run_collective(method, s, None, engine="fast")
    simpy, _ = run_collective(method, s, None, engine="simpy")
    assert fast.completed and fast.correct and fast.retransmissions > 0
    assert summary(fast) == summary(simpy)


@pytest.mark.parametrize("workers", [2, 4, 8])
def test_ring_time_is_within_two_percent_of_its_closed_form(workers):
    s = synthetic("ring", workers=workers, elements=400_000)
    result, _ = run_collective("ring", s, None)
    closed = ring_time_closed_form(s.link, workers, 400_000, s.baselines.packet_payload_bytes,
                                   s.switch.pipeline_latency_s)
    assert result.time_s == pytest.approx(closed, rel=0.02)


@pytest.mark.parametrize("workers", [4, 8])
def test_allgather_time_is_within_two_percent_of_its_bound(workers):
    """The rotated schedule keeps every uplink busy: about (n-1) M / B, not twice that."""
    s = synthetic("allgather", workers=workers, elements=100_000)
    result, _ = run_collective("allgather", s, None)
    closed = allgather_time_closed_form(s.link, workers, 100_000, s.baselines.packet_payload_bytes,
                                        s.switch.pipeline_latency_s)
    assert result.time_s == pytest.approx(closed, rel=0.02)


def test_one_parameter_server_is_an_incast_and_sharding_spreads_it():
    one, _ = run_collective("ps", synthetic("ps", workers=4, elements=50_000), None)
    server_down = next(link for link in one.links if link.name == "sw0->h4")
    worker_up = next(link for link in one.links if link.name == "h0->sw0")
    assert server_down.max_queue_bytes > 0
    assert server_down.bytes == pytest.approx(4 * worker_up.bytes, rel=0.04)  # n workers' pushes into one link
    four, _ = run_collective("ps", synthetic("ps", workers=4, elements=50_000, servers=4), None)
    assert four.correct and four.time_s < 0.5 * one.time_s


def test_go_back_n_resends_more_than_selective_repeat_under_loss():
    link = {"loss": 0.01}
    gbn, _ = run_collective("ring", synthetic("ring", elements=100_000, link=link), None)
    selective, _ = run_collective("ring", synthetic("ring", elements=100_000, link=link,
                                                    transport_name="selective"), None)
    lossless, _ = run_collective("ring", synthetic("ring", elements=100_000), None)
    assert gbn.correct and selective.correct and lossless.retransmissions == 0
    assert gbn.retransmissions > 3 * selective.retransmissions > 0
    assert gbn.time_s > selective.time_s > lossless.time_s


def test_a_wrong_value_is_caught():
    """The check can fail: a cached exact sum off by one makes the run incorrect."""
    s = synthetic("ring", elements=2000)
    _, state = build_state("ring", s, None, 2000)
    state.expected[0, 0] = 12345
    state.expected_ready[0, 0] = 1
    state, completed, _, _ = fast_engine.run(state, ticks(s.max_time_s))
    assert completed and state.counters[fast_engine.h.G_WRONG_ELEMENTS] > 0


def test_queue_limits_apply_to_transport_traffic():
    """A tiny queue at the parameter server's port tail-drops pushes; the transport repairs it."""
    s = synthetic("ps", workers=8, elements=50_000, link={"queue_bytes": 4096}, transport_name="selective")
    result, _ = run_collective("ps", s, None)
    assert result.correct and sum(link.queue_drops for link in result.links) > 0 and result.retransmissions > 0


def test_iterations_and_compute_repeat_the_collective_exactly():
    s = scenario_from_dict({"methods": ["ring"], "topology": {"workers": 3},
                            "workload": {"elements": 3000, "source": "synthetic", "iterations": 3,
                                         "compute_s": 1e-4}, "link": FAULTS})
    result, _ = run_collective("ring", s, None)
    single, _ = run_collective("ring", replace(s, workload=replace(s.workload, iterations=1)), None)
    assert result.correct and result.time_s > 3e-4
    assert result.aggregation_time_s > 2 * single.aggregation_time_s and result.packet_hops > 2 * single.packet_hops


def test_narrow_elements_wrap_at_the_wire_width():
    s = build_scenario(methods=("ring",), workers=4, elements=1 << 12, element_bits=8)
    tensors = make_tensors(s)
    result, final = run_collective("ring", s, tensors)
    assert result.correct
    expected = ((wrapped_sum(tensors).astype(np.int64) + 128) % 256 - 128).astype(np.int32)
    assert np.array_equal(final[0], expected)


def test_routes_cross_the_spine_between_racks():
    s = build_scenario("two_level", workers=2, racks=2)
    network = scenario_network(s)
    assert [network.names[c] for c in host_route(network, 0, 1, 0)] == ["h0->tor0", "tor0->h1"]
    assert [network.names[c] for c in host_route(network, 0, 3, 0)] == ["h0->tor0", "tor0->spine", "spine->tor1",
                                                                        "tor1->h3"]


def test_registry_names_every_method_and_its_compare_name():
    assert set(REGISTRY) >= {"switchml", "ring", "ps", "allgather"}
    assert by_compare_name("allgather").name == "allgather" and by_compare_name("switch").is_switch
    with pytest.raises(KeyError, match="registered"):
        collective("nope")


def test_run_method_dispatches_switchml_and_collectives():
    s = build_scenario(methods=("switchml", "ring"), workers=2, elements=512)
    assert run_method("switchml", s, make_tensors(s))[0].correct
    assert run_method("ring", s, None)[0].correct


def test_an_unknown_transport_is_named():
    with pytest.raises(ScenarioError, match=r"baselines.transport = 'tcp' .*one of \('rdma-gbn', 'selective'\)"):
        synthetic("ring", transport_name="tcp")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["one_rack", "two_level", "multi_job"]), workers=st.integers(1, 3),
       method=st.sampled_from(COLLECTIVES), transport_name=st.sampled_from(TRANSPORTS),
       loss=st.sampled_from([0.0, 0.03]), duplicate=st.sampled_from([0.0, 0.03]),
       reorder=st.sampled_from([0.0, 0.03]), elements=st.integers(1, 2500), seed=st.integers(0, 2**32))
def test_hypothesis_topologies_methods_transports_and_faults(kind, workers, method, transport_name, loss, duplicate,
                                                             reorder, elements, seed):
    link = LinkConfig(loss=loss, duplicate=duplicate, reorder=reorder, reorder_delay_s=2e-6, duplicate_delay_s=1e-6)
    s = synthetic(method, kind=kind, workers=workers, elements=elements, transport_name=transport_name)
    s = replace(s, link=link, seed=seed)
    fast, _ = run_collective(method, s, None, engine="fast")
    simpy, _ = run_collective(method, s, None, engine="simpy")
    assert fast.completed and fast.correct
    assert summary(fast) == summary(simpy)


@pytest.mark.parametrize("ranks", [2, 3, 5, 8, 13, 32])
def test_double_binary_trees_span_the_ranks_and_share_interior_duty(ranks):
    from switchsim.sim.collectives.tree import double_tree

    trees = double_tree(ranks)
    for tree in trees:
        assert [parent for parent, _ in tree].count(-1) == 1
        for rank, (parent, children) in enumerate(tree):
            assert len(children) <= 2 and all(tree[child][0] == rank for child in children)
            assert parent < 0 or rank in tree[parent][1]
    if ranks % 2 == 0:  # mirrored: no rank is an interior node with two children in both trees
        assert not any(len(trees[0][r][1]) == 2 and len(trees[1][r][1]) == 2 for r in range(ranks))


def test_memory_estimates_read_the_registry():
    from switchsim.sim.memory import collective_bytes, estimate_bytes

    small, big = synthetic("allgather", workers=4), synthetic("allgather", workers=16)
    assert collective_bytes(small, "switchml") == 0
    assert collective_bytes(big, "allgather") > 15 * collective_bytes(small, "allgather")  # n (n - 1) flows
    ring = synthetic("ring", workers=8, elements=1_000_000)
    assert collective_bytes(ring, "ring") >= 5 * 1_000_000  # the cached exact sums: 4 B + a flag per element
    assert estimate_bytes(ring)[0] > collective_bytes(ring, "ring")


def test_a_flows_window_is_one_bandwidth_delay_product_plus_the_ack_coalescing():
    s = synthetic("ring", workers=2)
    _, state = build_state("ring", s, None, 1000)
    flows = state.flows
    t_data, t_ack = 1_230_400, 67_200  # 1538 B and 84 B at 10 Gb/s, ps
    round_trip = 2 * (t_data + 1_000_000) + 2 * (t_ack + 1_000_000) + 2 * 1_000_000  # two links each way, 2 switches
    assert flows[0, transport.F_WINDOW] == -(-round_trip // t_data) + 4 + 2


@pytest.mark.parametrize("workers", [2, 4, 8, 16])
def test_tree_time_is_within_two_percent_of_its_closed_form(workers):
    """The busiest uplink carries 4 P_half packets (2 at n = 2): the closed form is a lower bound, and the run
    is within 1.3 % of it (1.0044, 1.0090, 1.0071, 1.0124x at n = 2, 4, 8, 16; 1.07-1.12x from n = 4 on before
    the credits between stages and the ACK-coalescing timer, docs/simulator.md)."""
    s = synthetic("tree", workers=workers, elements=400_000)
    result, _ = run_collective("tree", s, None)
    closed = tree_time_closed_form(s.link, workers, 400_000, s.baselines.packet_payload_bytes,
                                   s.switch.pipeline_latency_s)
    assert result.correct and result.retransmissions == 0
    assert closed < result.time_s < 1.02 * closed


@pytest.mark.parametrize("workers", [2, 3, 4, 5, 8, 16, 32])
def test_the_busiest_tree_rank_carries_four_streams_from_four_ranks_on(workers):
    assert tree_busiest_streams(workers) == min(workers, 4)


@pytest.mark.parametrize("servers", [1, 2, 4])
@pytest.mark.parametrize("workers", [4, 8, 16])
def test_parameter_server_time_is_within_three_percent_of_its_closed_form(workers, servers):
    """The server's link carries n P_s packets each way, pushes and pulls overlapping: the closed form is a lower
    bound. The n-way incast stays in the 4 MiB queue (no drop, no retransmission: the lossless form applies); the
    run takes 1.0065-1.0273x it (pulls' ACKs wait in the incast queue past the pulls' window, docs/simulator.md):
    the 2 % goal is met for 4 of the 9 cases, and 3 % is the tightest true bound (7 % before the credits and the
    ACK-coalescing timer)."""
    s = synthetic("ps", workers=workers, elements=400_000, servers=servers)
    result, _ = run_collective("ps", s, None)
    closed = ps_time_closed_form(s.link, workers, servers, 400_000, s.baselines.packet_payload_bytes,
                                 s.switch.pipeline_latency_s)
    assert result.correct and result.retransmissions == 0
    assert sum(link.queue_drops for link in result.links) == 0
    assert closed < result.time_s < 1.03 * closed


def test_parameter_server_closed_form_is_bound_by_the_workers_links_with_more_servers_than_workers():
    link = LinkConfig()
    assert ps_time_closed_form(link, 2, 4, 400_000, 1472, 1e-6) == ps_time_closed_form(link, 4, 4, 400_000, 1472, 1e-6)
    assert ps_time_closed_form(link, 8, 1, 400_000, 1472, 1e-6) > 1.9 * ps_time_closed_form(link, 4, 1, 400_000,
                                                                                              1472, 1e-6)


@pytest.mark.parametrize("transport_name", TRANSPORTS)
def test_growing_send_queues_keep_every_mark_under_loss(transport_name):
    """Chunks of hundreds of packets grow the send queues mid-run; SACK marks of packets in flight must
    move with them and no stale mark may land on a later packet (a run that never finished, before the fix)."""
    s = synthetic("ring", workers=4, elements=300_000, transport_name=transport_name, link={"loss": 0.05},
                  retransmit_timeout_s=1e-4, rdma_timeout_exponent=5)
    _, state = build_state("ring", s, None, 300_000)
    slots = state.flow_send.shape[1]
    result, _ = run_collective("ring", s, None)
    assert result.completed and result.correct and result.retransmissions > 0
    assert -(-75_000 // 368) > slots  # a chunk did not fit the first send queues


HIERARCHICAL_SHAPES = [  # (topology knobs, racks r, hosts per rack m)
    ({"kind": "two_level", "workers": 2, "racks": 2}, 2, 2),
    ({"kind": "two_level", "workers": 3, "racks": 4}, 4, 3),
    ({"kind": "two_level", "workers": 4, "racks": 3}, 3, 4),
    ({"kind": "fat_tree", "k": 4}, 8, 2),
    ({"kind": "tree", "fanout": (3, 2, 2)}, 4, 3),
]


def hierarchical(topology, elements, transport_name="rdma-gbn", link=None, source="synthetic"):
    return scenario_from_dict({"methods": ["hierarchical-ring"], "topology": topology, "link": link or {},
                               "workload": {"elements": elements, "source": source},
                               "baselines": {"transport": transport_name}})


@pytest.mark.parametrize(("topology", "racks", "per_rack"), HIERARCHICAL_SHAPES)
@pytest.mark.parametrize("elements", [1, 1000, 20_001])
def test_hierarchical_ring_ends_every_rank_with_the_sum_and_checks_every_element_once(topology, racks, per_rack,
                                                                                      elements):
    s = hierarchical(topology, elements, source="tensors")
    tensors = make_tensors(s)
    network, state = build_state("hierarchical-ring", s, tensors, elements)
    n = racks * per_rack
    assert len({int(network.rack_of[host]) for host in network.groups[0]}) == racks
    assert len(state.flows) == 3 * n  # reduce-scatter, inter-rack ring and all-gather flows per host
    state, completed, _, _ = fast_engine.run(state, ticks(s.max_time_s))
    counters = state.counters
    assert completed and counters[fast_engine.h.G_WRONG_ELEMENTS] == 0
    padded = n * -(-elements // n)  # the flat ring's padding: n sub-chunks of ceil(S / n)
    assert counters[fast_engine.h.G_CHECKED_ELEMENTS] == n * padded  # every element of every rank, once
    expected = wrapped_sum(tensors)
    for worker in range(n):
        assert np.array_equal(state.final[worker, :elements], expected)


def data_packets(link):
    """Data packets (1538 B on the wire) of a link that also carried ACKs (84 B)."""
    return (link.bytes - 84 * link.packets) // (1538 - 84)


def test_hierarchical_ring_is_exact_on_the_synthetic_workload_and_every_uplink_carries_the_flat_rings_packets():
    elements, racks, per_rack = 30_000, 3, 3
    n = racks * per_rack
    s = hierarchical({"kind": "two_level", "workers": per_rack, "racks": racks}, elements)
    result, final = run_collective("hierarchical-ring", s, None)
    flat, _ = run_collective("ring", replace(s, methods=("ring",)), None)
    assert result.completed and result.correct and final is None
    sub_packets = -(-(elements // n + 1) // 368)  # P' = ceil(ceil(S/n) / E); 30,000 = 9 x 3,333 + 3
    for link in result.links:
        if link.name.startswith("h"):  # a host uplink: 2(n-1) P' data packets, as in the flat ring
            assert data_packets(link) == 2 * (n - 1) * sub_packets
        if link.name.endswith("->spine"):  # m inter-rack streams of 2(r-1) P' leave each rack
            assert data_packets(link) == per_rack * 2 * (racks - 1) * sub_packets
    for link in flat.links:
        if link.name.endswith("->spine"):  # the flat ring: one stream of 2(n-1) P'
            assert data_packets(link) == 2 * (n - 1) * sub_packets


@pytest.mark.parametrize("transport_name", TRANSPORTS)
@pytest.mark.parametrize(("topology", "racks", "per_rack"), HIERARCHICAL_SHAPES[1:4])
def test_hierarchical_ring_engines_agree_under_loss_duplication_and_reordering(transport_name, topology, racks,
                                                                                per_rack):
    s = hierarchical(topology, 4000, transport_name=transport_name, link=FAULTS)
    fast, _ = run_collective("hierarchical-ring", s, None, engine="fast")
    simpy, _ = run_collective("hierarchical-ring", s, None, engine="simpy")
    assert fast.completed and fast.correct and fast.retransmissions > 0
    assert summary(fast) == summary(simpy)


def test_hierarchical_ring_on_one_rack_or_one_host_per_rack_is_the_flat_ring():
    for topology in ({"kind": "one_rack", "workers": 4}, {"kind": "two_level", "workers": 1, "racks": 4}):
        s = hierarchical(topology, 5000)
        result, _ = run_collective("hierarchical-ring", s, None)
        flat, _ = run_collective("ring", replace(s, methods=("ring",)), None)
        assert result.correct and summary(result) == {**summary(flat), "method": "hierarchical-ring"}


def test_hierarchical_ring_refuses_racks_of_unequal_sizes():
    """The shipped topologies give every job whole racks; a job over racks of 2 and 1 hosts is refused."""
    from switchsim.sim.collectives import hierarchical_ring
    from switchsim.sim.collectives.flows import FlowTable

    table = FlowTable(368, lambda source, destination, flow_hash: np.array([source], np.int64),
                      rack_of=np.array([0, 0, 1, 1], np.int64))
    with pytest.raises(ValueError, match=r"job 3 has racks of unequal sizes \[2, 1\]"):
        hierarchical_ring.build(table, 3, [0, 1, 2], 1000, [])
    hierarchical_ring.build(table, 3, [0, 1, 2, 3], 1000, [])  # 2 racks of 2: 3 flows a host
    assert len(table) == 12


@pytest.mark.parametrize(("topology", "racks", "per_rack"), [
    ({"kind": "two_level", "workers": 2, "racks": 2}, 2, 2),
    ({"kind": "two_level", "workers": 2, "racks": 4}, 4, 2),
    ({"kind": "fat_tree", "k": 4}, 8, 2),
])
def test_hierarchical_ring_time_is_within_two_percent_of_its_closed_form(topology, racks, per_rack):
    """Two hosts per rack: a rack's uplink bandwidth (one host-rate link, or k/2 of them) carries its hosts'
    cross-rack streams without a standing queue, so every host uplink stays busy: 2(n-1) P' t + h(2)."""
    s = hierarchical(topology, 400_000)
    result, _ = run_collective("hierarchical-ring", s, None)
    closed = hierarchical_ring_time_closed_form(s.link, racks, per_rack, 400_000, s.baselines.packet_payload_bytes,
                                                s.switch.pipeline_latency_s)
    assert result.correct and result.time_s == pytest.approx(closed, rel=0.02)


def test_hierarchical_ring_memory_estimate_covers_the_chunk_each_host_holds():
    """Each ring step holds what arrived during the previous one: about r P' payloads a host, counted by
    `collective_bytes` (the flat ring's estimate does not need it)."""
    from switchsim.sim.memory import collective_bytes

    elements = 200_000
    s = hierarchical({"kind": "two_level", "workers": 4, "racks": 4}, elements)
    _, state = build_state("hierarchical-ring", s, None, elements)
    state, completed, _, _ = fast_engine.run(state, ticks(s.max_time_s))
    held = state.counters[fast_engine.h.G_FLOW_PEAK_BUFFERS] * 368 * 4
    ring_bytes = collective_bytes(replace(s, methods=("ring",)), "ring")
    assert completed and held > ring_bytes  # more than the flat ring's whole estimate
    assert held < collective_bytes(s, "hierarchical-ring") - ring_bytes


def test_hierarchical_ring_names_the_job_whose_racks_differ_and_the_command_line_exits_2(write_scenario, capsys):
    """Interleaved placement deals a k = 6 fat-tree's 3-host racks to two jobs: job 0 gets 2, 1, 2, 1, ... hosts."""
    from switchsim.cli import main

    s = hierarchical({"kind": "fat_tree", "k": 6, "jobs": 2, "placement": "interleaved"}, 1000)
    with pytest.raises(ValueError, match=r"job 0 has racks of unequal sizes \[2, 1, 2, 1, "):
        run_collective("hierarchical-ring", s, None)
    path = write_scenario('methods = ["hierarchical-ring"]\n[topology]\nkind = "fat_tree"\nk = 6\njobs = 2\n'
                          'placement = "interleaved"\n[workload]\nelements = 1000\nsource = "synthetic"\n')
    assert main(["run", str(path), "--out", str(path.parent / "out")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "job 0 has racks of unequal sizes [2, 1, 2, 1, " in error[0]


def test_hierarchical_ring_jobs_share_a_fat_tree_with_switchml_and_a_flat_ring():
    from switchsim.sim.tenants import run_tenants

    s = scenario_from_dict({"job_methods": ["hierarchical-ring", "switchml", "ring", "hierarchical-ring"],
                            "topology": {"kind": "fat_tree", "k": 4, "jobs": 4}, "switch": {"slots": 64},
                            "switchml": {"window": 16}, "workload": {"elements": 6000, "source": "synthetic"}})
    records = run_tenants(s)
    assert [r.method for r in records] == ["hierarchical-ring", "switchml", "ring", "hierarchical-ring"]
    assert all(r.completed and r.correct for r in records)
