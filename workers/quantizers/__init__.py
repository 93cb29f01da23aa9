"""Quantizers for in-network aggregation: float tensors to integers the switch can add.

Modules, one idea each:

* `base`: the common API (`Context`, `Encoded`, the `Quantizer` protocol);
* `rng`: counter-based uniforms U(seed, worker, step, index) for numba kernels;
* `rounding`: float32 -> int32 scaled rounding kernels (randomized, deterministic) with clipping;
* `intsgd`: IntSGD (adaptive alpha, overflow-safe clip);
* `block_exponent`: SwitchML's per-packet block-floating-point scaling;
* `identity`: int32 tensors as they are;
* `accumulate`: n-way integer sum at a bits, wrap or saturate, with exact counters.

See docs/quantizers.md.
"""

from workers.quantizers.accumulate import AccumulateResult, accumulate, accumulate_reference
from workers.quantizers.base import Context, Encoded, Quantizer
from workers.quantizers.block_exponent import BlockExponent, block_exponents, global_exponents
from workers.quantizers.identity import Identity
from workers.quantizers.intsgd import AlphaState, IntSGD, adaptive_alpha, clip_limit, clip_range, layer_alphas
from workers.quantizers.rng import stream_key, uniform, uniform_reference
from workers.quantizers.rounding import (
    deterministic_round,
    deterministic_round_reference,
    randomized_round,
    randomized_round_reference,
)

__all__ = [
    "AccumulateResult",
    "AlphaState",
    "BlockExponent",
    "Context",
    "Encoded",
    "Identity",
    "IntSGD",
    "Quantizer",
    "accumulate",
    "accumulate_reference",
    "adaptive_alpha",
    "block_exponents",
    "clip_limit",
    "clip_range",
    "deterministic_round",
    "deterministic_round_reference",
    "global_exponents",
    "layer_alphas",
    "randomized_round",
    "randomized_round_reference",
    "stream_key",
    "uniform",
    "uniform_reference",
]
