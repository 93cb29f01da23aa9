"""SwitchML block-floating-point scaling: exponents, no overflow, decode error bound, pipelining."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers import block_exponent as be


def test_block_exponent_is_the_smallest_power_of_two_above_the_peak():
    x = np.array([0.75, -0.1] + [0.0] * 62 + [3.0] + [0.0] * 63 + [0.0] * 64, np.float32)
    assert be.block_exponents(x, 64).tolist() == [0, 2, -128]  # 2**0 > 0.75, 2**2 > 3, all zero
    assert be.block_exponents(np.array([1.0], np.float32), 64).tolist() == [1]  # 2**1 > 1 (strict)


def test_inf_or_nan_is_an_error():
    with pytest.raises(ValueError, match="Inf or NaN"):
        be.block_exponents(np.array([np.inf], np.float32), 64)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 32), st.integers(0, 2**32 - 1), st.floats(-20, 20))
def test_n_way_sum_never_overflows_and_decodes_within_bound(n, seed, log_scale):
    rng = np.random.default_rng(seed)
    k = 64
    tensors = (rng.standard_normal((n, 3 * k)) * np.exp(log_scale)).astype(np.float32)
    tensors[:, 5] = np.float32(np.exp(log_scale))  # a block peak shared by everyone: worst case for the sum
    exponents = np.stack([be.block_exponents(t, k) for t in tensors]).max(axis=0)
    quantized = np.stack([be.quantize(t, exponents, n, k) for t in tensors]).astype(np.int64)
    assert np.abs(quantized).max() <= be.INT32_MAX // n
    total = quantized.sum(axis=0)
    assert np.abs(total).max() <= be.INT32_MAX  # no int32 overflow
    decoded = be.dequantize(total.astype(np.int32), exponents, n, k, 3 * k).astype(np.float64)
    exact = tensors.astype(np.float64).sum(axis=0)
    bound = np.repeat(be.error_bound(exponents, n), k) + np.abs(exact) * np.finfo(np.float32).eps
    assert np.all(np.abs(decoded - exact) <= bound)


def test_rounds_to_nearest_symmetrically():
    exponents = np.array([0], np.int8)
    f = be.scale_factors(exponents, 1)[0]
    targets = [2.4, 2.6, -2.4, -2.6, 0.3, -0.3]
    x = np.zeros(64, np.float32)
    x[: len(targets)] = np.array(targets) / f
    assert be.quantize(x, exponents, 1, 64)[: len(targets)].tolist() == [2, 3, -2, -3, 0, 0]


def test_pipelined_stream_is_one_window_ahead():
    data, header = be.pipelined_packets(np.arange(3 * 4, dtype=np.int32), np.array([5, 6, 7], np.int8), 2, 4)
    assert data.reshape(5, 4)[:, 0].tolist() == [0, 0, 0, 4, 8]  # packet p carries block p - 2
    assert header[:, 0].tolist() == [5, 6, 7, -128, -128]  # and block p's exponent
