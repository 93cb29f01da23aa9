"""The one API every quantizer offers: encode a float tensor to integers, decode a sum.

A step of in-network aggregation with a quantizer ``q`` and n workers::

    enc = [q.encode(g[w], Context(w, n, step, seed, shared)) for w in range(n)]
    integer_sum = accumulate(np.stack([e.integers for e in enc]), ...).total
    g_sum = q.decode(integer_sum, enc[0].metadata, n)   # ~ sum_w g[w]

* ``shared`` is the state **every worker already holds identically** before
  the step, so it costs no communication: IntSGD's `AlphaState` (the scales
  alpha, computed from the previous aggregated update), SwitchML's global block
  exponents (returned by the switch one window ahead), nothing for `Identity`.
* ``metadata`` is what decoding needs, identical on every worker (in practice
  the shared state that was used).
* ``decode`` returns the decoded **sum** over workers (the all-reduce result,
  as SwitchML's ``sum / f``); divide by n for the average.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar, runtime_checkable

import numpy as np

from switchsim.protocol import spec
from workers.quantizers._checks import need, need_int
from workers.quantizers.rng import MAX_SEED, MAX_STEP

S = TypeVar("S")
M = TypeVar("M")


@dataclass(frozen=True, slots=True, eq=False)
class Context(Generic[S]):
    """Who encodes, when, and the shared state every worker holds.

    Attributes:
        worker: this worker's rank, 0..num_workers-1 (selects its random stream).
        num_workers: n, workers in the job, 1..spec.MAX_WORKERS (32).
        step: training step, 0..2**32-1 (selects the random stream).
        seed: experiment seed, 0..2**64-1.
        shared: quantizer-specific state known to every worker (see module docstring).
    """

    worker: int
    num_workers: int
    step: int = 0
    seed: int = 0
    shared: S | None = None

    def __post_init__(self) -> None:
        need_int("Context.num_workers", self.num_workers, 1, spec.MAX_WORKERS)
        need_int("Context.worker", self.worker, 0, self.num_workers - 1)
        need_int("Context.step", self.step, 0, MAX_STEP)
        need_int("Context.seed", self.seed, 0, MAX_SEED)


@dataclass(frozen=True, slots=True, eq=False)
class Encoded(Generic[M]):
    """One worker's encoded tensor.

    Attributes:
        integers: int32[d], the values to aggregate; each fits the quantizer's wire width.
        metadata: what `Quantizer.decode` needs (identical on every worker).
        clipped: elements clipped to the wire/overflow bound while encoding.
    """

    integers: np.ndarray
    metadata: M
    clipped: int = 0

    def __post_init__(self) -> None:
        ok = isinstance(self.integers, np.ndarray) and self.integers.dtype == np.int32 and self.integers.ndim == 1
        need("Encoded.integers", getattr(self.integers, "dtype", type(self.integers)), ok, "a 1-D int32 ndarray")
        need("Encoded.clipped", self.clipped, self.clipped >= 0, ">= 0")


@runtime_checkable
class Quantizer(Protocol[S, M]):
    """Encode a tensor to integers that n workers can sum; decode the sum."""

    def encode(self, tensor: np.ndarray, context: Context[S]) -> Encoded[M]:
        """This worker's integers for ``tensor`` (float32[d]; int32[d] for `Identity`)."""
        ...

    def decode(self, integer_sum: np.ndarray, metadata: M, num_workers: int) -> np.ndarray:
        """The decoded sum over workers from the aggregated int32[d] ``integer_sum``."""
        ...
