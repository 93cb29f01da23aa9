"""Compressors whose payload is integers a switch adds: IntSGD, the heuristic, SwitchML's block exponent, TernGrad.

All four send int32 values that fit their wire element (8 or 32 bits), the switch
sums them in an accumulator of that width (`workers.quantizers.accumulate`, wrap
on overflow, counted), and every worker decodes the sum with a scale it already
holds. What differs is where the scale comes from:

* **IntSGD** (Mishchenko, Wang, Kovalev, Richtárik, "IntSGD: Adaptive Floatless
  Compression of Stochastic Gradients", ICLR 2022): alpha from the previous model
  update, no extra communication; clip to ``[-2**(a-1)/n, (2**(a-1)-1)/n]``.
* **heuristic** (the paper's "Heuristic IntSGD", SwitchML-style): an extra MAX
  all-reduce of max|g| gives e = floor(log2 max), alpha = (2**(a-1) - 1) / (n 2**e)
  (for int8, 127 / (n 2**e), the authors' formula; capped at the wire's
  2**(b-1) - 1 below 8 bits); deterministic rounding and IntSGD's clip.
  `HeuristicSumInWire` is the earlier variant, alpha = (2**(b-1) - 1) / (n 2**e)
  (it squeezes the n-way sum into b bits whatever the accumulator).
* **block-exponent** (Sapio et al., "Scaling Distributed Machine Learning with
  In-Network Aggregation", NSDI 2021): per 64-element packet the switch returns
  the max of the workers' exponents one window ahead; int32 elements, f = (2**31-1)/(n 2**E).
* **terngrad** (Wen et al., "TernGrad: Ternary Gradients to Reduce Communication
  in Distributed Deep Learning", NeurIPS 2017) with a shared scale ("scalar
  sharing"): s = max over workers of max|g| per layer (an extra MAX all-reduce),
  each element sends sign(g) * Bernoulli(|g| / s) in {-1, 0, 1}; the sum lies in
  [-n, n] and fits int8.
"""

from __future__ import annotations

import math

import numpy as np

from switchsim.protocol import spec
from workers.quantizers.accumulate import accumulate
from workers.quantizers.base import Context
from workers.quantizers.block_exponent import BlockExponent, global_exponents
from workers.quantizers.compressors.base import Compressor, Message, Transfer
from workers.quantizers.compressors.kernels import method_key, terngrad_encode
from workers.quantizers.intsgd import AlphaState, IntSGD
from workers.quantizers.scaling import multiply_layers


def heuristic_budget(num_workers: int, wire_bits: int, accumulator_bits: int) -> float:
    """The heuristic's per-worker integer budget: ``(2**(a-1) - 1) / n`` unfloored, at most the wire's ``2**(b-1) - 1``.

    alpha = budget / 2**e; for int8 (a = b = 8) this is the authors' 127 / (n 2**e).

    Example:
        >>> heuristic_budget(16, 8, 8), heuristic_budget(8, 2, 8)
        (7.9375, 1)
    """
    return min((2 ** (accumulator_bits - 1) - 1) / num_workers, 2 ** (wire_bits - 1) - 1)


class _SwitchSum(Compressor):
    """Shared decode path: sum the workers' int32 payloads at ``accumulator_bits`` (wrap), as the switch does."""

    collective = "switch"
    switch_summable = True
    wire_bits = 8
    accumulator_bits = 8

    def sum_messages(self, messages: list[Message]) -> np.ndarray:
        """What the switch computes: the int32 sum of the payloads at ``accumulator_bits`` (wrap-around)."""
        rows = np.stack([m.payload[0] for m in messages])
        result = accumulate(rows, accumulator_bits=self.accumulator_bits, wire_bits=self.wire_bits, mode="wrap")
        self._overflowed = result.overflowed
        return result.total

    def finish(self, integer_sum: np.ndarray, shared: object) -> np.ndarray:
        """What each worker does with the switch's sum: the mean gradient float32[d]."""
        raise NotImplementedError

    def decode(self, messages: list[Message], step: int, shared: object) -> np.ndarray:
        """The switch sum, then `finish`."""
        return self.finish(self.sum_messages(messages), shared)

    def overflowed(self) -> int:
        """Elements whose switch sum overflowed in the last decode."""
        return getattr(self, "_overflowed", 0)

    def transfers(self, messages: list[Message]) -> list[Transfer]:
        """One switch all-reduce of d elements at the wire element width."""
        return [Transfer("switch", self.dim, spec.container_bits(self.wire_bits))]


class IntSGDRandom(_SwitchSum):
    """IntSGD with randomized rounding at b wire bits (default 8, the authors' int8), alpha global or per layer.

    Args:
        num_workers, layer_bounds, seed: as `Compressor`.
        wire_bits: b, 2..32; the switch element and accumulator are the narrowest of 8/16/32 holding b.
        per_layer: one alpha per tensor (the paper's block variant) instead of one for the model.
        beta, eps, initial_alpha: the authors' defaults 0.9, 1e-8, 100.
    """

    name = "intsgd-random"
    rounding = "randomized"
    switch_reason = ("yes: integers scaled by an alpha every worker already knows, clipped to [-2^(a-1)/n, "
                     "(2^(a-1)-1)/n] so the n-way sum fits the a-bit accumulator")
    unbiased = True

    def __init__(self, num_workers: int, layer_bounds: tuple[int, ...], seed: int = 0, *, wire_bits: int = 8,
                 per_layer: bool = False, beta: float = 0.9, eps: float = 1e-8, initial_alpha: float = 100.0) -> None:
        super().__init__(num_workers, layer_bounds, seed)
        self.wire_bits = wire_bits
        self.quantizer = IntSGD(wire_bits=wire_bits, rounding=self.rounding, beta=beta, eps=eps,
                                initial_alpha=initial_alpha)
        self.accumulator_bits = self.quantizer.accumulator_bits
        self.state = self.quantizer.initial_state(self.layer_bounds if per_layer else self.dim)

    def prepare(self, gradients: np.ndarray) -> AlphaState:
        """The alpha state every worker holds (no communication)."""
        return self.state

    def encode(self, gradient: np.ndarray, worker: int, step: int, shared: object) -> Message:
        """``Int(alpha g)`` clipped, as int32; ``bits`` = d x the wire element width."""
        encoded = self.quantizer.encode(gradient, Context(worker, self.num_workers, step, self.seed, shared))
        return Message((encoded.integers,), self.dim * spec.container_bits(self.wire_bits), encoded.clipped)

    def finish(self, integer_sum: np.ndarray, shared: object) -> np.ndarray:
        """Sum / alpha / n (one pass, `workers.quantizers.scaling.divide_layers`)."""
        return self.quantizer.decode_mean(integer_sum, shared, self.num_workers)

    def observe(self, delta: np.ndarray, learning_rate: float) -> None:
        """Advance alpha from the update every worker applied (moving average with beta)."""
        self.state = self.quantizer.next_state(self.state, delta, learning_rate, self.num_workers)


class IntSGDDeterministic(IntSGDRandom):
    """IntSGD with deterministic rounding (half to even, the authors' ``torch.round``); otherwise as `IntSGDRandom`."""

    name = "intsgd-deterministic"
    rounding = "deterministic"
    unbiased = False


class Heuristic(_SwitchSum):
    """SwitchML-style scaling from a MAX all-reduce, with IntSGD's per-worker integer budget.

    alpha = budget / 2**e, e = floor(log2 max_w max|g_w|), budget = (2**(a-1) - 1) / n (`budget`);
    deterministic rounding (half to even); IntSGD's clip range (the scaled max can reach 2 budget).
    """

    name = "heuristic"
    switch_reason = ("yes: integers at a scale from one extra MAX all-reduce, clipped as IntSGD's so the sum "
                     "fits the accumulator")
    unbiased = False

    def __init__(self, num_workers: int, layer_bounds: tuple[int, ...], seed: int = 0, *,
                 wire_bits: int = 8) -> None:
        super().__init__(num_workers, layer_bounds, seed)
        self.wire_bits = wire_bits
        self.quantizer = IntSGD(wire_bits=wire_bits, rounding="deterministic")
        self.accumulator_bits = self.quantizer.accumulator_bits

    def budget(self) -> float:
        """Per-worker integer budget, unfloored: ``(2**(a-1) - 1) / n``, at most the wire's ``2**(b-1) - 1``.

        For int8 this is the paper's alpha numerator, alpha = 127 / (n 2**e) (not floor(127 / n) / 2**e,
        which is 5.5 % lower at n = 8 and 11.8 % at n = 16).
        """
        return float(heuristic_budget(self.num_workers, self.wire_bits, self.accumulator_bits))

    def prepare(self, gradients: np.ndarray) -> AlphaState:
        """The MAX all-reduce of every worker's max|g| and the alpha from it."""
        largest = float(np.abs(gradients).max())
        exponent = math.floor(math.log2(largest)) if largest > 0 else 0
        return AlphaState((0, self.dim), (self.budget() / 2.0**exponent,))

    def prepare_transfers(self) -> list[Transfer]:
        """One float32 element through the switch (the MAX)."""
        return [Transfer("switch", 1, 32, per_model=False)]

    encode = IntSGDRandom.encode
    finish = IntSGDRandom.finish


class HeuristicSumInWire(Heuristic):
    """The earlier heuristic: alpha = (2**(b-1) - 1) / (n 2**e), the n-way sum squeezed into b bits."""

    name = "heuristic-sum-in-wire"

    def budget(self) -> float:
        """``(2**(b-1) - 1) / n`` per worker, whatever the accumulator."""
        return (2 ** (self.wire_bits - 1) - 1) / self.num_workers


class BlockExponentMethod(_SwitchSum):
    """SwitchML's block-floating-point quantizer as a training method (int32 elements, 64 per block)."""

    name = "block-exponent"
    wire_bits = 32
    accumulator_bits = 32
    switch_reason = ("yes: per packet the switch itself returns the max exponent, so every worker scales by "
                     "the same (2^31-1)/(n 2^E) and the int32 sum cannot overflow")
    unbiased = False

    def __init__(self, num_workers: int, layer_bounds: tuple[int, ...], seed: int = 0, *,
                 block_size: int = 64) -> None:
        super().__init__(num_workers, layer_bounds, seed)
        self.quantizer = BlockExponent(block_size)

    def prepare(self, gradients: np.ndarray) -> np.ndarray:
        """The switch's max of the workers' per-block exponents (carried in the packet headers)."""
        return global_exponents([self.quantizer.local_exponents(g) for g in gradients])

    def encode(self, gradient: np.ndarray, worker: int, step: int, shared: object) -> Message:
        """int32 integers; ``bits`` = 32 d plus one 8-bit exponent per block."""
        encoded = self.quantizer.encode(gradient, Context(worker, self.num_workers, step, self.seed, shared))
        return Message((encoded.integers,), 32 * self.dim + 8 * len(shared), encoded.clipped)

    def finish(self, integer_sum: np.ndarray, shared: object) -> np.ndarray:
        """Sum / f / n."""
        return self.quantizer.decode_mean(integer_sum, shared, self.num_workers)


class TernGrad(_SwitchSum):
    """TernGrad with a shared per-layer scale s (max over workers): values in {-1, 0, 1}, summed in int8."""

    name = "terngrad"
    switch_reason = ("yes: with the scale shared (one MAX all-reduce) the values are integers in {-1, 0, 1}; "
                     "the sum lies in [-n, n] and fits int8")
    unbiased = True

    def prepare(self, gradients: np.ndarray) -> np.ndarray:
        """Per layer, the max over workers of max|g| (float64[L])."""
        starts = np.asarray(self.layer_bounds[:-1])
        return np.maximum.reduceat(np.abs(gradients).max(axis=0), starts).astype(np.float64)

    def prepare_transfers(self) -> list[Transfer]:
        """The MAX all-reduce of one float32 per layer."""
        return [Transfer("switch", len(self.layer_bounds) - 1, 32, per_model=False)]

    def _scales(self, shared: np.ndarray) -> np.ndarray:
        return np.repeat(shared, np.diff(self.layer_bounds))

    def encode(self, gradient: np.ndarray, worker: int, step: int, shared: object) -> Message:
        """sign(g) * Bernoulli(|g| / s) as int32; ``bits`` = 2 d + 32 L, as TernGrad sends it on an all-gather.

        Two bits per ternary value and a float32 scale per layer (the paper's message); on the switch each
        value travels in an 8-bit (or, deployed, 32-bit) element: see `transfers`.
        """
        values = np.empty(self.dim, np.int32)
        terngrad_encode(gradient, np.asarray(self.layer_bounds, np.int64), np.asarray(shared, np.float64),
                        method_key(self.seed, 0x7E2, worker, step), values)
        return Message((values,), 2 * self.dim + 32 * (len(self.layer_bounds) - 1))

    def finish(self, integer_sum: np.ndarray, shared: object) -> np.ndarray:
        """s * sum / n (one pass, `workers.quantizers.scaling.multiply_layers`)."""
        out = np.empty(self.dim, np.float32)
        multiply_layers(integer_sum, np.asarray(self.layer_bounds, np.int64), np.asarray(shared, np.float64),
                        float(self.num_workers), out)
        return out
