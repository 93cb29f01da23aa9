"""Block-exponent scaling as the simulator uses it: n-way sums never overflow, decode within
`error_bound`, and the W-ahead packet stream (`pipelined_packets`)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.quantizers import block_exponent as be
from workers.quantizers.base import Context


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 32), st.integers(0, 2**32 - 1), st.floats(-20, 20))
def test_n_way_sum_never_overflows_and_decodes_within_bound(n, seed, log_scale):
    rng = np.random.default_rng(seed)
    k = 64
    tensors = (rng.standard_normal((n, 3 * k)) * np.exp(log_scale)).astype(np.float32)
    tensors[:, 5] = np.float32(np.exp(log_scale))  # a block peak shared by everyone: worst case for the sum
    exponents = be.global_exponents([be.block_exponents(t, k) for t in tensors])
    quantizer = be.BlockExponent(block_size=k)
    quantized = np.stack([quantizer.encode(t, Context(worker=w, num_workers=n, shared=exponents)).integers
                          for w, t in enumerate(tensors)]).astype(np.int64)
    assert np.abs(quantized).max() <= be.INT32_MAX // n
    total = quantized.sum(axis=0)
    assert np.abs(total).max() <= be.INT32_MAX  # no int32 overflow
    decoded = quantizer.decode(total.astype(np.int32), exponents, n).astype(np.float64)
    exact = tensors.astype(np.float64).sum(axis=0)
    bound = np.repeat(be.error_bound(exponents, n), k) + np.abs(exact) * np.finfo(np.float32).eps
    assert np.all(np.abs(decoded - exact) <= bound)


def test_pipelined_stream_is_one_window_ahead():
    data, header = be.pipelined_packets(np.arange(3 * 4 - 1, dtype=np.int32), np.array([5, 6, 7], np.int8), 2, 4)
    assert data.reshape(5, 4)[:, 0].tolist() == [0, 0, 0, 4, 8]  # packet p carries block p - 2
    assert data[-1] == 0  # zero-padded to whole blocks
    assert header[:, 0].tolist() == [5, 6, 7, be.MIN_EXPONENT, be.MIN_EXPONENT]  # and block p's exponent
