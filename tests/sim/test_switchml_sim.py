"""SwitchML in the simulator: exact sums on every topology, closed forms, loss, reproducibility."""

from dataclasses import replace
from functools import partial

import numpy as np
import pytest

from switchsim.config import (
    HostConfig,
    LinkConfig,
    Scenario,
    SwitchConfigSection,
    TopologyConfig,
    WorkloadConfig,
    scenario_from_dict,
)
from switchsim.sim.metrics import switchml_ate_closed_form, switchml_line_rate_ate
from switchsim.sim.run import make_tensors, run_scenario
from switchsim.sim.switchml_method import run_switchml

from ..builders import build_scenario

scenario = partial(build_scenario, methods=("switchml",), window=32, elements=64 * 400)


def run(s):
    tensors = make_tensors(s)
    result, final = run_switchml(s, tensors)
    return result, final, tensors


@pytest.mark.parametrize("kind", ["one_rack", "two_level", "multi_job"])
def test_every_worker_gets_the_exact_wrapped_sum(kind):
    result, final, tensors = run(scenario(kind))
    assert result.completed and result.correct
    hosts_per_group = 8 if kind == "two_level" else 4
    for start in range(0, len(tensors), hosts_per_group):
        group = slice(start, start + hosts_per_group)
        expected = tensors[group].sum(axis=0, dtype=np.int64).astype(np.int32)
        assert (final[group] == expected).all()


def test_two_level_switches_aggregate_hierarchically():
    result, _, _ = run(scenario("two_level", workers=3, elements=64 * 10))
    # each ToR broadcasts up once per chunk (10) and the spine once per chunk (10)
    assert result.switch_counters["broadcast"] == 10 * 2 + 10


@pytest.mark.parametrize("window", [2, 4, 128])
def test_lossless_ate_matches_the_closed_form(window):
    """min(line-rate ceiling, W k / RTT), within 2 % (window-bound for small W, line-rate for large)."""
    s = scenario(window=window, elements=64 * 3000)
    result, _, _ = run(s)
    expected = switchml_ate_closed_form(s.link, 64, window, s.switch.pipeline_latency_s)
    assert result.ate_per_s == pytest.approx(expected, rel=0.02)


def test_line_rate_bound_is_the_link_ceiling():
    link = LinkConfig(rate_bps=100e9)
    assert switchml_line_rate_ate(link, 64) == pytest.approx(2.41e9, rel=0.005)
    assert switchml_line_rate_ate(link, 256) == pytest.approx(2.91e9, rel=0.005)


def test_throughput_is_flat_in_the_number_of_workers():
    rates = [run(scenario(workers=n, window=64, elements=64 * 2000))[0].ate_per_s for n in (2, 4, 8, 16)]
    assert max(rates) / min(rates) < 1.02


def test_exact_under_loss_with_retransmissions():
    s = scenario(workers=6, link=LinkConfig(loss=0.01), timeout_s=2e-5)
    result, _, _ = run(s)
    assert result.correct and result.retransmissions > 0 and result.timeouts > 0
    assert result.switch_counters["retransmit"] > 0


def test_hardened_mode_survives_late_duplicates():
    link = LinkConfig(loss=0.01, duplicate=0.02, duplicate_delay_s=2e-5, reorder=0.02, reorder_delay_s=5e-6)
    result, _, _ = run(scenario(workers=4, link=link, timeout_s=2e-5, hardened=True))
    assert result.correct
    assert result.switch_counters["stale"] > 0


def test_same_seed_same_run():
    s = scenario(workers=3, link=LinkConfig(loss=0.02), timeout_s=2e-5)
    a, _, _ = run(s)
    b, _, _ = run(s)
    assert (a.time_s, a.retransmissions, a.packets) == (b.time_s, b.retransmissions, b.packets)


def test_iterations_and_compute_time():
    one, _, _ = run(scenario(workers=2, elements=64 * 100))
    three, _, _ = run(scenario(workers=2, elements=64 * 100, iterations=3, compute_s=1e-3))
    assert three.correct
    assert three.time_s == pytest.approx(3 * one.time_s + 3e-3, rel=0.02)
    assert three.ate_per_s == pytest.approx(one.ate_per_s, rel=0.02)


def test_send_overhead_slows_the_host():
    slow, _, _ = run(scenario(workers=2, elements=64 * 500, host=HostConfig(send_overhead_s=1e-6)))
    fast, _, _ = run(scenario(workers=2, elements=64 * 500))
    assert slow.correct and slow.time_s > 2 * fast.time_s


def test_run_scenario_compares_methods_on_the_same_tensors():
    s = Scenario(methods=("switchml", "ring"), topology=TopologyConfig(workers=4),
                 switch=SwitchConfigSection(slots=128), workload=WorkloadConfig(elements=50_000))
    results = run_scenario(s)
    assert [r.method for r in results.results] == ["switchml", "ring"]
    assert all(r.correct for r in results.results)
    assert results.speedups()["ring"] > 1


def test_official_backoff_slows_recovery_under_heavy_loss():
    lossy = scenario(workers=4, elements=64 * 2000, link=LinkConfig(loss=0.01), timeout_s=2e-5)
    official, _, _ = run(lossy)
    patient = replace(lossy, switchml=replace(lossy.switchml, backoff_threshold=10**9))
    flat, _, _ = run(patient)
    assert official.correct and flat.correct
    assert official.time_s > flat.time_s


def test_float32_block_exponent_workload_decodes_within_its_bound():
    from switchsim.sim.run import run_scenario

    s = replace(scenario(workers=4, elements=64 * 300 + 17, link=LinkConfig(loss=0.005), timeout_s=2e-5),
                methods=("switchml", "ring"),
                workload=WorkloadConfig(elements=64 * 300 + 17, dtype="float32", quantizer="block_exponent"))
    results = run_scenario(s)
    switchml = results.by_method("switchml")
    assert switchml.correct and switchml.elements == 64 * 300 + 17
    assert switchml.float_relative_error < 1e-6
    assert results.by_method("ring").correct


def test_float_check_catches_a_wrong_exponent():
    from switchsim.sim.workload import check_float, make_workload

    s = replace(scenario(workers=2, elements=64 * 50),
                workload=WorkloadConfig(elements=64 * 50, dtype="float32", quantizer="block_exponent"))
    workload = make_workload(s)
    received = np.zeros_like(workload.exponents)
    _result, sums = run_switchml(s, workload.integers, exponents=workload.exponents, received_exponents=received)
    assert check_float(s, workload, sums, received).exponents_match
    received[1, 3, 0] += 1
    assert not check_float(s, workload, sums, received).exponents_match


def test_pcap_of_simulated_traffic_dissects_with_the_project_layer(tmp_path):
    from scapy.layers.inet import UDP
    from scapy.utils import rdpcap

    from switchsim.protocol.scapy_layer import SwitchML, SwitchMLData, bind_switchml_layers

    s = scenario(workers=2, window=4, elements=64 * 10)
    tensors = make_tensors(s)
    _result, sums = run_switchml(s, tensors, pcap=str(tmp_path / "sim.pcap"))
    bind_switchml_layers()
    packets = rdpcap(str(tmp_path / "sim.pcap"))
    assert len(packets) == 20  # worker 0: 10 requests up, 10 results down
    requests = [p for p in packets if p[UDP].sport != 0xBEE0]
    results = [p for p in packets if p[UDP].sport == 0xBEE0]
    assert len(requests) == len(results) == 10
    assert all(SwitchML in p for p in packets)
    first = min(results, key=lambda p: p[SwitchML].tsi)
    assert first[SwitchMLData].values == sums[0, :64].tolist()
    assert [float(p.time) for p in packets] == sorted(float(p.time) for p in packets)


@pytest.mark.parametrize("topology", [
    {"kind": "fat_tree", "k": 4}, {"kind": "fat_tree", "k": 4, "jobs": 2, "oversubscription": 4.0},
    {"kind": "tree", "fanout": [2, 3, 2]}, {"kind": "tree", "fanout": [2, 2, 2, 2], "jobs": 2},
])
def test_switchml_aggregates_exactly_at_every_level_of_deeper_trees(topology):
    s = scenario_from_dict({"methods": ["switchml"], "topology": topology, "switch": {"slots": 64},
                            "switchml": {"window": 16}, "workload": {"elements": 64 * 40}})
    shape = s.built_topology
    result, final, tensors = run(s)
    assert result.completed and result.correct
    for group in shape.job_groups:
        expected = tensors[group].sum(axis=0, dtype=np.int64).astype(np.int32)
        assert (final[group] == expected).all()
    # every switch of every job's tree completes each of the 40 chunks once (lossless): one broadcast each
    switches_in_trees = sum(len(job.children) for job in shape.jobs)
    assert result.switch_counters["broadcast"] == 40 * switches_in_trees
