"""numba kernels that turn an integer sum back into floats, and the per-layer squared norms of IntSGD's alpha.

One pass each, no temporaries; each equals the NumPy expression in its docstring bit for bit
(a float32 quotient of float32-representable values computed in float64 and rounded once
is the correctly rounded float32 quotient).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def divide_layers(integer_sum, bounds, divisors, count, out):
    """``out[i] = float32(float32(sum[i] / divisors[l]) / float32(count))`` for i in layer l (``bounds``)."""
    c = np.float64(np.float32(count))
    for layer in range(bounds.shape[0] - 1):
        divisor = divisors[layer]
        for i in range(bounds[layer], bounds[layer + 1]):
            value = np.float32(integer_sum[i] / divisor)
            out[i] = np.float32(np.float64(value) / c) if count != 1.0 else value


@numba.njit(cache=True)
def divide_blocks(integer_sum, block, divisors, count, out):
    """``divide_layers`` with equal blocks of ``block`` elements (the last may be shorter)."""
    c = np.float64(np.float32(count))
    n = integer_sum.shape[0]
    for b in range(divisors.shape[0]):
        divisor = divisors[b]
        for i in range(b * block, min(n, (b + 1) * block)):
            value = np.float32(integer_sum[i] / divisor)
            out[i] = np.float32(np.float64(value) / c) if count != 1.0 else value


@numba.njit(cache=True)
def multiply_layers(integer_sum, bounds, scales, count, out):
    """``out[i] = float32(scales[l] * sum[i] / count)`` for i in layer l (float64 arithmetic)."""
    for layer in range(bounds.shape[0] - 1):
        scale = scales[layer]
        for i in range(bounds[layer], bounds[layer + 1]):
            out[i] = np.float32(scale * integer_sum[i] / count)


@numba.njit(cache=True)
def layer_sum_squares(x, bounds, out):
    """``out[l] = sum of float64(x[i])**2`` over layer l (float64 accumulation, in index order)."""
    for layer in range(bounds.shape[0] - 1):
        acc = 0.0
        for i in range(bounds[layer], bounds[layer + 1]):
            v = np.float64(x[i])
            acc += v * v
        out[layer] = acc
