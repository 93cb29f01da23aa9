"""The worker protocol state machine: mapping, window, results, timeouts, backoff."""

import numpy as np
import pytest

from switchsim.protocol import spec
from workers.protocol import WorkerConfig, WorkerProtocol, next_shift, pool_position

K = 64


def make(packets=10, window=4, **config):
    tensor = np.arange(packets * K, dtype=np.int32)
    return WorkerProtocol(WorkerConfig(worker_id=0, num_workers=2, window=window, **config), tensor)


def reply(proto, packet, values=None, job=0, now=1.0):
    values = proto.values(packet) if values is None else values
    return proto.on_result(now, job, proto.tsi(packet), proto.pool_index(packet), values, np.zeros(2, np.int8))


def test_pool_mapping_alternates_sets_on_one_slot():
    config = WorkerConfig(worker_id=0, num_workers=2, window=4, start_slot=10)
    assert [pool_position(p, config) for p in range(9)] == [
        (10, 0), (11, 0), (12, 0), (13, 0), (10, 1), (11, 1), (12, 1), (13, 1), (10, 0)]


def test_pool_mapping_with_shift():
    config = WorkerConfig(worker_id=0, num_workers=2, window=4, shift=6)
    assert [pool_position(p, config) for p in range(4)] == [(2, 1), (3, 1), (0, 0), (1, 0)]
    assert next_shift(6, 5, 4) == 3


def test_start_sends_one_window():
    proto = make(packets=10, window=4)
    assert proto.start(0.0) == [0, 1, 2, 3]
    assert make(packets=2, window=4).start(0.0) == [0, 1]
    # tsi is the packet id little-endian, as the official DPDK client writes it
    assert proto.tsi(3).to_bytes(4, "big") == (3).to_bytes(4, "little")
    assert proto.tsi(0x01020304) == 0x04030201
    assert proto.pool_index(5) == spec.make_pool_index(1, 1)


def test_result_releases_the_next_packet_on_the_same_slot():
    proto = make(packets=10, window=4)
    proto.start(0.0)
    assert reply(proto, 1, np.full(K, 7, np.int32)) == [5]
    assert proto.result[K : 2 * K].tolist() == [7] * K
    assert reply(proto, 1) == []  # duplicate result
    assert proto.stats.duplicate_results == 1
    assert reply(proto, 0, job=3) == []  # another job's result
    assert proto.stats.foreign_results == 1
    assert reply(proto, 9) == []  # not outstanding yet
    assert proto.stats.duplicate_results == 2


def test_reply_pool_index_with_bit_14_set_is_accepted():
    proto = make(packets=4, window=4)
    proto.start(0.0)
    assert proto.on_result(0.0, 0, proto.tsi(2), proto.pool_index(2) | 1 << 14, proto.values(2)) == []
    assert proto.received[2]


def test_done_after_every_result():
    proto = make(packets=6, window=4)
    pending = proto.start(0.0)
    while pending:
        pending = pending[1:] + reply(proto, pending[0])
    assert proto.done
    np.testing.assert_array_equal(proto.result, np.arange(6 * K, dtype=np.int32))


def test_partial_last_packet_is_padded():
    proto = WorkerProtocol(WorkerConfig(worker_id=0, num_workers=1, window=2), np.ones(70, np.int32))
    assert proto.total_packets == 2
    assert proto.values(1).tolist() == [1] * 6 + [0] * 58
    assert len(proto.result) == 70


def test_timeout_resends_the_same_packet():
    proto = make(packets=10, window=4, timeout_s=0.01)
    proto.start(0.0)
    reply(proto, 0, now=0.004)  # packet 4 armed, expires at 0.014
    assert proto.next_deadline() == pytest.approx(0.01)
    assert proto.on_timeout(0.005) == []
    assert proto.on_timeout(0.01) == [1, 2, 3]
    assert proto.stats.retransmissions == 3
    assert proto.next_deadline() == pytest.approx(0.014)
    assert proto.on_timeout(0.02) == [4, 1, 2, 3]  # in expiry order: 0.014, then 0.02 x 3
    assert proto.stats.timeouts == 7
    reply(proto, 4, now=0.021)  # released timers are not fired
    assert proto.on_timeout(0.03) == [1, 2, 3]


def test_backoff_doubles_after_100_then_200_more_timeouts():
    proto = make(packets=1, window=1, timeout_s=1.0)
    proto.start(0.0)
    now, periods = 0.0, []
    for _ in range(600):
        now = proto.next_deadline()
        assert proto.on_timeout(now) == [0]
        periods.append(proto.timeout_period_s)
    # official TimeoutQueue: threshold 100, +100 after each doubling
    assert periods[98] == 1.0 and periods[99] == 2.0
    assert periods[298] == 2.0 and periods[299] == 4.0
    assert periods[598] == 4.0 and periods[599] == 8.0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("num_workers", 33, r"num_workers must be in 1\.\.32, got 33"),
        ("worker_id", 2, r"worker_id must be in 0\.\.num_workers-1 = 0\.\.1, got 2"),
        ("window", 0, r"window must be in 1\.\.16384, got 0"),
        ("elements_per_packet", 100, r"elements_per_packet must be one of \(64, 128, 256, 512, 1024\), got 100"),
        ("job_number", 256, r"job_number must be in 0\.\.255, got 256"),
        ("shift", 8, r"shift must be in 0\.\.2\*window-1 = 0\.\.7, got 8"),
        ("timeout_s", 0, r"timeout_s must be > 0 seconds, got 0"),
    ],
)
def test_config_errors_name_field_and_range(field, value, message):
    settings = {"worker_id": 0, "num_workers": 2, "window": 4, field: value}
    with pytest.raises(ValueError, match=message):
        WorkerConfig(**settings)


def test_tensor_must_be_int32():
    with pytest.raises(ValueError, match="1-D int32"):
        WorkerProtocol(WorkerConfig(worker_id=0, num_workers=1), np.zeros(4, np.float32))
