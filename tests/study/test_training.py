"""Models, digits, aggregation methods and data-parallel training: gradients, accuracy, overflow, reproducibility."""

import csv
import math
from dataclasses import replace

import numpy as np
import pytest

from switchsim.study.aggregation import Aggregator
from switchsim.study.digits import load_digits_split, shards
from switchsim.study.models import evaluate, init_params, loss_and_gradient, make_model
from switchsim.study.train import (
    CSV_COLUMNS,
    TrainingConfig,
    bit_width_table,
    grid,
    run_grid,
    train,
    worker_directions,
    write_training_csv,
)


@pytest.fixture(scope="module")
def data():
    return load_digits_split(0)


@pytest.mark.parametrize("name", ["softmax", "mlp"])
def test_gradient_matches_finite_differences(name, data):
    model = make_model(name)
    params = init_params(model, 1).astype(np.float64)
    x, y = data.x_train[:20].astype(np.float64), data.y_train[:20]
    _, gradient = loss_and_gradient(model, params, x, y)
    rng = np.random.default_rng(0)
    for index in rng.choice(model.dim, size=25, replace=False):
        step = np.zeros_like(params)
        step[index] = 1e-5
        numeric = (loss_and_gradient(model, params + step, x, y)[0]
                   - loss_and_gradient(model, params - step, x, y)[0]) / 2e-5
        assert gradient[index] == pytest.approx(numeric, abs=2e-4, rel=2e-3)


def test_models_and_data_have_the_documented_shapes(data):
    assert (make_model("softmax").dim, make_model("mlp").dim) == (650, 2410)
    assert make_model("mlp").layer_bounds == (0, 2048, 2080, 2400, 2410)
    assert len(data.y_train) + len(data.y_test) == 1797 and len(data.y_test) == 359
    assert np.allclose(data.x_train.mean(axis=0), 0, atol=1e-5)
    assert sorted(np.concatenate(shards(1438, 8)).tolist()) == list(range(1438))
    with pytest.raises(ValueError, match="model must be one of"):
        make_model("resnet")
    _, accuracy = evaluate(make_model("mlp"), init_params(make_model("mlp"), 0), data.x_test, data.y_test)
    assert accuracy < 0.3  # untrained


def test_float32_sgd_learns_the_digits(data):
    softmax = train(TrainingConfig(model="softmax", steps=200), data=data)
    assert softmax.final_accuracy > 0.92
    assert softmax.test_loss[-1] < softmax.test_loss[0] / 2
    assert softmax.steps[-1] == 200 and len(softmax.steps) == 20


def test_same_seed_same_curves_other_seed_differs(data):
    config = TrainingConfig(model="softmax", method="intsgd-random", wire_bits=4, steps=40)
    first, again = train(config, data=data), train(config, data=data)
    assert first.test_accuracy == again.test_accuracy and first.train_loss == again.train_loss
    other = train(replace(config, seed=1))
    assert other.train_loss != first.train_loss


@pytest.mark.parametrize("seed", [0, 1])
def test_intsgd_at_8_bits_matches_float32(seed):
    base = TrainingConfig(model="softmax", steps=200, seed=seed)
    exact = train(base)
    intsgd = train(replace(base, method="intsgd-random", wire_bits=8))
    assert abs(intsgd.final_accuracy - exact.final_accuracy) <= 0.02
    assert sum(intsgd.overflowed) == 0  # safe clip: the 8-bit sums never wrap


def test_heuristic_gets_intsgds_per_worker_budget():
    # 2-bit wire in an int8 element: IntSGD may send up to min(127 // 8, 1) = 1 per worker, and so may
    # the heuristic; the sum-in-wire variant only (2^1 - 1) / 8 = 1/8.
    # at 8 bits the authors' 127 / n, unfloored: 15.875 (IntSGD's clip is its floor, 15)
    for bits, budget in ((2, 1.0), (4, 7.0), (8, 15.875)):
        fair = Aggregator("heuristic", bits, 8, (0, 10))
        assert fair.heuristic_budget() == budget and math.floor(budget) == fair.quantizer.clip(8)
        assert Aggregator("heuristic-sum-in-wire", bits, 8, (0, 10)).heuristic_budget() == (2 ** (bits - 1) - 1) / 8
    gradients = np.full((8, 10), 3.0, np.float32)  # max 3: e = 1, alpha = budget / 2
    assert Aggregator("heuristic", 4, 8, (0, 10))._heuristic_state(gradients).alphas == (3.5,)


def test_heuristic_learns_at_2_bits_with_intsgds_budget_and_the_sum_in_wire_variant_does_not(data):
    base = TrainingConfig(model="softmax", steps=100, wire_bits=2)
    heuristic = train(replace(base, method="heuristic"), data=data)
    squeezed = train(replace(base, method="heuristic-sum-in-wire"), data=data)
    # (2^1 - 1) / (n 2^e) scales max|g| below 1: every integer rounds to 0 and nothing is learnt
    assert squeezed.final_accuracy < 0.2
    assert heuristic.final_accuracy > 0.85


def test_unsafe_clip_with_a_narrow_accumulator_overflows():
    gradients = np.random.default_rng(0).standard_normal((8, 4096)).astype(np.float32)
    unsafe = Aggregator("intsgd-deterministic", 8, 8, (0, 4096), safe=False)
    unsafe.state = unsafe.quantizer.initial_state(4096)  # alpha 100: |integers| mostly clip at 127
    _, stats = unsafe.reduce(gradients, 0)
    assert stats.overflowed > 1000
    safe = Aggregator("intsgd-deterministic", 8, 8, (0, 4096))
    mean, stats = safe.reduce(gradients, 0)
    assert stats.overflowed == 0 and stats.clipped > 0
    assert np.all((mean >= -16 / 100 - 1e-6) & (mean <= 15 / 100 + 1e-6))  # clip [-128 // 8, 127 // 8] per worker


def test_through_the_pipeline_equals_the_accumulator(data, monkeypatch):
    config = TrainingConfig(model="softmax", method="intsgd-random", wire_bits=8, steps=6, through_pipeline=True)
    checked = train(config, data=data)
    plain = train(replace(config, through_pipeline=False), data=data)
    assert checked.test_accuracy == plain.test_accuracy  # the check ran (it raises on a mismatch)
    with pytest.raises(ValueError, match=r"accumulator_bits must be one of \(32, 16, 8\) with through_pipeline"):
        train(replace(config, accumulator_bits=12), data=data)
    # the check can fail: a switch that gets one element wrong is caught
    import switchsim.memory_loop

    real = switchsim.memory_loop.run_in_memory

    def off_by_one(*args, **kwargs):
        result = real(*args, **kwargs)
        result.results[:, 3] += 1
        return result

    monkeypatch.setattr(switchsim.memory_loop, "run_in_memory", off_by_one)
    with pytest.raises(RuntimeError, match="step 0: the SwitchML pipeline's sum differs from the 8-bit accumulator's"):
        train(config, data=data)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("workers", 0, r"TrainingConfig.workers = 0 is out of range: must be an integer in 1..32"),
     ("wire_bits", 1, r"wire_bits = 1 .*2..32"),
     ("method", "qsgd", r"method = 'qsgd' .*one of"),
     ("learning_rate", 0.0, r"learning_rate = 0.0 .*> 0"),
     ("accumulator_bits", 4, r"accumulator_bits = 4 .*None or an integer in 8..32")],
)
def test_bad_configuration_names_field_and_range(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainingConfig(**{field: value})


def test_grid_csv_table(tmp_path):
    configs = grid(TrainingConfig(model="softmax", steps=20, eval_every=10), ("float32", "intsgd-random"), (4, 8))
    assert [c.label for c in configs] == ["float32", "intsgd-random 4b", "intsgd-random 8b"]
    results = run_grid(configs)
    path = write_training_csv(results, tmp_path / "training.csv")
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 6
    assert {r["accumulator_bits"] for r in rows if r["method"] == "intsgd-random"} == {"8"}
    table = bit_width_table(results)
    assert "float32 (reference)" in table and "intsgd-random" in table
    assert f"{100 * results[2].final_accuracy:.1f}" in table.splitlines()[-1]


def test_cli_study_training_writes_every_output(tmp_path, capsys):
    from switchsim.cli import main

    code = main(["study", "training", "--model", "softmax", "--bits", "4,8", "--methods", "float32,intsgd-random",
                 "--steps", "30", "--workers", "4", "--out", str(tmp_path), "--target", "0.5"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "float32 (reference)" in printed and "time to 50 % test accuracy" in printed
    for name in ("training.csv", "bit-width-table.txt", "time_to_accuracy.csv", "training.json",
                 "training-softmax.png", "time-to-accuracy-softmax.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    with (tmp_path / "time_to_accuracy.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    by_label = {(r["method"], r["wire_bits"]): r for r in rows}
    # float32 goes over the ring at 32 bits; IntSGD at 4 and 8 bits both travel as int8 through SwitchML
    assert by_label[("intsgd-random", "4")]["element_bits"] == by_label[("intsgd-random", "8")]["element_bits"] == "8"
    assert float(by_label[("float32", "32")]["iteration_s"]) > float(by_label[("intsgd-random", "8")]["iteration_s"])


def test_cli_study_training_rejects_bad_bits(capsys):
    from switchsim.cli import main

    with pytest.raises(SystemExit):
        main(["study", "training", "--bits", "1,8"])
    assert "--bits: [1] not allowed; choose from 2..32" in capsys.readouterr().err


def test_weight_decay_and_momentum_are_applied_before_the_reduce(data):
    seen = []

    class Recorder:
        accumulator_bits = 32

        def reduce(self, directions, step):
            seen.append(directions.copy())
            return directions.mean(axis=0), type("Stats", (), {"clipped": 0, "overflowed": 0})()

        def observe(self, delta, learning_rate):
            pass

    config = TrainingConfig(model="softmax", workers=2, steps=2, weight_decay=0.5, momentum=0.9, nesterov=False)
    train(config, data=data, reducer=Recorder())
    model = make_model("softmax")
    params = init_params(model, 0)
    parts = shards(len(data.y_train), 2)
    from switchsim.study.train import worker_gradients

    g0, _ = worker_gradients(model, params, data, parts, config.batch, 0, 0)
    first = g0 + np.float32(0.5) * params  # weight decay inside what travels
    assert np.allclose(seen[0], first, rtol=1e-6, atol=1e-7)
    params = params - np.float32(config.learning_rate) * first.mean(axis=0)
    g1, _ = worker_gradients(model, params, data, parts, config.batch, 0, 1)
    assert np.allclose(seen[1], 0.9 * first + g1 + np.float32(0.5) * params, rtol=1e-5, atol=1e-6)  # momentum too


def test_worker_directions_nesterov():
    buffers = np.array([[1.0, 2.0]], np.float32)
    out = worker_directions(np.array([[1.0, 1.0]], np.float32), np.array([2.0, 4.0], np.float32), buffers,
                            0.5, 0.25, True)
    # d = g + 0.25 x = [1.5, 2]; m = 0.5 [1, 2] + d = [2, 3]; sent d + 0.5 m = [2.5, 3.5]
    assert buffers.tolist() == [[2.0, 3.0]] and out.tolist() == [[2.5, 3.5]]


def test_every_method_has_a_plot_style(tmp_path, data):
    from switchsim.study.aggregation import METHODS
    from switchsim.study.training_plots import plot_training

    results = [train(TrainingConfig(model="softmax", method=m, wire_bits=8, steps=2, eval_every=1), data=data)
               for m in METHODS]
    assert [p.name for p in plot_training(results, tmp_path)] == ["training-softmax.png"]


def test_powersgd_gets_the_raw_gradient_and_momentum_acts_after_aggregation():
    # PowerSGD's Algorithm 2 (and the IntSGD authors' mom_before_reduce=False): the compressor sees
    # g_w + weight decay x; Nesterov momentum is applied to the aggregated mean.
    from switchsim.study.digits import load_digits_split, shards
    from switchsim.study.models import init_params, make_model
    from switchsim.study.train import TrainingConfig, train, worker_gradients
    from workers.quantizers.compressors import PowerSGD

    class Recording(PowerSGD):
        def __init__(self, *args, **kw):
            super().__init__(*args, **kw)
            self.inputs, self.means, self.deltas = [], [], []

        def reduce(self, gradients, step):
            self.inputs.append(gradients.copy())
            mean, traffic = super().reduce(gradients, step)
            self.means.append(mean.copy())
            return mean, traffic

        def observe(self, delta, learning_rate):
            self.deltas.append(delta.copy())

    config = TrainingConfig(model="mlp", workers=4, steps=2, weight_decay=0.0, momentum=0.9, nesterov=True, seed=3)
    data = load_digits_split(3)
    model = make_model("mlp")
    reducer = Recording(4, model.layer_bounds, 3, shapes=model.shapes)
    train(config, data=data, reducer=reducer)
    params = init_params(model, 3)
    gradients, _ = worker_gradients(model, params, data, shards(len(data.y_train), 4), 16, 3, 0)
    assert np.array_equal(reducer.inputs[0], gradients)  # no momentum in what is compressed
    eta, mu = np.float32(0.1), np.float32(0.9)
    m0 = reducer.means[0]
    assert np.array_equal(reducer.deltas[0], -eta * (m0 + mu * m0))
    buffer = mu * m0 + reducer.means[1]
    assert np.array_equal(reducer.deltas[1], -eta * (reducer.means[1] + mu * buffer))
