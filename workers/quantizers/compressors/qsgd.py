"""QSGD (Alistarh, Grubic, Li, Tomioka, Vojnovic, "QSGD: Communication-Efficient SGD via Gradient Quantization
and Encoding", NeurIPS 2017): s levels per bucket, unbiased, Elias-coded.

Per bucket of ``bucket`` elements with L2 norm ||v||: l = floor(s |v_i| / ||v||),
send level l + 1 with probability s |v_i| / ||v|| - l, else l; decode
||v|| sign(v_i) level / s. Unbiased.

Bits on the wire (counted exactly, `qsgd_bits`), the paper's coding (its
Section 3.2, with the recursive Elias omega code, `elias_omega_bits`) applied
per bucket: a float32 norm, omega(nonzeros + 1) so the decoder knows where the
bucket's list ends, then for each nonzero level in order omega(its distance
from the previous nonzero, the first counted from position -1), one sign bit
and omega(level). Zero levels cost nothing beyond the distances.

Collective: all-gather. A switch cannot sum it: every worker's levels are in
units of its own bucket norms, so integers from different workers do not add
up to anything meaningful without decoding first.
"""

from __future__ import annotations

import numpy as np

from workers.quantizers.compressors.base import Compressor, Message, Transfer, packed
from workers.quantizers.compressors.kernels import method_key, qsgd_accumulate, qsgd_encode

#: Keeps QSGD's uniforms apart from the other methods' (`kernels.method_key`).
SALT = 0x95D


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


def elias_omega_bits(values: np.ndarray) -> np.ndarray:
    """Length in bits of the Elias omega code of each integer >= 1.

    omega(1) = "0"; for N > 1 the code is the binary of N preceded by the code's
    groups for floor(log2 N), recursively, then a final "0": length
    ``1 + sum of (floor(log2 N_j) + 1)`` over N_0 = N, N_(j+1) = floor(log2 N_j) while N_j > 1.

    Example:
        >>> elias_omega_bits(np.array([1, 2, 3, 4, 7, 8, 16, 17, 100])).tolist()
        [1, 3, 3, 6, 6, 7, 11, 11, 13]
    """
    values = np.asarray(values, np.int64)
    if values.size and values.min() < 1:
        raise ValueError(f"values must be >= 1 for Elias omega, got {int(values.min())}")
    lengths = np.ones(values.shape, np.int64)
    current = values.copy()
    while True:
        more = current > 1
        if not more.any():
            return lengths
        width = np.frexp(current.astype(np.float64))[1]  # floor(log2 N) + 1
        lengths += np.where(more, width, 0)
        current = np.where(more, width - 1, 1)


def qsgd_bits(levels: np.ndarray, buckets: int, bucket: int | None = None) -> int:
    """Exact bits of one QSGD message (levels >= 0 of d elements in ``buckets`` buckets of ``bucket`` elements).

    Per bucket: 32 (norm) + omega(nonzeros + 1); per nonzero: omega(distance to the previous nonzero of its
    bucket, from position -1) + 1 (sign) + omega(level). ``bucket`` None: one bucket of all elements.

    Example (one bucket, levels 0 0 3 0 1): 32 + omega(3) + [omega(3) + 1 + omega(3)] + [omega(2) + 1 + omega(1)]
        >>> qsgd_bits(np.array([0, 0, 3, 0, 1]), 1)
        47
    """
    levels = np.asarray(levels, np.int64)
    size = levels.size if bucket is None else bucket
    positions = np.flatnonzero(levels)
    owner = positions // max(size, 1)
    previous = np.where(np.r_[True, owner[1:] != owner[:-1]] if positions.size else np.zeros(0, bool),
                        owner * size - 1, np.r_[-1, positions[:-1]] if positions.size else positions)
    counts = np.bincount(owner, minlength=buckets) if positions.size else np.zeros(buckets, np.int64)
    return int(32 * buckets + elias_omega_bits(counts + 1).sum() + elias_omega_bits(positions - previous).sum()
               + positions.size + elias_omega_bits(levels[positions]).sum())


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
        """The L2 norm of each bucket (float64; a reference for the kernel's float32 norms)."""
        padded = np.zeros(self.buckets * self.bucket, np.float64)
        padded[: self.dim] = gradient
        return np.sqrt((padded.reshape(self.buckets, self.bucket) ** 2).sum(axis=1))

    def encode(self, gradient: np.ndarray, worker: int, step: int, shared: object) -> Message:
        """Bucket norms (float32), levels (int32) and signs; ``bits`` = `qsgd_bits` (counted in the kernel)."""
        norms = np.empty(self.buckets, np.float32)
        levels = np.empty(self.dim, np.int32)
        signs = np.empty(self.dim, np.bool_)
        bits = qsgd_encode(gradient, self.bucket, float(self.levels), method_key(self.seed, SALT, worker, step),
                           norms, levels, signs)
        return Message((norms, levels, signs), int(bits))

    def decode(self, messages: list[Message], step: int, shared: object) -> np.ndarray:
        """Mean of ``norm sign level / s`` over the gathered messages."""
        total = np.zeros(self.dim, np.float64)
        for norms, levels, signs in (m.payload for m in messages):
            qsgd_accumulate(norms, levels, signs, self.bucket, float(self.levels), total)
        return (total / len(messages)).astype(np.float32)

    def transfers(self, messages: list[Message]) -> list[Transfer]:
        """All-gather of the largest message (padded slots), packed in bytes."""
        return [packed(max(m.bits for m in messages))]
