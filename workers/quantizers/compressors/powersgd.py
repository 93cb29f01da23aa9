"""PowerSGD, rank r, with error feedback (Vogels, Karimireddy, Jaggi, "PowerSGD: Practical Low-Rank Gradient
Compression for Distributed Optimization", NeurIPS 2019).

Per weight matrix (rows x cols), worker w forms ``M_w = G_w + e_w`` (gradient
plus its residual) and, with Q (cols x r) shared and warm-started from the
previous step (the first drawn from the seed):

1. ``P = mean_w M_w Q`` (ring all-reduce of rows x r floats), orthonormalised
   (Gram-Schmidt via QR): P̂;
2. ``Q = mean_w M_w^T P̂`` (ring all-reduce of cols x r floats);
3. every worker uses ``P̂ Q^T`` and keeps ``e_w <- M_w - P̂ Q^T``.

Vectors (biases) and matrices too small to gain (r (rows + cols) >= rows cols)
travel uncompressed in the first all-reduce. Bits per worker: 32 x (r (rows +
cols) per compressed matrix + the uncompressed elements).

Collective: two float32 ring all-reduces. P and Q are sums, so a switch could
add them after a float-to-integer scaling (e.g. SwitchML's block exponent), but
they are floats as the authors send them; we time the ring, as they ran it.
"""

from __future__ import annotations

import numpy as np

from workers.quantizers.compressors.base import Compressor, Message, Transfer


def matrix_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The matrix PowerSGD compresses for a tensor: (out, the rest) for 2 or more dimensions, as the authors' code.

    Example:
        >>> matrix_shape((64, 3, 7, 7)), matrix_shape((10,))
        ((64, 147), (10,))
    """
    return tuple(shape) if len(shape) < 2 else (int(shape[0]), int(np.prod(shape[1:])))


def is_compressed(shape: tuple[int, ...], rank: int) -> bool:
    """True if PowerSGD compresses this (matrix) shape: r (rows + cols) < rows cols."""
    return len(shape) == 2 and rank * (shape[0] + shape[1]) < shape[0] * shape[1]


def powersgd_floats(shapes: list[tuple[int, ...]], rank: int) -> tuple[int, int]:
    """Floats per worker of the two all-reduces: (every P and the uncompressed tensors, every Q).

    Example (rank 2: a 64 x 147 conv matrix gives P 64 x 2 and Q 147 x 2; a 64-bias travels whole):
        >>> powersgd_floats([(64, 3, 7, 7), (64,)], 2)
        (192, 294)
    """
    first = second = 0
    for shape in map(matrix_shape, shapes):
        if is_compressed(shape, rank):
            first += shape[0] * rank
            second += shape[1] * rank
        else:
            first += int(np.prod(shape))
    return first, second


def powersgd_transfers(shapes: list[tuple[int, ...]], rank: int) -> list[Transfer]:
    """The two float32 ring all-reduces of one step (the second omitted if nothing is compressed)."""
    first, second = powersgd_floats(shapes, rank)
    return [Transfer("ring", max(1, first), 32)] + ([Transfer("ring", second, 32)] if second else [])


class PowerSGD(Compressor):
    """PowerSGD of rank ``rank`` with error feedback; ``shapes`` gives each layer's tensor shape."""

    name = "powersgd"
    collective = "ring"
    switch_summable = False
    switch_reason = ("not as sent: P and Q are float32 sums (a switch adds integers); they are linear, so a "
                     "block-exponent scaling could carry them through one")
    unbiased = False

    def __init__(self, num_workers: int, layer_bounds: tuple[int, ...], seed: int = 0, *, rank: int = 2,
                 shapes: list[tuple[int, ...]] | None = None) -> None:
        super().__init__(num_workers, layer_bounds, seed)
        if not 1 <= rank <= 1024:
            raise ValueError(f"rank must be in 1..1024, got {rank!r}")
        sizes = np.diff(self.layer_bounds)
        shapes = [(int(s),) for s in sizes] if shapes is None else [tuple(int(v) for v in s) for s in shapes]
        if len(shapes) != len(sizes) or any(int(np.prod(s)) != z for s, z in zip(shapes, sizes, strict=True)):
            raise ValueError(f"shapes must match the layer sizes {sizes.tolist()}, got {shapes!r}")
        self.rank = rank
        self.shapes = [matrix_shape(s) for s in shapes]  # convolutions as (out, in x kh x kw), as the authors
        rng = np.random.default_rng([seed, 0x9057])
        #: layer index -> shared Q (cols x r), for the matrices worth compressing
        self.q = {i: rng.standard_normal((s[1], rank)) for i, s in enumerate(self.shapes) if is_compressed(s, rank)}
        self.residuals = np.zeros((num_workers, self.dim), np.float32)
        self._matrices: list[np.ndarray] = []

    def _plain_elements(self) -> int:
        return sum(int(np.prod(s)) for i, s in enumerate(self.shapes) if i not in self.q)

    def _low_rank_floats(self, side: int) -> int:
        return sum(self.shapes[i][side] * self.rank for i in self.q)

    def prepare(self, gradients: np.ndarray) -> dict[int, np.ndarray]:
        """First all-reduce: per compressed layer the orthonormalised mean of ``M_w Q`` (rows x r)."""
        self._matrices = list(gradients + self.residuals)
        p_hat = {}
        for i, q in self.q.items():
            lo, hi = self.layer_bounds[i], self.layer_bounds[i + 1]
            p = np.mean([m[lo:hi].reshape(self.shapes[i]).astype(np.float64) @ q for m in self._matrices], axis=0)
            p_hat[i] = np.linalg.qr(p)[0]
        return p_hat

    def prepare_transfers(self) -> list[Transfer]:
        """Ring all-reduce of every P and the uncompressed tensors (float32)."""
        return [Transfer("ring", max(1, self._low_rank_floats(0) + self._plain_elements()), 32)]

    def encode(self, gradient: np.ndarray, worker: int, step: int, shared: object) -> Message:
        """``M_w^T P̂`` per compressed layer and the uncompressed tensors; ``bits`` counts both rounds."""
        matrix = self._matrices[worker]
        qs = tuple(matrix[self.layer_bounds[i]:self.layer_bounds[i + 1]].reshape(self.shapes[i]).T.astype(np.float64)
                   @ p for i, p in shared.items())
        bits = 32 * (self._low_rank_floats(0) + self._low_rank_floats(1) + self._plain_elements())
        return Message((qs, matrix), bits)

    def decode(self, messages: list[Message], step: int, shared: object) -> np.ndarray:
        """``P̂ mean(Q)^T`` per compressed layer, the plain mean elsewhere; updates residuals and the warm start."""
        out = np.mean([m.payload[1] for m in messages], axis=0, dtype=np.float64)
        for j, (i, p) in enumerate(shared.items()):
            q = np.mean([m.payload[0][j] for m in messages], axis=0)
            lo, hi = self.layer_bounds[i], self.layer_bounds[i + 1]
            out[lo:hi] = (p @ q.T).ravel()
            self.q[i] = q
        approximation = out.astype(np.float32)
        for w, matrix in enumerate(self._matrices):
            residual = matrix - approximation
            keep = np.zeros(self.dim, bool)
            for i in self.q:
                keep[self.layer_bounds[i]:self.layer_bounds[i + 1]] = True
            self.residuals[w] = np.where(keep, residual, 0.0)
        return approximation

    def transfers(self, messages: list[Message]) -> list[Transfer]:
        """Second ring all-reduce: every Q (float32); none if nothing is compressed."""
        floats = self._low_rank_floats(1)
        return [Transfer("ring", floats, 32)] if floats else []
