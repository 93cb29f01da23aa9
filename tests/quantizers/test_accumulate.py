"""Integer accumulation: hand-computed wrap/saturate cases, counters, kernel == reference."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from workers.quantizers.accumulate import accumulate, accumulate_reference


def both(values, **kw):
    values = np.array(values, np.int32)
    results = [accumulate(values, **kw), accumulate(values, parallel=True, **kw), accumulate_reference(values, **kw)]
    return [(r.total.tolist(), r.overflowed, r.mismatched, r.truncated) for r in results]


def test_wrap_at_8_bits_hand_computed():
    # column 0: 100 + 100 = 200 -> -56; column 1: 100 + 100 - 100 = 100 (wraps and comes back)
    # column 2: -128 + -1 = -129 -> 127; column 3: 60 + 60 = 120 (no overflow)
    values = [[100, 100, -128, 60], [100, 100, -1, 60], [0, -100, 0, 0]]
    expected = ([-56, 100, 127, 120], 3, 2, 0)
    assert both(values, accumulator_bits=8, wire_bits=8) == [expected] * 3


def test_saturate_at_8_bits_hand_computed():
    # column 1 saturates at 127 and then loses: 127 - 100 = 27 instead of 100
    values = [[100, 100, -128, 60], [100, 100, -1, 60], [0, -100, 0, 0]]
    expected = ([127, 27, -128, 120], 3, 3, 0)
    assert both(values, accumulator_bits=8, wire_bits=8, mode="saturate") == [expected] * 3


def test_narrow_wire_is_sign_extended_and_truncation_counted():
    # 4-bit wire: 7 -> 7, 8 -> -8, 15 -> -1, -9 -> 7 (low 4 bits 0111), -8 -> -8
    values = [[7, 8, 15, -9, -8]]
    assert both(values, accumulator_bits=8, wire_bits=4) == [([7, -8, -1, 7, -8], 0, 0, 3)] * 3


def test_int32_wrap_like_tofino():
    values = [[2**31 - 1, -(2**31)], [1, -1]]
    assert both(values) == [([-(2**31), 2**31 - 1], 2, 2, 0)] * 3
    assert both(values, mode="saturate") == [([2**31 - 1, -(2**31)], 2, 2, 0)] * 3


@settings(deadline=None, max_examples=80)
@given(
    values=hnp.arrays(
        np.int32,
        st.tuples(st.integers(1, 8), st.integers(0, 40)),
        elements=st.integers(-(2**31), 2**31 - 1) | st.integers(-300, 300),
    ),
    accumulator_bits=st.integers(8, 32),
    wire_bits=st.integers(2, 32),
    mode=st.sampled_from(["wrap", "saturate"]),
)
def test_kernel_equals_reference(values, accumulator_bits, wire_bits, mode):
    kw = {"accumulator_bits": accumulator_bits, "wire_bits": wire_bits, "mode": mode}
    first, parallel, ref = both(values, **kw)
    assert first == ref and parallel == ref
    low, high = -(2 ** (accumulator_bits - 1)), 2 ** (accumulator_bits - 1) - 1
    assert all(low <= v <= high for v in ref[0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"accumulator_bits": 7}, "accumulator_bits must be an integer in 8..32, got 7"),
        ({"wire_bits": 33}, "wire_bits must be an integer in 2..32, got 33"),
        ({"mode": "clamp"}, r"mode must be one of \('wrap', 'saturate'\), got 'clamp'"),
    ],
)
def test_validation_errors_name_field_range_and_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        accumulate(np.zeros((2, 3), np.int32), **kwargs)


def test_values_must_be_a_2d_int32_array():
    with pytest.raises(ValueError, match="values must be a C-contiguous 2-D int32 ndarray"):
        accumulate(np.zeros(3, np.int32))
