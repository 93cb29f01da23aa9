"""When to use a prange kernel: large arrays only.

A numba parallel region costs tens of microseconds to start, and much more when
the cores are busy: an OpenMP region whose thread is descheduled waits a whole
scheduler quantum (about 24 ms was measured on the 2-core machine while another
process ran). Arrays below `PARALLEL_THRESHOLD` elements therefore use the serial
kernels by default; results are identical either way.
"""

from __future__ import annotations

#: Smallest array (elements) for which ``parallel=None`` picks the parallel kernel.
PARALLEL_THRESHOLD = 1 << 18


def use_parallel(size: int, parallel: bool | None) -> bool:
    """``parallel`` if given, else whether ``size`` reaches `PARALLEL_THRESHOLD`."""
    return size >= PARALLEL_THRESHOLD if parallel is None else bool(parallel)
