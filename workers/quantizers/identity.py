"""The identity quantizer for int32 tensors: integers travel as they are.

SwitchML's int32 jobs skip quantization (p4app-switchML's ``INT32`` path only
converts byte order). `Identity` gives them the common API: ``encode`` copies
the tensor, ``decode`` returns the aggregated int32 sum unchanged (any
wrap-around already happened in the aggregator).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from switchsim.protocol import spec
from workers.quantizers._checks import need_array, need_int
from workers.quantizers.base import Context, Encoded


@dataclass(frozen=True, slots=True)
class Identity:
    """Identity quantizer (implements `workers.quantizers.base.Quantizer`; no shared state, metadata None)."""

    def encode(self, tensor: np.ndarray, context: Context[None]) -> Encoded[None]:
        """A copy of ``tensor`` (int32[d]); nothing is clipped."""
        tensor = need_array("tensor", tensor, np.int32)
        return Encoded(tensor.copy(), None, 0)

    def decode(self, integer_sum: np.ndarray, metadata: None, num_workers: int) -> np.ndarray:
        """The int32 sum itself (a copy): for int32 jobs the decoded sum is the integer sum."""
        integer_sum = need_array("integer_sum", integer_sum, np.int32)
        need_int("num_workers", num_workers, 1, spec.MAX_WORKERS)
        return integer_sum.copy()
