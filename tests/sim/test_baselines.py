"""Baselines: exact results, ring against its closed form and its fall with n."""

from dataclasses import replace
from functools import partial

import pytest

from switchsim.config import (
    LinkConfig,
    scenario_from_dict,
)
from switchsim.sim.baselines import run_baseline
from switchsim.sim.metrics import ring_time_closed_form
from switchsim.sim.run import make_tensors

from ..builders import build_scenario

scenario = partial(build_scenario, elements=200_000)


@pytest.mark.parametrize("method", ["ring", "ps", "allgather"])
@pytest.mark.parametrize("kind", ["one_rack", "two_level", "multi_job"])
def test_baselines_are_exact(method, kind):
    s = scenario(kind=kind)
    result, _final = run_baseline(method, s, make_tensors(s))
    assert result.completed and result.correct


@pytest.mark.parametrize("workers", [2, 4, 8, 16])
def test_ring_time_matches_its_closed_form(workers):
    s = scenario(workers=workers, elements=1_000_000)
    result, _ = run_baseline("ring", s, make_tensors(s))
    expected = ring_time_closed_form(s.link, workers, s.workload.elements, s.baselines.packet_payload_bytes,
                                     s.switch.pipeline_latency_s)
    assert result.time_s == pytest.approx(expected, rel=0.01)


def test_ring_throughput_falls_with_n():
    rates = []
    for n in (4, 8, 16):
        s = scenario(workers=n, elements=1_000_000, link=LinkConfig(rate_bps=100e9))
        rates.append(run_baseline("ring", s, make_tensors(s))[0].ate_per_s)
    assert rates[0] > rates[1] > rates[2]


def test_parameter_server_incast_queues_at_the_server():
    s = scenario(workers=4)
    result, _ = run_baseline("ps", s, make_tensors(s))
    server_down = next(link for link in result.links if link.name == "sw0->h4")
    assert server_down.max_queue_bytes > 0
    assert server_down.utilisation == pytest.approx(0.5, abs=0.02)  # busy for the pushes, idle for the pulls
    assert server_down.bytes == 4 * next(link for link in result.links if link.name == "h0->sw0").bytes


def test_loss_costs_retransmissions_but_stays_exact():
    s = scenario(workers=4, link=LinkConfig(loss=0.01))
    result, _ = run_baseline("ring", s, make_tensors(s))
    lossless, _ = run_baseline("ring", scenario(workers=4), make_tensors(s))
    assert result.correct and result.retransmissions > 0
    assert result.time_s > lossless.time_s


@pytest.mark.parametrize("method", ["ring", "ps", "allgather"])
@pytest.mark.parametrize("bits", [32, 8])
def test_synthetic_baselines_check_every_element(method, bits):
    """The baselines run on the synthetic workload too: nothing held whole, every result checked exactly."""
    s = scenario_from_dict({"methods": [method], "topology": {"kind": "two_level", "workers": 3, "racks": 2},
                            "link": {"loss": 0.01}, "workload": {"elements": 10_001, "source": "synthetic",
                                                                   "element_bits": bits, "iterations": 2}})
    result, final = run_baseline(method, s, None)
    assert result.completed and result.correct and final is None


def test_synthetic_ring_times_equal_the_in_memory_ring():
    """The values do not change the timing: the synthetic ring takes exactly as long as the in-memory one."""
    s = scenario(workers=5)
    synthetic = replace(s, workload=replace(s.workload, source="synthetic"))
    assert run_baseline("ring", synthetic, None)[0].time_s == run_baseline("ring", s, make_tensors(s))[0].time_s


def test_a_wrong_contribution_is_caught(monkeypatch):
    """A ring that adds one wrong element fails the check (the check can fail)."""
    from switchsim.sim import baselines

    s = scenario(workers=4)
    synthetic = replace(s, workload=replace(s.workload, source="synthetic"))
    original = baselines.Contributions.add_to

    def off_by_one(self, host, lo, target):
        original(self, host, lo, target)
        if host == 2 and lo == 0:
            target[0] += 1

    monkeypatch.setattr(baselines.Contributions, "add_to", off_by_one)
    assert not run_baseline("ring", synthetic, None)[0].correct
