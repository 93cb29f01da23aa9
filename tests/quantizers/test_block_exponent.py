"""SwitchML block-exponent quantizer: exponents, no int32 overflow, decode error, edge cases."""

import numpy as np
import pytest

from workers.quantizers import BlockExponent, Context, Quantizer, accumulate, block_exponents, global_exponents
from workers.quantizers.block_exponent import block_exponents_reference, quantize_reference, scaling_factors


def run(q, grads):
    n = len(grads)
    shared = global_exponents([q.local_exponents(g) for g in grads])
    encoded = [q.encode(g, Context(w, n, shared=shared)) for w, g in enumerate(grads)]
    total = accumulate(np.stack([e.integers for e in encoded]))
    return shared, encoded, total, q.decode(total.total, encoded[0].metadata, n)


def test_exponents_match_the_ieee_bit_formula_and_frexp():
    x = np.array([0.75, -1.0, 1.5, 3e-39, 0.0, 2.0**100, -(2.0**-126)], np.float32)
    expected = [0, 1, 1, -126, -126, 101, -125]  # 2**e > max|x|; zero and subnormal give -126
    for i, e in enumerate(expected):
        block = np.zeros(64, np.float32)
        block[7] = x[i]
        assert block_exponents(block).tolist() == [e] == block_exponents_reference(block).tolist()
    big = np.random.default_rng(0).standard_normal(300_000).astype(np.float32) * 1e3
    assert np.array_equal(block_exponents(big, 256), block_exponents_reference(big, 256))


def test_extreme_same_sign_blocks_do_not_overflow_int32_for_32_workers():
    q = BlockExponent(64)
    top = np.nextafter(np.float32(2.0**5), np.float32(0))  # largest float32 below 2**5: e = 5
    grads = [np.full(130, top, np.float32) for _ in range(32)]  # 3 blocks, the last one short
    shared, encoded, total, _ = run(q, grads)
    assert shared.tolist() == [5, 5, 5]
    assert total.overflowed == 0 and total.mismatched == 0
    assert all(e.clipped == 0 for e in encoded)
    assert np.abs(encoded[0].integers.astype(np.int64)).max() <= (2**31 - 1) // 32


def test_decode_error_within_the_stated_bound():
    rng = np.random.default_rng(1)
    n = 8
    grads = [
        (rng.standard_normal(4096) * np.repeat(10.0 ** rng.integers(-6, 6, 64), 64)).astype(np.float32)
        for _ in range(n)
    ]
    shared, encoded, _, decoded = run(BlockExponent(64), grads)
    exact = sum(g.astype(np.float64) for g in grads)
    bound = np.repeat(n / (2 * scaling_factors(shared, n)), 64) + np.abs(exact) * 2**-23
    assert np.all(np.abs(decoded - exact) <= bound)
    assert np.array_equal(encoded[3].integers, quantize_reference(grads[3], shared, n, 64))


def test_all_zero_block_decodes_to_zero():
    grads = [np.zeros(256, np.float32), np.zeros(256, np.float32)]
    grads[1][:64] = 1.0  # block 0 non-zero for worker 1 only; blocks 1..3 zero everywhere
    shared, encoded, _, decoded = run(BlockExponent(64), grads)
    assert shared.tolist() == [1, -126, -126, -126]
    assert not encoded[0].integers.any() and not decoded[64:].any()
    assert np.allclose(decoded[:64], 1.0)


def test_nonfinite_or_huge_values_and_low_shared_exponents_are_rejected():
    q = BlockExponent(64)
    x = np.zeros(128, np.float32)
    x[70] = np.inf
    with pytest.raises(
        ValueError, match=r"tensor block 1 max \|x\| must be finite and < 2\*\*127 .* got np.float32\(inf\)"
    ):
        q.local_exponents(x)
    x[70] = 2.0**127
    with pytest.raises(ValueError, match="tensor block 1"):
        q.local_exponents(x)
    x[70] = 1.0
    with pytest.raises(
        ValueError, match=r"Context.shared\[1\] \(global exponent\) must be >= this worker's exponent 1, got 0"
    ):
        q.encode(x, Context(0, 2, shared=np.array([0, 0], np.int8)))
    with pytest.raises(ValueError, match="Context.shared must be an int8 ndarray of 2 global exponents"):
        q.encode(x, Context(0, 2, shared=np.array([5, 5, 5], np.int8)))
    with pytest.raises(ValueError, match=r"BlockExponent.block_size must be one of \(64, 256\), got 128"):
        BlockExponent(128)


def test_block_exponent_implements_the_protocol():
    assert isinstance(BlockExponent(), Quantizer)
