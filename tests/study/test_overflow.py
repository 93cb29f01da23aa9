"""The overflow study: safe clipping never wraps, unsafe does past the accumulator, errors shrink with bits."""

import csv

import numpy as np
import pytest

from switchsim.cli import main
from switchsim.study.overflow import (
    COLUMNS,
    POLICIES,
    OverflowStudy,
    run_setting,
    run_study,
    series_style,
    synthetic_gradients,
)


@pytest.fixture(scope="module")
def rows():
    return run_study(OverflowStudy(dim=4096, workers=(2, 8), bits=(4, 8, 12, 16)))


def test_safe_clipping_never_overflows(rows):
    safe = [r for r in rows if r["policy"] == "safe"]
    assert safe and all(r["overflow_rate"] == 0 for r in safe)


def test_unsafe_overflows_only_when_the_sum_can_leave_the_accumulator(rows):
    checked = 0
    for r in rows:
        if r["policy"] == "unsafe" and r["alpha_policy"] == "fill" and r["accumulator_bits"] == 16:
            largest_sum = r["workers"] * (2 ** (r["bits"] - 1) - 1)
            if largest_sum <= 2**15 - 1:
                assert r["overflow_rate"] == 0  # guaranteed
            elif r["bits"] == 16 and r["distribution"] == "gaussian":
                assert r["overflow_rate"] > 0.01  # full-range Gaussian inputs: many sums wrap
            checked += 1
    assert checked > 0


def test_error_shrinks_with_bits_when_nothing_wraps(rows):
    fill = sorted((r["bits"], r["relative_error"]) for r in rows
                  if r["alpha_policy"] == "fill" and r["policy"] == "safe" and r["accumulator_bits"] == 32
                  and r["workers"] == 8 and r["distribution"] == "gaussian")
    errors = [e for _, e in fill]
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 1e-3


def test_randomized_rounding_variance_within_its_bound():
    gradients = synthetic_gradients("gaussian", 4, 8192, np.random.default_rng(1))
    row = run_setting(gradients, 16, 32, "safe", 0, "adaptive")
    assert row["clipped_rate"] == 0
    assert row["variance"] <= row["variance_bound"]


def test_study_validation_names_the_field():
    with pytest.raises(ValueError, match=r"bits = \(1,\) is out of range: must be values in 2\.\.32"):
        OverflowStudy(bits=(1,))


def test_cli_writes_the_csv_and_plots(tmp_path, capsys):
    assert main(["study", "overflow", "--dim", "1024", "--out", str(tmp_path)]) == 0
    with (tmp_path / "overflow.csv").open() as handle:
        table = list(csv.DictReader(handle))
    assert tuple(table[0]) == COLUMNS and len(table) > 100
    pictures = sorted(p.name for p in tmp_path.glob("*.png"))
    # one file per n, metric and alpha policy: the n = 8 plots are not overwritten by n = 32
    assert pictures == sorted(f"{metric}-n{n}-{alpha}.png" for n in (8, 32) for alpha in ("fill", "adaptive")
                              for metric in ("overflow_rate", "relative_error"))
    assert "and 8 plots" in capsys.readouterr().out


def test_progress_counts_exactly_the_settings_run():
    calls = []
    study = OverflowStudy(dim=256, workers=(2,), bits=(8, 16, 32), accumulator_bits=(16, 32),
                          distributions=("gaussian",))
    rows = run_study(study, lambda done, total: calls.append((done, total)))
    # b = 32 > a = 16 is skipped: 5 (b, a) pairs x 2 clip x 2 alpha policies = 20 settings
    assert len(rows) == 20
    assert calls == [(k, 20) for k in range(1, 21)]


def test_overlapping_series_have_distinct_styles():
    styles = [series_style(k, policy) for k in range(2) for policy in POLICIES]
    keys = {(s["marker"], s["linestyle"], s["markersize"], s["markerfacecolor"]) for s in styles}
    assert len(keys) == 4 and all(0 < s["alpha"] < 1 for s in styles)


def test_real_gradients_come_from_training_and_are_reproducible():
    from switchsim.study.overflow import real_gradients

    first = real_gradients("digits-mlp", 4, 0)
    assert first.shape == (4, 2410) and first.dtype == np.float32
    assert np.array_equal(first, real_gradients("digits-mlp", 4, 0))
    assert not np.allclose(first[0], first[1])  # each worker has its own shard
    # heavier-tailed than a Gaussian: max |g| is many RMS away
    assert np.abs(first).max() / np.sqrt(np.mean(first.astype(np.float64) ** 2)) > 8
    with pytest.raises(ValueError, match="distribution must be one of"):
        real_gradients("imagenet", 4, 0)


def test_real_gradients_in_the_study_never_wrap_when_clipped_safely():
    rows = run_study(OverflowStudy(dim=256, workers=(8,), bits=(4, 8), distributions=("digits-mlp",)))
    assert rows and all(r["distribution"] == "digits-mlp" for r in rows)
    assert all(r["overflow_rate"] == 0 for r in rows if r["policy"] == "safe")
    unsafe = [r for r in rows if r["policy"] == "unsafe" and r["alpha_policy"] == "fill" and r["bits"] == 8
              and r["accumulator_bits"] == 16]
    assert unsafe and unsafe[0]["overflow_rate"] == 0  # 8 x 127 fits 16 bits
