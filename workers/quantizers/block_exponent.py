"""SwitchML's block-floating-point quantizer (Sapio et al., NSDI 2021; the p4app-switchML client).

Per block of k elements (one packet, k = 64 or 256; the last block may be shorter):

1. **Local exponent**: ``e = biased_exp(max|x|) - 126``, so ``2**e > max|x|``;
   an all-zero (or subnormal-max) block gives ``e = -126``. The worker sends
   ``e`` in the packet's ``e0`` (int8), hence ``-126 <= e <= 127``: a block
   with ``max|x| >= 2**127``, Inf or NaN is rejected (upstream would wrap).
2. **Global exponent**: the switch returns ``E = max_w e_w`` (`global_exponents`).
3. **Quantize**: ``f = (2**31 - 1) / (n * 2**E)``, ``q = round(x * f)`` half away
   from zero. Since ``|x| < 2**E``, ``|q| <= (2**31 - 1) / n``, so the n-way
   int32 sum cannot overflow (for float32 x and n <= 32, ``|x f|`` stays at
   least 3.5 below the bound; results are still clipped to it, and counted).
4. **Dequantize**: ``y = sum / f``, the decoded sum over workers.

Differences from upstream (documented choices): ``f``, ``x * f`` and ``sum / f``
are computed in float64 (upstream: ``f`` stored as float32, product in
float32), so an all-zero block with ``E = -126`` has a finite ``f`` and
decodes to exactly 0 (upstream's float32 ``f`` is +inf there).

Error of the decoded sum, per element: ``<= n / (2 f) = n**2 * 2**E / (2 (2**31 - 1))``
from the n roundings, plus the float32 rounding of the output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

from switchsim.protocol import spec
from workers.quantizers._checks import need, need_array, need_int
from workers.quantizers._parallel import use_parallel
from workers.quantizers.base import Context, Encoded
from workers.quantizers.rounding import clip_value, round_half_away, round_half_away_reference
from workers.quantizers.scaling import divide_blocks

#: Exponent of an all-zero block (biased exponent 0).
MIN_EXPONENT = -126
#: Largest exponent an int8 ``e0`` can carry.
MAX_EXPONENT = 127
INT32_MAX = 2**31 - 1
_FLOAT32_ABS_MASK = 0x7FFFFFFF
#: Smallest |x| bit pattern whose exponent (128) does not fit int8: 2**127 (biased exponent 254).
_FIRST_BAD_BITS = (MAX_EXPONENT + 1 + 126) << 23
#: Blocks per prange chunk.
_BLOCKS_PER_CHUNK = 256


@numba.njit(cache=True)
def _max_abs_bits_span(bits, block, first, last, out):
    """Blocks ``first..last-1``: the largest ``bits & 0x7FFFFFFF`` (float32 |x| ordered as integers)."""
    n = bits.shape[0]
    for b in range(first, last):
        m = np.int32(0)
        for i in range(b * block, min(n, (b + 1) * block)):
            v = bits[i] & np.int32(_FLOAT32_ABS_MASK)
            m = v if v > m else m
        out[b] = m


@numba.njit(cache=True)
def _quantize_span(x, factors, block, bound, first, last, out):
    """Blocks ``first..last-1``: ``out = clip(round_half_away(x * f_b), bound)``; returns the clipped count."""
    n = x.shape[0]
    limit = np.float64(bound)
    clipped = 0
    for b in range(first, last):
        f = factors[b]
        for i in range(b * block, min(n, (b + 1) * block)):
            r = round_half_away(np.float64(x[i]) * f)
            kept = clip_value(r, limit)
            clipped += np.int64(kept != r)
            out[i] = np.int32(kept)
    return clipped


@numba.njit(cache=True, parallel=True)
def _max_abs_bits_parallel(bits, block, out):
    blocks = out.shape[0]
    chunks = (blocks + _BLOCKS_PER_CHUNK - 1) // _BLOCKS_PER_CHUNK
    for c in numba.prange(chunks):
        _max_abs_bits_span(bits, block, c * _BLOCKS_PER_CHUNK, min(blocks, (c + 1) * _BLOCKS_PER_CHUNK), out)


@numba.njit(cache=True, parallel=True)
def _quantize_parallel(x, factors, block, bound, out):
    blocks = factors.shape[0]
    chunks = (blocks + _BLOCKS_PER_CHUNK - 1) // _BLOCKS_PER_CHUNK
    counts = np.zeros(chunks, np.int64)
    for c in numba.prange(chunks):
        first = c * _BLOCKS_PER_CHUNK
        counts[c] = _quantize_span(x, factors, block, bound, first, min(blocks, first + _BLOCKS_PER_CHUNK), out)
    return counts.sum()


def _num_blocks(size: int, block_size: int) -> int:
    return -(-size // block_size)


def _exponents_from_max_bits(max_bits: np.ndarray) -> np.ndarray:
    bad = np.flatnonzero(max_bits >= _FIRST_BAD_BITS)
    if bad.size:
        value = np.array([max_bits[bad[0]]], np.int32).view(np.float32)[0]
        raise ValueError(
            f"tensor block {int(bad[0])} max |x| must be finite and < 2**127 (exponent in "
            f"{MIN_EXPONENT}..{MAX_EXPONENT}), got {value!r}"
        )
    return ((max_bits >> 23) - 126).astype(np.int8)


def block_exponents(tensor: np.ndarray, block_size: int = 64) -> np.ndarray:
    """Each block's exponent e with ``2**e > max|x|`` (``e = biased_exp(max|x|) - 126``), numba.

    Args:
        tensor: float32[d].
        block_size: k, elements per block (packet), one of spec.SUPPORTED_ELEMENTS_PER_PACKET.

    Returns:
        int8 array of ``ceil(d / k)`` exponents in -126..127.

    Raises:
        ValueError: naming the first block whose max is Inf, NaN or >= 2**127.
    """
    tensor = need_array("tensor", tensor, np.float32)
    need(
        "block_size",
        block_size,
        block_size in spec.SUPPORTED_ELEMENTS_PER_PACKET,
        f"one of {spec.SUPPORTED_ELEMENTS_PER_PACKET}",
    )
    max_bits = np.empty(_num_blocks(tensor.size, block_size), np.int32)
    bits = tensor.view(np.int32)
    if use_parallel(tensor.size, None):
        _max_abs_bits_parallel(bits, int(block_size), max_bits)
    else:
        _max_abs_bits_span(bits, int(block_size), 0, max_bits.size, max_bits)
    return _exponents_from_max_bits(max_bits)


def block_exponents_reference(tensor: np.ndarray, block_size: int = 64) -> np.ndarray:
    """NumPy reference of `block_exponents` via ``np.frexp`` (clamped at -126 for zero and subnormal maxima)."""
    tensor = need_array("tensor", tensor, np.float32)
    blocks = _num_blocks(tensor.size, block_size)
    padded = np.zeros(blocks * block_size, np.float32)
    padded[: tensor.size] = np.abs(tensor)
    m = padded.reshape(blocks, block_size).max(axis=1)
    _exponents_from_max_bits(m.view(np.int32))  # same range check and message
    _, e = np.frexp(m)
    return np.where(m > 0, np.maximum(e, MIN_EXPONENT), MIN_EXPONENT).astype(np.int8)


def global_exponents(per_worker: Sequence[np.ndarray]) -> np.ndarray:
    """What the switch returns in ``e0``: the element-wise max of the workers' exponents (int8)."""
    need("per_worker", len(per_worker), len(per_worker) >= 1, "a non-empty sequence of int8 arrays")
    return np.maximum.reduce([need_array("per_worker[i]", e, np.int8) for e in per_worker])


def scaling_factors(exponents: np.ndarray, num_workers: int) -> np.ndarray:
    """Per block ``f = (2**31 - 1) / (n * 2**E)`` (float64, integers per unit of x)."""
    need_int("num_workers", num_workers, 1, spec.MAX_WORKERS)
    return INT32_MAX / (num_workers * np.ldexp(1.0, exponents.astype(np.int64)))


@dataclass(frozen=True, slots=True)
class BlockExponent:
    """SwitchML block-exponent quantizer (implements `Quantizer`; shared state: global exponents).

    Attributes:
        block_size: k, elements per block (= per packet), one of spec.SUPPORTED_ELEMENTS_PER_PACKET.
    """

    block_size: int = 64

    def __post_init__(self) -> None:
        need(
            "BlockExponent.block_size",
            self.block_size,
            self.block_size in spec.SUPPORTED_ELEMENTS_PER_PACKET,
            f"one of {spec.SUPPORTED_ELEMENTS_PER_PACKET}",
        )

    def local_exponents(self, tensor: np.ndarray) -> np.ndarray:
        """This worker's per-block exponents (what it sends in ``e0``)."""
        return block_exponents(tensor, self.block_size)

    def encode(self, tensor: np.ndarray, context: Context[np.ndarray]) -> Encoded[np.ndarray]:
        """Quantize with the global exponents ``context.shared`` (int8, one per block).

        Raises:
            ValueError: the shared exponents are missing, mis-sized or below this worker's own
                (then ``|q|`` could exceed ``(2**31 - 1) / n`` and the sum overflow).
        """
        local = self.local_exponents(tensor)
        shared = context.shared
        ok = isinstance(shared, np.ndarray) and shared.dtype == np.int8 and shared.shape == local.shape
        need("Context.shared", type(shared).__name__, ok, f"an int8 ndarray of {local.size} global exponents")
        below = np.flatnonzero(shared < local)
        if below.size:
            i = int(below[0])
            raise ValueError(
                f"Context.shared[{i}] (global exponent) must be >= this worker's exponent {int(local[i])}, "
                f"got {int(shared[i])}"
            )
        factors = scaling_factors(shared, context.num_workers)
        out = np.empty(tensor.size, np.int32)
        bound = INT32_MAX // context.num_workers
        if use_parallel(tensor.size, None):
            clipped = _quantize_parallel(tensor, factors, self.block_size, bound, out)
        else:
            clipped = _quantize_span(tensor, factors, self.block_size, bound, 0, factors.size, out)
        return Encoded(out, shared.copy(), int(clipped))

    def decode(self, integer_sum: np.ndarray, metadata: np.ndarray, num_workers: int) -> np.ndarray:
        """The decoded sum ``integer_sum / f`` per block, float32[d]."""
        return self.decode_mean(integer_sum, metadata, num_workers, count=1)

    def decode_mean(self, integer_sum: np.ndarray, metadata: np.ndarray, num_workers: int,
                    count: int | None = None) -> np.ndarray:
        """``float32(integer_sum / f) / float32(count)`` per block in one pass (count: n by default, the mean)."""
        integer_sum = need_array("integer_sum", integer_sum, np.int32)
        blocks = _num_blocks(integer_sum.size, self.block_size)
        ok = isinstance(metadata, np.ndarray) and metadata.dtype == np.int8 and metadata.shape == (blocks,)
        need("metadata", type(metadata).__name__, ok, f"an int8 ndarray of {blocks} global exponents")
        out = np.empty(integer_sum.size, np.float32)
        divide_blocks(integer_sum, self.block_size, np.asarray(scaling_factors(metadata, num_workers), np.float64),
                      float(num_workers if count is None else count), out)
        return out


def quantize_reference(tensor: np.ndarray, exponents: np.ndarray, num_workers: int, block_size: int) -> np.ndarray:
    """NumPy reference of `BlockExponent.encode`'s integers (round half away from zero, no clip needed)."""
    f = np.repeat(scaling_factors(exponents, num_workers), block_size)[: tensor.size]
    return round_half_away_reference(tensor.astype(np.float64) * f).astype(np.int32)


def error_bound(exponents: np.ndarray, num_workers: int) -> np.ndarray:
    """Largest |decoded sum - exact sum| per block from rounding: n halves of a unit, ``n / (2 f)``."""
    return num_workers / (2 * scaling_factors(exponents, num_workers))


def pipelined_packets(
    integers: np.ndarray, exponents: np.ndarray, window: int, block_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """The packet stream of a float job, with the exponent round one window ahead.

    Packet p carries the integers of block p - W and the exponent of block p, so a
    job of B blocks sends B + W packets: the first W carry no data, the last W
    no exponent (``MIN_EXPONENT``, which never raises the switch's max).

    Args:
        integers: int32[d] quantized tensor (zero-padded here to whole blocks).
        exponents: int8[B] this worker's block exponents.
        window: W, outstanding packets.
        block_size: k.

    Returns:
        int32[(B + W) * k] data and int8[B + W, 2] exponent headers (``e0``; ``e1`` = 0).
    """
    blocks = len(exponents)
    data = np.zeros((blocks + window) * block_size, dtype=np.int32)
    data[window * block_size : window * block_size + len(integers)] = integers
    header = np.zeros((blocks + window, 2), dtype=np.int8)
    header[:blocks, 0] = exponents
    header[blocks:, 0] = MIN_EXPONENT
    return data, header
