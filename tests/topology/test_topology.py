"""The Topology: builders, numbering, ECMP paths and each job's aggregation tree."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchsim.config import LinkConfig, Scenario, ScenarioError, TopologyConfig, scenario_from_dict
from switchsim.sim.network import CH_GROUP, CH_NUM_WORKERS, CH_WORKER_ID, build_network
from switchsim.topology import BUILDERS, MAX_CHILDREN, TopologyError, build_topology
from switchsim.topology.tree import tree_topology

LINK = LinkConfig(rate_bps=100e9)


def shape(**fields):
    return build_topology(TopologyConfig(**fields), LINK)


def channel_ends(topology, channel):
    """(from node, to node) of a channel."""
    link = topology.links[topology.channel_link(channel)]
    up = channel == topology.up_channel(topology.channel_link(channel))
    return (link.lower, link.upper) if up else (link.upper, link.lower)


def test_every_shape_is_registered():
    assert set(BUILDERS) == {"one_rack", "two_level", "multi_job", "fat_tree", "tree"}


@pytest.mark.parametrize(("k", "hosts", "switches"), [(2, 2, 5), (4, 16, 20), (16, 1024, 320)])
def test_fat_tree_counts_follow_al_fares(k, hosts, switches):
    topology = shape(kind="fat_tree", k=k)
    assert topology.hosts == hosts == k**3 // 4
    assert len(topology.switches) == switches == k * k + (k // 2) ** 2
    # every ToR joins every aggregation switch of its pod; every core one aggregation switch per pod
    assert len(topology.links) == hosts + k * (k // 2) ** 2 * 2
    assert all(len(s.parents) == k // 2 for s in topology.switches if s.tier < 2)
    assert all(len(s.children) == k for s in topology.switches if s.tier == 2)


def test_existing_shapes_keep_their_channel_names_and_order():
    assert shape(kind="two_level", workers=2, racks=2).channel_names() == [
        "h0->tor0", "h1->tor0", "h2->tor1", "h3->tor1", "tor0->h0", "tor0->h1", "tor1->h2", "tor1->h3",
        "tor0->spine", "tor1->spine", "spine->tor0", "spine->tor1"]
    assert shape(kind="multi_job", workers=1, jobs=2).channel_names() == ["h0->sw0", "h1->sw0", "sw0->h0", "sw0->h1"]


topologies = st.sampled_from([
    {"kind": "fat_tree", "k": 2}, {"kind": "fat_tree", "k": 4}, {"kind": "fat_tree", "k": 6},
    {"kind": "tree", "fanout": (2, 3, 2)}, {"kind": "tree", "fanout": (3,)}, {"kind": "two_level", "workers": 3,
                                                                                 "racks": 4},
])


@settings(max_examples=60, deadline=None)
@given(fields=topologies, data=st.data())
def test_a_path_is_a_chain_of_channels_up_then_down(fields, data):
    topology = shape(**fields)
    source = data.draw(st.integers(0, topology.hosts - 1))
    destination = data.draw(st.integers(0, topology.hosts - 1))
    flow = data.draw(st.integers(0, 2**64 - 1))
    path = topology.path(source, destination, flow)
    if source == destination:
        assert path == []
        return
    ends = [channel_ends(topology, c) for c in path]
    assert ends[0][0] == source and ends[-1][1] == destination
    assert all(a[1] == b[0] for a, b in pairwise(ends))
    tiers = [topology.switches[node - topology.hosts].tier for _, node in ends[:-1]]
    top = tiers.index(max(tiers))
    assert tiers[: top + 1] == sorted(tiers[: top + 1]) and tiers[top:] == sorted(tiers[top:], reverse=True)
    # shortest: up exactly to the lowest tier that covers both hosts
    lowest = min(topology.switches[s].tier for s in range(len(topology.switches))
                 if topology.covers(s, source) and topology.covers(s, destination))
    assert max(tiers) == lowest
    assert topology.path(source, destination, flow) == path  # the same flow, the same path


def test_ecmp_spreads_flows_over_every_core():
    topology = shape(kind="fat_tree", k=4)
    cores = {channel_ends(topology, topology.path(0, 15, flow)[2])[1] for flow in range(200)}
    assert cores == {topology.hosts + s for s, switch in enumerate(topology.switches) if switch.tier == 2}


def test_oversubscription_thins_the_tor_uplinks_only():
    topology = shape(kind="fat_tree", k=4, oversubscription=4.0)
    tor_up = [link.rate_bps for link in topology.links if link.lower >= topology.hosts
              and topology.switches[link.lower - topology.hosts].tier == 0]
    others = [link.rate_bps for link in topology.links if link.lower < topology.hosts
              or topology.switches[link.lower - topology.hosts].tier == 1]
    assert set(tor_up) == {25e9} and set(others) == {100e9}


def test_fat_tree_1024_aggregates_at_every_tier_within_the_bitmap():
    job = shape(kind="fat_tree", k=16).jobs[0]
    topology = shape(kind="fat_tree", k=16)
    assert topology.switches[job.root].tier == 2 and len(job.children[job.root]) == 16
    assert sorted(len(c) for c in job.children.values()) == [8] * (128 + 16) + [16]
    assert all(len(children) <= MAX_CHILDREN for children in job.children.values())


def test_a_tree_of_32_by_32_by_32_workers_can_be_described():
    topology = shape(kind="tree", fanout=(32, 32, 32))
    assert topology.hosts == 32768 and len(topology.jobs[0].children) == 1024 + 32 + 1


def test_jobs_inside_a_rack_or_a_pod_stop_at_their_lowest_common_switch():
    topology = shape(kind="fat_tree", k=4, jobs=8)  # 2 hosts per job: one rack each
    assert [topology.switches[j.root].tier for j in topology.jobs] == [0] * 8
    topology = shape(kind="fat_tree", k=4, jobs=4)  # one pod each
    assert [topology.switches[j.root].tier for j in topology.jobs] == [1] * 4
    assert len({j.root for j in topology.jobs}) == 4


def test_a_switch_aggregating_more_than_32_children_is_refused():
    with pytest.raises(TopologyError, match="at most 32"):
        tree_topology("tree", (33,), LINK)


@pytest.mark.parametrize(("fields", "message"), [
    ({"kind": "fat_tree", "k": 5}, r"topology\.k = 5 .* even integer"),
    ({"kind": "fat_tree", "k": 4, "jobs": 3}, r"topology\.jobs = 3 .* divide the 16 hosts"),
    ({"kind": "tree", "fanout": (4, 0)}, r"topology\.fanout = \[4, 0\] .* integers in 1\.\.32"),
    ({"kind": "tree", "fanout": (32, 32, 32, 32)}, r"topology\.fanout .* at most 65536 hosts"),
    ({"kind": "one_rack", "jobs": 2}, r"topology\.jobs = 2 .* 1 with kind = 'one_rack'"),
    ({"kind": "fat_tree", "oversubscription": 0.5}, r"topology\.oversubscription = 0\.5"),
])
def test_bad_shapes_name_the_field_and_range(fields, message):
    with pytest.raises(ScenarioError, match=message):
        TopologyConfig(**fields)


def test_a_field_the_builder_does_not_read_is_an_error():
    with pytest.raises(ScenarioError, match=r"topology\.k is not read by kind = 'one_rack'"):
        scenario_from_dict({"topology": {"kind": "one_rack", "k": 8}})


def test_lowering_gives_each_channel_of_a_job_tree_its_bit_and_count():
    scenario = Scenario(topology=TopologyConfig(kind="fat_tree", k=4), link=LINK)
    topology = scenario.built_topology
    network = build_network(topology, 2, 3, 4)
    job = topology.jobs[0]
    for switch, children in job.children.items():
        for bit, child in enumerate(children):
            up = topology.up_channel(topology.link_between(child, topology.hosts + switch))
            assert network.channels[up, CH_WORKER_ID] == bit
            assert network.channels[up, CH_NUM_WORKERS] == len(children)
            assert network.channels[up, CH_GROUP] == 0
    assert (network.switch_uplink[job.root] == -1).all()
    assert network.link_rate_bps.tolist() == [100e9] * topology.channels


def test_interleaved_placement_puts_every_job_in_every_rack():
    topology = shape(kind="fat_tree", k=8, jobs=4, placement="interleaved")  # 4 hosts per ToR
    assert [list(j.hosts[:3]) for j in topology.jobs] == [[0, 4, 8], [1, 5, 9], [2, 6, 10], [3, 7, 11]]
    for job in topology.jobs:
        tors = {s for s, switch in enumerate(topology.switches) if switch.tier == 0}
        assert {s for s in job.children if s in tors} == tors  # one host of the job under every ToR
    blocks = shape(kind="tree", fanout=(4, 4), jobs=2)
    assert blocks.jobs[1].hosts == tuple(range(8, 16))


def test_only_the_switchml_jobs_trees_are_lowered():
    """Jobs sharing a fabric: a collective job needs no tree, so trees that would collide are not built."""
    topology = shape(kind="fat_tree", k=4, jobs=4, placement="interleaved")  # jobs 0 and 2 share uplinks
    with pytest.raises(TopologyError, match="jobs 0 and 2 both aggregate"):
        build_network(topology, 2, 3, 4)
    network = build_network(topology, 2, 3, 4, switchml_jobs=frozenset({0, 1}))
    assert set(network.channels[:, CH_GROUP].tolist()) == {-1, 0, 1}
    assert network.host_group.tolist() == [h % 4 for h in range(16)]


def test_placement_is_read_by_fat_tree_and_tree_only():
    with pytest.raises(ScenarioError, match=r"topology\.placement is not read by kind = 'one_rack'"):
        scenario_from_dict({"topology": {"kind": "one_rack", "placement": "interleaved"}})
    with pytest.raises(ScenarioError, match=r"topology\.placement = 'random'.*one of \('blocks', 'interleaved'\)"):
        TopologyConfig(kind="fat_tree", placement="random")
