"""The frame-level switch: worker table, parsing, egress rewrite, drops by reason."""

import numpy as np
import pytest

from switchsim.conformance.vectors import Send, request_frame, worker_entries
from switchsim.frame_switch import FrameSwitch, WorkerEntry
from switchsim.pipeline import SwitchConfig
from switchsim.protocol import codec, spec


@pytest.fixture
def switch():
    return FrameSwitch(SwitchConfig(slots=4), worker_entries(2))


def frame_from(worker, slot=0, pool_set=0, value=1, k=64):
    return request_frame(Send(worker, slot, pool_set, 0, np.full(k, value, np.int32)), worker_entries(2), k)


def test_reduction_produces_one_reply_per_worker(switch):
    assert switch.process_frame(0, frame_from(0, value=3)) == []
    outputs = switch.process_frame(1, frame_from(1, value=4))
    assert [(o.kind, o.egress_port, o.worker_id) for o in outputs] == [("multicast", 0, 0), ("multicast", 1, 1)]
    reply = codec.decode_frames(outputs[1].frame, 64)
    assert reply.messages.values[0].tolist() == [7] * 64
    assert codec.int_to_ip(reply.ip_dst[0]) == "10.0.0.2"
    assert int(reply.udp_checksum[0]) == 0


def test_unregistered_source_is_dropped_and_counted(switch):
    frame = bytearray(frame_from(0))
    frame[6:12] = bytes.fromhex("0200000000aa")
    assert switch.process_frame(0, bytes(frame)) == []
    assert switch.frames.reasons["unregistered_source"] == 1
    assert switch.pipeline.counters()["drop"] == 0


@pytest.mark.parametrize("length", [0, 10, 41, 42, 100, 307])
def test_truncated_frames_never_crash(switch, length):
    assert switch.process_frame(0, frame_from(0)[:length]) == []


def test_slot_out_of_range_is_rejected(switch):
    assert switch.process_frame(0, frame_from(0, slot=5)) == []
    assert switch.frames.reasons["rejected"] == 1


def test_worker_table_validation():
    with pytest.raises(ValueError, match="worker ids must be 0..n-1"):
        FrameSwitch(SwitchConfig(), [WorkerEntry(1, "02:00:00:00:00:01", "10.0.0.1", 0)])
    with pytest.raises(ValueError, match=r"num_workers must be an integer in 1\.\.32"):
        FrameSwitch(SwitchConfig(), [WorkerEntry(w % 32, "02:00:00:00:00:01", "10.0.0.1", 0) for w in range(33)])
    with pytest.raises(ValueError, match=r"port must be in 0\.\.511"):
        WorkerEntry(0, "02:00:00:00:00:01", "10.0.0.1", 600)


def test_max_workers_is_the_bitmap_width_and_every_bit_aggregates():
    n = spec.MAX_WORKERS
    switch = FrameSwitch(SwitchConfig(slots=1), worker_entries(n))
    assert switch.pipeline.pool.bitmap.dtype.itemsize * 8 == n
    sends = [Send(w, 0, 0, 0, np.full(64, w, np.int32)) for w in range(n)]
    outputs = [switch.process_frame(w, request_frame(s, worker_entries(n), 64)) for w, s in enumerate(sends)]
    assert all(o == [] for o in outputs[:-1]) and [o.worker_id for o in outputs[-1]] == list(range(n))
    assert int(switch.pipeline.pool.bitmap[0, 0]) == (1 << n) - 1
    assert codec.decode_frames(outputs[-1][0].frame, 64).messages.values[0, 0] == sum(range(n))
