"""The array form of the worker protocol: constants in step with the spec, several instances side by side."""

import numpy as np

from workers import protocol_state as state
from workers.protocol import WorkerConfig, WorkerProtocol


def test_pool_index_of_packs_slot_and_set_as_the_wire_does():
    config, _, _ = state.new_protocol_state(1, 4)
    config[0, state.C_WINDOW], config[0, state.C_START_SLOT], config[0, state.C_SHIFT] = 4, 10, 0
    assert [state.pool_index_of(config, 0, p) for p in range(9)] == [10, 11, 12, 13, 0x800A, 0x800B, 0x800C, 0x800D,
                                                                      10]


def test_instances_are_independent_and_match_the_wrapper():
    """Two instances in one set of arrays behave exactly as two WorkerProtocols."""
    arrays = state.new_protocol_state(2, 4)
    out = np.zeros(4, np.int64)
    wrappers = []
    for w in range(2):
        config = WorkerConfig(worker_id=w, num_workers=2, window=4, shift=w, timeout_s=1e-6)
        state.configure(*arrays, w, w, 2, 4, 0, 64, 0, w, 10, 10**6, 2, 1, state.RECOVERY_OFFICIAL, 1)
        wrappers.append(WorkerProtocol(WorkerConfig(**{**_fields(config), "backoff_threshold": 2,
                                                         "backoff_threshold_increment": 1}),
                                       np.zeros(640, np.int32)))
    for w in range(2):
        assert out[: state.start(*arrays, w, 0, out)].tolist() == wrappers[w].start(0.0)
    for now in (10**6, 3 * 10**6, 7 * 10**6):
        for w in range(2):
            count = state.on_timeout(*arrays, w, now, out)
            assert out[:count].tolist() == wrappers[w].on_timeout(now / 1e12)
            assert arrays[1][w, state.S_PERIOD] == round(wrappers[w].timeout_period_s * 1e12)
    packet, following = state.on_result(*arrays, 1, 8 * 10**6, 0, state.packet_tsi(2), wrappers[1].pool_index(2))
    assert (packet, following) == (2, 6)
    assert arrays[1][0, state.S_RESULTS] == 0 and arrays[1][1, state.S_RESULTS] == 1


def test_tsi_array_encoding_equals_the_scalar_one():
    packets = np.array([0, 1, 255, 256, 70000, 2**32 - 1], np.int64)
    assert state.packet_tsi_array(packets).tolist() == [state.packet_tsi(int(p)) for p in packets]
    assert [state.tsi_packet(state.packet_tsi(int(p))) for p in packets] == packets.tolist()


def _fields(config):
    return {name: getattr(config, name) for name in config.__slots__}
