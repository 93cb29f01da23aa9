"""Switch register state: one `SlotPool` of arrays per switch, sized by `SwitchConfig`.

Arithmetic semantics are stated here once: values are two's-complement int32
registers, added with wrap-around (as Tofino and bmv2 ``bit<32>`` registers
do); bitmaps are uint32 (one bit per worker); down-counters uint8; exponents
int8.

`SlotPool` is a NamedTuple of numpy arrays so that numba functions take it as
one argument and plain Python can read every register directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from switchsim.pipeline.tables import COUNTER_COLUMNS
from switchsim.protocol import spec

#: Slots the pool_index field can address (`spec.MAX_SLOTS`).
MAX_SLOTS = spec.MAX_SLOTS
#: One bitmap bit per worker (`spec.MAX_WORKERS`).
MAX_WORKERS = spec.MAX_WORKERS


@dataclass(frozen=True, slots=True)
class SwitchConfig:
    """Sizing and mode of one switch's aggregation pipeline.

    Attributes:
        slots: aggregator slots (each with two sets), 1..16384.
        elements_per_packet: k, elements per packet: 64 or 256 (official), 128, 512 or 1024 (narrow elements).
        hardened: False (default) is faithful to the official switch, late-duplicate
            hazard included; True drops late duplicates of older chunks (docs/hardened-mode.md).
    """

    slots: int = 512
    elements_per_packet: int = 64
    hardened: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.slots, int) or not 1 <= self.slots <= MAX_SLOTS:
            raise ValueError(f"slots must be an integer in 1..{MAX_SLOTS}, got {self.slots!r}")
        # the 256- and 1024-byte payloads at 32 bits (official) and at 16 or 8 bits (narrow elements,
        # sign-extended into the int32 registers)
        if self.elements_per_packet not in spec.ALL_ELEMENTS_PER_PACKET:
            raise ValueError(f"elements_per_packet must be one of {spec.ALL_ELEMENTS_PER_PACKET}, "
                             f"got {self.elements_per_packet!r}")


def check_workers(num_workers: int) -> int:
    """``num_workers`` if it is in 1..32, else a ValueError naming the range."""
    if not isinstance(num_workers, int | np.integer) or not 1 <= num_workers <= MAX_WORKERS:
        raise ValueError(f"num_workers must be an integer in 1..{MAX_WORKERS} (one bitmap bit each), "
                         f"got {num_workers!r}")
    return int(num_workers)


class SlotPool(NamedTuple):
    """Registers of every (slot, set); index ``[slot, set]``.

    Attributes:
        bitmap: uint32 (slots, 2): workers that contributed to the set.
        counter: uint8 (slots, 2): down-counter; 0 when the set is complete or idle.
        values: int32 (slots, 2, k): the running sum.
        exponents: int8 (slots, 2, 2): running max of ``e0`` and ``e1``.
        job_number: uint8 (slots, 2): job of the chunk held (used in hardened mode).
        tsi: uint32 (slots, 2): ``tsi`` of the chunk held (used in hardened mode).
        done: uint8 (slots, 2): 1 once the chunk held has completed (hardened mode).
        counters: uint64 (slots, len(Counter)): per-slot statistics.
    """

    bitmap: np.ndarray
    counter: np.ndarray
    values: np.ndarray
    exponents: np.ndarray
    job_number: np.ndarray
    tsi: np.ndarray
    done: np.ndarray
    counters: np.ndarray


def new_slot_pool(config: SwitchConfig) -> SlotPool:
    """Zeroed registers for ``config`` (as after the controller's reset)."""
    slots, k = config.slots, config.elements_per_packet
    return SlotPool(
        bitmap=np.zeros((slots, 2), dtype=np.uint32),
        counter=np.zeros((slots, 2), dtype=np.uint8),
        values=np.zeros((slots, 2, k), dtype=np.int32),
        exponents=np.zeros((slots, 2, 2), dtype=np.int8),
        job_number=np.zeros((slots, 2), dtype=np.uint8),
        tsi=np.zeros((slots, 2), dtype=np.uint32),
        done=np.zeros((slots, 2), dtype=np.uint8),
        counters=np.zeros((slots, COUNTER_COLUMNS), dtype=np.uint64),
    )


def wrapped_sum(tensors: np.ndarray) -> np.ndarray:
    """The int32 two's-complement wrap-around sum over axis 0: what the switch returns for these rows.

    Example:
        >>> wrapped_sum(np.array([[2**31 - 1], [1]], np.int32)).tolist()
        [-2147483648]
    """
    return np.asarray(tensors, dtype=np.int32).sum(axis=0, dtype=np.int64).astype(np.int32)


def reset_slot_pool(pool: SlotPool) -> None:
    """Clear every register in place (what the official controller does for a new job)."""
    for array in pool:
        array[...] = 0
