"""Job groups are decided once (`TopologyConfig.job_groups`); the network arrays use them."""

from __future__ import annotations

import pytest

from switchsim.config import TopologyConfig
from switchsim.sim.network import build_network

from ..builders import build_scenario


@pytest.mark.parametrize(("topology", "groups"), [
    (TopologyConfig(kind="one_rack", workers=3), [[0, 1, 2]]),
    (TopologyConfig(kind="two_level", workers=2, racks=3), [[0, 1, 2, 3, 4, 5]]),
    (TopologyConfig(kind="multi_job", workers=2, jobs=3), [[0, 1], [2, 3], [4, 5]]),
])
def test_job_groups_and_the_engines_agree(topology, groups):
    assert topology.job_groups == groups
    scenario = build_scenario(topology.kind, workers=topology.workers, racks=topology.racks, jobs=topology.jobs,
                              window=16, slots=64)
    assert build_network(scenario.built_topology, 0, 1, 2).groups.tolist() == groups
