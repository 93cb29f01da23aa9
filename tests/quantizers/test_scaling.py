"""The decode and alpha kernels equal the NumPy expressions they replace, bit for bit."""

import numpy as np

from workers.quantizers.scaling import divide_blocks, divide_layers, layer_sum_squares, multiply_layers

RNG = np.random.default_rng(11)
SUM = RNG.integers(-2**31, 2**31 - 1, 10_001, dtype=np.int64).astype(np.int32)
BOUNDS = np.array([0, 17, 5000, 10_001], np.int64)


def test_divide_layers_equals_numpy_in_two_float32_roundings():
    alphas = np.array([3.7, 1e-3, 123456.789])
    for count in (1.0, 16.0, 7.0):
        out = np.empty(SUM.size, np.float32)
        divide_layers(SUM, BOUNDS, alphas, count, out)
        expected = (SUM / np.repeat(alphas, np.diff(BOUNDS))).astype(np.float32) / np.float32(count)
        assert np.array_equal(out, expected)


def test_divide_blocks_and_multiply_layers_equal_numpy():
    factors = RNG.random(157) * 1e6 + 1
    out = np.empty(SUM.size, np.float32)
    divide_blocks(SUM, 64, factors, 8.0, out)
    assert np.array_equal(out, (SUM / np.repeat(factors, 64)[:SUM.size]).astype(np.float32) / np.float32(8))
    scales = np.array([0.5, 2.0**-20, 3.0])
    multiply_layers(SUM, BOUNDS, scales, 16.0, out)
    assert np.array_equal(out, (np.repeat(scales, np.diff(BOUNDS)) * SUM / 16.0).astype(np.float32))


def test_layer_sum_squares_accumulates_in_float64():
    x = RNG.standard_normal(10_001).astype(np.float32)
    out = np.empty(3)
    layer_sum_squares(x, BOUNDS, out)
    x64 = x.astype(np.float64)
    assert np.allclose(out, np.add.reduceat(x64 * x64, BOUNDS[:-1]), rtol=1e-12, atol=0)
