"""IntSGD: clip rule (no overflow at a bits), adaptive alpha, decode error, validation."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchsim.protocol import spec
from workers.quantizers import (
    Context,
    IntSGD,
    Quantizer,
    accumulate,
    adaptive_alpha,
    clip_limit,
    clip_range,
    layer_alphas,
)
from workers.quantizers.intsgd import AlphaState


def encode_all(q, grads, state, step=0, seed=0):
    n = len(grads)
    return [q.encode(g, Context(w, n, step, seed, state)) for w, g in enumerate(grads)]


def test_clip_limit_table():
    assert clip_limit(16, 8, 8) == 7  # floor(127 / 16)
    assert clip_limit(16, 8, 32) == 127  # the wire width binds
    assert clip_limit(32, 32, 32) == (2**31 - 1) // 32
    assert clip_limit(1, 2, 8) == 1
    assert clip_limit(16, 8, 8, safe=False) == 127


@settings(deadline=None, max_examples=40)
@given(
    n=st.integers(1, spec.MAX_WORKERS),
    accumulator_bits=st.integers(8, 32),
    wire_bits=st.integers(2, 32),
    rounding=st.sampled_from(["randomized", "deterministic"]),
    sign=st.sampled_from([1.0, -1.0]),
)
def test_safe_clip_never_overflows_the_accumulator(n, accumulator_bits, wire_bits, rounding, sign):
    q = IntSGD(wire_bits=wire_bits, accumulator_bits=accumulator_bits, rounding=rounding)
    # worst case: every worker sends huge values of one sign, so every element is clipped
    grads = [np.full(64, sign * 3e38, np.float32) for _ in range(n)]
    grads[0][:8] = np.linspace(-1e3, 1e3, 8)
    encoded = encode_all(q, grads, q.initial_state(64))
    low, high = q.clip_range(n)
    assert all(low <= e.integers.min() and e.integers.max() <= high for e in encoded)
    total = accumulate(np.stack([e.integers for e in encoded]), accumulator_bits=accumulator_bits, wire_bits=wire_bits)
    assert total.overflowed == 0 and total.mismatched == 0 and total.truncated == 0
    assert total.total[8:].tolist() == [n * (high if sign > 0 else low)] * 56  # the exact sum


def test_unsafe_clip_can_overflow_and_the_counters_see_it():
    q = IntSGD(wire_bits=8, accumulator_bits=8, safe=False, rounding="deterministic")
    grads = [np.full(10, 1e9, np.float32) for _ in range(16)]
    encoded = encode_all(q, grads, q.initial_state(10))
    assert all(e.integers.tolist() == [127] * 10 for e in encoded)
    total = accumulate(np.stack([e.integers for e in encoded]), accumulator_bits=8, wire_bits=8)
    assert total.overflowed == 10 and total.mismatched == 10
    assert total.total.tolist() == [((16 * 127 + 128) % 256) - 128] * 10  # 2032 wraps to -16


def test_adaptive_alpha_formula():
    d, n, eta, r = 1000, 8, 0.1, 2.5
    expected = math.sqrt(d) / math.sqrt(2 * n * r / eta**2 + 1e-8**2)
    assert adaptive_alpha(r, eta, d, n) == pytest.approx(expected, rel=1e-15)
    # per layer: one layer is the global formula; eps^2 is split by layer size
    assert layer_alphas(np.array([r]), eta, np.array([d]), n)[0] == pytest.approx(expected, rel=1e-15)
    a = layer_alphas(np.array([1.0, 0.0]), 1.0, np.array([30, 70]), 4, eps=0.5)
    assert a[0] == pytest.approx(math.sqrt(30 / (8 * 1.0 + 0.3 * 0.25)))
    assert a[1] == pytest.approx(math.sqrt(70 / (0.7 * 0.25)))


def test_next_state_uses_every_layers_update_and_the_moving_average():
    q = IntSGD(beta=0.9)
    state = q.initial_state((0, 3, 10))
    assert state.alphas == (100.0, 100.0) and state.dim == 10
    delta = np.arange(10, dtype=np.float32)
    s1 = q.next_state(state, delta, eta=0.5, num_workers=4)
    r = (np.array([0 + 1 + 4, sum(i * i for i in range(3, 10))]) / 0.25).tolist()
    assert s1.mean_sq == pytest.approx(r)
    assert s1.alphas == pytest.approx(layer_alphas(np.array(r), 1.0, np.array([3, 7]), 4, q.eps))
    s2 = q.next_state(s1, np.zeros(10), eta=0.5, num_workers=4)
    assert s2.mean_sq == pytest.approx([0.9 * v for v in r])


@pytest.mark.parametrize("rounding", ["randomized", "deterministic"])
def test_decode_of_the_summed_encodings_is_within_the_stated_error(rounding):
    n, d = 8, 5000
    rng = np.random.default_rng(3)
    grads = [(rng.standard_normal(d) * (1 + np.arange(d) % 7)).astype(np.float32) for _ in range(n)]
    q = IntSGD(wire_bits=16, accumulator_bits=32, rounding=rounding)
    state = q.next_state(q.initial_state((0, 1000, d)), sum(grads) / n, 1.0, n)
    encoded = encode_all(q, grads, state, step=3, seed=11)
    assert sum(e.clipped for e in encoded) == 0
    total = accumulate(np.stack([e.integers for e in encoded]), wire_bits=16)
    decoded = q.decode(total.total, encoded[0].metadata, n)
    exact = sum(g.astype(np.float64) for g in grads)
    per_element = np.repeat(np.array(state.alphas), state.sizes)
    bound = (n if rounding == "randomized" else n / 2) / per_element
    assert np.all(np.abs(decoded - exact) <= bound * (1 + 1e-6) + np.abs(exact) * 2**-23)
    if rounding == "randomized":  # and unbiased: the mean error is tiny compared with the bound
        assert abs(np.mean((decoded - exact) * per_element)) < 5 * math.sqrt(n / 4 / d)


def test_per_layer_encoding_equals_whole_tensor_encoding_with_the_same_alpha():
    q = IntSGD(wire_bits=12)
    g = np.random.default_rng(4).standard_normal(3000).astype(np.float32)
    whole = q.encode(g, Context(1, 4, 9, 5, AlphaState((0, 3000), (20.0,))))
    layered = q.encode(g, Context(1, 4, 9, 5, AlphaState((0, 1000, 1700, 3000), (20.0, 20.0, 20.0))))
    assert np.array_equal(whole.integers, layered.integers)


def test_intsgd_implements_the_protocol():
    assert isinstance(IntSGD(), Quantizer)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"wire_bits": 1}, "IntSGD.wire_bits must be an integer in 2..32, got 1"),
        ({"accumulator_bits": 64}, "IntSGD.accumulator_bits must be an integer in 8..32, got 64"),
        ({"rounding": "stochastic"}, "IntSGD.rounding must be one of"),
        ({"beta": 1.0}, r"IntSGD.beta must be in \[0, 1\), got 1.0"),
        ({"eps": 0.0}, "IntSGD.eps must be finite and > 0, got 0.0"),
        ({"initial_alpha": -1.0}, "IntSGD.initial_alpha must be finite and > 0, got -1.0"),
    ],
)
def test_config_validation_names_field_range_and_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        IntSGD(**kwargs)


def test_state_and_encode_validation():
    with pytest.raises(ValueError, match="AlphaState.bounds must be strictly increasing integers starting at 0"):
        AlphaState((0, 5, 5), (1.0, 1.0))
    with pytest.raises(
        ValueError, match=r"AlphaState.alphas must be 1 finite values > 0 \(one per layer\), got \(0.0,\)"
    ):
        AlphaState((0, 5), (0.0,))
    q = IntSGD()
    with pytest.raises(ValueError, match="tensor.size must be equal to the state's dimension 5, got 4"):
        q.encode(np.zeros(4, np.float32), Context(0, 2, shared=q.initial_state(5)))
    with pytest.raises(ValueError, match="Context.shared must be an AlphaState, got 'NoneType'"):
        q.encode(np.zeros(4, np.float32), Context(0, 2))


def test_default_moving_average_weight_is_the_authors_0_9():
    q = IntSGD()
    assert q.beta == 0.9
    s1 = q.next_state(q.initial_state(4), np.full(4, 2.0, np.float32), eta=1.0, num_workers=2)
    s2 = q.next_state(s1, np.zeros(4, np.float32), eta=1.0, num_workers=2)
    assert s1.mean_sq == (16.0,)
    assert s2.mean_sq == pytest.approx((0.9 * 16.0,), rel=1e-15)


@pytest.mark.parametrize("rounding", ["randomized", "deterministic"])
def test_default_accumulator_keeps_the_int8_wire_sum_from_overflowing(rounding):
    q = IntSGD(wire_bits=8, rounding=rounding)  # class defaults: the sum comes back at the int8 element width
    n, d = 16, 64
    assert q.accumulator_bits == 8
    big = np.linspace(-50.0, 50.0, d).astype(np.float32)
    state = AlphaState((0, d), (100.0,))
    encoded = encode_all(q, [big] * n, state, step=0, seed=1)
    total = accumulate(np.stack([e.integers for e in encoded]), accumulator_bits=8, wire_bits=8)
    assert total.overflowed == 0 and total.mismatched == 0 and total.truncated == 0
    assert total.total.min() == -128 and total.total.max() == 16 * 7


def test_clip_range_is_the_authors_clamp_with_the_most_negative_level():
    assert clip_range(16, 8, 8) == (-8, 7)  # [-2**7 / 16, (2**7 - 1) / 16]
    assert clip_range(8, 8, 8) == (-16, 15)
    assert clip_range(3, 8, 8) == (-42, 42)  # floor(128 / 3), floor(127 / 3)
    assert clip_range(16, 8, 32) == (-128, 127)  # the wire binds
    assert clip_range(1, 2, 8) == (-2, 1)
    assert clip_range(16, 8, 8, safe=False) == (-128, 127)
    for n in range(1, 33):
        for a in (8, 16, 32):
            low, high = clip_range(n, a, a)
            assert n * low >= -(2 ** (a - 1)) and n * high <= 2 ** (a - 1) - 1
            assert (n * (low - 1) < -(2 ** (a - 1))) or low == -(2 ** (a - 1))  # no level is dropped
    q = IntSGD(wire_bits=8, accumulator_bits=8, rounding="deterministic")
    out = q.encode(np.array([-1e3, -8.4, 1e3], np.float32), Context(0, 16, shared=AlphaState((0, 3), (1.0,))))
    assert out.integers.tolist() == [-8, -8, 7] and out.clipped == 2
