"""IntSGD: integers ``Int(alpha * g)`` with an adaptive alpha every worker computes alone.

IntSGD (Mishchenko, Wang, Kovalev, Richtárik, ICLR 2022) sends ``Int(alpha_k * g)``
and decodes the aggregated sum as ``sum / alpha_k``. The scale ``alpha_k`` is
derived from the previous model update, which every worker already has, so it
costs no communication:

    alpha_k = sqrt(d) / sqrt(2 n r_k + eps**2),   r_k = ||x^k - x^(k-1)||**2 / eta_k**2

(optionally ``r_k`` a moving average with weight ``beta``). Per layer (the
paper's "block" variant) layer i of d_i elements uses
``alpha_i = sqrt(d_i / (2 n r_i + (d_i / d) eps**2))``; one layer is the global case.

Overflow rule (`clip_range`, the authors' clamp): each worker clips its integers to

    [-floor(2**(a-1) / n), floor((2**(a-1) - 1) / n)]   (also within the b-bit wire range)

so the n-way sum fits an a-bit accumulator (``n * low >= -2**(a-1)``,
``n * high <= 2**(a-1) - 1``) and each value fits the b-bit wire. The most
negative level is kept: with n = 16 and a = b = 8 the range is [-8, 7]. The
default accumulator is the wire element that carries b bits (8, 16 or 32,
`switchsim.protocol.spec.container_bits`): the switch, like the authors' int8
all-reduce, returns the sum at that width. With ``safe=False`` the clip is only
the wire range ``[-2**(b-1), 2**(b-1) - 1]``, so the sum may overflow: that mode
exists to study overflow (`workers.quantizers.accumulate`).

Error of a decoded sum (no element clipped), per coordinate of layer i:
``< n / alpha_i`` with randomized rounding (each ``|Int(t) - t| < 1``; unbiased,
variance <= n / (4 alpha_i**2)), ``<= n / (2 alpha_i)`` with deterministic
rounding, plus the float32 rounding of the output.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from switchsim.protocol import spec
from workers.quantizers._checks import need, need_array, need_int
from workers.quantizers.base import Context, Encoded
from workers.quantizers.rounding import deterministic_round, randomized_round
from workers.quantizers.scaling import divide_layers, layer_sum_squares

Rounding = Literal["randomized", "deterministic"]
ROUNDINGS: tuple[str, ...] = ("randomized", "deterministic")
MIN_WIRE_BITS = 2
MIN_ACCUMULATOR_BITS = 8
MAX_BITS = 32


def clip_limit(num_workers: int, wire_bits: int, accumulator_bits: int, safe: bool = True) -> int:
    """The per-worker upper clip bound c (the largest integer a worker may send; see `clip_range`).

    Args:
        num_workers: n, 1..spec.MAX_WORKERS.
        wire_bits: b, 2..32.
        accumulator_bits: a, 8..32.
        safe: if True, also ensure ``n * c <= 2**(a-1) - 1`` (no overflow of the sum).

    Example:
        >>> clip_limit(16, 8, 8), clip_limit(16, 8, 32), clip_limit(16, 8, 8, safe=False)
        (7, 127, 127)
    """
    need_int("num_workers", num_workers, 1, spec.MAX_WORKERS)
    need_int("wire_bits", wire_bits, MIN_WIRE_BITS, MAX_BITS)
    need_int("accumulator_bits", accumulator_bits, MIN_ACCUMULATOR_BITS, MAX_BITS)
    wire = 2 ** (wire_bits - 1) - 1
    if not safe:
        return wire
    return min((2 ** (accumulator_bits - 1) - 1) // num_workers, wire)


def clip_range(num_workers: int, wire_bits: int, accumulator_bits: int, safe: bool = True) -> tuple[int, int]:
    """The per-worker clip range ``(low, high)``: results lie in ``[low, high]``.

    Safe: ``[-floor(2**(a-1) / n), floor((2**(a-1) - 1) / n)]`` within the wire range (IntSGD's
    clamp ``[-2**(b-1)/n, (2**(b-1)-1)/n]`` for a = b); unsafe: the wire range ``[-2**(b-1), 2**(b-1) - 1]``.

    Args:
        num_workers: n, 1..spec.MAX_WORKERS.
        wire_bits: b, 2..32.
        accumulator_bits: a, 8..32.
        safe: if True, the n-way sum of values in the range fits a bits.

    Example:
        >>> clip_range(16, 8, 8), clip_range(8, 8, 8), clip_range(16, 8, 8, safe=False)
        ((-8, 7), (-16, 15), (-128, 127))
    """
    high = clip_limit(num_workers, wire_bits, accumulator_bits, safe)
    if not safe:
        return -(2 ** (wire_bits - 1)), high
    return -min(2 ** (accumulator_bits - 1) // num_workers, 2 ** (wire_bits - 1)), high


def adaptive_alpha(sq_norm: float, eta: float, dim: int, num_workers: int, eps: float = 1e-8) -> float:
    """Global IntSGD scale ``sqrt(d) / sqrt(2 n ||dx||**2 / eta**2 + eps**2)``.

    Args:
        sq_norm: ``||x^k - x^(k-1)||**2`` (squared model units), or its moving average, >= 0.
        eta: learning rate eta_k, > 0.
        dim: d, elements of the model, >= 1.
        num_workers: n, >= 1.
        eps: epsilon (1 / units of x), > 0.

    Returns:
        alpha (integers per unit of gradient).

    Example:
        >>> adaptive_alpha(sq_norm=8.0, eta=1.0, dim=4, num_workers=1)  # sqrt(4 / (2 * 8))
        0.5
    """
    return float(layer_alphas(np.array([sq_norm], float), eta, np.array([dim]), num_workers, eps)[0])


def layer_alphas(
    sq_norms: np.ndarray, eta: float, sizes: np.ndarray, num_workers: int, eps: float = 1e-8
) -> np.ndarray:
    """Per-layer scales ``alpha_i = sqrt(d_i / (2 n r_i / eta**2 + (d_i / d) eps**2))``.

    Args:
        sq_norms: per layer ``||x_i^k - x_i^(k-1)||**2`` (or moving averages), >= 0.
        eta: learning rate, > 0.
        sizes: per layer d_i, >= 1 (d = sum).
        num_workers: n, >= 1.
        eps: epsilon, > 0.

    Returns:
        float64 array of alphas, one per layer.
    """
    sq_norms = np.asarray(sq_norms, np.float64)
    sizes = np.asarray(sizes, np.float64)
    need("sq_norms", sq_norms, bool(np.all(np.isfinite(sq_norms) & (sq_norms >= 0))), "finite and >= 0")
    need("sizes", sizes, sizes.shape == sq_norms.shape and bool(np.all(sizes >= 1)), "one value >= 1 per layer")
    need("eta", eta, 0 < eta < math.inf, "finite and > 0")
    need("eps", eps, 0 < eps < math.inf, "finite and > 0")
    need_int("num_workers", num_workers, 1, 2**31)
    d = sizes.sum()
    return np.sqrt(sizes / (2 * num_workers * sq_norms / eta**2 + (sizes / d) * eps**2))


@dataclass(frozen=True, slots=True)
class AlphaState:
    """The IntSGD state every worker holds identically: layer layout and scales.

    Attributes:
        bounds: layer boundaries ``0 = b_0 < b_1 < ... < b_L = d`` (element indices).
        alphas: alpha of each of the L layers (integers per unit of gradient), finite and > 0.
        mean_sq: per layer, the moving average of ``||dx_i||**2 / eta**2``; None before any update.
    """

    bounds: tuple[int, ...]
    alphas: tuple[float, ...]
    mean_sq: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        b = self.bounds
        need(
            "AlphaState.bounds",
            b,
            len(b) >= 2 and b[0] == 0 and all(isinstance(v, int) and v2 > v for v, v2 in itertools.pairwise(b)),
            "strictly increasing integers starting at 0, at least one layer",
        )
        need(
            "AlphaState.alphas",
            self.alphas,
            len(self.alphas) == len(b) - 1 and all(0 < a < math.inf for a in self.alphas),
            f"{len(b) - 1} finite values > 0 (one per layer)",
        )
        if self.mean_sq is not None:
            need(
                "AlphaState.mean_sq",
                self.mean_sq,
                len(self.mean_sq) == len(b) - 1 and all(0 <= r < math.inf for r in self.mean_sq),
                f"None or {len(b) - 1} finite values >= 0",
            )

    @property
    def dim(self) -> int:
        """d, elements of the model."""
        return self.bounds[-1]

    @property
    def sizes(self) -> np.ndarray:
        """d_i per layer (int64 array)."""
        return np.diff(np.asarray(self.bounds, np.int64))


@dataclass(frozen=True, slots=True)
class IntSGD:
    """IntSGD quantizer (implements `workers.quantizers.base.Quantizer` with shared `AlphaState`).

    Attributes:
        wire_bits: b, bits of one integer on the wire, 2..32.
        accumulator_bits: a, bits of the aggregator's accumulator, 8..32; None (default): the wire
            element width that carries b bits (8, 16 or 32), the width the switch returns the sum in.
        rounding: ``"randomized"`` (unbiased) or ``"deterministic"`` (half to even, as the authors' ``torch.round``).
        safe: clip so the n-way sum cannot overflow a bits (True), or only to the wire width (False).
        eps: epsilon of the alpha formula, > 0.
        beta: moving-average weight of ``r_k`` in 0 <= beta < 1 (the authors' default 0.9; 0: no averaging).
        initial_alpha: alpha before the first update (the paper's code uses 100), > 0.
    """

    wire_bits: int = 8
    accumulator_bits: int | None = None
    rounding: Rounding = "randomized"
    safe: bool = True
    eps: float = 1e-8
    beta: float = 0.9
    initial_alpha: float = 100.0

    def __post_init__(self) -> None:
        need_int("IntSGD.wire_bits", self.wire_bits, MIN_WIRE_BITS, MAX_BITS)
        if self.accumulator_bits is None:
            object.__setattr__(self, "accumulator_bits", spec.container_bits(self.wire_bits))
        need_int("IntSGD.accumulator_bits", self.accumulator_bits, MIN_ACCUMULATOR_BITS, MAX_BITS)
        need("IntSGD.rounding", self.rounding, self.rounding in ROUNDINGS, f"one of {ROUNDINGS}")
        need("IntSGD.safe", self.safe, isinstance(self.safe, bool), "True or False")
        need("IntSGD.eps", self.eps, 0 < self.eps < math.inf, "finite and > 0")
        need("IntSGD.beta", self.beta, 0 <= self.beta < 1, "in [0, 1)")
        need("IntSGD.initial_alpha", self.initial_alpha, 0 < self.initial_alpha < math.inf, "finite and > 0")

    def clip(self, num_workers: int) -> int:
        """The upper clip bound for n workers (`clip_limit` with this quantizer's widths and ``safe``)."""
        return clip_limit(num_workers, self.wire_bits, self.accumulator_bits, self.safe)

    def clip_range(self, num_workers: int) -> tuple[int, int]:
        """The clip range ``(low, high)`` for n workers (`clip_range` with this quantizer's widths and ``safe``)."""
        return clip_range(num_workers, self.wire_bits, self.accumulator_bits, self.safe)

    def initial_state(self, layout: int | Sequence[int]) -> AlphaState:
        """The state before any update: ``initial_alpha`` in every layer.

        Args:
            layout: d (one layer), or the layer boundaries ``(0, b_1, ..., d)``.
        """
        bounds = (0, int(layout)) if isinstance(layout, int | np.integer) else tuple(int(b) for b in layout)
        return AlphaState(bounds, (float(self.initial_alpha),) * (len(bounds) - 1))

    def next_state(self, state: AlphaState, delta: np.ndarray, eta: float, num_workers: int) -> AlphaState:
        """The state for the next step, from the model update every worker applied.

        Args:
            state: the current state.
            delta: ``x^k - x^(k-1)``, the update just applied (float array of d elements).
            eta: the learning rate of the next step, > 0.
            num_workers: n.

        Returns:
            New `AlphaState` with per-layer ``mean_sq`` (moving average with ``beta``) and alphas.
        """
        delta = np.asarray(delta)
        need("delta.size", delta.size, delta.size == state.dim, f"equal to the state's dimension {state.dim}")
        sums = np.empty(len(state.bounds) - 1, np.float64)
        layer_sum_squares(np.ascontiguousarray(delta.ravel()), np.asarray(state.bounds, np.int64), sums)
        sq = sums / float(eta) ** 2
        if state.mean_sq is not None:
            sq = self.beta * np.asarray(state.mean_sq) + (1 - self.beta) * sq
        # r is already divided by eta**2; layer_alphas divides by eta**2 again, so pass eta = 1.
        alphas = layer_alphas(sq, 1.0, state.sizes, num_workers, self.eps)
        return AlphaState(state.bounds, tuple(float(a) for a in alphas), tuple(float(r) for r in sq))

    def encode(self, tensor: np.ndarray, context: Context[AlphaState]) -> Encoded[AlphaState]:
        """``Int(alpha_i * g)`` per layer, clipped to `clip_range`; randomness from the context's stream.

        Args:
            tensor: float32[d], this worker's gradient.
            context: worker, n, step, seed; ``shared`` is the `AlphaState` of this step.

        Returns:
            `Encoded` with int32 integers, the state as metadata and the clipped count.
        """
        tensor = need_array("tensor", tensor, np.float32)
        state = context.shared
        need("Context.shared", type(state).__name__, isinstance(state, AlphaState), "an AlphaState")
        need("tensor.size", tensor.size, tensor.size == state.dim, f"equal to the state's dimension {state.dim}")
        low, high = self.clip_range(context.num_workers)
        out = np.empty(tensor.size, np.int32)
        clipped = 0
        for i, alpha in enumerate(state.alphas):
            lo, hi = state.bounds[i], state.bounds[i + 1]
            if self.rounding == "randomized":
                clipped += randomized_round(
                    tensor[lo:hi], alpha, context.seed, context.worker, context.step, high, out[lo:hi], offset=lo,
                    low=low,
                )
            else:
                clipped += deterministic_round(tensor[lo:hi], alpha, high, out[lo:hi], low=low)
        return Encoded(out, state, clipped)

    def decode(self, integer_sum: np.ndarray, metadata: AlphaState, num_workers: int) -> np.ndarray:
        """The decoded sum ``integer_sum / alpha_i`` per layer, float32[d] (divide by n for the mean)."""
        return self.decode_mean(integer_sum, metadata, num_workers, count=1)

    def decode_mean(self, integer_sum: np.ndarray, metadata: AlphaState, num_workers: int,
                    count: int | None = None) -> np.ndarray:
        """``float32(integer_sum / alpha_i) / float32(count)`` in one pass (count: n by default, the mean)."""
        integer_sum = need_array("integer_sum", integer_sum, np.int32)
        need("metadata", type(metadata).__name__, isinstance(metadata, AlphaState), "an AlphaState")
        need_int("num_workers", num_workers, 1, spec.MAX_WORKERS)
        need("integer_sum.size", integer_sum.size, integer_sum.size == metadata.dim, f"equal to {metadata.dim}")
        out = np.empty(integer_sum.size, np.float32)
        divide_layers(integer_sum, np.asarray(metadata.bounds, np.int64), np.asarray(metadata.alphas, np.float64),
                      float(num_workers if count is None else count), out)
        return out
