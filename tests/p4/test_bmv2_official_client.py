"""Interop on bmv2: frames built exactly as the official DPDK client builds them aggregate exactly.

The same frames as tests/conformance/test_official_client.py (TTL 128, UDP
checksum computed, only e0 written, tsi = packet id little-endian; built with
struct by switchsim.conformance.official_client), sent into simple_switch on
veth pairs, both builds. Packet ids run past 0xFF, so the little-endian tsi's
low byte wraps; the hardened build also gets every worker-0 packet again, late.
"""

import numpy as np
import pytest

from switchsim.conformance import official_client, vectors
from switchsim.p4gen import bmv2_runner
from switchsim.p4gen.controller import Bmv2Job

pytestmark = [pytest.mark.p4c, pytest.mark.bmv2]
N, W, K, PACKETS = 3, vectors.SLOTS, 64, 270


@pytest.mark.parametrize("hardened", [False, True], ids=["faithful", "hardened"])
def test_official_client_frames_aggregate_exactly_on_bmv2(bmv2_tools, bmv2_programs, bmv2_can_run, hardened):
    workers = vectors.worker_entries(N)
    rng = np.random.default_rng(11)
    data = rng.integers(-2**31, 2**31 - 1, size=(N, PACKETS * K), endpoint=True, dtype=np.int64).astype(np.int32)
    data[:, 0] = 2**31 - 1
    job = Bmv2Job(tuple(workers), slots=range(W), program_slots=vectors.SLOTS, hardened=hardened)
    with bmv2_runner.Bmv2Switch(bmv2_tools, bmv2_programs[hardened], ports=N) as switch:
        switch.configure(job)
        switch.drain()

        def through_bmv2(port, frame):
            switch.send(port, frame)
            # a contribution that completes a set is answered by N copies; others by nothing
            return switch.collect(N, 2.0, 0.0) if _completes(frame) else switch.collect(0, 0.0, 0.002)

        sent = {}

        def _completes(frame):
            key = frame[42:50]
            sent[key] = sent.get(key, 0) + 1
            return sent[key] == N

        run = official_client.aggregate(through_bmv2, workers, data, elements_per_packet=K, window=W,
                                        late_duplicates=hardened)
        stats = switch.stats(job)
    assert run.problems == []
    for p in range(PACKETS):
        want = (official_client.expected_sum(data, p, K), max((p + w) % 7 - 3 for w in range(N)))
        assert run.replies[p] == dict.fromkeys(range(N), want), f"packet {p}"
    assert stats["broadcast"] == PACKETS
    assert stats["stale"] == (PACKETS - W if hardened else 0)


def test_one_job_mixes_both_packet_sizes(bmv2_tools, bmv2_programs, bmv2_can_run):
    """k = 64 and k = 256 packets of the same job, on neighbouring slots, interleaved: every sum exact."""
    from switchsim.frame_switch import SwitchAddress
    from switchsim.protocol import codec, spec

    workers = vectors.worker_entries(2)
    rng = np.random.default_rng(5)
    job = Bmv2Job(tuple(workers), slots=range(vectors.SLOTS), program_slots=vectors.SLOTS)
    with bmv2_runner.Bmv2Switch(bmv2_tools, bmv2_programs[False], ports=2) as switch:
        switch.configure(job)
        switch.drain()
        for packet in range(12):
            k = 64 if packet % 2 == 0 else 256
            slot = packet % 2  # size 1 on slot 0, size 3 on slot 1; sets alternate every second use
            pool_index = slot | ((packet // 2) % 2) << spec.POOL_SET_BIT
            values = rng.integers(-2**31, 2**31 - 1, size=(2, k), endpoint=True, dtype=np.int64).astype(np.int32)
            for w, worker in enumerate(workers):
                switch.send(worker.port, official_client.official_request(
                    worker, SwitchAddress(), packet=packet, pool_index=pool_index, values=values[w], e0=w))
            replies = switch.collect(2, 2.0, 0.01)
            want = [int((int(a) + int(b) + 2**31) % 2**32 - 2**31) for a, b in zip(*values, strict=True)]
            assert sorted(port for port, _ in replies) == [0, 1], f"packet {packet}"
            for _, frame in replies:
                assert len(frame) == spec.frame_bytes(k)
                message = codec.decode_frames(frame, k).messages
                assert [int(v) for v in message.values[0]] == want and int(message.exponents[0][0]) == 1
                assert int(message.pool_index[0]) == pool_index
        stats = switch.stats(job)
    assert stats["broadcast"] == 12 and stats["drop"] == 12
