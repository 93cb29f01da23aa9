"""Integer accumulation of n workers' vectors at accumulator width a: wrap or saturate.

What an aggregator does with the integers (IntSGD paper §3; SwitchML, Sapio et al., NSDI 2021):

1. **Wire**: each element travels as a ``wire_bits``-bit two's-complement
   integer: the low b bits of the int32 value, **sign-extended** on arrival
   (a value that does not fit b bits is truncated, as a cast to int8 would;
   such elements are counted in ``truncated``).
2. **Accumulate** in worker order 0..n-1, starting from 0 (the switch's first
   contribution overwrites, which is the same), in an ``accumulator_bits``-bit
   register:

   * ``"wrap"``: two's-complement wrap-around modulo 2**a (what Tofino
     registers, bmv2 ``bit<32>`` and NCCL integer all-reduce do at a = 32);
   * ``"saturate"``: clamp to ``[-2**(a-1), 2**(a-1) - 1]`` after every addition.

Counters (all exact): ``overflowed`` = elements whose running sum left the
a-bit range at least once (an overflow event); ``mismatched`` = elements whose
result differs from the exact integer sum of the wire values (with wrap, an
element can overflow and still come back right); ``truncated`` = input
elements (worker, index) that did not fit the wire width.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np

from workers.quantizers._checks import need, need_array, need_int
from workers.quantizers._parallel import use_parallel

Mode = Literal["wrap", "saturate"]
MODES: tuple[str, ...] = ("wrap", "saturate")
MIN_ACCUMULATOR_BITS = 8
MAX_BITS = 32
MIN_WIRE_BITS = 2
#: Elements per prange chunk.
CHUNK = 1 << 14


@dataclass(frozen=True, slots=True, eq=False)
class AccumulateResult:
    """Result of `accumulate`.

    Attributes:
        total: int32[d], the accumulator contents (within the a-bit range).
        overflowed: elements whose running sum left the a-bit range at least once.
        mismatched: elements where ``total`` differs from the exact sum of the wire values.
        truncated: input elements that did not fit ``wire_bits`` (counted over all workers).
    """

    total: np.ndarray
    overflowed: int
    mismatched: int
    truncated: int


@numba.njit(cache=True)
def _accumulate_span(values, lo, hi, wire_bits, accumulator_bits, saturate, total):
    """Serial kernel over elements ``lo..hi-1``; returns (overflowed, mismatched, truncated)."""
    wire_mask = (np.int64(1) << wire_bits) - 1
    wire_sign = np.int64(1) << (wire_bits - 1)
    acc_mask = (np.int64(1) << accumulator_bits) - 1
    acc_sign = np.int64(1) << (accumulator_bits - 1)
    acc_max = acc_sign - 1
    acc_min = -acc_sign
    overflowed = 0
    mismatched = 0
    truncated = 0
    for i in range(lo, hi):
        acc = np.int64(0)
        exact = np.int64(0)
        event = False
        for w in range(values.shape[0]):
            v = np.int64(values[w, i])
            s = ((v & wire_mask) ^ wire_sign) - wire_sign
            truncated += s != v
            exact += s
            acc += s
            if acc > acc_max or acc < acc_min:
                event = True
                if saturate:
                    acc = acc_max if acc > acc_max else acc_min
                else:
                    acc = ((acc & acc_mask) ^ acc_sign) - acc_sign
        overflowed += event
        mismatched += acc != exact
        total[i] = np.int32(acc)
    return overflowed, mismatched, truncated


@numba.njit(cache=True, parallel=True)
def _accumulate_parallel(values, wire_bits, accumulator_bits, saturate, total):
    d = values.shape[1]
    chunks = (d + CHUNK - 1) // CHUNK
    counts = np.zeros((chunks, 3), np.int64)
    for c in numba.prange(chunks):
        lo = c * CHUNK
        o, m, t = _accumulate_span(values, lo, min(d, lo + CHUNK), wire_bits, accumulator_bits, saturate, total)
        counts[c, 0] = o
        counts[c, 1] = m
        counts[c, 2] = t
    return counts[:, 0].sum(), counts[:, 1].sum(), counts[:, 2].sum()


def _check(values: np.ndarray, accumulator_bits: int, wire_bits: int, mode: str) -> np.ndarray:
    values = need_array("values", values, np.int32, ndim=2)
    need("values.shape[0]", values.shape[0], values.shape[0] >= 1, ">= 1 (one row per worker)")
    need_int("accumulator_bits", accumulator_bits, MIN_ACCUMULATOR_BITS, MAX_BITS)
    need_int("wire_bits", wire_bits, MIN_WIRE_BITS, MAX_BITS)
    need("mode", mode, mode in MODES, f"one of {MODES}")
    return values


def accumulate(
    values: np.ndarray,
    *,
    accumulator_bits: int = 32,
    wire_bits: int = 32,
    mode: Mode = "wrap",
    parallel: bool | None = None,
) -> AccumulateResult:
    """Sum the rows of ``values`` (one per worker) as an a-bit integer aggregator would.

    Args:
        values: int32[n, d], C-contiguous: worker w's integers in row w.
        accumulator_bits: a, the register width, 8..32.
        wire_bits: b, the element width on the wire, 2..32 (values are sign-extended from b bits).
        mode: ``"wrap"`` (two's complement) or ``"saturate"``.
        parallel: prange kernel (True), serial (False) or by size (None, see `workers.quantizers._parallel`).

    Returns:
        `AccumulateResult` with the int32 sum and the exact counters.

    Example:
        >>> r = accumulate(np.array([[100, -100], [100, -100]], np.int32), accumulator_bits=8, wire_bits=8)
        >>> r.total.tolist(), r.overflowed, r.mismatched
        ([-56, 56], 2, 2)
    """
    values = _check(values, accumulator_bits, wire_bits, mode)
    total = np.empty(values.shape[1], np.int32)
    args = (int(wire_bits), int(accumulator_bits), mode == "saturate", total)
    if use_parallel(values.size, parallel):
        o, m, t = _accumulate_parallel(values, *args)
    else:
        o, m, t = _accumulate_span(values, 0, values.shape[1], *args)
    return AccumulateResult(total, int(o), int(m), int(t))


def accumulate_reference(
    values: np.ndarray, *, accumulator_bits: int = 32, wire_bits: int = 32, mode: Mode = "wrap"
) -> AccumulateResult:
    """NumPy reference of `accumulate` (vectorized over elements, a loop over workers)."""
    values = _check(values, accumulator_bits, wire_bits, mode)
    a, b = int(accumulator_bits), int(wire_bits)
    v = values.astype(np.int64)
    s = (v + 2 ** (b - 1)) % 2**b - 2 ** (b - 1)  # sign-extend the low b bits
    low, high = -(2 ** (a - 1)), 2 ** (a - 1) - 1
    acc = np.zeros(values.shape[1], np.int64)
    event = np.zeros(values.shape[1], bool)
    for row in s:
        acc = acc + row
        out = (acc < low) | (acc > high)
        event |= out
        acc = np.clip(acc, low, high) if mode == "saturate" else (acc - low) % 2**a + low
    exact = s.sum(axis=0)
    return AccumulateResult(
        acc.astype(np.int32),
        int(event.sum()),
        int(np.count_nonzero(acc != exact)),
        int(np.count_nonzero(s != v)),
    )
