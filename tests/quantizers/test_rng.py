"""Counter-based RNG: determinism, agreement of numba and NumPy, rough uniformity."""

import numpy as np
import pytest

from workers.quantizers import rng


def chi_square(counts: np.ndarray) -> tuple[float, int]:
    expected = counts.sum() / counts.size
    return float(((counts - expected) ** 2 / expected).sum()), counts.size - 1


def below_bound(stat: float, df: int, sigmas: float = 6.0) -> bool:
    """Chi-square statistic within ``sigmas`` standard deviations above its mean (df, variance 2 df)."""
    return stat < df + sigmas * np.sqrt(2 * df)


@pytest.fixture(scope="module")
def draws() -> np.ndarray:
    return rng.uniform(seed=12345, worker=3, step=17, count=1 << 20)


def test_same_inputs_same_values_and_numpy_agrees(draws):
    assert np.array_equal(draws, rng.uniform(12345, 3, 17, 1 << 20))
    assert np.array_equal(draws, rng.uniform_reference(12345, 3, 17, np.arange(1 << 20)))


def test_any_offset_gives_the_same_values(draws):
    part = rng.uniform(12345, 3, 17, count=1001, offset=70_001)
    assert np.array_equal(part, draws[70_001:71_002])
    key = np.uint64(rng.stream_key(12345, 3, 17))
    assert rng.counter_uniform(key, np.uint64(5)) == draws[5]


def test_values_are_grid_midpoints_in_the_open_unit_interval(draws):
    assert draws.min() > 0 and draws.max() < 1
    k = draws * 2**24 - 0.5
    assert np.array_equal(k, np.floor(k))


def test_mean_variance_and_histogram(draws):
    n = draws.size
    assert abs(draws.mean() - 0.5) < 6 * np.sqrt(1 / 12 / n)
    assert abs(draws.var() - 1 / 12) < 6 * np.sqrt(1 / 180 / n)  # var of (u - 1/2)**2 is 1/180
    assert below_bound(*chi_square(np.bincount((draws * 1024).astype(int), minlength=1024)))
    low_bits = (draws * 2**24).astype(np.int64) & 255  # the finest bits are uniform too
    assert below_bound(*chi_square(np.bincount(low_bits, minlength=256)))


@pytest.mark.parametrize("lag", [1, 2, 3, 64, 1000])
def test_lagged_pairs_are_uniform(draws, lag):
    a = (draws[:-lag] * 32).astype(int)
    b = (draws[lag:] * 32).astype(int)
    assert below_bound(*chi_square(np.bincount(a * 32 + b, minlength=1024)))


def test_sums_of_signs_have_independent_variance(draws):
    signs = np.where(draws < 0.5, 1.0, -1.0)
    for m in (16, 1024):
        sums = signs.reshape(-1, m).sum(axis=1)
        assert abs(sums.var() / m - 1) < 6 * np.sqrt(2 / sums.size)


def test_workers_and_steps_get_distinct_uncorrelated_streams():
    keys = {rng.stream_key(1, w, s) for w in range(32) for s in range(64)}
    assert len(keys) == 32 * 64
    a = rng.uniform(1, 0, 0, 1 << 16)
    for other in (rng.uniform(1, 1, 0, 1 << 16), rng.uniform(1, 0, 1, 1 << 16), rng.uniform(2, 0, 0, 1 << 16)):
        assert abs(np.corrcoef(a, other)[0, 1]) < 6 / np.sqrt(1 << 16)


def test_one_pair_across_many_streams_is_uniform():
    # unbiasedness rests on this: for a fixed index the uniform is uniform over keys;
    # elements 42 and 43 share one hash, so check both fields and their joint law
    u = np.array([rng.uniform_reference(9, w, s, np.array([42, 43])) for w in range(8) for s in range(1024)])
    for column in u.T:
        assert below_bound(*chi_square(np.bincount((column * 64).astype(int), minlength=64)))
    joint = (u[:, 0] * 8).astype(int) * 8 + (u[:, 1] * 8).astype(int)
    assert below_bound(*chi_square(np.bincount(joint, minlength=64)))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1, 0, 0), "seed must be an integer in 0..18446744073709551615, got -1"),
        ((0, 2**32, 0), "worker must be an integer in 0..4294967295, got 4294967296"),
        ((0, 0, 1.5), "step must be an integer in 0..4294967295, got 1.5"),
    ],
)
def test_stream_key_validation_names_field_range_and_value(args, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        rng.stream_key(*args)
