"""signSGD with majority vote (Bernstein, Zhao, Azizzadenesheli, Anandkumar, ICLR 2019).

Each worker sends sign(g) (1 bit per element, +1 for g >= 0) and, so that
the same learning rate as SGD applies, one float32 scale per layer: the mean
|g| of that layer (the scaled sign of Karimireddy et al., "Error Feedback Fixes
SignSGD", ICML 2019). Every worker computes the vote sign(sum_w sign(g_w))
and steps along vote x (mean over workers of the scales). A tie (sum 0, possible
for even n) votes **+1**: the same sign convention as each worker's own sign
(sign(0) = +1, "negative components to -1 and the others to 1", as GRACE, Xu et
al. 2021, describes signSGD), applied to the server's sign of the sum in
Algorithm 1 of Bernstein et al. (2019), so every coordinate moves each step.

Collective: all-gather of the packed signs. A switch could add the signs as
+-1 integers (the sum lies in [-n, n]), but only in 8-bit elements, 8 times
the 1 bit the all-gather carries; we time the all-gather, as the authors ran
majority vote through a parameter server / gather.
"""

from __future__ import annotations

import numpy as np

from workers.quantizers.compressors.base import Compressor, Message, Transfer, packed
from workers.quantizers.compressors.kernels import sign_decode, sign_votes


class SignSGD(Compressor):
    """signSGD, majority vote, per-layer mean-|g| scale."""

    name = "signsgd"
    collective = "allgather"
    switch_summable = False
    switch_reason = ("not as sent: 1-bit signs are below the switch's 8-bit element; as +-1 integers in int8 "
                     "elements it could sum them, at 8 times the bits")
    unbiased = False
    #: Signum (Bernstein et al., 2019, Algorithm 1 with momentum): each worker signs its own momentum.
    momentum_before_reduce = True

    def _layer_means(self, gradient: np.ndarray) -> np.ndarray:
        sums = np.add.reduceat(np.abs(gradient).astype(np.float64), np.asarray(self.layer_bounds[:-1]))
        return (sums / np.diff(self.layer_bounds)).astype(np.float32)

    def encode(self, gradient: np.ndarray, worker: int, step: int, shared: object) -> Message:
        """Packed sign bits and one float32 scale per layer; ``bits`` = d + 32 L."""
        signs = np.packbits(gradient >= 0)
        scales = self._layer_means(gradient)
        return Message((signs, scales), self.dim + 32 * scales.size)

    def decode(self, messages: list[Message], step: int, shared: object) -> np.ndarray:
        """Majority vote (a tie votes +1) times the mean scale, per layer."""
        votes = np.zeros(self.dim, np.int32)
        sign_votes(np.stack([m.payload[0] for m in messages]), self.dim, votes)
        scale = np.mean([m.payload[1] for m in messages], axis=0).astype(np.float32)
        out = np.empty(self.dim, np.float32)
        sign_decode(votes, np.asarray(self.layer_bounds, np.int64), scale, out)
        return out

    def transfers(self, messages: list[Message]) -> list[Transfer]:
        """All-gather of the largest message, packed in bytes."""
        return [packed(max(m.bits for m in messages))]
