"""Every host collective on generated multi-tier fabrics (fat-trees, trees of any depth), with faults, over both
transports: exact, and identical on both engines (issue 17, part 6)."""

from __future__ import annotations

from dataclasses import asdict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchsim.config import scenario_from_dict
from switchsim.sim import transport
from switchsim.sim.collective_method import run_collective
from switchsim.sim.collectives import collective, method_names

COLLECTIVES = [name for name in method_names() if not collective(name).is_switch]
FABRICS = [{"kind": "fat_tree", "k": 4}, {"kind": "fat_tree", "k": 4, "jobs": 2},
           {"kind": "fat_tree", "k": 4, "jobs": 2, "placement": "interleaved"},
           {"kind": "fat_tree", "k": 4, "oversubscription": 2.0},
           {"kind": "tree", "fanout": [2, 2, 2]}, {"kind": "tree", "fanout": [3, 2], "jobs": 2},
           {"kind": "tree", "fanout": [2, 2, 2, 2], "jobs": 2, "placement": "interleaved"}]


def without_wall_time(result) -> dict:
    record = asdict(result)
    record.pop("wall_time_s")
    return record


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topology=st.sampled_from(FABRICS), method=st.sampled_from(COLLECTIVES),
       transport_name=st.sampled_from(transport.TRANSPORTS), loss=st.sampled_from([0.0, 0.03]),
       duplicate=st.sampled_from([0.0, 0.03]), reorder=st.sampled_from([0.0, 0.03]), elements=st.integers(1, 2000),
       servers=st.integers(1, 3), seed=st.integers(0, 2**32))
def test_hypothesis_collectives_on_fat_trees_and_trees_agree_on_both_engines(topology, method, transport_name, loss,
                                                                            duplicate, reorder, elements, servers,
                                                                            seed):
    scenario = scenario_from_dict({
        "seed": seed, "methods": [method], "topology": topology,
        "link": {"loss": loss, "duplicate": duplicate, "reorder": reorder, "reorder_delay_s": 2e-6,
                 "duplicate_delay_s": 1e-6},
        "workload": {"elements": elements, "source": "synthetic"},
        "baselines": {"transport": transport_name, "servers": servers}})
    fast, _ = run_collective(method, scenario, None, engine="fast")
    simpy, _ = run_collective(method, scenario, None, engine="simpy")
    assert fast.completed and fast.correct
    assert without_wall_time(fast) == without_wall_time(simpy)
