"""SwitchML's block-floating-point scaling of float32 tensors (protocol reference §3).

Per block of k elements (one packet): ``m = max|x|`` and the block exponent
``e = frexp(m).exponent`` (= biased exponent - 126), so ``2**e > m``; the
worker sends ``e`` in ``e0``. The switch returns ``E = max_w e_w``. Every
worker then scales by ``f = INT32_MAX / (n * 2**E)`` and rounds half away from
zero, so ``|q| <= INT32_MAX / n`` and the n-way int32 sum cannot overflow;
the sum is decoded as ``sum / f``.

The exponent round is pipelined one window ahead: a float job sends W extra
packets; packet p carries the data of block p - W and the exponent of block p
(`pipelined_packets`).

All functions are vectorized numpy over whole tensors (no per-element Python).
"""

from __future__ import annotations

import numpy as np

INT32_MAX = np.iinfo(np.int32).max


def block_exponents(tensor: np.ndarray, elements_per_packet: int) -> np.ndarray:
    """int8 exponent of each k-element block of a float32 tensor (zero-padded to whole blocks).

    An all-zero block gets the smallest exponent, -128, so it never raises the max.
    """
    blocks = _blocks(tensor, elements_per_packet)
    peak = np.abs(blocks).max(axis=1)
    _, exponent = np.frexp(peak)
    exponent = np.where(peak > 0, exponent, -128)
    if not np.all(np.isfinite(peak)):
        raise ValueError("tensor holds Inf or NaN: block exponents are undefined")
    return np.clip(exponent, -128, 127).astype(np.int8)


def scale_factors(max_exponents: np.ndarray, num_workers: int) -> np.ndarray:
    """f = INT32_MAX / (n * 2**E) per block (float64)."""
    return INT32_MAX / (num_workers * np.exp2(max_exponents.astype(np.float64)))


def quantize(tensor: np.ndarray, max_exponents: np.ndarray, num_workers: int, elements_per_packet: int) -> np.ndarray:
    """int32 blocks of ``round(x * f)``, half away from zero; shape (blocks * k,)."""
    blocks = _blocks(tensor, elements_per_packet).astype(np.float64)
    scaled = blocks * scale_factors(max_exponents, num_workers)[:, None]
    rounded = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)
    return rounded.astype(np.int32).reshape(-1)


def dequantize(integer_sum: np.ndarray, max_exponents: np.ndarray, num_workers: int, elements_per_packet: int,
               elements: int) -> np.ndarray:
    """float32 tensor of ``sum / f`` for the first ``elements`` elements."""
    blocks = integer_sum.reshape(-1, elements_per_packet).astype(np.float64)
    values = blocks / scale_factors(max_exponents, num_workers)[:, None]
    return values.reshape(-1)[:elements].astype(np.float32)


def error_bound(max_exponents: np.ndarray, num_workers: int) -> np.ndarray:
    """Largest |decoded - exact sum| per block: n roundings of at most 1/2 unit each, i.e. n / (2 f)."""
    return num_workers / (2 * scale_factors(max_exponents, num_workers))


def pipelined_packets(integers: np.ndarray, exponents: np.ndarray, window: int,
                      elements_per_packet: int) -> tuple[np.ndarray, np.ndarray]:
    """The W-ahead packet stream: packet p carries block p - W's integers and block p's exponent.

    Returns int32 data of (blocks + W) * k elements and int8 exponents (blocks + W, 2)
    (``e0`` = the block exponent, ``e1`` = 0); the first W packets carry no data,
    the last W no exponent (-128).
    """
    blocks = len(exponents)
    data = np.zeros((blocks + window) * elements_per_packet, dtype=np.int32)
    data[window * elements_per_packet:] = integers
    header = np.zeros((blocks + window, 2), dtype=np.int8)
    header[:blocks, 0] = exponents
    header[blocks:, 0] = -128
    return data, header


def _blocks(tensor: np.ndarray, elements_per_packet: int) -> np.ndarray:
    tensor = np.asarray(tensor, dtype=np.float32).reshape(-1)
    count = max(1, -(-len(tensor) // elements_per_packet))
    padded = np.zeros(count * elements_per_packet, dtype=np.float32)
    padded[: len(tensor)] = tensor
    return padded.reshape(count, elements_per_packet)
