"""The emulator switch: replies per the contract, drops by reason, survival under malformed input."""

import socket
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchsim.emu.switch_server import DROP_REASONS, DatagramSwitch, ServerConfig, SwitchProcess, SwitchServer
from switchsim.protocol import codec, spec

K = 64
WORKERS = (("127.0.0.1", 4000), ("127.0.0.1", 4001), ("127.0.0.1", 4002))


def message(slot=0, pool_set=0, value=1, tsi=0, job=0, exponents=(0, 0), k=K):
    m = codec.Messages.build(pool_index=spec.make_pool_index(slot, pool_set), values=np.full((1, k), value, np.int32),
                             tsi=tsi, job_number=job, exponents=np.array([exponents], np.int8))
    return codec.encode_messages(m)[0].tobytes()


def with_size(data, size):
    """``data`` with its switchml ``size`` field replaced (position from the spec)."""
    header = spec.SWITCHML_HEADER
    before = sum(f.bits for f in header.fields[: header.names.index("size")])
    shift = header.bits - before - header.field("size").bits
    mask = (1 << header.field("size").bits) - 1
    word = int.from_bytes(data[: header.nbytes], "big") & ~(mask << shift) | (size << shift)
    return word.to_bytes(header.nbytes, "big") + data[header.nbytes :]


@pytest.fixture
def switch():
    return DatagramSwitch(ServerConfig(workers=WORKERS, slots=4))


def test_last_contribution_multicasts_the_set_to_every_worker_in_order(switch):
    assert switch.handle_batch([(message(value=3, exponents=(1, -2)), WORKERS[0])]) == []
    assert switch.handle_batch([(message(value=4, exponents=(5, -3)), WORKERS[1])]) == []
    replies = switch.handle_batch([(message(value=5, exponents=(2, -1), tsi=640), WORKERS[2])])
    assert [address for _, address in replies] == list(WORKERS)
    reply = codec.decode_messages(replies[0][0], K)
    assert reply.values[0].tolist() == [12] * K
    assert reply.exponents[0].tolist() == [5, -1]
    assert (int(reply.msg_type[0]), int(reply.size[0]), int(reply.tsi[0])) == (spec.MSG_TYPE_DATA, 1, 640)
    assert len({payload for payload, _ in replies}) == 1


def test_duplicate_to_complete_set_is_unicast_back_to_the_sender(switch):
    for address in WORKERS:
        switch.handle_batch([(message(slot=2, pool_set=1, value=1), address)])
    replies = switch.handle_batch([(message(slot=2, pool_set=1, value=99), WORKERS[1])])
    assert [address for _, address in replies] == [WORKERS[1]]
    reply = codec.decode_messages(replies[0][0], K)
    assert reply.values[0, 0] == 3 and int(reply.pool_index[0]) == spec.make_pool_index(2, 1)
    assert switch.report()["unicasts"] == 1


def test_reply_pool_index_clears_bit_14(switch):
    data = bytearray(message(slot=1, pool_set=1))
    pool_index_offset = spec.SWITCHML_HEADER.nbytes - 2
    data[pool_index_offset] |= 0x40
    for address in WORKERS:
        replies = switch.handle_batch([(bytes(data), address)])
    assert int(codec.decode_messages(replies[0][0], K).pool_index[0]) == spec.make_pool_index(1, 1)


def test_int32_wrap_around(switch):
    top = np.iinfo(np.int32).max
    for address in WORKERS:
        replies = switch.handle_batch([(message(value=top), address)])
    assert codec.decode_messages(replies[0][0], K).values[0, 0] == np.int32(top * 3 - 2**32)


@pytest.mark.parametrize(
    ("datagram", "source", "reason"),
    [
        (message(), ("127.0.0.1", 5555), "unregistered_source"),
        (message(), ("127.0.0.2", 4000), "unregistered_source"),
        (b"", WORKERS[0], "truncated"),
        (message()[:7], WORKERS[0], "truncated"),
        (message()[:-1], WORKERS[0], "truncated"),
        (message() + b"\x00", WORKERS[0], "length_mismatch"),
        (with_size(message(), 5), WORKERS[0], "unknown_size"),
        (with_size(message(), 7), WORKERS[0], "unknown_size"),
        (with_size(message(), 3), WORKERS[0], "unsupported_size"),
        (message(k=256), WORKERS[0], "unsupported_size"),
        (message(job=1), WORKERS[0], "wrong_job"),
        (message(slot=4), WORKERS[0], "slot_out_of_range"),
        (message(slot=spec.MAX_SLOTS - 1), WORKERS[0], "slot_out_of_range"),
    ],
)
def test_malformed_datagrams_are_dropped_and_counted(switch, datagram, source, reason):
    assert switch.handle_batch([(datagram, source)]) == []
    report = switch.report()
    assert report["drops"][reason] == 1
    assert sum(report["drops"].values()) == 1
    assert report["processed"] == 0 and report["pipeline"]["drop"] == 0


def test_report_lists_every_reason(switch):
    report = switch.report()
    assert list(report["drops"]) == list(DROP_REASONS)
    assert set(report["pipeline"]) == {"broadcast", "retransmit", "drop", "stale", "rejected"}


def test_served_job_number():
    switch = DatagramSwitch(ServerConfig(workers=WORKERS[:1], job_number=7, slots=2))
    assert switch.handle_batch([(message(job=0), WORKERS[0])]) == []
    replies = switch.handle_batch([(message(job=7), WORKERS[0])])
    assert int(codec.decode_messages(replies[0][0], K).job_number[0]) == 7
    assert switch.report()["drops"]["wrong_job"] == 1


@pytest.mark.parametrize(
    ("kwargs", "message_text"),
    [
        ({"workers": ()}, "workers must list 1..32"),
        ({"workers": WORKERS[:1] * 2}, "distinct"),
        ({"workers": WORKERS, "job_number": 256}, "job_number must be in 0..255"),
        ({"workers": WORKERS, "port": 70000}, "port must be in 0..65535"),
        ({"workers": WORKERS, "slots": 0}, "slots must be"),
        ({"workers": WORKERS, "elements_per_packet": 100}, "elements_per_packet must be one of"),
        # 128 is a narrow-element k (int16 at size code 2): never served silently as 128 int32
        ({"workers": WORKERS, "elements_per_packet": 128}, r"must be one of \(64, 256\) \(int32 elements; the "
                                                          r"emulator does not serve narrow elements\), got 128"),
        ({"workers": (("10.0.0", 1),)}, "IPv4 address"),
    ],
)
def test_config_validation_names_the_value(kwargs, message_text):
    with pytest.raises(ValueError, match=message_text):
        ServerConfig(**kwargs)


# --- over real sockets on 127.0.0.1 ----------------------------------------------------------
def _worker_sockets(count):
    sockets = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(2.0)
        sockets.append(sock)
    return sockets


def _receive(sock, count):
    return [sock.recv(4096) for _ in range(count)]


@pytest.mark.network
def test_server_thread_serves_and_stops():
    sockets = _worker_sockets(2)
    try:
        config = ServerConfig(workers=tuple(s.getsockname() for s in sockets), port=0, slots=2)
        with SwitchServer(config) as server:
            for sock in sockets:
                sock.sendto(message(value=2), server.address)
            replies = [_receive(sock, 1)[0] for sock in sockets]
        assert all(codec.decode_messages(r, K).values[0, 0] == 4 for r in replies)
        report = server.report()
        assert report["pipeline"]["broadcast"] == 1 and report["datagrams_sent"] == 2
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.network
def test_switch_process_binds_in_the_switchml_range_and_reports():
    sockets = _worker_sockets(1)
    first = SwitchProcess(ServerConfig(workers=(sockets[0].getsockname(),), port=None, slots=2))
    second = SwitchProcess(ServerConfig(workers=(sockets[0].getsockname(),), port=None, slots=2))
    try:
        address = first.start()
        other = second.start()
        assert address[1] in spec.UDP_PORTS and other[1] in spec.UDP_PORTS and other != address
        sockets[0].sendto(message(value=5), address)
        assert codec.decode_messages(_receive(sockets[0], 1)[0], K).values[0, 0] == 5
        report = first.stop()
        assert report["processed"] == 1 and report["multicasts"] == 1
    finally:
        first.kill()
        second.kill()
        sockets[0].close()


def _malformed(kind, data):
    good = message(slot=1, value=1)
    if kind == "random":
        return data + b"\x00" if len(data) == len(good) else data  # never a well-formed message by chance
    if kind == "truncated":
        return good[: len(data) % len(good)]
    if kind == "size":
        return with_size(good, 2 + len(data) % 6)
    if kind == "slot":
        return message(slot=2 + len(data) % 100)
    if kind == "job":
        return message(job=1 + len(data) % 255)
    return good + data + b"\x00"  # too long


MALFORMED = st.lists(
    st.tuples(st.sampled_from(["random", "truncated", "size", "slot", "job", "long", "stranger"]),
              st.binary(max_size=400)),
    min_size=1,
    max_size=30,
)


@pytest.mark.network
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(noise=MALFORMED, seed=st.integers(0, 2**16))
def test_fuzz_server_survives_malformed_datagrams_and_stays_exact(noise, seed):
    """Malformed datagrams interleaved with a 2-slot, 3-worker aggregation: exact sums, every drop counted."""
    rng = np.random.default_rng(seed)
    sockets = _worker_sockets(4)  # the fourth is not registered
    workers, stranger = sockets[:3], sockets[3]
    config = ServerConfig(workers=tuple(s.getsockname() for s in workers), port=0, slots=2)
    values = rng.integers(-(2**31), 2**31, size=(3, 2, K), dtype=np.int64).astype(np.int32)
    try:
        with SwitchServer(config) as server:
            schedule = [("good", w, slot) for slot in range(2) for w in range(3)]
            schedule += [("bad", kind, data) for kind, data in noise]
            order = rng.permutation(len(schedule))
            expected_drops = 0
            for index in order:
                entry = schedule[index]
                if entry[0] == "good":
                    _, w, slot = entry
                    data = codec.encode_messages(codec.Messages.build(pool_index=slot, values=values[w, slot:slot + 1],
                                                                      tsi=slot * K))[0].tobytes()
                    workers[w].sendto(data, server.address)
                else:
                    _, kind, data = entry
                    sender = stranger if kind == "stranger" else workers[int(rng.integers(3))]
                    sender.sendto(_malformed(kind, data) if kind != "stranger" else message(), server.address)
                    expected_drops += 1
            results = {}
            for sock in workers:
                for reply in _receive(sock, 2):
                    decoded = codec.decode_messages(reply, K)
                    results.setdefault(int(decoded.tsi[0]) // K, []).append(decoded.values[0].copy())
            for _ in range(100):  # every datagram handled before the report
                report = server.report()
                if report["received"] == len(schedule):
                    break
                time.sleep(0.01)
        wrapped = values.sum(axis=0, dtype=np.int64).astype(np.int32)
        for slot in range(2):
            assert len(results[slot]) == 3
            assert all(np.array_equal(r, wrapped[slot]) for r in results[slot])
        report = server.report()
        assert report["received"] == len(schedule)
        assert report["drops"]["internal_error"] == 0
        assert sum(report["drops"].values()) == expected_drops
        assert report["pipeline"]["broadcast"] == 2
    finally:
        for sock in sockets:
            sock.close()
