"""``switchsim study compare``: spread-checked claims, transfers at model size, timing, and the command's outputs."""

import csv
from types import SimpleNamespace

import numpy as np
import pytest

from switchsim.cli import main
from switchsim.study.compare import (
    CompareConfig,
    MethodRuns,
    add_communication,
    best_runs,
    compression_seconds,
    exceeds_spread,
    main_transfers,
    make_compressor,
    row_collectives,
    row_transfers,
    shape_transfers,
    steps_to_target,
    table_rows,
)
from switchsim.study.compare_report import accuracy_notes, time_notes
from workers.quantizers.compressors import Transfer

NAMES = ["intsgd-random", "intsgd-deterministic", "heuristic", "block-exponent", "terngrad", "signsgd", "natural",
         "qsgd", "topk", "powersgd", "float32-ring", "int8-ring"]


def fake_runs(model, method, accuracies, bits=8.0, transfers=()):
    results = [SimpleNamespace(final_accuracy=a, bits_per_worker=bits * 100, dim=100, transfers=list(transfers),
                               steps=[10, 20], test_accuracy=[a / 2, a]) for a in accuracies]
    return MethodRuns(model, method, results)


def test_exceeds_spread_needs_a_gap_larger_than_both_deviations():
    assert exceeds_spread([0.90, 0.92, 0.91], [0.80, 0.81, 0.79])
    assert not exceeds_spread([0.95, 0.96, 0.97], [0.94, 0.955, 0.965])  # one seed's win is not a claim
    assert not exceeds_spread([0.9], [0.1])  # one seed has no spread


def test_randomized_beats_deterministic_is_claimed_only_beyond_the_seed_spread():
    overlapping = [fake_runs("mlp", "intsgd-random", [0.955, 0.962, 0.948]),
                   fake_runs("mlp", "intsgd-deterministic", [0.950, 0.957, 0.945])]
    notes = accuracy_notes(overlapping)
    assert notes == ["- mlp: intsgd-random (95.50 ± 0.70 %) vs intsgd-deterministic (95.07 ± 0.60 %): within the "
                     "seed spread, no claim."]
    apart = [fake_runs("mlp", "intsgd-random", [0.955, 0.960, 0.950]),
             fake_runs("mlp", "intsgd-deterministic", [0.80, 0.81, 0.79])]
    assert "is higher than intsgd-deterministic" in accuracy_notes(apart)[0]


def test_time_notes_split_ring_to_switch_from_32_to_8_bits():
    rows = [{"model": "m", "method": "float32-ring", "collective": "float32-ring", "communication_s": 80e-6},
            {"model": "m", "method": "int8-ring", "collective": "int8-ring", "communication_s": 40e-6},
            {"model": "m", "method": "intsgd-random", "collective": "switch-int32", "communication_s": 10e-6},
            {"model": "m", "method": "intsgd-random", "collective": "switch-int8", "communication_s": 5e-6}]
    assert time_notes(rows) == ["- m: communication float32 ring 80.0 µs -> int8 ring 40.0 µs (2.00x, 32 -> 8 bits) "
                                "-> deployed switch (int32 elements) 10.0 µs (int8 ring / switch-int32 = 4.00x) -> "
                                "int8 switch extension 5.0 µs (int8 ring / switch-int8 = 8.00x)."]


def test_steps_to_target():
    assert steps_to_target(np.array([10, 20, 30]), np.array([0.5, 0.91, 0.95]), 0.9) == 20
    assert steps_to_target(np.array([10, 20]), np.array([0.5, 0.6]), 0.9) is None


def test_allgather_is_sized_by_the_mean_exact_bits():
    # all-gather sized by the mean exact bits over seeds: 2.5 bits x 100 elements = 250 bits = 32 bytes
    runs = fake_runs("m", "qsgd", [0.9, 0.9], bits=2.5, transfers=[Transfer("allgather", 40, 8)])
    assert main_transfers(runs) == [Transfer("allgather", 32, 8)]


def test_switch_summable_methods_get_both_switch_rows_and_their_bytes_on_the_wire():
    assert row_collectives("intsgd-random") == ("switch-int32", "switch-int8")
    assert row_collectives("heuristic") == ("switch-int32", "switch-int8")
    assert row_collectives("terngrad") == ("switch-int32", "switch-int8", "allgather")
    assert row_collectives("block-exponent") == ("switch-int32",)
    assert row_collectives("int8-ring") == ("int8-ring",) and row_collectives("powersgd") == ("float32-ring",)
    d = 11_689_512
    transfers, bits = shape_transfers("heuristic", [(d,)], 16, 0.0)
    int32 = row_transfers("switch-int32", transfers, bits)
    int8 = row_transfers("switch-int8", transfers, bits)
    # official SwitchML: 4 bytes per element (64 per 256-byte payload); the extension: 1 byte (256 per payload);
    # the MAX all-reduce is one float32 either way
    assert sum(t.bits for t in int32) // 8 == 4 * d + 4 and sum(t.bits for t in int8) // 8 == d + 4
    assert [t.element_bits for t in int32] == [32, 32] and [t.element_bits for t in int8] == [32, 8]
    ternary, bits = shape_transfers("terngrad", [(d // 2,), (d - d // 2,)], 16, 0.0)
    assert bits == 2 * d + 64 and row_transfers("allgather", ternary, bits) == [Transfer("allgather",
                                                                                         -(-(2 * d + 64) // 8), 8)]


def test_paper_models_have_their_published_parameter_counts_and_powersgd_uses_their_shapes():
    from switchsim.study.paper_models import layer_bounds, resnet18_shapes, resnet50_shapes
    from workers.quantizers.compressors.powersgd import powersgd_floats

    r18, r50 = resnet18_shapes(), resnet50_shapes()
    assert layer_bounds(r18)[-1] == 11_689_512 and layer_bounds(r50)[-1] == 25_557_032
    assert len(r18) == 62 and len(r50) == 161
    assert r18[0] == (64, 3, 7, 7) and r18[-2:] == [(1000, 512), (1000,)]
    first, second = powersgd_floats(r18, 2)
    # every conv and the classifier compressed (rank 2 of out x in kh kw); batch-norm vectors and the bias whole
    convs = [s for s in r18 if len(s) >= 2]
    plain = sum(s[0] for s in r18 if len(s) == 1)
    assert first == 2 * sum(s[0] for s in convs) + plain
    assert second == 2 * sum(int(np.prod(s[1:])) for s in convs)
    _transfers, bits = shape_transfers("powersgd", r18, 16, 0.0)
    assert bits == 32 * (first + second) < 0.3 * layer_bounds(r18)[-1]  # far below the digits' 4.22 bits/element


def test_each_method_is_reported_at_its_best_learning_rate():
    table = [MethodRuns("m", "x", fake_runs("m", "x", [0.5, 0.6]).results, 0.05),
             MethodRuns("m", "x", fake_runs("m", "x", [0.9, 0.8]).results, 0.1),
             MethodRuns("m", "y", fake_runs("m", "y", [0.7, 0.7]).results, 0.2)]
    assert [(r.method, r.learning_rate) for r in best_runs(table)] == [("x", 0.1), ("y", 0.2)]


@pytest.mark.parametrize("name", NAMES)
def test_compression_time_is_measured_for_every_method(name):
    compressor = make_compressor(name, "softmax", 4, 0)
    gradients = np.random.default_rng(0).standard_normal((4, compressor.dim)).astype(np.float32)
    compressor.reduce(gradients, 0)
    assert 0 < compression_seconds(compressor, gradients) < 1.0


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="CompareConfig.methods must be from"):
        CompareConfig(methods=("zip",))
    with pytest.raises(ValueError, match="CompareConfig.seeds must hold at least one seed"):
        CompareConfig(seeds=())
    with pytest.raises(ValueError, match="CompareConfig.paper_models must be from"):
        CompareConfig(paper_models=("vgg",))
    with pytest.raises(ValueError, match="CompareConfig.learning_rates must be 1..5 values"):
        CompareConfig(learning_rates=())


def test_compare_command_writes_the_table_for_the_twelve_methods(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["study", "compare", "--out", str(out), "--seeds", "0,1", "--steps", "20", "--model", "softmax",
                 "--measure-elements", "4096", "--lr", "0.1,0.2", "--target", "0.5"]) == 0
    with (out / "compare.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    expected = [(name, c) for name in NAMES for c in row_collectives(name)]
    assert [(r["method"], r["collective"]) for r in rows] == expected
    by = {(r["method"], r["collective"]): r for r in rows}
    for row in rows:
        total = float(row["compute_s"]) + float(row["compression_s"]) + float(row["communication_s"])
        assert float(row["total_s"]) == pytest.approx(total, rel=1e-5)
        assert row["seeds"] == "2" and row["learning_rate"] in ("0.1", "0.2")
        if row["steps_to_target"]:
            assert float(row["time_to_target_s"]) == pytest.approx(int(row["steps_to_target"]) * total, rel=1e-4)
    # same integers, other collective: the int8 ring trains exactly as IntSGD through the switch
    assert by[("int8-ring", "int8-ring")]["accuracy_mean"] == by[("intsgd-random", "switch-int8")]["accuracy_mean"]
    assert float(by[("intsgd-random", "switch-int32")]["wire_bytes"]) == 4 * 650
    assert float(by[("intsgd-random", "switch-int8")]["wire_bytes"]) == 650
    markdown = (out / "compare.md").read_text()
    assert "| intsgd-random | switch-int8* | 8.00 | 650 |" in markdown and "## Notes" in markdown
    assert "no hardware implements it" in markdown and "| method | lr 0.1 | lr 0.2 |" in markdown
    for kind in ("time", "bits"):
        assert (out / f"compare-softmax-accuracy-vs-{kind}.png").stat().st_size > 1000
    assert "wrote 4 files" in capsys.readouterr().out


def test_compare_communication_times_equal_the_simulators_collective_times_for_the_same_sizes():
    from switchsim.config import LinkConfig, Scenario, SwitchConfigSection, TopologyConfig
    from switchsim.study.collective_time import transfer_seconds, with_workers
    from switchsim.study.compare import measure_compression, train_all

    base = Scenario(topology=TopologyConfig(workers=4), link=LinkConfig(rate_bps=10e9, delay_s=1e-6),
                    switch=SwitchConfigSection(slots=128))
    config = CompareConfig(models=("softmax",), methods=("heuristic", "qsgd", "powersgd", "int8-ring"),
                           seeds=(0,), workers=4, steps=3, learning_rates=(0.1,), measure_elements=4096)
    compression = {4: measure_compression(config.methods, 4, 4096)}
    rows = add_communication(table_rows(config, best_runs(train_all(config)), compression), base)
    assert {r["collective"] for r in rows} == {"switch-int32", "switch-int8", "allgather", "float32-ring",
                                               "int8-ring"}
    for row in rows:
        scenario = with_workers(base, row["workers"])
        assert row["communication_s"] == sum(transfer_seconds(scenario, t) for t in row["transfers"]) > 0
    by = {(r["method"], r["collective"]): r for r in rows}
    assert by[("heuristic", "switch-int32")]["communication_s"] > by[("heuristic", "switch-int8")]["communication_s"]


def test_per_layer_intsgd_keeps_one_alpha_per_tensor():
    from switchsim.study.models import make_model

    model = make_model("mlp")
    compressor = make_compressor("intsgd-random", "mlp", 4, 0, per_layer=True)
    assert compressor.state.bounds == model.layer_bounds
    compressor.observe(np.linspace(-1e-3, 1e-3, model.dim).astype(np.float32), 0.1)
    assert len(set(compressor.state.alphas)) == 4
    assert make_compressor("intsgd-random", "mlp", 4, 0).state.bounds == (0, model.dim)


def test_transfers_are_simulated_once_each_on_their_collective():
    from switchsim.config import LinkConfig, Scenario, SwitchConfigSection, TopologyConfig
    from switchsim.study.collective_time import transfer_scenario, transfers_seconds

    base = Scenario(topology=TopologyConfig(workers=4), link=LinkConfig(rate_bps=10e9, delay_s=1e-6),
                    switch=SwitchConfigSection(slots=128))
    wanted = [Transfer("switch", 64 * 200, 8), Transfer("ring", 64 * 200, 8), Transfer("ring", 64 * 200, 32),
              Transfer("allgather", 64 * 200, 8), Transfer("switch", 64 * 200, 8)]
    calls = []
    seconds = transfers_seconds(base, wanted, lambda done, total: calls.append((done, total)))
    assert set(seconds) == set(wanted) and calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert transfer_scenario(base, wanted[1]).methods == ("ring",)
    assert transfer_scenario(base, wanted[0]).workload.element_bits == 8
    # same links: the switch beats the ring at int8, and the int8 ring beats the float32 ring on this size
    assert seconds[wanted[0]] < seconds[wanted[1]] < seconds[wanted[2]]
    assert seconds[wanted[3]] > seconds[wanted[1]]  # all-gather moves n times the data of a ring all-reduce
