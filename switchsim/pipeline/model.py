"""`Pipeline`: the switch pipeline model with its registers, for Python callers.

Engines (simulator, emulator, conformance generator) hold one `Pipeline` per
switch and call `Pipeline.process` per packet or `Pipeline.process_batch` per
batch; both run the numba functions of `switchsim.pipeline.process`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from switchsim.pipeline.process import process_batch, process_packet_unpacked
from switchsim.pipeline.state import SwitchConfig, new_slot_pool, reset_slot_pool
from switchsim.pipeline.tables import RECIPIENTS, Action, Counter, Recipients

_ACTIONS = tuple(Action)  # Action by value, without the enum lookup per packet


@dataclass(slots=True)
class BatchResult:
    """Outcome of a batch: per-packet action and (for replies) the set's contents."""

    actions: np.ndarray  #: uint8 (N,): `Action` values
    values: np.ndarray  #: int32 (N, k): set contents where the action replies
    exponents: np.ndarray  #: int8 (N, 2): set exponents where the action replies


class Pipeline:
    """One switch's aggregation pipeline: `SwitchConfig` plus `SlotPool` registers.

    Example:
        >>> p = Pipeline(SwitchConfig(slots=8))
        >>> ones = np.ones(64, np.int32)
        >>> p.process(0, 2, 0, 0, 3, 0, np.zeros(2, np.int8), ones)[0]
        <Action.CONSUMED: 0>
        >>> action, values, _ = p.process(1, 2, 0, 0, 3, 0, np.zeros(2, np.int8), ones)
        >>> action, int(values[0])
        (<Action.MULTICAST: 1>, 2)
    """

    def __init__(self, config: SwitchConfig) -> None:
        self.config = config
        self.pool = new_slot_pool(config)
        k = config.elements_per_packet
        self._out_values = np.zeros(k, dtype=np.int32)
        self._out_exponents = np.zeros(2, dtype=np.int8)

    def process(
        self,
        worker_id: int,
        num_workers: int,
        job_number: int,
        tsi: int,
        slot: int,
        pool_set: int,
        exponents: np.ndarray,
        values: np.ndarray,
    ) -> tuple[Action, np.ndarray | None, np.ndarray | None]:
        """Apply one packet; return its action and, when it is sent anywhere, copies of the set's contents."""
        action = _ACTIONS[
            process_packet_unpacked(
                *self.pool,
                self.config.hardened,
                int(worker_id),
                int(num_workers),
                int(job_number),
                int(tsi),
                int(slot),
                int(pool_set),
                exponents,
                values,
                self._out_values,
                self._out_exponents,
            )
        ]
        if RECIPIENTS[action] is not Recipients.NONE:
            return action, self._out_values.copy(), self._out_exponents.copy()
        return action, None, None

    def process_batch(
        self,
        worker_ids: np.ndarray,
        num_workers: np.ndarray,
        job_numbers: np.ndarray,
        tsis: np.ndarray,
        slots: np.ndarray,
        pool_sets: np.ndarray,
        exponents: np.ndarray,
        values: np.ndarray,
    ) -> BatchResult:
        """Apply N packets in order (arrays indexed by packet)."""
        n = len(worker_ids)
        result = BatchResult(
            actions=np.zeros(n, dtype=np.uint8),
            values=np.zeros((n, self.config.elements_per_packet), dtype=np.int32),
            exponents=np.zeros((n, 2), dtype=np.int8),
        )
        process_batch(
            self.pool,
            self.config.hardened,
            np.asarray(worker_ids, dtype=np.int64),
            np.asarray(num_workers, dtype=np.int64),
            np.asarray(job_numbers, dtype=np.int64),
            np.asarray(tsis, dtype=np.int64),
            np.asarray(slots, dtype=np.int64),
            np.asarray(pool_sets, dtype=np.int64),
            np.ascontiguousarray(exponents, dtype=np.int8),
            np.ascontiguousarray(values, dtype=np.int32),
            result.values,
            result.exponents,
            result.actions,
        )
        return result

    def counters(self) -> dict[str, int]:
        """Totals over all slots of each `Counter`."""
        totals = self.pool.counters.sum(axis=0)
        return {c.name.lower(): int(totals[c]) for c in Counter}

    def slot_counters(self) -> np.ndarray:
        """uint64 (slots, len(Counter)): per-slot counters, columns as `Counter`."""
        return self.pool.counters.copy()

    def reset(self) -> None:
        """Clear all registers and counters (new job session)."""
        reset_slot_pool(self.pool)
