"""Loss-recovery policies of the worker protocol: official backoff, reset after a window, TCP-style RTO."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers import protocol_state as state
from workers.protocol import WorkerConfig, WorkerProtocol

WINDOW = 4
TIMEOUT = 1_000


def _instance(policy: int, *, threshold: int = 1, increment: int = 0, rto_min: int = 10, packets: int = 100):
    arrays = state.new_protocol_state(1, WINDOW)
    state.configure(*arrays, 0, 0, 1, WINDOW, 0, 64, 0, 0, packets, TIMEOUT, threshold, increment, policy, rto_min)
    return arrays


def _accept(arrays, packet, now):
    config = arrays[0]
    return state.on_result(*arrays, 0, now, 0, state.packet_tsi(packet), int(state.pool_index_of(config, 0, packet)))


def _lanes_in_list_order(arrays):
    status, lanes = arrays[1], arrays[2]
    order, lane = [], status[0, state.S_HEAD]
    while lane >= 0:
        order.append(int(lane))
        lane = lanes[0, lane, state.L_NEXT]
    return order


def test_official_backoff_never_comes_back_down():
    arrays = _instance(state.RECOVERY_OFFICIAL)
    out = np.zeros(WINDOW, np.int64)
    state.start(*arrays, 0, 0, out)
    assert state.on_timeout(*arrays, 0, TIMEOUT, out) == WINDOW  # threshold 1: every expiry doubles
    assert arrays[1][0, state.S_PERIOD] == TIMEOUT * 2**WINDOW
    for packet in range(WINDOW):
        _accept(arrays, packet, 2 * TIMEOUT)
    assert arrays[1][0, state.S_PERIOD] == TIMEOUT * 2**WINDOW


def test_reset_restores_the_period_after_a_window_of_results():
    arrays = _instance(state.RECOVERY_RESET, threshold=1, increment=5)
    out = np.zeros(WINDOW, np.int64)
    state.start(*arrays, 0, 0, out)
    state.on_timeout(*arrays, 0, TIMEOUT, out)  # the first expiry doubles; the threshold grows to 6
    assert arrays[1][0, state.S_PERIOD] == 2 * TIMEOUT and arrays[1][0, state.S_THRESHOLD] == 6
    for packet in range(WINDOW - 1):
        _accept(arrays, packet, 2 * TIMEOUT)
    assert arrays[1][0, state.S_PERIOD] == 2 * TIMEOUT  # not yet a whole window
    _accept(arrays, WINDOW - 1, 2 * TIMEOUT)
    status = arrays[1][0]
    assert status[state.S_PERIOD] == TIMEOUT
    assert status[state.S_THRESHOLD] == 1 and status[state.S_TIMEOUTS_SINCE_DOUBLING] == 0


def test_rto_follows_rfc6298_and_karns_rule():
    arrays = _instance(state.RECOVERY_RTO, rto_min=10)
    out = np.zeros(WINDOW, np.int64)
    state.start(*arrays, 0, 0, out)
    status = arrays[1][0]
    assert status[state.S_PERIOD] == TIMEOUT  # no sample yet: the initial timeout
    _accept(arrays, 0, 100)  # first sample R = 100: SRTT = R, RTTVAR = R/2, RTO = R + 4 R/2
    assert (status[state.S_SMOOTHED_RTT], status[state.S_RTT_VARIATION], status[state.S_PERIOD]) == (100, 50, 300)
    _accept(arrays, 1, 180)  # R = 180: RTTVAR = (3*50 + |100-180|)/4 = 57, SRTT = (7*100 + 180)/8 = 110
    assert (status[state.S_SMOOTHED_RTT], status[state.S_RTT_VARIATION], status[state.S_PERIOD]) == (110, 57, 338)
    # at 1000 every timer is due, in deadline order: packets 4 (armed at 100 + 300) and 5 (180 + 338), then
    # 2 and 3 (0 + 1000); each expiry doubles the RTO
    assert out[: state.on_timeout(*arrays, 0, TIMEOUT, out)].tolist() == [4, 5, 2, 3]
    assert status[state.S_PERIOD] == 16 * 338
    samples = status[state.S_RTT_SAMPLES]
    _accept(arrays, 2, TIMEOUT + 50)  # a retransmitted packet's result: no sample (Karn), the RTO stays
    assert status[state.S_RTT_SAMPLES] == samples and status[state.S_PERIOD] == 16 * 338


def test_rto_is_floored_and_capped():
    arrays = _instance(state.RECOVERY_RTO, rto_min=500)
    out = np.zeros(WINDOW, np.int64)
    state.start(*arrays, 0, 0, out)
    _accept(arrays, 0, 1)  # a 1-tick round trip: the floor holds
    assert arrays[1][0, state.S_PERIOD] == 500
    now = 0
    for _ in range(20):  # nothing returns: the timeouts double the period up to the ceiling
        now = int(state.next_deadline(arrays[1], arrays[2], 0))
        state.on_timeout(*arrays, 0, now, out)
    assert arrays[1][0, state.S_PERIOD] == TIMEOUT * state.RTO_CEILING_FACTOR


def test_a_shorter_period_puts_the_new_timer_before_the_older_ones():
    """After the RTO drops, a newly armed lane expires first, and expiries come out in deadline order."""
    arrays = _instance(state.RECOVERY_RTO, rto_min=10)
    out = np.zeros(WINDOW, np.int64)
    state.start(*arrays, 0, 0, out)  # packets 0..3, deadlines 1000
    _, following = _accept(arrays, 0, 20)  # RTO = 20 + 40 = 60: packet 4 armed at 20, due at 80
    assert following == WINDOW
    assert state.next_deadline(arrays[1], arrays[2], 0) == 80
    assert _lanes_in_list_order(arrays)[0] == state.lane_of(arrays[0], 0, WINDOW)
    assert state.on_timeout(*arrays, 0, 80, out) == 1 and out[0] == WINDOW


@settings(max_examples=60, deadline=None)
@given(policy=st.sampled_from([state.RECOVERY_OFFICIAL, state.RECOVERY_RESET, state.RECOVERY_RTO]),
       steps=st.lists(st.tuples(st.integers(0, 400), st.booleans(), st.integers(0, 3)), max_size=60))
def test_the_timer_list_stays_in_expiry_order_with_exactly_the_lanes_in_flight(policy, steps):
    arrays = _instance(policy, threshold=2, increment=1, rto_min=5, packets=40)
    out = np.zeros(WINDOW, np.int64)
    state.start(*arrays, 0, 0, out)
    now = 0
    for advance, is_result, lane in steps:
        now += advance
        if is_result:
            packet = arrays[2][0, lane, state.L_PACKET]
            if packet >= 0:
                _accept(arrays, int(packet), now)
        else:
            state.on_timeout(*arrays, 0, now, out)
        order = _lanes_in_list_order(arrays)
        deadlines = [arrays[2][0, lane, state.L_DEADLINE] for lane in order]
        assert deadlines == sorted(deadlines)
        assert sorted(order) == [lane for lane in range(WINDOW) if arrays[2][0, lane, state.L_PACKET] >= 0]
        if not is_result:
            assert all(d > now for d in deadlines)  # on_timeout leaves nothing due


def test_the_wrapper_passes_the_policy_and_rejects_unknown_ones():
    protocol = WorkerProtocol(WorkerConfig(worker_id=0, num_workers=1, window=2, timeout_s=1e-3, recovery="rto",
                                           rto_min_s=1e-5), np.zeros(256, np.int32))
    protocol.start(0.0)
    protocol.on_result(2e-6, 0, protocol.tsi(0), protocol.pool_index(0), np.zeros(64, np.int32))
    assert protocol.timeout_period_s == 1e-5  # 2 us round trip -> 6 us estimate, floored at 10 us
    for bad, message in (({"recovery": "tcp"}, "recovery must be one of"),
                         ({"recovery": "rto", "rto_min_s": 1.0}, "rto_min_s must be")):
        with pytest.raises(ValueError, match=message):
            WorkerConfig(worker_id=0, num_workers=1, timeout_s=1e-3, **bad)
