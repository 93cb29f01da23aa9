"""numba kernels of the hook's hot path (no torch): IntSGD's decode fused with the switch's wrap-around.

`decode_intsgd` reads the int32 sum of a bucket once and, per element, reduces it to the accumulator's
width (the switch returns the sum at that width, wrapping), counts the elements whose sum left that
range, writes the mean ``float32(float32(sum / alpha_p) / n)`` (the same float operations as
`workers.quantizers.intsgd.IntSGD.decode` followed by the division by n) and adds ``mean**2`` to the
parameter's squared norm (float64), which IntSGD's next alpha needs. One pass instead of five NumPy
temporaries.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def decode_intsgd(total, bits, alphas, bounds, workers, out, squares):
    """Decode a bucket's integer sum in place of ``out``; return the count of overflowed elements.

    Args:
        total: int32[d], the int32 (wrap-around) sum over the ranks.
        bits: the accumulator's width a, 8..32: the sum is taken modulo 2**a, as a signed value.
        alphas: float64[P], alpha of each parameter tensor.
        bounds: int64[P + 1], the tensors' boundaries in the bucket.
        workers: n.
        out: float32[d], the mean gradient (may be the bucket's own buffer).
        squares: float64[P], receives each tensor's ``sum(mean**2)``.

    Example:
        >>> out, squares = np.zeros(3, np.float32), np.zeros(1)
        >>> decode_intsgd(np.array([130, 4, -2], np.int32), 8, np.array([2.0]), np.array([0, 3]), 2, out, squares)
        1
        >>> out.tolist(), squares.tolist()   # 130 wraps to -126 in an 8-bit accumulator
        ([-31.5, 1.0, -0.5], [993.5])
    """
    half = np.int64(1) << np.int64(bits - 1)
    mask = (np.int64(1) << np.int64(bits)) - np.int64(1)
    n = np.float32(workers)
    overflowed = 0
    for p in range(alphas.shape[0]):
        alpha = alphas[p]
        square = 0.0
        for i in range(bounds[p], bounds[p + 1]):
            value = np.int64(total[i])
            wrapped = ((value + half) & mask) - half
            overflowed += wrapped != value
            mean = np.float32(np.float32(wrapped / alpha) / n)
            out[i] = mean
            square += np.float64(mean) * np.float64(mean)
        squares[p] = square
    return overflowed
