"""The pipeline model: decision table, arithmetic, state, hardened mode, batch, numba use."""

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchsim.pipeline import Action, Counter, Pipeline, SwitchConfig, new_slot_pool
from switchsim.pipeline.process import process_packet
from switchsim.pipeline.state import check_workers
from switchsim.pipeline.tables import ACTION_COUNTERS, DECISION_TABLE

from .reference import ReferenceSwitch

K = 64
ZERO_EXP = np.zeros(2, np.int8)


def vec(*head, k=K):
    values = np.zeros(k, np.int32)
    values[: len(head)] = head
    return values


def send(p, worker, n, slot, pool_set, values, exponents=ZERO_EXP, tsi=0, job=0):
    return p.process(worker, n, job, tsi, slot, pool_set, np.asarray(exponents, np.int8), values)


@pytest.fixture
def pipe():
    return Pipeline(SwitchConfig(slots=4, elements_per_packet=K))


def test_decision_table_rows(pipe):
    # (new, not last) -> consumed; (new, last) -> multicast
    assert send(pipe, 0, 3, 0, 0, vec(1))[0] == DECISION_TABLE[(False, False)]
    # duplicate to incomplete set -> dropped
    assert send(pipe, 0, 3, 0, 0, vec(1))[0] == DECISION_TABLE[(True, False)]
    assert send(pipe, 1, 3, 0, 0, vec(2))[0] is Action.CONSUMED
    assert send(pipe, 2, 3, 0, 0, vec(3))[0] == DECISION_TABLE[(False, True)]
    # duplicate to complete set -> unicast
    action, values, _ = send(pipe, 1, 3, 0, 0, vec(99))
    assert action == DECISION_TABLE[(True, True)] == Action.UNICAST
    assert values[0] == 6  # stored result, not the packet's values


def test_first_contribution_overwrites_old_contents(pipe):
    send(pipe, 0, 2, 1, 0, vec(5, 5))
    send(pipe, 1, 2, 1, 0, vec(5, 5))
    send(pipe, 0, 2, 1, 1, vec(0))  # both move to set 1: set 0's bitmap empties
    send(pipe, 1, 2, 1, 1, vec(0))
    assert pipe.pool.bitmap[1, 0] == 0
    send(pipe, 0, 2, 1, 0, vec(1, 2))
    action, values, _ = send(pipe, 1, 2, 1, 0, vec(10, 20))
    assert action is Action.MULTICAST
    np.testing.assert_array_equal(values, vec(11, 22))


def test_int32_wraps_around(pipe):
    big = np.int32(np.iinfo(np.int32).max)
    small = np.int32(np.iinfo(np.int32).min)
    send(pipe, 0, 3, 2, 0, vec(big, small, -1))
    send(pipe, 1, 3, 2, 0, vec(big, small, -1))
    _, values, _ = send(pipe, 2, 3, 2, 0, vec(big, 5, 1))
    # 3 * (2**31 - 1) = 2**32 + 2**31 - 3 -> 2**31 - 3; -2**32 + 5 -> 5
    assert values[:3].tolist() == [2**31 - 3, 5, -1]


def test_exponents_first_writes_then_max(pipe):
    send(pipe, 0, 3, 0, 1, vec(), exponents=(-5, 7))
    send(pipe, 1, 3, 0, 1, vec(), exponents=(-9, 9))
    _, _, exponents = send(pipe, 2, 3, 0, 1, vec(), exponents=(-7, -128))
    assert exponents.tolist() == [-5, 9]


def test_bitmap_clears_sender_in_other_set(pipe):
    send(pipe, 0, 2, 3, 0, vec(1))
    send(pipe, 1, 2, 3, 0, vec(1))
    assert pipe.pool.bitmap[3, 0] == 0b11
    send(pipe, 1, 2, 3, 1, vec(1))
    assert pipe.pool.bitmap[3, 0] == 0b01
    assert pipe.pool.bitmap[3, 1] == 0b10


def test_single_worker_completes_every_new_packet(pipe):
    action, values, _ = send(pipe, 0, 1, 0, 0, vec(4))
    assert action is Action.MULTICAST and values[0] == 4
    assert send(pipe, 0, 1, 0, 0, vec(4))[0] is Action.UNICAST
    action, values, _ = send(pipe, 0, 1, 0, 1, vec(8))
    assert action is Action.MULTICAST and values[0] == 8


def test_counter_returns_to_zero_by_itself(pipe):
    for worker in range(4):
        send(pipe, worker, 4, 1, 1, vec(1))
    assert pipe.pool.counter[1, 1] == 0


def test_counters_follow_official_meaning(pipe):
    send(pipe, 0, 2, 0, 0, vec(1))  # consumed -> drop counter
    send(pipe, 0, 2, 0, 0, vec(1))  # ignored duplicate -> drop counter
    send(pipe, 1, 2, 0, 0, vec(1))  # broadcast
    send(pipe, 1, 2, 0, 0, vec(1))  # retransmit
    row = pipe.pool.counters[0]
    assert (row[Counter.BROADCAST], row[Counter.RETRANSMIT], row[Counter.DROP]) == (1, 1, 2)
    assert pipe.counters() == {"broadcast": 1, "retransmit": 1, "drop": 2, "stale": 0, "rejected": 0}


#: For each action: a hardened switch?, then (worker, n, slot, set, tsi) packets whose last one causes it.
_CAUSES = {
    Action.CONSUMED: (False, [(0, 2, 0, 0, 0)]),
    Action.MULTICAST: (False, [(0, 1, 0, 0, 0)]),
    Action.UNICAST: (False, [(0, 1, 0, 0, 0), (0, 1, 0, 0, 0)]),
    Action.DROPPED: (False, [(0, 2, 0, 0, 0), (0, 2, 0, 0, 0)]),
    # set 0 finished chunk tsi 0, the worker moved on to set 1: a copy of the tsi-0 packet is late
    Action.STALE: (True, [(0, 1, 0, 0, 0), (0, 1, 0, 1, 1 << 24), (0, 1, 0, 0, 0)]),
    Action.REJECTED: (False, [(32, 2, 0, 0, 0)]),
}


@pytest.mark.parametrize("action", list(Action))
def test_each_action_increments_exactly_its_counters(action):
    hardened, packets = _CAUSES[action]
    pipe = Pipeline(SwitchConfig(slots=2, hardened=hardened))
    for worker, n, slot, pool_set, tsi in packets[:-1]:
        pipe.process(worker, n, 0, tsi, slot, pool_set, ZERO_EXP, vec(1))
    before = pipe.pool.counters.copy()
    worker, n, slot, pool_set, tsi = packets[-1]
    assert pipe.process(worker, n, 0, tsi, slot, pool_set, ZERO_EXP, vec(1))[0] is action
    expected = np.zeros_like(before)
    for counter in ACTION_COUNTERS[action]:
        expected[slot, counter] = 1
    np.testing.assert_array_equal(pipe.pool.counters - before, expected)


@pytest.mark.parametrize(
    ("worker", "n", "slot", "pool_set"),
    [(0, 2, 4, 0), (0, 2, -1, 0), (32, 2, 0, 0), (0, 0, 0, 0), (0, 33, 0, 0), (0, 2, 0, 2)],
)
def test_invalid_packets_are_rejected_untouched(pipe, worker, n, slot, pool_set):
    before = [a.copy() for a in pipe.pool[:-1]]
    assert send(pipe, worker, n, slot, pool_set, vec(1))[0] is Action.REJECTED
    for old, new in zip(before, pipe.pool[:-1], strict=True):
        np.testing.assert_array_equal(old, new)


def test_wrong_length_payload_is_rejected(pipe):
    assert send(pipe, 0, 2, 0, 0, np.zeros(256, np.int32))[0] is Action.REJECTED
    assert pipe.pool.counters[0, Counter.REJECTED] == 1


def test_switch_config_validation():
    with pytest.raises(ValueError, match=r"slots must be an integer in 1\.\.16384, got 0"):
        SwitchConfig(slots=0)
    with pytest.raises(ValueError, match=r"elements_per_packet must be one of \(64, 128, 256, 512, 1024\), got 100"):
        SwitchConfig(elements_per_packet=100)
    with pytest.raises(ValueError, match=r"num_workers must be an integer in 1\.\.32 .*got 33"):
        check_workers(33)


# --- hardened mode -----------------------------------------------------------------

def _late_duplicate_setup(hardened):
    p = Pipeline(SwitchConfig(slots=2, hardened=hardened))
    send(p, 0, 2, 0, 0, vec(1), tsi=0)
    send(p, 1, 2, 0, 0, vec(2), tsi=0)  # chunk 0 complete in set 0
    send(p, 0, 2, 0, 1, vec(10), tsi=128)  # worker 0 moved on to chunk 2 in set 1
    return p


def test_faithful_late_duplicate_corrupts_the_set():
    p = _late_duplicate_setup(hardened=False)
    action, _, _ = send(p, 0, 2, 0, 0, vec(1), tsi=0)  # late duplicate of chunk 0
    assert action is Action.CONSUMED  # taken as a new contribution
    assert p.pool.values[0, 0, 0] == 4  # stale data added to the finished result
    assert p.pool.bitmap[0, 1] == 0  # and worker 0's bit in set 1 was cleared


def test_hardened_drops_late_duplicates_untouched():
    p = _late_duplicate_setup(hardened=True)
    before = [a.copy() for a in p.pool[:-1]]
    assert send(p, 0, 2, 0, 0, vec(1), tsi=0)[0] is Action.STALE
    for old, new in zip(before, p.pool[:-1], strict=True):
        np.testing.assert_array_equal(old, new)
    # worker 1 retransmitting chunk 0 (it has not moved on) still gets the result
    action, values, _ = send(p, 1, 2, 0, 0, vec(2), tsi=0)
    assert action is Action.UNICAST and values[0] == 3
    # a duplicate of an older chunk to an idle, finished set is stale too
    send(p, 1, 2, 0, 1, vec(20), tsi=128)  # chunk 2 completes; set 0 is idle
    assert p.pool.bitmap[0, 0] == 0
    assert send(p, 1, 2, 0, 0, vec(2), tsi=0)[0] is Action.STALE
    # the next chunk (tsi 256) opens set 0 normally
    assert send(p, 0, 2, 0, 0, vec(5), tsi=256)[0] is Action.CONSUMED
    action, values, _ = send(p, 1, 2, 0, 0, vec(6), tsi=256)
    assert action is Action.MULTICAST and values[0] == 11


def test_hardened_orders_jobs_and_tsi_serially():
    p = Pipeline(SwitchConfig(slots=1, hardened=True))
    send(p, 0, 1, 0, 0, vec(1), job=255, tsi=2**32 - 64)
    assert send(p, 0, 1, 0, 1, vec(1), job=255, tsi=0)[0] is Action.MULTICAST
    # job 0 after job 255 is newer (wraps); tsi 0 is newer than 2**32 - 64 (wraps)
    assert send(p, 0, 1, 0, 0, vec(1), job=0, tsi=0)[0] is Action.MULTICAST
    assert send(p, 0, 1, 0, 1, vec(1), job=0, tsi=64)[0] is Action.MULTICAST
    assert send(p, 0, 1, 0, 0, vec(1), job=255, tsi=0)[0] is Action.STALE  # older job


# --- cross-checks --------------------------------------------------------------------

packet_sequences = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 1), st.integers(0, 1), st.integers(-3, 3), st.integers(0, 2**32 - 1)),
    min_size=1,
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 4), packet_sequences)
def test_model_matches_independent_reference(n, packets):
    """Any packet sequence: same actions, same replies as a naive Python model of the prose."""
    k = 64
    model = Pipeline(SwitchConfig(slots=2, elements_per_packet=k))
    reference = ReferenceSwitch(slots=2, k=k)
    names = {Action.CONSUMED: "consume", Action.MULTICAST: "multicast", Action.UNICAST: "unicast",
             Action.DROPPED: "drop"}
    for worker, slot, pool_set, exponent, seed in packets:
        worker %= n
        values = np.random.default_rng(seed).integers(-(2**31), 2**31, size=k).astype(np.int32)
        action, got, got_exp = send(model, worker, n, slot, pool_set, values, exponents=(exponent, -exponent))
        kind, expected, expected_exp = reference.packet(worker, n, slot, pool_set, exponent, -exponent,
                                                        values.tolist())
        assert names[action] == kind
        if expected is not None:
            assert got.tolist() == expected
            assert tuple(got_exp.tolist()) == expected_exp


def test_batch_equals_packet_by_packet():
    rng = np.random.default_rng(7)
    count = 500
    workers = rng.integers(0, 4, count)
    slots = rng.integers(0, 8, count)
    sets = rng.integers(0, 2, count)
    values = rng.integers(-(2**31), 2**31, size=(count, K)).astype(np.int32)
    exponents = rng.integers(-10, 10, size=(count, 2)).astype(np.int8)
    one = Pipeline(SwitchConfig(slots=8))
    batch = Pipeline(SwitchConfig(slots=8))
    result = batch.process_batch(workers, np.full(count, 4), np.zeros(count), np.zeros(count), slots, sets,
                                 exponents, values)
    for i in range(count):
        action, out, out_exp = send(one, workers[i], 4, slots[i], sets[i], values[i], exponents[i])
        assert result.actions[i] == action
        if out is not None:
            np.testing.assert_array_equal(result.values[i], out)
            np.testing.assert_array_equal(result.exponents[i], out_exp)
    for a, b in zip(one.pool, batch.pool, strict=True):
        np.testing.assert_array_equal(a, b)


@numba.njit
def _reduce_in_numba(pool, values):
    """A numba caller: every worker contributes its row to slot 0, set 0."""
    out_values = np.zeros(values.shape[1], np.int32)
    out_exponents = np.zeros(2, np.int8)
    exponents = np.zeros(2, np.int8)
    last = -1
    for worker in range(values.shape[0]):
        last = process_packet(pool, False, worker, values.shape[0], 0, 0, 0, 0, exponents, values[worker],
                              out_values, out_exponents)
    return last, out_values


def test_callable_from_numba_code():
    values = np.arange(5 * K, dtype=np.int32).reshape(5, K)
    action, out = _reduce_in_numba(new_slot_pool(SwitchConfig(slots=1)), values)
    assert action == Action.MULTICAST
    np.testing.assert_array_equal(out, values.sum(axis=0))


def test_reset_clears_registers(pipe):
    send(pipe, 0, 2, 0, 0, vec(1))
    pipe.reset()
    assert all(not a.any() for a in pipe.pool)


def test_action_values_are_contiguous_for_lookup_by_value():
    assert [a.value for a in Action] == list(range(len(Action)))
