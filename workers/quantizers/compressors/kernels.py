"""numba kernels of the compared compressors' encode and decode (one pass each, no temporaries).

Each kernel is the loop its compressor module describes, written once; uniforms come from
the counter-based stream of `workers.quantizers.rng` (the one IntSGD's randomized rounding
uses), element ``i`` of worker ``w`` at ``step`` taking ``U(stream_key(seed ^ salt, w, step), i)``,
so results do not depend on chunking and the NumPy references (`uniform`) reproduce them.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from workers.quantizers.rng import GAMMA, stream_key, uniform_pair_from_state

_GAMMA = np.uint64(GAMMA)
#: float32's smallest normal, the smallest power of two natural compression's 9-bit code carries.
_SMALLEST_NORMAL = 2.0**-126


def method_key(seed: int, salt: int, worker: int, step: int) -> np.uint64:
    """The stream key of one method's uniforms for (seed, worker, step); ``salt`` keeps methods apart."""
    return np.uint64(stream_key((seed ^ salt) & (2**64 - 1), worker, step))


@numba.njit(cache=True, inline="always")
def _uniform(key, i, pair):
    """U(key, i) for i visited in increasing order; ``pair`` caches the (even, odd) draw of i's pair."""
    if i & 1 == 0:
        even, odd = uniform_pair_from_state(key + np.uint64(i >> 1) * _GAMMA)
        pair[0] = even
        pair[1] = odd
        return even
    return pair[1]


@numba.njit(cache=True)
def omega_length(value):
    """Bits of the Elias omega code of ``value`` >= 1 (1 for value 1)."""
    length = 1
    while value > 1:
        width = 0
        rest = value
        while rest > 0:
            width += 1
            rest >>= 1
        length += width
        value = width - 1
    return length


@numba.njit(cache=True)
def qsgd_encode(g, bucket, levels_s, key, norms, levels, signs):
    """QSGD of float32 ``g`` in buckets: norms (float32), levels (int32), signs (bool); returns the exact bits.

    Bits per bucket: 32 + omega(nonzeros + 1) + per nonzero omega(distance) + 1 + omega(level).
    """
    d = g.shape[0]
    pair = np.empty(2, np.float64)
    bits = 0
    for b in range(norms.shape[0]):
        lo = b * bucket
        hi = min(d, lo + bucket)
        acc = 0.0
        for i in range(lo, hi):
            v = np.float64(g[i])
            acc += v * v
        norm = np.float64(np.float32(math.sqrt(acc)))
        norms[b] = np.float32(norm)
        nonzero = 0
        previous = lo - 1
        bucket_bits = 32
        for i in range(lo, hi):
            u = _uniform(key, i, pair)
            level = 0
            if norm > 0.0:
                ratio = levels_s * abs(np.float64(g[i])) / norm
                low = math.floor(ratio)
                level = int(low) + (1 if u < ratio - low else 0)
            levels[i] = level
            signs[i] = g[i] < 0
            if level > 0:
                nonzero += 1
                bucket_bits += omega_length(i - previous) + 1 + omega_length(level)
                previous = i
        bits += bucket_bits + omega_length(nonzero + 1)
    return bits


@numba.njit(cache=True)
def qsgd_accumulate(norms, levels, signs, bucket, levels_s, total):
    """``total += norm sign level / s`` for one gathered QSGD message (float64 ``total``)."""
    for i in range(levels.shape[0]):
        value = np.float64(norms[i // bucket]) * levels[i] / levels_s
        total[i] += -value if signs[i] else value


@numba.njit(cache=True, inline="always")
def _natural_bits(bits, u):
    """One float32 (as uint32 ``bits``) naturally rounded: exponent field E + (u < mantissa / 2**23), sign kept.

    For a normal x = (1 + M 2**-23) 2**(E-127) this sends 2**(E-126) with probability M 2**-23, else 2**(E-127);
    for a subnormal (E = 0) 2**-126 with probability M 2**-23 = |x| / 2**-126, else 0; zero stays zero.
    """
    mantissa = bits & np.uint32(0x7FFFFF)
    up = np.uint32(1) if u * 8388608.0 < mantissa else np.uint32(0)
    return (bits & np.uint32(0xFF800000)) + (up << np.uint32(23))


@numba.njit(cache=True)
def natural_encode(bits, key, out):
    """Natural compression of float32 values given as uint32 ``bits`` into ``out`` (uint32 bits of powers of two).

    Equal to `workers.quantizers.compressors.natural.natural_round` with the uniforms U(key, i).
    """
    n = bits.shape[0]
    pairs = n // 2
    for j in range(pairs):
        even, odd = uniform_pair_from_state(key + np.uint64(j) * _GAMMA)
        out[2 * j] = _natural_bits(bits[2 * j], even)
        out[2 * j + 1] = _natural_bits(bits[2 * j + 1], odd)
    if n & 1:
        even, odd = uniform_pair_from_state(key + np.uint64(pairs) * _GAMMA)
        out[n - 1] = _natural_bits(bits[n - 1], even)


@numba.njit(cache=True)
def add_float32(values, total):
    """``total += values`` (float64 ``total``; one gathered message of float32 values)."""
    for i in range(values.shape[0]):
        total[i] += values[i]


@numba.njit(cache=True)
def add_sparse(indices, values, total):
    """``total[indices] += values`` (float64 ``total``; one gathered top-k message)."""
    for j in range(indices.shape[0]):
        total[indices[j]] += values[j]


@numba.njit(cache=True)
def terngrad_encode(g, bounds, scales, key, out):
    """TernGrad: ``out[i] = sign(g_i) Bernoulli(|g_i| / s_layer)`` (int32), layers given by ``bounds``."""
    pair = np.empty(2, np.float64)
    for layer in range(bounds.shape[0] - 1):
        s = scales[layer]
        for i in range(bounds[layer], bounds[layer + 1]):
            u = _uniform(key, i, pair)
            x = np.float64(g[i])
            keep = s > 0.0 and u < abs(x) / s
            out[i] = (1 if x > 0 else -1 if x < 0 else 0) if keep else 0


@numba.njit(cache=True)
def sign_votes(packed, d, votes):
    """``votes[i] += 2 bit_i - 1`` over the rows of ``packed`` (n, ceil(d / 8)) uint8, bits big-endian per byte."""
    for w in range(packed.shape[0]):
        row = packed[w]
        for i in range(d):
            votes[i] += 2 * ((row[i >> 3] >> (7 - (i & 7))) & 1) - 1


@numba.njit(cache=True)
def sign_decode(votes, bounds, scales, out):
    """``out[i] = (+1 if votes[i] >= 0 else -1) * scales[layer]`` (float32; a tie votes +1)."""
    for layer in range(bounds.shape[0] - 1):
        s = scales[layer]
        for i in range(bounds[layer], bounds[layer + 1]):
            out[i] = s if votes[i] >= 0 else -s
