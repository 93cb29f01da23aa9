"""Argument checks shared by the quantizer modules: one message format everywhere.

Every error names the field, the allowed range and the value received, e.g.
``IntSGDConfig.wire_bits must be in 2..32, got 40``.
"""

from __future__ import annotations

import numpy as np


def need(name: str, value: object, ok: bool, allowed: str) -> None:
    """Raise ``ValueError("{name} must be {allowed}, got {value!r}")`` unless ``ok``."""
    if not ok:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


def need_int(name: str, value: object, low: int, high: int) -> None:
    """``value`` must be an integer (not a bool) in ``low..high`` inclusive."""
    is_int = isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
    need(name, value, is_int and low <= int(value) <= high, f"an integer in {low}..{high}")


def need_array(name: str, array: object, dtype: type, ndim: int = 1) -> np.ndarray:
    """``array`` must be a C-contiguous ndarray of ``dtype`` with ``ndim`` dimensions; returns it."""
    ok = (
        isinstance(array, np.ndarray)
        and array.dtype == np.dtype(dtype)
        and array.ndim == ndim
        and array.flags.c_contiguous
    )
    got = (
        f"{type(array).__name__}"
        if not isinstance(array, np.ndarray)
        else (f"ndarray(dtype={array.dtype}, ndim={array.ndim}, c_contiguous={array.flags.c_contiguous})")
    )
    if not ok:
        raise ValueError(f"{name} must be a C-contiguous {ndim}-D {np.dtype(dtype)} ndarray, got {got}")
    return array  # type: ignore[return-value]
