"""``switchsim study compare``: spread-checked claims, transfers at model size, timing, and the command's outputs."""

import csv
from types import SimpleNamespace

import numpy as np
import pytest

from switchsim.cli import main
from switchsim.study.compare import (
    CompareConfig,
    MethodRuns,
    compression_seconds,
    exceeds_spread,
    main_transfers,
    make_compressor,
    scaled_transfers,
    steps_to_target,
)
from switchsim.study.compare_report import accuracy_notes, time_notes
from workers.quantizers.compressors import COMPRESSORS, Transfer

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
    rows = [{"model": "m", "method": "float32-ring", "communication_s": 80e-6},
            {"model": "m", "method": "int8-ring", "communication_s": 40e-6},
            {"model": "m", "method": "intsgd-random", "communication_s": 5e-6}]
    assert time_notes(rows) == ["- m: communication float32 ring 80.0 µs -> int8 ring 40.0 µs (2.00x, 32 -> 8 bits) "
                                "-> int8 switch 5.0 µs (8.00x, ring -> switch); in all 16.00x."]


def test_steps_to_target():
    assert steps_to_target(np.array([10, 20, 30]), np.array([0.5, 0.91, 0.95]), 0.9) == 20
    assert steps_to_target(np.array([10, 20]), np.array([0.5, 0.6]), 0.9) is None


def test_transfers_scale_to_the_model_size_except_fixed_collectives():
    transfers = [Transfer("switch", 1, 32, per_model=False), Transfer("switch", 100, 8), Transfer("ring", 50, 32)]
    assert scaled_transfers(transfers, 100, 1000, 8.0) == [
        Transfer("switch", 1, 32, per_model=False), Transfer("switch", 1000, 8), Transfer("ring", 500, 32)]
    assert scaled_transfers([Transfer("allgather", 13, 8)], 100, 1000, 1.05) == [Transfer("allgather", 132, 8)]
    # all-gather sized by the mean exact bits over seeds: 2.5 bits x 100 elements = 250 bits = 32 bytes
    runs = fake_runs("m", "qsgd", [0.9, 0.9], bits=2.5, transfers=[Transfer("allgather", 40, 8)])
    assert main_transfers(runs) == [Transfer("allgather", 32, 8)]


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
    with pytest.raises(ValueError, match=r"CompareConfig.model_elements must be in 1\.\.67108864"):
        CompareConfig(model_elements=0)


def test_compare_command_writes_the_table_for_the_twelve_methods(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["study", "compare", "--out", str(out), "--seeds", "0,1", "--steps", "20", "--model", "softmax",
                 "--measure-elements", "4096", "--model-elements", "8192", "--target", "0.5"]) == 0
    with (out / "compare.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["method"] for r in rows if r["model"] == "softmax"] == NAMES
    assert [r["method"] for r in rows if r["model"] == "8192-elements"] == NAMES
    by = {(r["model"], r["method"]): r for r in rows}
    for name in NAMES:
        row = by[("softmax", name)]
        total = float(row["compute_s"]) + float(row["compression_s"]) + float(row["communication_s"])
        assert float(row["total_s"]) == pytest.approx(total, rel=1e-5)
        assert row["collective"] == COMPRESSORS[name].collective and row["seeds"] == "2"
        if row["steps_to_target"]:
            assert float(row["time_to_target_s"]) == pytest.approx(int(row["steps_to_target"]) * total, rel=1e-4)
    # same integers, other collective: the int8 ring trains exactly as IntSGD through the switch
    assert by[("softmax", "int8-ring")]["accuracy_mean"] == by[("softmax", "intsgd-random")]["accuracy_mean"]
    assert float(by[("8192-elements", "int8-ring")]["communication_s"]) > float(
        by[("8192-elements", "intsgd-random")]["communication_s"])
    assert float(by[("8192-elements", "float32-ring")]["communication_s"]) > float(
        by[("8192-elements", "int8-ring")]["communication_s"])
    markdown = (out / "compare.md").read_text()
    assert "| intsgd-random | switch | yes | 8.00 |" in markdown and "## Notes" in markdown
    for kind in ("time", "bits"):
        assert (out / f"compare-softmax-accuracy-vs-{kind}.png").stat().st_size > 1000
    assert "wrote 4 files" in capsys.readouterr().out


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
