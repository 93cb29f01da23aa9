"""QSGD (Alistarh, Grubic, Li, Tomioka, Vojnovic, "QSGD: Communication-Efficient SGD via Gradient Quantization
and Encoding", NeurIPS 2017): s levels per bucket, unbiased, Elias-coded.

Per bucket of ``bucket`` elements with L2 norm ||v||: l = floor(s |v_i| / ||v||),
send level l + 1 with probability s |v_i| / ||v|| - l, else l; decode
||v|| sign(v_i) level / s. Unbiased.

Bits on the wire (counted exactly, `qsgd_bits`): per bucket a float32 norm; per
element the Elias gamma code of level + 1 (``2 floor(log2(level + 1)) + 1`` bits,
so a zero level costs 1 bit) and a sign bit when the level is not zero.

Collective: all-gather. A switch cannot sum it: every worker's levels are in
units of its own bucket norms, so integers from different workers do not add
up to anything meaningful without decoding first.
"""

from __future__ import annotations

import numpy as np

from workers.quantizers.compressors.base import Compressor, Message, Transfer, packed


def elias_gamma_bits(values: np.ndarray) -> np.ndarray:
    """Length in bits of the Elias gamma code of each integer >= 1: ``2 floor(log2 v) + 1``.

    Example:
        >>> elias_gamma_bits(np.array([1, 2, 3, 4, 255])).tolist()
        [1, 3, 3, 5, 15]
    """
    values = np.asarray(values, np.int64)
    if values.size and values.min() < 1:
        raise ValueError(f"values must be >= 1 for Elias gamma, got {int(values.min())}")
    return 2 * (np.frexp(values.astype(np.float64))[1] - 1) + 1


def qsgd_bits(levels: np.ndarray, buckets: int) -> int:
    """Exact bits of one QSGD message: 32 per bucket, Elias gamma of level + 1, a sign per nonzero level."""
    levels = np.asarray(levels, np.int64)
    return int(32 * buckets + elias_gamma_bits(levels + 1).sum() + np.count_nonzero(levels))


class QSGD(Compressor):
    """QSGD with ``levels`` = s levels and L2 norms per bucket of ``bucket`` elements; all-gather."""

    name = "qsgd"
    collective = "allgather"
    switch_summable = False
    switch_reason = "no: levels are in units of each worker's own bucket norm; they must be decoded before adding"
    unbiased = True

    def __init__(self, num_workers: int, layer_bounds: tuple[int, ...], seed: int = 0, *, levels: int = 16,
                 bucket: int = 512) -> None:
        super().__init__(num_workers, layer_bounds, seed)
        if not 1 <= levels <= 2**15:
            raise ValueError(f"levels must be in 1..32768, got {levels!r}")
        if not 1 <= bucket <= 2**20:
            raise ValueError(f"bucket must be in 1..1048576, got {bucket!r}")
        self.levels = levels
        self.bucket = bucket
        self.buckets = -(-self.dim // bucket)

    def _norms(self, gradient: np.ndarray) -> np.ndarray:
        padded = np.zeros(self.buckets * self.bucket, np.float64)
        padded[: self.dim] = gradient
        return np.sqrt((padded.reshape(self.buckets, self.bucket) ** 2).sum(axis=1))

    def encode(self, gradient: np.ndarray, worker: int, step: int, shared: object) -> Message:
        """Bucket norms (float32), levels (int) and signs; ``bits`` = `qsgd_bits`."""
        norms = self._norms(gradient).astype(np.float32)
        per_element = np.repeat(norms.astype(np.float64), self.bucket)[: self.dim]
        ratio = np.divide(self.levels * np.abs(gradient), per_element, out=np.zeros(self.dim),
                          where=per_element > 0)
        low = np.floor(ratio)
        uniform = np.random.default_rng([self.seed, worker, step, 0x95D]).random(self.dim)
        levels = (low + (uniform < ratio - low)).astype(np.int32)
        signs = np.signbit(gradient)
        return Message((norms, levels, signs), qsgd_bits(levels, self.buckets))

    def decode(self, messages: list[Message], step: int, shared: object) -> np.ndarray:
        """Mean of ``norm sign level / s`` over the gathered messages."""
        total = np.zeros(self.dim, np.float64)
        for norms, levels, signs in (m.payload for m in messages):
            value = np.repeat(norms.astype(np.float64), self.bucket)[: self.dim] * levels / self.levels
            total += np.where(signs, -value, value)
        return (total / len(messages)).astype(np.float32)

    def transfers(self, messages: list[Message]) -> list[Transfer]:
        """All-gather of the largest message (padded slots), packed in bytes."""
        return [packed(max(m.bits for m in messages))]
