"""Narrow wire elements in the simulator: 4x / 2x elements per packet, sums wrap at the width, same timing laws."""

from dataclasses import replace

import numpy as np
import pytest

from switchsim.config import (
    ScenarioError,
    SwitchMLConfig,
    WorkloadConfig,
    scenario_from_dict,
    with_override,
)
from switchsim.protocol import spec
from switchsim.protocol.codec import to_wire_width
from switchsim.sim.collective_method import run_collective
from switchsim.sim.metrics import ring_time_closed_form, switchml_ate_closed_form
from switchsim.sim.run import make_tensors
from switchsim.sim.switchml_method import run_switchml

from ..builders import build_scenario


def scenario(bits, **knobs):
    return build_scenario(element_bits=bits, timeout_s=2e-4, seed=3, **knobs)


def expected_sums(s, tensors):
    n = s.topology.workers_per_job
    groups = [slice(i, i + n) for i in range(0, len(tensors), n)]
    return {g.start: to_wire_width(tensors[g].sum(axis=0, dtype=np.int64).astype(np.int32), s.element_bits)
            for g in groups}, n


@pytest.mark.parametrize(("bits", "k"), [(32, 64), (16, 128), (8, 256)])
def test_the_automatic_packet_is_the_256_byte_payload(bits, k):
    s = scenario(bits)
    assert s.elements_per_packet == k
    assert spec.wire_bytes(k, bits) == spec.wire_bytes(64)


@pytest.mark.parametrize(("bits", "kind", "loss"), [(8, "one_rack", 0.0), (16, "one_rack", 0.01), (8, "two_level", 0.01)])
def test_workers_get_the_sum_wrapped_at_the_element_width(bits, kind, loss):
    s = scenario(bits, kind=kind, loss=loss, elements=1 << 14)
    tensors = make_tensors(s)
    half = 1 << (bits - 1)
    assert tensors.min() >= -half and tensors.max() < half and tensors.max() > half // 2
    result, final = run_switchml(s, tensors)
    assert result.completed and result.correct
    expected, n = expected_sums(s, tensors)
    for start, sums in expected.items():
        assert np.array_equal(final[start:start + n], np.broadcast_to(sums, (n, len(sums))))
    # the full-range inputs really do wrap at this width
    assert np.any(tensors[:n].sum(axis=0, dtype=np.int64) != expected[0])


def test_narrow_elements_multiply_line_rate_throughput_by_32_over_bits():
    rates = {}
    for bits in (32, 16, 8):
        s = scenario(bits, elements=1 << 18)
        result, _ = run_switchml(s, make_tensors(s))
        rates[bits] = result.ate_per_s
        closed = switchml_ate_closed_form(s.link, s.elements_per_packet, 128, s.switch.pipeline_latency_s, bits)
        assert result.ate_per_s == pytest.approx(closed, rel=0.02)
    assert rates[16] / rates[32] == pytest.approx(2, rel=0.03)
    assert rates[8] / rates[32] == pytest.approx(4, rel=0.03)


def test_ring_moves_narrow_bytes_and_wraps_at_the_width():
    s = scenario(8, elements=1 << 14)
    tensors = make_tensors(s)
    result, final = run_collective("ring", s, tensors)
    assert result.completed and result.correct
    expected, _ = expected_sums(s, tensors)
    assert np.array_equal(final[0], expected[0])
    big = replace(s, workload=replace(s.workload, elements=1 << 20, source="synthetic"))  # bandwidth-bound
    closed = ring_time_closed_form(s.link, 4, 1 << 20, s.baselines.packet_payload_bytes, s.switch.pipeline_latency_s, 8)
    assert run_collective("ring", big, None)[0].time_s == pytest.approx(closed, rel=0.02)
    # bandwidth-bound (large tensors): a quarter of the bytes takes about a quarter of the time
    big = [ring_time_closed_form(s.link, 4, 1 << 22, s.baselines.packet_payload_bytes, s.switch.pipeline_latency_s,
                                 bits) for bits in (32, 8)]
    assert big[0] / big[1] == pytest.approx(4, rel=0.02)


def test_configuration_errors_name_the_field_and_the_allowed_values():
    with pytest.raises(ScenarioError, match=r"workload.element_bits = 4 .*one of \(32, 16, 8\)"):
        WorkloadConfig(element_bits=4)
    with pytest.raises(ScenarioError, match=r"switchml.elements_per_packet = 64 .*\(256, 1024\) with workload.element_bits = 8"):
        scenario(8, elements_per_packet=64)
    with pytest.raises(ScenarioError, match=r"workload.element_bits = 8 .*32 when workload.dtype is float32"):
        WorkloadConfig(dtype="float32", quantizer="block_exponent", element_bits=8)
    s = scenario_from_dict({"workload": {"element_bits": 16}, "switchml": {"elements_per_packet": 512}})
    assert s.elements_per_packet == 512
    assert with_override(replace(s, switchml=SwitchMLConfig()), "workload.element_bits", 8).elements_per_packet == 256


def test_pcap_of_narrow_traffic_dissects_as_int8(tmp_path):
    from scapy.utils import rdpcap

    from switchsim.protocol.scapy_layer import SwitchMLData8, bind_switchml_layers

    s = scenario(8, elements=256 * 4, workers=2)
    tensors = make_tensors(s)
    run_switchml(s, tensors, pcap=str(tmp_path / "narrow.pcap"))
    bind_switchml_layers()
    packets = rdpcap(str(tmp_path / "narrow.pcap"))
    assert len(packets) == 8  # 4 requests + 4 results of host 0
    first = packets[0]
    assert first.haslayer(SwitchMLData8) and first[SwitchMLData8].values == tensors[0, :256].tolist()
