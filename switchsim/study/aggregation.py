"""How n workers' float32 gradients become one averaged gradient: exactly, or as integers a switch adds.

Methods (IntSGD, Mishchenko et al., ICLR 2022, and its heuristic baseline):

* ``float32``: the exact mean (what float32 SGD over an all-reduce gets);
* ``intsgd-random`` / ``intsgd-deterministic``: IntSGD, ``Int(alpha g)`` with
  randomized or deterministic rounding; alpha adaptive, computed by every worker
  from the previous model update (global, or per layer with ``per_layer``);
  the first step uses IntSGD's ``initial_alpha`` (100, as the paper's code);
* ``heuristic``: SwitchML-style scaling ("Heuristic IntSGD"): an extra
  all-reduce of max|g| gives e = floor(log2 max), alpha = c / 2^e with
  c = (2^(a-1) - 1) / n unfloored (127 / n for int8, the authors' formula; at most
  the wire's 2^(b-1) - 1; `workers.quantizers.compressors.integer_methods.heuristic_budget`),
  deterministic rounding (half to even) and IntSGD's clip;
* ``heuristic-sum-in-wire``: the earlier variant, alpha = (2^(b-1) - 1) / (n 2^e):
  it squeezes the n-way sum into b bits even when the accumulator is wider,
  so at b <= 4 bits it sends far fewer levels per worker than IntSGD may.

Integers of b wire bits travel in the narrowest wire element that holds them
(8, 16 or 32 bits, `switchsim.protocol.spec.container_bits`), and the switch
returns the sum at that width, so the accumulator has a = that width unless
set. With ``safe`` clipping each worker clips to ``min((2^(a-1) - 1) // n,
2^(b-1) - 1)`` and the n-way sum cannot overflow; without it, only to the wire.

With ``through_pipeline`` the integers are also all-reduced by the real
SwitchML worker protocol and switch pipeline (`switchsim.memory_loop`), whose
result must equal the accumulator's (an end-to-end check; slower).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from switchsim.protocol import spec
from switchsim.protocol.codec import to_wire_width
from workers.quantizers.accumulate import accumulate
from workers.quantizers.base import Context
from workers.quantizers.intsgd import AlphaState, IntSGD

METHODS: tuple[str, ...] = ("float32", "intsgd-random", "intsgd-deterministic", "heuristic", "heuristic-sum-in-wire")


@dataclass(frozen=True, slots=True)
class StepStats:
    """What one aggregation did: elements clipped at the workers, elements whose sum overflowed, mean alpha."""

    clipped: int = 0
    overflowed: int = 0
    alpha: float = math.nan


class Aggregator:
    """Averages n workers' gradients by ``method`` at ``wire_bits``; holds the IntSGD alpha state.

    Args:
        method: one of `METHODS`.
        wire_bits: b, bits per integer on the wire, 2..32 (ignored for float32).
        num_workers: n, 1..32.
        layer_bounds: tensor boundaries of the flat parameter vector (0, ..., d).
        accumulator_bits: a, 8..32; None = the wire element width holding b bits.
        safe: clip so the sum cannot overflow a bits.
        per_layer: one alpha per tensor instead of one for the model.
        through_pipeline: also all-reduce through the SwitchML protocol + pipeline and compare.
        seed: seeds the randomized rounding (with worker and step).
    """

    def __init__(self, method: str, wire_bits: int, num_workers: int, layer_bounds: tuple[int, ...], *,
                 accumulator_bits: int | None = None, safe: bool = True, per_layer: bool = False,
                 through_pipeline: bool = False, seed: int = 0) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        self.method = method
        self.wire_bits = wire_bits
        self.num_workers = num_workers
        self.element_bits = spec.container_bits(wire_bits)
        self.accumulator_bits = self.element_bits if accumulator_bits is None else accumulator_bits
        if through_pipeline and self.accumulator_bits not in spec.WIRE_ELEMENT_BITS:
            raise ValueError(f"accumulator_bits must be one of {spec.WIRE_ELEMENT_BITS} with through_pipeline "
                             f"(the switch returns sums at a wire element width), got {self.accumulator_bits}")
        self.through_pipeline = through_pipeline
        self.seed = seed
        self.dim = layer_bounds[-1]
        rounding = "randomized" if method == "intsgd-random" else "deterministic"
        self.quantizer = IntSGD(wire_bits=wire_bits, accumulator_bits=self.accumulator_bits, rounding=rounding,
                                safe=safe)
        self.state = self.quantizer.initial_state(layer_bounds if per_layer else self.dim)

    def reduce(self, gradients: np.ndarray, step: int) -> tuple[np.ndarray, StepStats]:
        """The averaged gradient float32[d] of ``gradients`` (n, d) float32 at training step ``step``."""
        if self.method == "float32":
            return gradients.mean(axis=0, dtype=np.float64).astype(np.float32), StepStats()
        n = self.num_workers
        state = self._heuristic_state(gradients) if self.method.startswith("heuristic") else self.state
        encoded = [self.quantizer.encode(gradients[w], Context(worker=w, num_workers=n, step=step, seed=self.seed,
                                                                  shared=state)) for w in range(n)]
        integers = np.stack([e.integers for e in encoded])
        total = accumulate(integers, accumulator_bits=self.accumulator_bits, wire_bits=self.wire_bits, mode="wrap")
        if self.through_pipeline:
            self._check_pipeline(integers, total.total, step)
        mean = self.quantizer.decode(total.total, state, n) / np.float32(n)
        return mean, StepStats(sum(e.clipped for e in encoded), total.overflowed, float(np.mean(state.alphas)))

    def observe(self, delta: np.ndarray, learning_rate: float) -> None:
        """Advance IntSGD's alpha from the update ``x^(k+1) - x^k`` every worker just applied."""
        if self.method.startswith("intsgd"):
            self.state = self.quantizer.next_state(self.state, delta, learning_rate, self.num_workers)

    def heuristic_budget(self) -> float:
        """The integer one worker sends at max|g| = 2^e: `heuristic_budget` for ``heuristic``,
        ``(2^(b-1) - 1) / n`` for ``heuristic-sum-in-wire``."""
        from workers.quantizers.compressors.integer_methods import heuristic_budget

        if self.method == "heuristic-sum-in-wire":
            return (2 ** (self.wire_bits - 1) - 1) / self.num_workers
        return float(heuristic_budget(self.num_workers, self.wire_bits, self.quantizer.accumulator_bits))

    def _heuristic_state(self, gradients: np.ndarray) -> AlphaState:
        largest = float(np.abs(gradients).max())  # the extra all-reduce (MAX) of every worker's max|g|
        exponent = math.floor(math.log2(largest)) if largest > 0 else 0
        return AlphaState((0, self.dim), (self.heuristic_budget() / 2.0**exponent,))

    def _check_pipeline(self, integers: np.ndarray, expected: np.ndarray, step: int) -> None:
        from switchsim.memory_loop import run_in_memory

        result = run_in_memory(integers, window=16, elements_per_packet=64, job_number=step & 0xFF)
        received = to_wire_width(result.results, self.accumulator_bits)
        if not result.completed or not np.array_equal(received, np.broadcast_to(expected, received.shape)):
            raise RuntimeError(f"step {step}: the SwitchML pipeline's sum differs from the {self.accumulator_bits}-bit "
                               "accumulator's")
