"""Counter-based uniform random numbers: u = U(seed, worker, step, index), no state.

Randomized rounding needs one uniform per element. A sequential generator
(numba's ``np.random``, a NumPy ``Generator``) makes the result depend on how
the array is split across threads and costs a loop-carried state; here the
uniform of element ``index`` is a pure function of ``(seed, worker, step,
index)``, so any thread count or chunking gives the same bits and a
``numba.prange`` loop can compute it per element.

Design (SplitMix64-style):

1. **Stream key** (once per call, Python): ``key = mix64(mix64(seed ^ SEED_SALT)
   ^ (worker << 32 | step))`` with ``mix64`` the SplitMix64 finalizer. For one
   seed, distinct ``(worker, step)`` give distinct keys (``mix64`` is a bijection).
2. **Counter** (per pair of elements): element ``index`` belongs to pair
   ``j = index >> 1``, whose Weyl state is ``w = key + j * GAMMA mod 2**64``.
   A loop keeps ``w`` as an induction variable (``w += GAMMA``), so the compiler
   vectorizes it.
3. **Hash** (per pair): one 64-bit multiply-xorshift,
   ``z = (w ^ (w >> 32)) * MIX_MULTIPLIER mod 2**64``.
4. **Uniforms**: two 24-bit fields of ``z``: the even element takes
   ``k = z >> 40`` (bits 40..63), the odd one ``k = ((z ^ (z >> 40)) >> 16) mod 2**24``
   (bits 16..39, mixed with bits 56..63); ``u = (k + 1/2) / 2**24``, the
   midpoints of a 2**24-point grid in (0, 1). Kernels build ``1 + u`` with a
   bit cast (bits ``0x3FF0000008000000 | k << 28``), which avoids a slow
   int64 -> float64 conversion. Two uniforms per multiply halve the hashing
   per element (randomized rounding is RNG-bound): about +12 %
   elements/s over one hash per element, measured.

Properties: for one index, over random keys, ``z`` is exactly uniform on
2**64 values (every step is a bijection), so each field, and the pair of
fields, is exactly uniform: this is what makes randomized rounding unbiased.
Across indices the single multiply-xorshift is a light mix, checked with
chi-square tests on single values and lagged pairs and with variances of sums
(tests/quantizers/test_rng.py). It is not a cryptographic generator. Two
streams whose keys differ by ``j * GAMMA`` for small ``j`` overlap (shifted by
``2 j`` elements); for random keys the chance is about ``streams**2 * elements / 2**64``,
negligible among the workers of one step.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from workers.quantizers._checks import need_int
from workers.quantizers._parallel import use_parallel

#: Weyl increment: the 64-bit golden ratio (odd).
GAMMA = 0x9E3779B97F4A7C15
#: Multiplier of the per-pair hash (SplitMix64's first finalizer constant, odd).
MIX_MULTIPLIER = 0xBF58476D1CE4E5B9
#: Second SplitMix64 finalizer constant (stream key only).
MIX_MULTIPLIER_2 = 0x94D049BB133111EB
#: XORed into the seed before mixing, so seed 0 does not start from state 0.
SEED_SALT = 0x5851F42D4C957F2D
#: Random bits per uniform.
UNIFORM_BITS = 24
#: Largest seed, worker and step accepted.
MAX_SEED = 2**64 - 1
MAX_WORKER = 2**32 - 1
MAX_STEP = 2**32 - 1

_MASK64 = 2**64 - 1
_GAMMA = np.uint64(GAMMA)
_MUL = np.uint64(MIX_MULTIPLIER)
_SHIFT_32 = np.uint64(32)
_SHIFT_40 = np.uint64(40)
_SHIFT_12 = np.uint64(12)
#: Bits 28..51: where ``k`` (bits 40..63 of z) lands after ``z >> 12``.
_FRACTION_MASK = np.uint64(0x000FFFFFF0000000)
#: Exponent of 1.0 plus the half-step bit 27: ``1 + (k + 1/2) / 2**24``.
_ONE_PLUS_HALF_STEP = np.uint64(0x3FF0000008000000)


def mix64(z: int) -> int:
    """SplitMix64 finalizer of a 64-bit integer (a bijection on 0..2**64-1).

    Example:
        >>> hex(mix64(0))
        '0x0'
        >>> hex(mix64(1))
        '0x5692161d100b05e5'
    """
    z &= _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * MIX_MULTIPLIER_2) & _MASK64
    return z ^ (z >> 31)


def stream_key(seed: int, worker: int, step: int) -> int:
    """The 64-bit key of the stream of ``(seed, worker, step)``.

    Args:
        seed: experiment seed, 0..2**64-1.
        worker: worker rank, 0..2**32-1.
        step: training step (iteration), 0..2**32-1.

    Returns:
        The key as a Python int in 0..2**64-1; kernels take it as ``np.uint64``.

    Raises:
        ValueError: naming the argument, its range and the value when one is out of range.
    """
    need_int("seed", seed, 0, MAX_SEED)
    need_int("worker", worker, 0, MAX_WORKER)
    need_int("step", step, 0, MAX_STEP)
    return mix64(mix64(int(seed) ^ SEED_SALT) ^ ((int(worker) << 32) | int(step)))


@intrinsic
def _bits_as_float64(typingctx, bits):
    """Reinterpret a uint64 as the float64 with the same bits (no conversion)."""
    sig = types.float64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@numba.njit(cache=True)
def uniform_pair_from_state(w):
    """The two uniforms in (0, 1) of Weyl state ``w`` (uint64): (even element, odd element).

    Kernels call this with ``w`` kept as an induction variable (``w += GAMMA``).
    """
    z = (w ^ (w >> _SHIFT_32)) * _MUL
    even = _bits_as_float64(((z >> _SHIFT_12) & _FRACTION_MASK) | _ONE_PLUS_HALF_STEP) - 1.0
    # bits 16..39 (xor bits 56..63) moved to 28..51; the xor also keeps LLVM from
    # folding the shift into a second multiply
    odd = _bits_as_float64((((z ^ (z >> _SHIFT_40)) << _SHIFT_12) & _FRACTION_MASK) | _ONE_PLUS_HALF_STEP) - 1.0
    return even, odd


@numba.njit(cache=True)
def counter_uniform(key, index):
    """The uniform of element ``index`` (uint64) in the stream ``key`` (uint64)."""
    even, odd = uniform_pair_from_state(key + (index >> np.uint64(1)) * _GAMMA)
    return odd if index & np.uint64(1) else even


@numba.njit(cache=True)
def fill_uniform_span(key, offset, out):
    """Serial kernel: ``out[i] = U(key, offset + i)`` (pairs in the loop, odd ends scalar)."""
    n = out.shape[0]
    start = 0
    if n > 0 and offset & np.uint64(1):
        out[0] = counter_uniform(key, offset)
        start = 1
    pairs = (n - start) // 2
    w = key + ((offset + np.uint64(start)) >> np.uint64(1)) * _GAMMA
    body = out[start : start + 2 * pairs]
    for j in range(pairs):
        even, odd = uniform_pair_from_state(w)
        w += _GAMMA
        body[2 * j] = even
        body[2 * j + 1] = odd
    if start + 2 * pairs < n:
        out[n - 1] = counter_uniform(key, offset + np.uint64(n - 1))


@numba.njit(cache=True, parallel=True)
def _fill_uniform(key, offset, out):
    chunk = 1 << 16
    n = out.shape[0]
    for c in numba.prange((n + chunk - 1) // chunk):
        lo = c * chunk
        fill_uniform_span(key, offset + np.uint64(lo), out[lo : min(n, lo + chunk)])


def uniform(seed: int, worker: int, step: int, count: int, offset: int = 0) -> np.ndarray:
    """Uniforms of indices ``offset .. offset+count-1`` of a stream (numba; prange for large counts).

    Args:
        seed, worker, step: the stream, as in `stream_key`.
        count: number of values, >= 0.
        offset: index of the first value, >= 0.

    Returns:
        float64 array of ``count`` values in (0, 1), multiples of 2**-25.
    """
    need_int("count", count, 0, 2**62)
    need_int("offset", offset, 0, 2**62)
    out = np.empty(int(count), np.float64)
    key = np.uint64(stream_key(seed, worker, step))
    if use_parallel(out.size, None):
        _fill_uniform(key, np.uint64(offset), out)
    else:
        fill_uniform_span(key, np.uint64(offset), out)
    return out


def uniform_reference(seed: int, worker: int, step: int, index: np.ndarray) -> np.ndarray:
    """NumPy reference of the same uniforms: ``(k + 1/2) / 2**24`` with ``k`` the top hash bits.

    Args:
        seed, worker, step: the stream, as in `stream_key`.
        index: non-negative integer array of element indices.

    Returns:
        float64 array shaped like ``index``, bit-identical to the numba kernels.
    """
    key = np.uint64(stream_key(seed, worker, step))
    index = np.asarray(index)
    if index.size and (index.dtype.kind not in "iu" or index.min() < 0):
        raise ValueError(f"index must hold non-negative integers, got dtype {index.dtype}")
    index = index.astype(np.uint64)
    w = key + (index >> np.uint64(1)) * _GAMMA  # uint64 arrays wrap modulo 2**64
    z = (w ^ (w >> _SHIFT_32)) * _MUL
    even = z >> _SHIFT_40
    odd = ((z ^ (z >> _SHIFT_40)) >> np.uint64(16)) & np.uint64(2**UNIFORM_BITS - 1)
    k = np.where(index & np.uint64(1), odd, even)
    return (k.astype(np.float64) + 0.5) * 2.0**-UNIFORM_BITS


@numba.njit(cache=True)
def counter_word(key, index):
    """64 random bits of counter ``index`` (uint64) in the stream ``key`` (uint64): one multiply-xorshift.

    The hash of `counter_uniform` on a counter of its own (one word per index,
    not one per pair); the simulator draws synthetic elements from its high 32
    bits. ``counter_word(k, i)`` is a bijection of ``i`` for each key.
    """
    w = key + index * _GAMMA
    return (w ^ (w >> _SHIFT_32)) * _MUL
