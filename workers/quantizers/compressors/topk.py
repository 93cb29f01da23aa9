"""Top-k sparsification with error feedback (Stich, Cordonnier, Jaggi, "Sparsified SGD with Memory", NeurIPS
2018; Lin et al., "Deep Gradient Compression", ICLR 2018).

Worker w adds its residual e_w to the gradient, sends the k entries of largest
magnitude as (index, value) pairs, and keeps what it did not send:
``p = g + e_w``, ``c = top_k(p)``, ``e_w <- p - c``. Every worker averages the
gathered sparse vectors. Bits: k x (ceil(log2 d)-bit index + 32-bit float value)
(`index_bits`; the indices are packed at the width d needs, not int32).

Collective: all-gather. A switch cannot sum it: each worker picks different
indices, so the sparse vectors do not line up element by element.
"""

from __future__ import annotations

import math

import numpy as np

from workers.quantizers.compressors.base import Compressor, Message, Transfer, packed
from workers.quantizers.compressors.kernels import add_sparse


def index_bits(dim: int) -> int:
    """Bits of one index into d elements: ceil(log2 d), at least 1.

    Example:
        >>> index_bits(2), index_bits(650), index_bits(11_689_512)
        (1, 10, 24)
    """
    return max(1, math.ceil(math.log2(dim)))


class TopK(Compressor):
    """Top-k of ``ratio`` x d entries (at least 1) per worker, error feedback, all-gather."""

    name = "topk"
    collective = "allgather"
    switch_summable = False
    switch_reason = "no: every worker sends different indices, so the values do not line up for an element-wise sum"
    unbiased = False

    def __init__(self, num_workers: int, layer_bounds: tuple[int, ...], seed: int = 0, *,
                 ratio: float = 0.01) -> None:
        super().__init__(num_workers, layer_bounds, seed)
        if not 0 < ratio <= 1:
            raise ValueError(f"ratio must be in (0, 1], got {ratio!r}")
        self.k = max(1, round(ratio * self.dim))
        self.residuals = np.zeros((num_workers, self.dim), np.float32)

    def encode(self, gradient: np.ndarray, worker: int, step: int, shared: object) -> Message:
        """Indices (int32) and values (float32) of the k largest |g + e|; the rest stays in e."""
        corrected = gradient + self.residuals[worker]
        indices = np.sort(np.argpartition(np.abs(corrected), self.dim - self.k)[self.dim - self.k:]).astype(np.int32)
        values = corrected[indices]
        self.residuals[worker] = corrected
        self.residuals[worker, indices] = 0.0
        return Message((indices, values), (index_bits(self.dim) + 32) * self.k)

    def decode(self, messages: list[Message], step: int, shared: object) -> np.ndarray:
        """Mean of the gathered sparse vectors."""
        total = np.zeros(self.dim, np.float64)
        for indices, values in (m.payload for m in messages):
            add_sparse(indices, values, total)
        return (total / len(messages)).astype(np.float32)

    def transfers(self, messages: list[Message]) -> list[Transfer]:
        """All-gather of (ceil(log2 d) + 32) k bits per worker, packed in bytes."""
        return [packed(max(m.bits for m in messages))]
