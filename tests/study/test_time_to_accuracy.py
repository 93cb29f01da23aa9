"""Time to accuracy: which all-reduce each method needs, simulated times per width, time axes."""

import numpy as np
import pytest

from switchsim.config import LinkConfig, Scenario, SwitchConfigSection, TopologyConfig
from switchsim.study.time_to_accuracy import (
    Communication,
    communication_for,
    iteration_seconds,
    simulate_iteration,
    time_axis,
    time_to_target,
)


@pytest.fixture(scope="module")
def base():
    return Scenario(topology=TopologyConfig(workers=4), link=LinkConfig(rate_bps=10e9, delay_s=1e-6),
                    switch=SwitchConfigSection(slots=128))


def test_methods_map_to_their_all_reduces():
    assert communication_for("float32", 32, 100) == [Communication("ring", 100, 32)]
    assert communication_for("intsgd-random", 3, 100) == [Communication("switchml", 100, 8)]
    assert communication_for("intsgd-deterministic", 12, 100) == [Communication("switchml", 100, 16)]
    assert communication_for("heuristic", 32, 100) == [Communication("switchml", 100, 32),
                                                        Communication("switchml", 1, 32)]
    assert communication_for("heuristic-sum-in-wire", 2, 100) == [Communication("switchml", 100, 8),
                                                                   Communication("switchml", 1, 32)]


def test_narrower_elements_take_less_time_and_sums_stay_exact(base):
    elements = 64 * 2000
    times = {bits: simulate_iteration(base, Communication("switchml", elements, bits)) for bits in (32, 16, 8)}
    assert all(t.correct for t in times.values())
    assert times[32].aggregation_s > 1.8 * times[16].aggregation_s > 1.8 * 1.8 * times[8].aggregation_s


def test_iteration_seconds_adds_the_heuristics_extra_round(base):
    seconds = iteration_seconds(base, [("intsgd-random", 8), ("heuristic", 8), ("float32", 32)], 2410)
    random_s, parts = seconds[("intsgd-random", 8)]
    heuristic_s, heuristic_parts = seconds[("heuristic", 8)]
    assert len(parts) == 1 and len(heuristic_parts) == 2
    assert heuristic_s == pytest.approx(random_s + heuristic_parts[1].aggregation_s)
    assert heuristic_parts[1].aggregation_s > 0
    assert seconds[("float32", 32)][1][0].communication.method == "ring"


def test_time_axis_and_target():
    times = time_axis([0, 10, 20], 1e-3, compute_s=4e-3)
    assert times.tolist() == pytest.approx([0.0, 0.05, 0.1])
    assert time_to_target(times, np.array([0.2, 0.8, 0.9]), 0.85) == pytest.approx(0.1)
    assert time_to_target(times, np.array([0.2, 0.8, 0.9]), 0.95) is None
    with pytest.raises(ValueError, match="must be >= 0 seconds"):
        time_axis([1], -1.0)
