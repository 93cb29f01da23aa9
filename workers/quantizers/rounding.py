"""Scaled rounding float32 -> int32 with clipping: numba kernels and NumPy references.

Both roundings compute ``t = float64(x) * alpha`` (float64, so ``t`` carries the
float32 input exactly and the product is rounded once, to 53 bits), round ``t``
to an integer, clip it to ``[low, clip]`` (``low = -clip`` unless given) and write int32 to ``out``:

* **randomized** ``Int(t) = floor(t + u)`` with ``u`` the counter-based uniform
  of the element (`workers.quantizers.rng`): ``floor(t) + 1`` with probability
  ``frac(t)`` up to the 2**-24 grid of ``u``: ``u`` sits on grid midpoints, so
  the grid adds at most 2**-25 of bias, and rounding ``t + u`` to 53 bits can
  move at most one grid point while ``|t| < 2**27``, so ``|E[Int(t)] - t| < 2**-23``
  there (int8..int16 wires are far inside). Variance ``frac(1 - frac) <= 1/4``.
* **deterministic**: round half **to even** (2.5 -> 2, 3.5 -> 4, -2.5 -> -2), as the IntSGD
  authors' ``torch.round``; computed as ``f = floor(t)``, ``d = t - f`` (exact for every
  double), ``f + 1`` if ``d > 1/2`` or (``d == 1/2`` and f odd), else ``f``.
  `round_half_away` (2.5 -> 3, -2.5 -> -3; SwitchML's ``std::round``, computed as
  ``trunc(t + copysign(0.5 - 2**-54, t))``, exact for every double) is kept for the
  block-exponent quantizer, which follows SwitchML's client.

Clipping: results beyond ``[low, clip]`` (``+-inf`` included) are set to the
bound and counted; every function returns that count. NaN inputs are counted
too and then rejected: the Python entry points raise ``ValueError`` naming the
first NaN index (checked only when the count is non-zero, so clean inputs pay
nothing).

Chunk and thread invariance: element ``i`` of ``x`` uses stream index
``offset + i``, so rounding ``x[a:b]`` with ``offset=a`` reproduces elements
``a..b-1`` of rounding the whole array, for any thread count.

The parallel kernels split the array into chunks of `CHUNK` elements under
``numba.prange``; the serial span kernels are the per-chunk loops (LLVM
vectorizes them: no loop-carried state except the Weyl counter induction).
"""

from __future__ import annotations

import numba
import numpy as np

from workers.quantizers._checks import need, need_array, need_int
from workers.quantizers._parallel import use_parallel
from workers.quantizers.rng import GAMMA, counter_uniform, stream_key, uniform_pair_from_state, uniform_reference

#: Elements per prange chunk (256 KiB of float32).
CHUNK = 1 << 16
#: Largest clip bound: int32 range.
MAX_CLIP = 2**31 - 1
#: ``nextafter(0.5, 0)``: ``trunc(t + copysign(HALF_DOWN, t))`` rounds half away from zero exactly.
HALF_DOWN = 0.49999999999999994

_GAMMA = np.uint64(GAMMA)


# --- scalar helpers (inlined into the loops) ------------------------------------


@numba.njit(cache=True)
def round_half_away(t):
    """Round a float64 to the nearest integer, ties away from zero (float64 result)."""
    return np.trunc(t + np.copysign(HALF_DOWN, t))


@numba.njit(cache=True)
def round_half_even(t):
    """Round a float64 to the nearest integer, ties to even (``torch.round``, ``np.rint``; float64 result)."""
    f = np.floor(t)
    d = t - f  # exact: t and floor(t) share the exponent range
    if d > 0.5 or (d == 0.5 and np.fmod(f, 2.0) != 0.0):
        return f + 1.0
    return f


@numba.njit(cache=True)
def clip_value(r, bound):
    """``r`` clipped to ``[-bound, bound]`` (NaN becomes ``-bound``)."""
    r = r if r > -bound else -bound
    return r if r < bound else bound


@numba.njit(cache=True)
def clip_between(r, low, high):
    """``r`` clipped to ``[low, high]`` (NaN becomes ``low``)."""
    r = r if r > low else low
    return r if r < high else high


# --- serial span kernels ---------------------------------------------------------


@numba.njit(cache=True)
def _randomized_one(x, i, alpha, u, low, high, out):
    """Round element ``i`` with uniform ``u``; returns 1 if clipped (used for odd ends)."""
    r = np.floor(np.float64(x[i]) * alpha + u)
    kept = clip_between(r, low, high)
    out[i] = np.int32(kept)
    return np.int64(kept != r)


@numba.njit(cache=True)
def randomized_round_span(x, alpha, key, offset, low, high, out):
    """Serial kernel: ``out[i] = clip(floor(alpha*x[i] + U(key, offset+i)), low, high)``; returns the clipped count.

    The loop handles element pairs (one hash each, see `workers.quantizers.rng`);
    an element whose pair straddles the span's ends is done alone.

    Args:
        x: float32[n] input.
        alpha: float64 scale (> 0).
        key: uint64 stream key (`workers.quantizers.rng.stream_key`).
        offset: uint64 stream index of ``x[0]``.
        low, high: float64 bounds of the result, ``-2**31 <= low <= 0 <= high <= 2**31 - 1``.
        out: int32[n] output.
    """
    n = x.shape[0]
    clipped = 0
    start = 0
    if n > 0 and offset & np.uint64(1):
        clipped += _randomized_one(x, 0, alpha, counter_uniform(key, offset), low, high, out)
        start = 1
    pairs = (n - start) // 2
    xs = x[start : start + 2 * pairs]
    outs = out[start : start + 2 * pairs]
    w = key + ((offset + np.uint64(start)) >> np.uint64(1)) * _GAMMA
    for j in range(pairs):
        even, odd = uniform_pair_from_state(w)
        w += _GAMMA
        r0 = np.floor(np.float64(xs[2 * j]) * alpha + even)
        r1 = np.floor(np.float64(xs[2 * j + 1]) * alpha + odd)
        k0 = clip_between(r0, low, high)
        k1 = clip_between(r1, low, high)
        clipped += np.int64(k0 != r0) + np.int64(k1 != r1)  # NaN too: k is low
        outs[2 * j] = np.int32(k0)
        outs[2 * j + 1] = np.int32(k1)
    if start + 2 * pairs < n:
        clipped += _randomized_one(x, n - 1, alpha, counter_uniform(key, offset + np.uint64(n - 1)), low, high, out)
    return clipped


@numba.njit(cache=True)
def deterministic_round_span(x, alpha, low, high, out):
    """Serial kernel: ``out[i] = clip(round_half_even(alpha*x[i]), low, high)``; returns the clipped count."""
    clipped = 0
    for i in range(x.shape[0]):
        r = round_half_even(np.float64(x[i]) * alpha)
        kept = clip_between(r, low, high)
        clipped += np.int64(kept != r)
        out[i] = np.int32(kept)
    return clipped


# --- parallel kernels ------------------------------------------------------------


@numba.njit(cache=True, parallel=True)
def randomized_round_parallel(x, alpha, key, offset, low, high, out):
    """`randomized_round_span` over chunks of `CHUNK` elements in ``numba.prange``."""
    n = x.shape[0]
    chunks = (n + CHUNK - 1) // CHUNK
    counts = np.zeros(chunks, np.int64)
    for c in numba.prange(chunks):
        lo = c * CHUNK
        hi = min(n, lo + CHUNK)
        counts[c] = randomized_round_span(x[lo:hi], alpha, key, offset + np.uint64(lo), low, high, out[lo:hi])
    return counts.sum()


@numba.njit(cache=True, parallel=True)
def deterministic_round_parallel(x, alpha, low, high, out):
    """`deterministic_round_span` over chunks of `CHUNK` elements in ``numba.prange``."""
    n = x.shape[0]
    chunks = (n + CHUNK - 1) // CHUNK
    counts = np.zeros(chunks, np.int64)
    for c in numba.prange(chunks):
        lo = c * CHUNK
        hi = min(n, lo + CHUNK)
        counts[c] = deterministic_round_span(x[lo:hi], alpha, low, high, out[lo:hi])
    return counts.sum()


# --- Python entry points ---------------------------------------------------------


def _check(x: np.ndarray, alpha: float, clip: int, out: np.ndarray, low: int | None = None) -> float:
    need_array("x", x, np.float32)
    need_array("out", out, np.int32)
    need("out.shape", out.shape, out.shape == x.shape, f"equal to x.shape = {x.shape}")
    need(
        "alpha",
        alpha,
        isinstance(alpha, float | int | np.floating | np.integer) and 0 < alpha < np.inf,
        "a finite number > 0",
    )
    need_int("clip", clip, 0, MAX_CLIP)
    if low is None:
        return -float(clip)
    need_int("low", low, -MAX_CLIP - 1, 0)
    return float(low)


def _reject_nan(x: np.ndarray, clipped: int) -> int:
    if clipped:
        nan = np.flatnonzero(np.isnan(x))
        if nan.size:
            raise ValueError(f"x must not contain NaN, got NaN at index {int(nan[0])} ({nan.size} in all)")
    return clipped


def randomized_round(
    x: np.ndarray,
    alpha: float,
    seed: int,
    worker: int,
    step: int,
    clip: int,
    out: np.ndarray,
    *,
    offset: int = 0,
    parallel: bool | None = None,
    low: int | None = None,
) -> int:
    """Randomized rounding ``out = clip(Int(alpha * x))`` with the stream of ``(seed, worker, step)``.

    Args:
        x: float32[n], C-contiguous.
        alpha: scale (integers per unit of x), finite and > 0.
        seed, worker, step: the random stream (`workers.quantizers.rng.stream_key`).
        clip: upper bound of the result, 0..2**31-1: results lie in ``[low, clip]``.
        out: int32[n], C-contiguous, written in place.
        offset: stream index of ``x[0]`` (pass ``a`` when rounding the slice ``x[a:b]``).
        parallel: True for the prange kernel, False for the serial one, None (default) for
            prange only from `workers.quantizers._parallel.PARALLEL_THRESHOLD` elements on.
            Results are identical.
        low: lower bound of the result, -2**31..0; None (default) for ``-clip``.

    Returns:
        Number of elements clipped (their unclipped result was outside ``[low, clip]``).

    Raises:
        ValueError: an argument is out of range (the message names it), or ``x`` holds NaN.
    """
    lower = _check(x, alpha, clip, out, low)
    need_int("offset", offset, 0, 2**62)
    key = np.uint64(stream_key(seed, worker, step))
    kernel = randomized_round_parallel if use_parallel(x.size, parallel) else randomized_round_span
    return _reject_nan(x, int(kernel(x, float(alpha), key, np.uint64(offset), lower, float(clip), out)))


def deterministic_round(
    x: np.ndarray, alpha: float, clip: int, out: np.ndarray, *, parallel: bool | None = None, low: int | None = None
) -> int:
    """Deterministic rounding ``out = clip(round_half_even(alpha * x))`` (ties to even, as ``torch.round``).

    Args:
        x: float32[n], C-contiguous.
        alpha: scale, finite and > 0.
        clip: upper bound of the result, 0..2**31-1.
        out: int32[n], C-contiguous, written in place.
        parallel: as in `randomized_round`.
        low: lower bound, -2**31..0; None (default) for ``-clip``.

    Returns:
        Number of elements clipped.

    Raises:
        ValueError: an argument is out of range (the message names it), or ``x`` holds NaN.
    """
    lower = _check(x, alpha, clip, out, low)
    kernel = deterministic_round_parallel if use_parallel(x.size, parallel) else deterministic_round_span
    return _reject_nan(x, int(kernel(x, float(alpha), lower, float(clip), out)))


# --- NumPy references ------------------------------------------------------------


def _clip_reference(r: np.ndarray, low: float, clip: int, out: np.ndarray) -> int:
    clipped = int(np.count_nonzero(~((r >= low) & (r <= clip))))
    r = np.where(np.isnan(r), low, r)  # as the kernels (the callers then reject NaN)
    np.copyto(out, np.clip(r, low, clip).astype(np.int32))
    return clipped


def randomized_round_reference(
    x: np.ndarray, alpha: float, seed: int, worker: int, step: int, clip: int, out: np.ndarray, *, offset: int = 0,
    low: int | None = None,
) -> int:
    """NumPy reference of `randomized_round`: the uniforms from `rng.uniform_reference`; bit-identical."""
    lower = _check(x, alpha, clip, out, low)
    need_int("offset", offset, 0, 2**62)
    u = uniform_reference(seed, worker, step, np.arange(offset, offset + x.size, dtype=np.uint64))
    r = np.floor(x.astype(np.float64) * float(alpha) + u)
    return _reject_nan(x, _clip_reference(r, lower, clip, out))


def round_half_away_reference(t: np.ndarray) -> np.ndarray:
    """Round half away from zero, written independently of the kernels' trick: ``sign(t) * (f + (|t| - f >= 1/2))``."""
    a = np.abs(t)
    f = np.floor(a)
    with np.errstate(invalid="ignore"):  # inf - inf: the comparison is False and inf stays inf
        return np.copysign(f + (a - f >= 0.5), t)


def round_half_even_reference(t: np.ndarray) -> np.ndarray:
    """Round half to even with NumPy's ``rint`` (IEEE round-to-nearest-even), independent of the kernels."""
    return np.rint(t)


def deterministic_round_reference(
    x: np.ndarray, alpha: float, clip: int, out: np.ndarray, *, low: int | None = None
) -> int:
    """NumPy reference of `deterministic_round`; bit-identical."""
    lower = _check(x, alpha, clip, out, low)
    r = round_half_even_reference(x.astype(np.float64) * float(alpha))
    return _reject_nan(x, _clip_reference(r, lower, clip, out))
