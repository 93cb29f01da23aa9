"""Rounding kernels: equal to their NumPy references, chunk/thread invariant, unbiased, bounded variance."""

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from workers.quantizers import rounding
from workers.quantizers.rounding import (
    CHUNK,
    deterministic_round,
    deterministic_round_reference,
    randomized_round,
    randomized_round_reference,
)

SEED, WORKER, STEP = 2024, 5, 77


@pytest.fixture(scope="module")
def gradient() -> np.ndarray:
    """Three chunks and a bit of heavy-tailed values (so parallel chunks and clipping both occur)."""
    return np.random.default_rng(0).standard_t(3, size=3 * CHUNK + 1234).astype(np.float32)


def rand(x, alpha=7.3, clip=127, **kw):
    out = np.empty(x.size, np.int32)
    return out, randomized_round(x, alpha, SEED, WORKER, STEP, clip, out, **kw)


def test_kernels_equal_references_on_a_large_array(gradient):
    for parallel in (True, False):
        out, clipped = rand(gradient, parallel=parallel)
        ref = np.empty_like(out)
        assert clipped == randomized_round_reference(gradient, 7.3, SEED, WORKER, STEP, 127, ref)
        assert clipped > 0 and np.array_equal(out, ref)
        det = np.empty_like(out)
        assert deterministic_round(gradient, 7.3, 127, det, parallel=parallel) == deterministic_round_reference(
            gradient, 7.3, 127, ref
        )
        assert np.array_equal(det, ref)


finite_or_inf = st.floats(width=32, allow_nan=False)


@settings(deadline=None, max_examples=60)
@given(
    x=hnp.arrays(np.float32, st.integers(0, 300), elements=finite_or_inf),
    alpha=st.floats(1e-3, 1e6),
    clip=st.integers(0, 2**31 - 1),
    offset=st.integers(0, 2**40),
)
def test_kernels_equal_references_on_any_finite_input(x, alpha, clip, offset):
    a, b = np.empty(x.size, np.int32), np.empty(x.size, np.int32)
    ca = randomized_round(x, alpha, 1, 2, 3, clip, a, offset=offset)
    assert ca == randomized_round_reference(x, alpha, 1, 2, 3, clip, b, offset=offset)
    assert np.array_equal(a, b)
    assert deterministic_round(x, alpha, clip, a) == deterministic_round_reference(x, alpha, clip, b)
    assert np.array_equal(a, b)
    assert np.all(np.abs(a.astype(np.int64)) <= clip)


def test_same_seed_same_integers_whatever_the_chunking_and_threads(gradient):
    whole, clipped = rand(gradient)
    cut = CHUNK + 4321  # not on a chunk boundary, odd
    first, c1 = rand(gradient[:cut], offset=0)
    second, c2 = rand(gradient[cut:], offset=cut)
    assert np.array_equal(whole, np.concatenate([first, second])) and clipped == c1 + c2
    serial, _ = rand(gradient, parallel=False)
    assert np.array_equal(whole, serial)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one_thread, _ = rand(gradient)
    finally:
        numba.set_num_threads(threads)
    assert np.array_equal(whole, one_thread)
    other_step = np.empty_like(whole)
    randomized_round(gradient, 7.3, SEED, WORKER, STEP + 1, 127, other_step)
    assert not np.array_equal(whole, other_step)


@pytest.fixture(scope="module")
def draws_over_steps():
    """500 independent roundings (steps) of one 256-element vector, in integer units t = alpha * g."""
    g = np.random.default_rng(1).standard_normal(256).astype(np.float32)
    alpha = 3.7
    t = g.astype(np.float64) * alpha
    out = np.empty((500, g.size), np.int32)
    for step in range(500):
        randomized_round(g, alpha, 99, 0, step, 2**31 - 1, out[step])
    return t, out


def test_randomized_rounding_is_unbiased(draws_over_steps):
    t, out = draws_over_steps
    frac = t - np.floor(t)
    standard_error = np.sqrt(frac * (1 - frac) / out.shape[0]) + 1e-12
    z = (out.mean(axis=0) - t) / standard_error
    assert np.all(np.abs(z[frac > 0.01]) < 5)
    assert np.all((out == np.floor(t)) | (out == np.floor(t) + 1))  # only the two neighbours
    # the average error over all 256 coordinates is tighter still
    assert abs((out - t).mean()) < 5 * 0.5 / np.sqrt(out.size)


def test_randomized_rounding_variance_within_the_intsgd_bound(draws_over_steps):
    t, out = draws_over_steps
    d = t.size
    sq_err = ((out - t) ** 2).sum(axis=1)  # ||Int(alpha g) - alpha g||^2 per draw
    frac = t - np.floor(t)
    expected = (frac * (1 - frac)).sum()
    assert expected <= d / 4  # E||Q(g) - g||^2 <= d / (4 alpha^2), in integer units
    assert abs(sq_err.mean() - expected) < 5 * sq_err.std() / np.sqrt(sq_err.size)
    assert sq_err.mean() <= d / 4


def test_integers_and_exact_halves_are_handled_exactly():
    x = np.array([0.0, 1.0, -1.0, 3.0, 2.5, -2.5, 0.5, -0.5, 1.5, 0.49999997, -0.49999997], np.float32)
    out = np.empty(x.size, np.int32)
    deterministic_round(x, 1.0, 100, out)
    assert out.tolist() == [0, 1, -1, 3, 2, -2, 0, 0, 2, 0, 0]  # half to even
    randomized_round(x[:4], 1.0, 0, 0, 0, 100, out[:4])
    assert out[:4].tolist() == [0, 1, -1, 3]  # integers never move
    assert rounding.round_half_away(0.49999999999999994) == 0.0
    assert rounding.round_half_away(-4503599627370497.0) == -4503599627370497.0


def test_deterministic_rounding_ties_to_even_as_torch_round():
    # torch.round (the IntSGD authors' rounding) sends ties to the even neighbour; -0.5 -> 0, 0.5 -> 0.
    x = np.array([0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, -3.5, 2.5000002], np.float32)
    out = np.empty(x.size, np.int32)
    deterministic_round(x[:9], 1.0, 100, out[:9])
    assert out[:9].tolist() == [0, 2, 2, 4, 0, -2, -2, -4, 3]
    reference = np.empty(9, np.int32)
    deterministic_round_reference(x[:9], 1.0, 100, reference)
    assert reference.tolist() == out[:9].tolist()
    for t in (0.5, 1.5, -2.5, 4503599627370497.0, 4503599627370496.5, -4503599627370495.5, 0.49999999999999994):
        assert rounding.round_half_even(t) == np.rint(t)
    # block exponent keeps SwitchML's std::round (half away from zero)
    assert rounding.round_half_away(2.5) == 3.0 and rounding.round_half_away(-2.5) == -3.0


def test_clipping_counts_exactly_including_infinities():
    x = np.array([10.0, -10.0, 3.0, -3.0, 3.4, np.inf, -np.inf, 0.0], np.float32)
    out = np.empty(x.size, np.int32)
    assert deterministic_round(x, 1.0, 3, out) == 4
    assert out.tolist() == [3, -3, 3, -3, 3, 3, -3, 0]
    assert randomized_round(x, 1.0, 0, 0, 0, 3, out) in (4, 5)  # 3.4 may round up to 4 and clip
    assert deterministic_round(x[:5], 1.0, 0, out[:5]) == 5 and not out[:5].any()


def test_nan_is_rejected_naming_the_index():
    x = np.array([1.0, 2.0, np.nan, 4.0], np.float32)
    out = np.empty(4, np.int32)
    for call in (
        lambda: randomized_round(x, 1.0, 0, 0, 0, 10, out),
        lambda: deterministic_round(x, 1.0, 10, out),
        lambda: randomized_round_reference(x, 1.0, 0, 0, 0, 10, out),
        lambda: deterministic_round_reference(x, 1.0, 10, out),
    ):
        with pytest.raises(ValueError, match="x must not contain NaN, got NaN at index 2"):
            call()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 0.0}, "alpha must be a finite number > 0, got 0.0"),
        ({"alpha": float("inf")}, "alpha must be a finite number > 0, got inf"),
        ({"clip": 2**31}, "clip must be an integer in 0..2147483647, got 2147483648"),
        ({"x": np.zeros(4, np.float64)}, "x must be a C-contiguous 1-D float32 ndarray"),
        ({"out": np.zeros(3, np.int32)}, r"out.shape must be equal to x.shape = \(4,\), got \(3,\)"),
        ({"out": np.zeros(4, np.int64)}, "out must be a C-contiguous 1-D int32 ndarray"),
        ({"x": np.zeros(8, np.float32)[::2]}, "c_contiguous=False"),
    ],
)
def test_validation_errors_name_field_range_and_value(kwargs, message):
    args = {"x": np.zeros(4, np.float32), "alpha": 1.0, "clip": 5, "out": np.zeros(4, np.int32)} | kwargs
    with pytest.raises(ValueError, match=message):
        deterministic_round(args["x"], args["alpha"], args["clip"], args["out"])
    with pytest.raises(ValueError, match=message):
        randomized_round(args["x"], args["alpha"], 0, 0, 0, args["clip"], args["out"])
    with pytest.raises(ValueError, match="offset must be an integer in 0..4611686018427387904, got -1"):
        randomized_round(np.zeros(4, np.float32), 1.0, 0, 0, 0, 5, np.zeros(4, np.int32), offset=-1)


@pytest.mark.parametrize("parallel", [True, False])
def test_asymmetric_clip_range_keeps_the_most_negative_level(gradient, parallel):
    out, clipped = rand(gradient, alpha=40.0, clip=7, low=-8, parallel=parallel)
    ref = np.empty_like(out)
    assert clipped == randomized_round_reference(gradient, 40.0, SEED, WORKER, STEP, 7, ref, low=-8)
    assert np.array_equal(out, ref) and out.min() == -8 and out.max() == 7
    det = np.empty_like(out)
    count = deterministic_round(gradient, 40.0, 7, det, parallel=parallel, low=-8)
    assert count == deterministic_round_reference(gradient, 40.0, 7, ref, low=-8)
    assert np.array_equal(det, ref) and det.min() == -8 and det.max() == 7
    t = gradient.astype(np.float64) * 40.0
    assert count == int(np.count_nonzero((np.round(t) < -8) | (np.round(t) > 7)))  # ties are rare here
    with pytest.raises(ValueError, match="low must be an integer in"):
        rand(gradient[:4], low=1)
