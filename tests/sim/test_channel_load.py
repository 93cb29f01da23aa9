"""The busiest channel of a run's routes (`switchsim.sim.channel_load`): a lower bound of every lossless
collective on any fabric, and the reason the tree runs above its one-rack closed form on a fat-tree."""

from __future__ import annotations

import pytest

from switchsim.config import scenario_from_dict
from switchsim.sim import fast_engine
from switchsim.sim.channel_load import busiest_channel, channel_busy_ps
from switchsim.sim.collective_method import build_state
from switchsim.sim.metrics import ring_time_closed_form, tree_time_closed_form
from switchsim.sim.state import seconds, ticks


def scenario(method, topology, elements):
    return scenario_from_dict({"methods": [method], "topology": topology,
                               "link": {"rate_bps": 100e9, "delay_s": 1e-6},
                               "workload": {"elements": elements, "source": "synthetic"}})


def run(method, topology, elements):
    """(simulated s, busiest channel, scenario) of ``method`` alone, lossless."""
    s = scenario(method, topology, elements)
    _, state = build_state(method, s, None, elements)
    load = busiest_channel(state)
    state, completed, end, _ = fast_engine.run(state, ticks(1.0))
    assert completed
    return seconds(end), load, s


@pytest.mark.parametrize("method", ["ring", "hierarchical-ring", "tree", "ps", "allgather"])
@pytest.mark.parametrize("topology", [{"kind": "one_rack", "workers": 8}, {"kind": "two_level", "workers": 2, "racks": 4},
                                      {"kind": "fat_tree", "k": 4}], ids=["one_rack", "two_level", "fat_tree"])
def test_no_lossless_run_is_shorter_than_its_busiest_channel(method, topology):
    simulated, load, _ = run(method, topology, 100_000)
    assert 0 < load.busy_s <= simulated


def test_on_one_rack_the_busiest_channel_is_the_ring_closed_forms_serialization():
    """One rack: every host link carries 2(n-1) steps of the ring; the closed form adds one packet's latency."""
    elements = 400_000
    s = scenario("ring", {"kind": "one_rack", "workers": 16}, elements)
    _, state = build_state("ring", s, None, elements)
    load = busiest_channel(state)
    closed = ring_time_closed_form(s.link, 16, elements, 1472, 1e-6)
    assert 0.97 * closed < load.busy_s < closed
    busy = channel_busy_ps(state)
    assert busy.max() == pytest.approx(ticks(load.busy_s), rel=1e-12)


def test_the_tree_on_a_fat_tree_is_bound_by_an_ecmp_collision_not_by_its_hosts():
    """fat_tree k = 8: two of the tree's streams hash onto one link, which is busy 1.23x the one-rack closed
    form; the simulated tree is within 5 % of that link (1.286x the closed form, 1.042x the link)."""
    elements = 3_276_800
    simulated, load, s = run("tree", {"kind": "fat_tree", "k": 8}, elements)
    closed = tree_time_closed_form(s.link, s.topology.workers_per_job, elements, 1472, 1e-6)
    assert load.busy_s > 1.2 * closed
    assert simulated < 1.05 * load.busy_s
