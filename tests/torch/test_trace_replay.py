"""Traces of DDP jobs: recorded by the hook, validated, replayed on the simulator (`switchsim.sim.trace_replay`)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from switchsim.config import ScenarioError, WorkloadConfig, builtin_scenario, load_scenario
from switchsim.sim.metrics import ring_time_closed_form
from switchsim.sim.trace_replay import (
    TRACE_FORMAT,
    TraceBucket,
    TraceError,
    TraceIteration,
    compose,
    load_trace,
    replay,
    resolve_trace,
    trace_from_dict,
)
from tests.builders import build_scenario

JOBS = str(Path(__file__).with_name("rank_jobs.py"))


def _trace(buckets: list[tuple[int, float]], forward: float = 0.002, backward: float = 0.004,
           optimizer: float = 0.001, iterations: int = 1) -> dict:
    iteration = {"forward_s": forward, "backward_s": backward, "optimizer_s": optimizer,
                 "buckets": [{"index": i, "elements": e, "ready_s": r} for i, (e, r) in enumerate(buckets)]}
    return {"format": TRACE_FORMAT, "version": 1, "model": "test",
            "iterations": [dict(iteration, iteration=k) for k in range(iterations)]}


def test_trace_recorded_by_the_hook_round_trips(tmp_path):
    pytest.importorskip("torch", reason="torch is not installed (pip install 'switchsim[torch]': the CPU build "
                                        "torch==2.13.0+cpu)")
    from switchsim.torch.launch import run_ranks

    path = tmp_path / "trace.json"
    (result, _) = run_ranks(f"{JOBS}:trace_job", 2, (str(path),), timeout_s=180)
    document = json.loads(path.read_text())
    trace = load_trace(path)
    assert trace == trace_from_dict(json.loads(json.dumps(document)))  # JSON -> Trace is lossless and stable
    assert trace.header["method"] == "float32" and trace.header["world_size"] == 2
    assert trace.header["model"] == "small" and trace.header["parameters"] == result["parameters"]
    assert len(trace.iterations) == 3
    for iteration, raw in zip(trace.iterations, document["iterations"], strict=True):
        assert sum(b.elements for b in iteration.buckets) == result["parameters"]  # every gradient, once
        assert iteration.forward_s > 0 and iteration.backward_s > 0 and iteration.optimizer_s > 0
        assert all(0 <= b.ready_s <= iteration.backward_s for b in iteration.buckets)
        assert raw["step_s"] >= iteration.forward_s + iteration.backward_s
    assert len(trace.iterations[1].buckets) == 2  # after DDP rebuilt its buckets (bucket_cap_mb=0.002)


def test_one_bucket_trace_on_one_rack_is_the_closed_form_all_reduce_plus_compute():
    scenario = build_scenario(methods=("ring",), workers=4)
    elements = 200_000
    trace = trace_from_dict(_trace([(elements, 0.004)]))  # ready when the backward pass ends
    (result,) = replay(scenario, trace)
    ring = ring_time_closed_form(scenario.link, 4, elements, scenario.baselines.packet_payload_bytes,
                                 scenario.switch.pipeline_latency_s)
    assert result.communication_s == pytest.approx(ring, rel=0.01)
    assert result.iteration_s == pytest.approx(0.002 + 0.004 + ring + 0.001, rel=0.01)
    assert result.exposed_s == pytest.approx(ring, rel=0.01)


def test_two_bucket_trace_overlaps_communication_with_the_backward_pass():
    scenario = build_scenario(methods=("switchml", "ring"), workers=4)
    trace = trace_from_dict(_trace([(100_000, 0.0005), (50_000, 0.004)], backward=0.004))
    results = replay(scenario, trace)
    for result in results:
        first, second = result.buckets
        compute = result.forward_s + result.backward_s + result.optimizer_s
        assert first.start_s == 0.0005 and second.start_s == max(0.004, first.end_s)
        assert result.iteration_s < compute + result.communication_s  # the first bucket hid behind backward
        assert result.iteration_s == pytest.approx(0.002 + max(0.004, second.end_s) + 0.001)
    switchml, ring = results
    assert switchml.iteration_s < ring.iteration_s


def test_compose_serialises_buckets_on_one_stream_and_scales_compute():
    iteration = TraceIteration(0.01, 0.02, 0.005, (TraceBucket(0, 10, 0.001), TraceBucket(1, 20, 0.002),
                                                   TraceBucket(2, 10, 0.02)))
    result = compose(iteration, {10: 0.004, 20: 0.010}, compute_scale=0.5)
    # ready times halve: 0.0005, 0.001, 0.01; bucket 1 waits for bucket 0, bucket 2 for bucket 1
    assert [t for b in result.buckets for t in (b.start_s, b.end_s)] == pytest.approx(
        [0.0005, 0.0045, 0.0045, 0.0145, 0.0145, 0.0185])
    assert result.iteration_s == pytest.approx(0.005 + 0.0185 + 0.0025)
    assert result.exposed_s == pytest.approx(0.0185 - 0.01)


def test_representative_iteration_skips_the_first_and_takes_the_median_backward():
    document = _trace([(10, 0.001)], iterations=4)
    for k, backward in enumerate((9.0, 0.3, 0.1, 0.2)):
        document["iterations"][k]["backward_s"] = backward
    assert trace_from_dict(document).representative().backward_s == 0.2


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.update(format="other"), "trace: format must be 'switchsim-ddp-trace', got 'other'"),
    (lambda d: d.update(version=2), "trace: version must be 1, got 2"),
    (lambda d: d.update(iterations=[]), "trace: iterations must be a non-empty list, got []"),
    (lambda d: d["iterations"][0]["buckets"][0].update(elements=0),
     "trace: iterations[0].buckets[0].elements must be an integer in 1..2**31, got 0"),
    (lambda d: d["iterations"][0]["buckets"][0].update(ready_s=-1),
     "trace: iterations[0].buckets[0].ready_s must be a finite number >= 0, got -1"),
    (lambda d: d["iterations"][0].update(forward_s="x"), "trace: iterations[0].forward_s must be a finite number"),
])
def test_bad_traces_are_rejected_naming_the_field(change, message):
    document = _trace([(10, 0.001)])
    change(document)
    with pytest.raises(TraceError) as error:
        trace_from_dict(document)
    assert str(error.value).startswith(message)


def test_workload_trace_fields_are_validated_naming_the_field():
    with pytest.raises(ScenarioError, match=r"workload.trace = '' .*a trace file"):
        WorkloadConfig(source="trace")
    with pytest.raises(ScenarioError, match=r"workload.trace = 'a.json' .*empty unless"):
        WorkloadConfig(trace="a.json")
    with pytest.raises(ScenarioError, match=r"workload.compute_scale = 0 .*\(0, 1000\]"):
        WorkloadConfig(source="trace", trace="a.json", compute_scale=0)
    assert WorkloadConfig(source="trace", trace="a.json", compute_scale=0.1).compute_scale == 0.1


@pytest.mark.parametrize(("name", "workers", "model"), [("resnet50-256", 256, "resnet50"),
                                                         ("bert-1024", 1024, "bert-base")])
def test_shipped_trace_scenarios_load_with_their_traces(name, workers, model):
    path = builtin_scenario(name)
    scenario = load_scenario(path)
    assert scenario.workload.source == "trace" and scenario.topology.workers_per_job == workers
    trace = load_trace(resolve_trace(scenario.workload.trace, path))
    assert trace.header["model"] == model
    iteration = trace.representative()
    assert sum(b.elements for b in iteration.buckets) == trace.header["parameters"]
    assert len(iteration.buckets) >= 2


def test_switchsim_run_with_a_trace_writes_the_replay(tmp_path, write_scenario, capsys):
    from switchsim.cli import main

    trace = tmp_path / "t.json"
    trace.write_text(json.dumps(_trace([(20_000, 0.001), (10_000, 0.004)])))
    scenario = write_scenario('name = "traced"\nmethods = ["switchml", "ring"]\n[topology]\nworkers = 4\n')
    assert main(["run", str(scenario), "--trace", str(trace), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "switchml" in printed and "exposed ms" in printed
    replayed = json.loads((tmp_path / "out" / "replay.json").read_text())
    assert [m["method"] for m in replayed["methods"]] == ["switchml", "ring"]
    assert replayed["methods"][0]["simulated_sizes"] == [10_000, 20_000]
    # the same through the scenario file: source = "trace", the path relative to the scenario
    scenario2 = write_scenario('name = "traced2"\nmethods = ["ring"]\n[topology]\nworkers = 4\n'
                               '[workload]\nsource = "trace"\ntrace = "t.json"\ncompute_scale = 0.5\n', "s2.toml")
    assert main(["run", str(scenario2), "--out", str(tmp_path / "out2")]) == 0
    again = json.loads((tmp_path / "out2" / "replay.json").read_text())
    assert again["methods"][0]["forward_s"] == pytest.approx(0.001)
    assert replace(load_scenario(scenario2).workload).trace == "t.json"
