"""Interop with the official DPDK client's frames, through the model (bmv2: tests/p4/test_bmv2_official_client.py).

Frames are built byte by byte as p4app-switchML's client builds them
(switchsim.conformance.official_client: TTL 128, UDP checksum computed, only
e0 written, tsi = packet id little-endian); every reply must carry the exact
int32 wrap-around sum (Python integers) and the max e0.
"""

import struct

import numpy as np
import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from switchsim.conformance import official_client, vectors
from switchsim.frame_switch import FrameSwitch, SwitchAddress
from switchsim.pipeline import SwitchConfig
from switchsim.pipeline.process import FAITHFUL, HARDENED_PACKET_ID, HARDENED_TSI
from switchsim.pipeline.tables import Counter

N, W = 3, 64  # W = 64 lanes: the official 256 outstanding packets over 4 threads


def model(hardened, k, slots=W):
    switch = FrameSwitch(SwitchConfig(slots=slots, elements_per_packet=k, hardened=hardened),
                         vectors.worker_entries(N), SwitchAddress())
    return lambda port, frame: [(out.egress_port, out.frame) for out in switch.process_frame(port, frame)]


def tensors(packets, k, seed=7):
    rng = np.random.default_rng(seed)
    data = rng.integers(-2**31, 2**31 - 1, size=(N, packets * k), endpoint=True, dtype=np.int64).astype(np.int32)
    data[:, 0] = 2**31 - 1  # every first element's sum wraps
    return data


def wrong_replies(run, data, k):
    """Packets whose replies are missing or differ from the exact sum and the max e0."""
    wrong = []
    for p in range(data.shape[1] // k):
        want = (official_client.expected_sum(data, p, k), max((p + w) % 7 - 3 for w in range(N)))
        replies = run.replies.get(p, {})
        if sorted(replies) != list(range(N)) or any(reply != want for reply in replies.values()):
            wrong.append(p)
    return wrong


def test_frames_are_the_official_clients_bytes():
    worker = vectors.worker_entries(1)[0]
    values = np.arange(64, dtype=np.int32) - 5
    frame = official_client.official_request(worker, SwitchAddress(), packet=0x1234, pool_index=0x8003,
                                             values=values, e0=-2, job_number=7)
    packet = Ether(frame)
    assert len(frame) == spec_frame_bytes(64)
    assert packet[IP].ttl == 128 and packet[IP].id == 0 and packet[IP].flags == 0 and packet[IP].ihl == 5
    assert packet[UDP].chksum != 0 and packet[UDP].sport == 4000 and packet[UDP].dport == 0xBEE0
    # checksums as a receiver verifies them: recomputed by scapy, they are unchanged
    rebuilt = Ether(frame)
    del rebuilt[IP].chksum, rebuilt[UDP].chksum
    assert bytes(rebuilt) == frame
    header = frame[42:50]
    assert header[0] == 0x11 and header[1] == 7  # msg_type 1, size 1; job 7
    assert header[2:6] == bytes([0x34, 0x12, 0, 0])  # tsi: the packet id little-endian
    assert struct.unpack("!H", header[6:8])[0] == 0x8003
    assert frame[50:52] == bytes([0xFE, 0])  # e0 = -2, e1 untouched (0)
    assert np.array_equal(np.frombuffer(frame[52:], ">i4"), values)


def spec_frame_bytes(k):
    from switchsim.protocol import spec
    return spec.frame_bytes(k)


@pytest.mark.parametrize("k", [64, 256])
@pytest.mark.parametrize("hardened", [FAITHFUL, HARDENED_PACKET_ID], ids=["faithful", "hardened"])
def test_official_frames_aggregate_exactly_through_the_model(hardened, k):
    """Packet ids 0..299 (past 0xFF, so the little-endian tsi's low byte wraps) over W = 64 lanes."""
    packets = 300 if k == 64 else 140
    data = tensors(packets, k)
    run = official_client.aggregate(model(hardened, k), vectors.worker_entries(N), data, elements_per_packet=k,
                                    window=W)
    assert run.problems == []
    assert wrong_replies(run, data, k) == []
    assert run.frames_sent == N * packets


def test_hardened_mode_drops_late_official_duplicates_and_stays_exact():
    data = tensors(300, 64)
    switch = FrameSwitch(SwitchConfig(slots=W, hardened=HARDENED_PACKET_ID), vectors.worker_entries(N))
    run = official_client.aggregate(lambda port, frame: [(o.egress_port, o.frame) for o in
                                                         switch.process_frame(port, frame)],
                                    vectors.worker_entries(N), data, elements_per_packet=64, window=W,
                                    late_duplicates=True)
    assert run.problems == [] and wrong_replies(run, data, 64) == []
    assert int(switch.pipeline.pool.counters[:, Counter.STALE].sum()) == 300 - W  # every late duplicate: stale


def test_faithful_mode_is_corrupted_by_late_official_duplicates():
    data = tensors(300, 64)
    run = official_client.aggregate(model(FAITHFUL, 64), vectors.worker_entries(N), data, elements_per_packet=64,
                                    window=W, late_duplicates=True)
    assert len(wrong_replies(run, data, 64)) > 100  # the hazard: wrong sums from packet 2W on


def test_hardened_comparison_of_the_raw_tsi_deadlocks_on_official_frames():
    """Compared as a big-endian number, packet p + 2W = p + 128 reads 2**31 ahead: not newer, stale."""
    data = tensors(200, 64)
    run = official_client.aggregate(model(HARDENED_TSI, 64), vectors.worker_entries(N), data,
                                    elements_per_packet=64, window=W)
    wrong = wrong_replies(run, data, 64)
    assert wrong and wrong[0] == 2 * W  # the first reuse of a set
