"""Natural compression (Horváth, Ho, Horváth, Sahu, Canini, Richtárik, "Natural Compression for Distributed
Deep Learning", 2019): round every element to a power of two, randomly and without bias.

For |x| = m 2**e with m in [1/2, 1) (``np.frexp``), send 2**e with probability
2m - 1 and 2**(e-1) otherwise: E = |x|. The value then needs its sign and
exponent only: 9 bits per element (float32 without the mantissa; zero has its
own exponent code).

Collective: all-gather. A switch cannot sum it: a sum of powers of two is not a
power of two, and adding them needs floating-point alignment of exponents,
which an integer-adding switch does not have.
"""

from __future__ import annotations

import numpy as np

from workers.quantizers.compressors.base import Compressor, Message, Transfer, packed

BITS_PER_ELEMENT = 9


def natural_round(x: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Each element of float32 ``x`` rounded to a neighbouring power of two (unbiased given uniforms in [0, 1)).

    Example:
        >>> natural_round(np.array([3.0, -3.0, 0.0], np.float32), np.array([0.2, 0.9, 0.5])).tolist()
        [4.0, -2.0, 0.0]
    """
    mantissa, exponent = np.frexp(np.abs(x).astype(np.float64))
    up = uniform < 2 * mantissa - 1
    return (np.sign(x) * np.ldexp(1.0, exponent - 1 + up)).astype(np.float32)


class Natural(Compressor):
    """Natural compression, 9 bits per element, all-gather."""

    name = "natural"
    collective = "allgather"
    switch_summable = False
    switch_reason = "no: a sum of powers of two is not a power of two; adding them needs float alignment"
    unbiased = True

    def encode(self, gradient: np.ndarray, worker: int, step: int, shared: object) -> Message:
        """Powers of two (kept as float32 here; 9 bits each on the wire)."""
        uniform = np.random.default_rng([self.seed, worker, step, 0x9A7]).random(self.dim)
        return Message((natural_round(gradient, uniform),), BITS_PER_ELEMENT * self.dim)

    def decode(self, messages: list[Message], step: int, shared: object) -> np.ndarray:
        """Mean of the gathered values."""
        return np.mean([m.payload[0] for m in messages], axis=0, dtype=np.float64).astype(np.float32)

    def transfers(self, messages: list[Message]) -> list[Transfer]:
        """All-gather of 9 d bits per worker."""
        return [packed(max(m.bits for m in messages))]
