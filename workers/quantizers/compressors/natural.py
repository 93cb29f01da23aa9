"""Natural compression (Horváth, Ho, Horváth, Sahu, Canini, Richtárik, "Natural Compression for Distributed
Deep Learning", 2019): round every element to a power of two, randomly and without bias.

For |x| = m 2**e with m in [1/2, 1) (``np.frexp``), send 2**e with probability
2m - 1 and 2**(e-1) otherwise: E = |x|. The value then needs its sign and
exponent only: 9 bits per element (float32 without the mantissa; zero has its
own exponent code). The 8-bit exponent codes 0 and 2**-126 .. 2**127, so a
float32 subnormal (|x| < 2**-126) rounds unbiasedly between 0 and 2**-126:
to 2**-126 with probability |x| / 2**-126 (no subnormal powers of two are sent).

Collective: all-gather. A switch cannot sum it: a sum of powers of two is not a
power of two, and adding them needs floating-point alignment of exponents,
which an integer-adding switch does not have.
"""

from __future__ import annotations

import numpy as np

from workers.quantizers.compressors.base import Compressor, Message, Transfer, packed
from workers.quantizers.compressors.kernels import add_float32, method_key, natural_encode

BITS_PER_ELEMENT = 9
#: The smallest power of two the 9-bit code carries: float32's smallest normal, 2**-126.
SMALLEST_NORMAL = 2.0**-126
#: Keeps natural compression's uniforms apart from the other methods' (`kernels.method_key`).
SALT = 0x9A7


def natural_round(x: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Each element of float32 ``x`` rounded to a neighbouring power of two (unbiased given uniforms in [0, 1)).

    Example:
        >>> natural_round(np.array([3.0, -3.0, 0.0], np.float32), np.array([0.2, 0.9, 0.5])).tolist()
        [4.0, -2.0, 0.0]
        >>> natural_round(np.array([2.0**-127], np.float32), np.array([0.4])).tolist() == [2.0**-126]
        True
    """
    magnitude = np.abs(x).astype(np.float64)
    mantissa, exponent = np.frexp(magnitude)
    up = uniform < 2 * mantissa - 1
    normal = np.ldexp(1.0, exponent - 1 + up)
    subnormal = np.where(uniform < magnitude / SMALLEST_NORMAL, SMALLEST_NORMAL, 0.0)
    return (np.sign(x) * np.where(magnitude < SMALLEST_NORMAL, subnormal, normal)).astype(np.float32)


class Natural(Compressor):
    """Natural compression, 9 bits per element, all-gather."""

    name = "natural"
    collective = "allgather"
    switch_summable = False
    switch_reason = "no: a sum of powers of two is not a power of two; adding them needs float alignment"
    unbiased = True

    def encode(self, gradient: np.ndarray, worker: int, step: int, shared: object) -> Message:
        """Powers of two (kept as float32 here; 9 bits each on the wire)."""
        out = np.empty(self.dim, np.uint32)
        natural_encode(np.ascontiguousarray(gradient, np.float32).view(np.uint32),
                       method_key(self.seed, SALT, worker, step), out)  # = natural_round with U(key, i)
        return Message((out.view(np.float32),), BITS_PER_ELEMENT * self.dim)

    def decode(self, messages: list[Message], step: int, shared: object) -> np.ndarray:
        """Mean of the gathered values."""
        total = np.zeros(self.dim, np.float64)
        for m in messages:
            add_float32(m.payload[0], total)
        return (total / len(messages)).astype(np.float32)

    def transfers(self, messages: list[Message]) -> list[Transfer]:
        """All-gather of 9 d bits per worker."""
        return [packed(max(m.bits for m in messages))]
