"""References: float32 over a ring all-reduce (no compression), and IntSGD's int8 integers over a ring.

* ``float32-ring``: plain SGD's all-reduce, exact mean; 32 bits per element.
* ``int8-ring``: IntSGD with randomized rounding, the same integers as
  ``intsgd-random`` (same seeds give the same training run), but summed by a
  host ring all-reduce of int8 elements, as the authors ran IntSGD on NCCL. Its
  row differs from ``intsgd-random`` only in the collective, which separates
  the ring -> switch effect from the 32 -> 8 bits effect.
"""

from __future__ import annotations

import numpy as np

from switchsim.protocol import spec
from workers.quantizers.compressors.base import Compressor, Message, Transfer
from workers.quantizers.compressors.integer_methods import IntSGDRandom


class Float32Ring(Compressor):
    """No compression: float32 gradients, exact mean, ring all-reduce."""

    name = "float32-ring"
    collective = "ring"
    switch_summable = False
    switch_reason = "no: the switch adds integers, not floats (SwitchML converts floats with block-exponent)"
    unbiased = True

    def encode(self, gradient: np.ndarray, worker: int, step: int, shared: object) -> Message:
        """The gradient itself, 32 d bits."""
        return Message((gradient,), 32 * self.dim)

    def sum_messages(self, messages: list[Message]) -> np.ndarray:
        """What the ring computes: the float64 sum of the gradients."""
        return np.sum([m.payload[0] for m in messages], axis=0, dtype=np.float64)

    def finish(self, total: np.ndarray, shared: object) -> np.ndarray:
        """Sum / n, rounded once to float32."""
        return (total / self.num_workers).astype(np.float32)

    def decode(self, messages: list[Message], step: int, shared: object) -> np.ndarray:
        """The exact mean (float64 sum, rounded once)."""
        return self.finish(self.sum_messages(messages), shared)

    def transfers(self, messages: list[Message]) -> list[Transfer]:
        """Ring all-reduce of d float32."""
        return [Transfer("ring", self.dim, 32)]


class Int8Ring(IntSGDRandom):
    """IntSGD (randomized, 8 bits) summed by a ring all-reduce of int8 elements instead of the switch."""

    name = "int8-ring"
    collective = "ring"

    def transfers(self, messages: list[Message]) -> list[Transfer]:
        """Ring all-reduce of d elements at the wire element width."""
        return [Transfer("ring", self.dim, spec.container_bits(self.wire_bits))]
