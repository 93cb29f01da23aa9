"""The switch pipeline, written once: what one packet does to a (slot, set).

`process_packet` is the per-packet semantics of p4app-switchML's ingress
(``bitmap_checker.p4``, ``workers_counter.p4``, ``exponents.p4``,
``processor.p4``, ``next_step_selector.p4``) for one SwitchML packet whose
worker id and job size the worker table has already looked up:

1. ``old = bitmap[slot, set]``; ``bitmap[slot, set] |= me``;
   ``bitmap[slot, 1 - set] &= ~me``. ``old & me`` means duplicate.
2. New contributions only: read the down-counter v, write ``n - 1`` if v == 0
   else ``v - 1``; the contribution that reads 1 (or any, when n == 1) is the last.
3. Values: overwrite when ``old == 0``, else add with int32 wrap-around;
   exponents: overwrite, then max.
4. Decide the `Action` (the rows of `switchsim.pipeline.tables.DECISION_TABLE`,
   which a test checks one by one); `next_step` turns it into who receives the
   set's contents.

In hardened mode (``hardened`` true) a packet whose chunk identity
``(job_number, tsi)`` shows it is a late duplicate of a chunk the set no longer
needs is dropped before it can touch any register (docs/hardened-mode.md).
"Newer" needs to know what ``tsi`` holds; ``hardened`` says it:

* `HARDENED_PACKET_ID` (1, or ``True``): the packet id written little-endian,
  as the official DPDK client writes it (host byte order on x86) and as
  switchsim's workers write it (`workers.protocol_state.packet_tsi`): the field
  byte-swapped is the id, and the ids are compared. The P4 program's hardened
  build does this.
* `HARDENED_TSI` (2): a number that grows with the chunk, compared as the
  big-endian field reads (for workers that write ``p * k``, as switchsim's did
  before; kept to show why the official encoding needs the byte swap).

The functions are numba-jitted (``cache=True``) and take the `SlotPool`
NamedTuple, so plain Python, other numba code and the batch function share one
implementation. The per-packet ones are compiled without numba's reference
counting (``_nrt=False``: they allocate nothing), which makes them cheap to call
from the simulator's compiled loop.
"""

from __future__ import annotations

import numba
import numpy as np
from numba.extending import register_jitable

from switchsim.pipeline.state import MAX_WORKERS, SlotPool
from switchsim.pipeline.tables import RECIPIENTS, Action, Counter
from switchsim.protocol.spec import byteswap32, pack_pool_index

_CONSUMED = int(Action.CONSUMED)
_MULTICAST = int(Action.MULTICAST)
_UNICAST = int(Action.UNICAST)
_DROPPED = int(Action.DROPPED)
_STALE = int(Action.STALE)
_REJECTED = int(Action.REJECTED)
_C_BROADCAST = int(Counter.BROADCAST)
_C_RETRANSMIT = int(Counter.RETRANSMIT)
_C_DROP = int(Counter.DROP)
_C_STALE = int(Counter.STALE)
_C_REJECTED = int(Counter.REJECTED)


#: `switchsim.pipeline.tables.RECIPIENTS` indexed by action value, for compiled code and numpy batches.
RECIPIENTS_BY_ACTION = np.array([int(RECIPIENTS[action]) for action in Action], dtype=np.int64)


@register_jitable
def next_step(action, slot, pool_set):
    """The whole next step after a packet, decided once for every driver: who receives what.

    Args:
        action: the `Action` value(s) `process_packet` returned.
        slot, pool_set: the packet's slot and set.

    Returns:
        ``(recipients, pool_index)``: the `Recipients` value(s), and the reply's ``pool_index``
        (set bit 15, slot, bit 14 clear). The reply's other fields: ``msg_type`` =
        ``spec.MSG_TYPE_DATA``; ``size``, ``job_number`` and ``tsi`` echoed from the packet;
        exponents and values = the set's contents (``out_exponents``, ``out_values``).
        Scalars from scalars (compiled callers), arrays from arrays (batches).

    Example:
        >>> [tuple(map(int, next_step(int(a), 5, 1))) for a in (Action.MULTICAST, Action.UNICAST, Action.DROPPED)]
        [(1, 32773), (2, 32773), (0, 32773)]
    """
    return RECIPIENTS_BY_ACTION[action], pack_pool_index(slot, pool_set)


@numba.njit(cache=True, nogil=True, _nrt=False)
def _copy_result(pool, slot, pool_set, out_values, out_exponents):
    stored = pool.values[slot, pool_set]
    for i in range(stored.shape[0]):
        out_values[i] = stored[i]
    out_exponents[0] = pool.exponents[slot, pool_set, 0]
    out_exponents[1] = pool.exponents[slot, pool_set, 1]


#: ``hardened`` values: off (faithful), on with tsi = packet id little-endian (``True``), on with tsi compared as read.
FAITHFUL = 0
HARDENED_PACKET_ID = 1
HARDENED_TSI = 2


@numba.njit(cache=True, nogil=True, _nrt=False)
def _is_newer(job_number, tsi, held_job_number, held_tsi, hardened):
    """Serial-number order of chunk identities: is (job_number, tsi) after the held one?

    Jobs compare modulo 256 (newer if 1..127 ahead); within a job the chunks'
    tsi (``hardened`` = `HARDENED_TSI`) or packet ids (the byte-swapped tsi,
    `HARDENED_PACKET_ID`) compare modulo 2**32 (newer if 1..2**31-1 ahead), so
    both may wrap.
    """
    job_ahead = (job_number - held_job_number) & 0xFF
    if job_ahead != 0:
        return job_ahead < 0x80
    if hardened == HARDENED_PACKET_ID:
        ahead = (byteswap32(tsi) - byteswap32(held_tsi)) & 0xFFFFFFFF
    else:
        ahead = (tsi - held_tsi) & 0xFFFFFFFF
    return ahead != 0 and ahead < 0x80000000


@numba.njit(cache=True, nogil=True, _nrt=False)
def _is_late_duplicate(pool, slot, pool_set, me, job_number, tsi, hardened):
    """Hardened check: is this packet from a chunk the set no longer needs?"""
    old = pool.bitmap[slot, pool_set]
    held_job = np.int64(pool.job_number[slot, pool_set])
    held_tsi = np.int64(pool.tsi[slot, pool_set])
    if old == 0:
        # Idle set: a never-used (or reset) set takes anything; a finished one
        # takes only a newer chunk, since every worker has its last result.
        return pool.done[slot, pool_set] == 1 and not _is_newer(job_number, tsi, held_job, held_tsi, hardened)
    if job_number != held_job or tsi != held_tsi:
        # Busy set: a newer chunk cannot legitimately arrive while any bit is
        # set (its sender needed everyone to move on first), so this is older.
        return True
    # Same chunk, complete, and the sender's bit already cleared: it moved on.
    return (old & me) == 0 and pool.counter[slot, pool_set] == 0


@numba.njit(cache=True, nogil=True, _nrt=False, inline="always")
def process_packet(
    pool,
    hardened,
    worker_id,
    num_workers,
    job_number,
    tsi,
    slot,
    pool_set,
    exponents,
    values,
    out_values,
    out_exponents,
):
    """Apply one packet to ``pool``; return its `Action` as an int.

    Args:
        pool: the switch's `SlotPool` (modified in place).
        hardened: `FAITHFUL` (0 / False); or drop late duplicates of older chunks, with tsi
            read as `HARDENED_PACKET_ID` (1 / True) or `HARDENED_TSI` (2) says (module docstring).
        worker_id: the sender's bit index, 0..31 (from the worker table).
        num_workers: n, workers in the sender's job, 1..32 (from the worker table).
        job_number: the packet's ``job_number`` (8 bits).
        tsi: the packet's ``tsi`` (32 bits).
        slot: slot index, 0..slots-1.
        pool_set: set, 0 or 1.
        exponents: int8 (2,): the packet's ``e0``, ``e1``.
        values: int32 (k,): the packet's elements.
        out_values: int32 (k,): receives the set's contents on MULTICAST/UNICAST.
        out_exponents: int8 (2,): receives the set's exponents likewise.

    Returns:
        int: an `Action` value. Counters in ``pool.counters[slot]`` are updated.
    """
    slots = pool.bitmap.shape[0]
    if slot < 0 or slot >= slots:
        return _REJECTED
    if (
        pool_set < 0
        or pool_set > 1
        or worker_id < 0
        or worker_id >= MAX_WORKERS
        or num_workers < 1
        or num_workers > MAX_WORKERS
        or values.shape[0] != pool.values.shape[2]
    ):
        pool.counters[slot, _C_REJECTED] += 1
        return _REJECTED
    me = np.uint32(1) << np.uint32(worker_id)
    if hardened and _is_late_duplicate(pool, slot, pool_set, me, job_number, tsi, np.int64(hardened)):
        pool.counters[slot, _C_STALE] += 1
        return _STALE

    other = 1 - pool_set
    old = pool.bitmap[slot, pool_set]
    pool.bitmap[slot, pool_set] = old | me
    pool.bitmap[slot, other] = pool.bitmap[slot, other] & ~me

    if (old & me) != 0:
        if pool.counter[slot, pool_set] == 0:
            _copy_result(pool, slot, pool_set, out_values, out_exponents)
            pool.counters[slot, _C_RETRANSMIT] += 1
            return _UNICAST
        pool.counters[slot, _C_DROP] += 1
        return _DROPPED

    count = pool.counter[slot, pool_set]
    last = num_workers == 1 or count == 1
    if count == 0:
        pool.counter[slot, pool_set] = num_workers - 1
    else:
        pool.counter[slot, pool_set] = count - 1

    stored = pool.values[slot, pool_set]
    if old == 0:
        for i in range(stored.shape[0]):
            stored[i] = values[i]
        pool.exponents[slot, pool_set, 0] = exponents[0]
        pool.exponents[slot, pool_set, 1] = exponents[1]
        pool.job_number[slot, pool_set] = job_number
        pool.tsi[slot, pool_set] = tsi
        pool.done[slot, pool_set] = 0
    else:
        for i in range(stored.shape[0]):
            stored[i] = stored[i] + values[i]  # int32 store: two's-complement wrap
        if exponents[0] > pool.exponents[slot, pool_set, 0]:
            pool.exponents[slot, pool_set, 0] = exponents[0]
        if exponents[1] > pool.exponents[slot, pool_set, 1]:
            pool.exponents[slot, pool_set, 1] = exponents[1]

    if last:
        pool.done[slot, pool_set] = 1
        _copy_result(pool, slot, pool_set, out_values, out_exponents)
        pool.counters[slot, _C_BROADCAST] += 1
        return _MULTICAST
    pool.counters[slot, _C_DROP] += 1
    return _CONSUMED


@numba.njit(cache=True, nogil=True)
def process_packet_unpacked(
    bitmap,
    counter,
    registers,
    register_exponents,
    held_job_number,
    held_tsi,
    done,
    counters,
    hardened,
    worker_id,
    num_workers,
    job_number,
    tsi,
    slot,
    pool_set,
    exponents,
    values,
    out_values,
    out_exponents,
):
    """`process_packet` taking the `SlotPool` arrays one by one, in field order.

    Same semantics; exists because numba unboxes a NamedTuple argument from
    Python about twice as slowly as its arrays passed separately, and
    event-driven engines call the pipeline once per packet.
    """
    pool = SlotPool(bitmap, counter, registers, register_exponents, held_job_number, held_tsi, done, counters)
    return process_packet(
        pool, hardened, worker_id, num_workers, job_number, tsi, slot, pool_set, exponents, values, out_values,
        out_exponents
    )


@numba.njit(cache=True, nogil=True)
def process_batch(
    pool,
    hardened,
    worker_ids,
    num_workers,
    job_numbers,
    tsis,
    slots,
    pool_sets,
    exponents,
    values,
    out_values,
    out_exponents,
    actions,
):
    """`process_packet` over N packets in order; arrays are indexed by packet.

    ``exponents``/``out_exponents`` are (N, 2), ``values``/``out_values`` (N, k),
    ``actions`` (N,) receives each packet's action.
    """
    for i in range(worker_ids.shape[0]):
        actions[i] = process_packet(
            pool,
            hardened,
            worker_ids[i],
            num_workers[i],
            job_numbers[i],
            tsis[i],
            slots[i],
            pool_sets[i],
            exponents[i],
            values[i],
            out_values[i],
            out_exponents[i],
        )


__all__ = [
    "FAITHFUL",
    "HARDENED_PACKET_ID",
    "HARDENED_TSI",
    "RECIPIENTS_BY_ACTION",
    "SlotPool",
    "byteswap32",
    "next_step",
    "process_batch",
    "process_packet",
    "process_packet_unpacked",
]
