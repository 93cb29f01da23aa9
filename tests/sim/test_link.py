"""Links: the packet-level channel model both engines use, for SwitchML and the transports alike."""

import numpy as np
import pytest

from switchsim.config import scenario_from_dict
from switchsim.sim import handlers as h
from switchsim.sim.state import RunInputs, new_state, transmission_ticks
from switchsim.sim.switchml_method import scenario_network

OUT = np.zeros((8, h.EVENT_FIELDS), np.int64)


def state_for(**link):
    """A one-worker rack at 1 Gb/s with 1 us links (plus ``link``); its channel 0 is the worker's uplink."""
    scenario = scenario_from_dict({"methods": ["switchml"], "topology": {"workers": 1},
                                   "link": {"rate_bps": 1e9, "delay_s": 1e-6, **link},
                                   "workload": {"elements": 64, "source": "synthetic"}})
    return new_state(scenario, scenario_network(scenario), RunInputs(elements=64))


def send(state, ready, payload=0):
    """Arrival times of one packet sent on channel 0 at ``ready`` ps (empty if dropped)."""
    count = h.channel_send(state, 0, ready, 0, payload, False, OUT, 0)
    return OUT[:count, h.E_TIME].tolist()


def test_serialization_then_propagation_in_exact_picoseconds():
    state = state_for()
    serialization = transmission_ticks(332, 1e9)  # k = 64 on the wire
    assert serialization == 2_656_000
    assert send(state, 0) == [serialization + 1_000_000]
    assert send(state, 0) == [2 * serialization + 1_000_000]  # queued behind the first
    stats = state.channel_counters[0]
    assert stats[h.C_PACKETS] == 2 and stats[h.C_BYTES] == 664
    assert stats[h.C_MAX_BACKLOG] == serialization
    assert OUT[0, h.E_KIND] == h.REQUEST and OUT[0, h.E_TARGET] == 0  # arrives at switch 0


def test_tail_drop_when_the_queue_is_full():
    state = state_for(queue_bytes=2048)  # 6 x 332 bytes fit (backlog + itself), 7 do not
    arrivals = [send(state, 0) for _ in range(8)]
    assert [bool(a) for a in arrivals] == [True] * 6 + [False] * 2
    assert state.channel_counters[0, h.C_QUEUE_DROPS] == 2
    assert state.channel_counters[0, h.C_PACKETS] == 6


def test_loss_and_duplicates_follow_their_probabilities():
    state = state_for(loss=0.2, duplicate=0.1, duplicate_delay_s=1e-3, queue_bytes=10**9)
    delivered = sum(len(send(state, i * 10**7)) for i in range(20000))
    stats = state.channel_counters[0]
    assert stats[h.C_LOSS_DROPS] / 20000 == pytest.approx(0.2, abs=0.015)
    assert stats[h.C_DUPLICATES] / (20000 - stats[h.C_LOSS_DROPS]) == pytest.approx(0.1, abs=0.01)
    assert delivered == 20000 - stats[h.C_LOSS_DROPS] + stats[h.C_DUPLICATES]


def test_fates_depend_on_the_packet_index_not_on_history():
    """The nth packet of a channel meets the same fate whatever the times it was sent at."""
    early, late = state_for(loss=0.3), state_for(loss=0.3)
    fates_early = [bool(send(early, i * 10**7)) for i in range(200)]
    fates_late = [bool(send(late, 5 * 10**12 + i * 3 * 10**7)) for i in range(200)]
    assert fates_early == fates_late
    other_seed = state_for(loss=0.3)
    other_seed.channel_keys[0] += np.uint64(1)
    assert [bool(send(other_seed, i * 10**7)) for i in range(200)] != fates_early


def test_each_size_class_serializes_at_the_channels_own_rate():
    """Serialization comes from the channel's table, per size class: a SwitchML packet, a transport data
    packet (1472 B payload: 1538 B on the wire), an ACK (84 B); a second channel at another rate differs."""
    state = state_for()
    assert state.size_class_bytes.tolist() == [332, 1538, 84]
    assert state.channel_serialization[0].tolist() == [transmission_ticks(b, 1e9) for b in (332, 1538, 84)]
    state.channel_serialization[1] = [transmission_ticks(b, 1e8) for b in (332, 1538, 84)]
    state.channel_delay[1] = 5_000_000
    departure, arrival, copy = h.channel_transmit(state, 1, 0, h.SIZE_DATA)
    assert (departure, arrival, copy) == (123_040_000, 128_040_000, -1)
    assert state.channel_counters[1, h.C_BYTES] == 1538
    departure, arrival, copy = h.channel_transmit(state, 0, 0, h.SIZE_CONTROL)
    assert (departure, arrival) == (672_000, 1_672_000)


@pytest.mark.parametrize("bits", [32, 16, 8])
def test_compiled_element_width_agrees_with_the_codec(bits):
    """handlers.to_element_bits (compiled code's copy of the rule) equals codec.to_wire_width."""
    from switchsim.protocol.codec import to_wire_width

    values = np.random.default_rng(bits).integers(-(2**31), 2**31 - 1, size=2000, dtype=np.int32, endpoint=True)
    values[:4] = [2**31 - 1, -(2**31), 127, -129]
    assert [int(h.to_element_bits(np.int32(v), bits)) for v in values] == to_wire_width(values, bits).tolist()
