"""The common API: Context and Encoded validation, Identity round trip."""

import numpy as np
import pytest

from workers.quantizers import Context, Encoded, Identity, Quantizer, accumulate


def test_identity_round_trip_is_exact_with_int32_wrap():
    tensors = [np.array([1, -2, 2**31 - 1], np.int32), np.array([10, 20, 1], np.int32)]
    q = Identity()
    encoded = [q.encode(t, Context(w, 2)) for w, t in enumerate(tensors)]
    assert encoded[0].integers is not tensors[0] and encoded[0].metadata is None
    total = accumulate(np.stack([e.integers for e in encoded])).total
    assert q.decode(total, None, 2).tolist() == [11, 18, -(2**31)]
    assert isinstance(q, Quantizer)
    with pytest.raises(ValueError, match="tensor must be a C-contiguous 1-D int32 ndarray, got ndarray"):
        q.encode(np.zeros(3, np.float32), Context(0, 1))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 33), "Context.num_workers must be an integer in 1..32, got 33"),
        ((4, 4), "Context.worker must be an integer in 0..3, got 4"),
        ((0, 4, -1), "Context.step must be an integer in 0..4294967295, got -1"),
        ((0, 4, 0, 2**64), "Context.seed must be an integer in 0..18446744073709551615, got 18446744073709551616"),
    ],
)
def test_context_validation_names_field_range_and_value(args, message):
    with pytest.raises(ValueError, match=message):
        Context(*args)


def test_encoded_validation():
    with pytest.raises(ValueError, match="Encoded.integers must be a 1-D int32 ndarray, got dtype"):
        Encoded(np.zeros(3, np.int64), None)
    with pytest.raises(ValueError, match="Encoded.clipped must be >= 0, got -1"):
        Encoded(np.zeros(3, np.int32), None, -1)
