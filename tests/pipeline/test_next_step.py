"""The next step after a packet is decided once (`next_step`), the same for Python, numpy and compiled callers."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from switchsim.emu.datagram_switch import DROP_REASONS, DatagramSwitch, ServerConfig
from switchsim.frame_switch import FrameSwitch
from switchsim.p4gen.render import P4_DROP_REASONS
from switchsim.pipeline import Action, Recipients, SwitchConfig, next_step
from switchsim.pipeline.process import RECIPIENTS_BY_ACTION
from switchsim.pipeline.tables import RECIPIENTS, DropReason
from switchsim.protocol import codec


def test_recipients_follow_the_protocol_reference_table():
    # docs/protocol.md §2: the last contribution -> every worker; a duplicate to a complete set -> the sender;
    # everything else -> nobody.
    assert RECIPIENTS == {Action.CONSUMED: Recipients.NONE, Action.MULTICAST: Recipients.JOB,
                          Action.UNICAST: Recipients.SENDER, Action.DROPPED: Recipients.NONE,
                          Action.STALE: Recipients.NONE, Action.REJECTED: Recipients.NONE}
    assert RECIPIENTS_BY_ACTION.tolist() == [0, 1, 2, 0, 0, 0]


@numba.njit(cache=False)
def _compiled(action, slot, pool_set):
    return next_step(action, slot, pool_set)


@pytest.mark.parametrize("action", list(Action))
def test_next_step_is_the_same_in_python_numpy_and_compiled_code(action):
    expected = (int(RECIPIENTS[action]), (1 << 15) | 77)
    assert tuple(map(int, next_step(int(action), 77, 1))) == expected
    assert tuple(map(int, _compiled(int(action), 77, 1))) == expected
    recipients, pool_index = next_step(np.array([int(action)] * 2), np.array([77, 3]), np.array([1, 0]))
    assert recipients.tolist() == [expected[0]] * 2 and pool_index.tolist() == [expected[1], 3]


def test_drop_reasons_are_one_enum_shared_by_every_switch():
    assert set(DROP_REASONS) <= set(DropReason) and set(P4_DROP_REASONS) <= set(DropReason)
    assert [str(r) for r in P4_DROP_REASONS] == ["unregistered_source", "truncated", "unsupported_size",
                                                 "ip_options", "slot_out_of_range", "unknown_destination"]
    # the frame switch and the datagram switch name a stranger's packet the same way
    from switchsim.conformance.vectors import Send, request_frame, worker_entries

    frames = FrameSwitch(SwitchConfig(slots=4), worker_entries(2))
    frame = bytearray(request_frame(Send(0, 0, 0, 0, np.ones(64, np.int32)), worker_entries(2), 64))
    frame[6:12] = bytes.fromhex("0200000000aa")
    assert frames.process_frame(0, bytes(frame)) == []
    datagrams = DatagramSwitch(ServerConfig(workers=(("127.0.0.1", 4000),), slots=4))
    message = codec.encode_messages(codec.Messages.build(pool_index=0, values=np.ones((1, 64), np.int32)))
    assert datagrams.handle_batch([(message[0].tobytes(), ("127.0.0.1", 9))]) == []
    assert dict(frames.frames.reasons) == {DropReason.UNREGISTERED_SOURCE: 1}
    assert datagrams.report()["drops"]["unregistered_source"] == 1
