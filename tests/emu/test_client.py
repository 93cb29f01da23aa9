"""The real-socket worker: raw Ethernet frames (offline, over socketpairs), UDP, quantizer, loss."""

import socket
import threading

import numpy as np
import pytest

from switchsim.conformance.vectors import SWITCH, Send, request_frame, worker_entries
from switchsim.emu.switch_server import ServerConfig, SwitchServer
from switchsim.frame_switch import FrameSwitch
from switchsim.pipeline import SwitchConfig, wrapped_sum
from switchsim.protocol import codec, spec
from workers.client import (
    RawEthernetTransport,
    RawTarget,
    ScalingQuantizer,
    UdpTransport,
    make_tensor,
    run_worker,
    run_worker_float,
)
from workers.protocol import WorkerConfig, WorkerProtocol

K = 64


@pytest.fixture
def pair():
    ends = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    yield ends
    for end in ends:
        end.close()


def target(worker_id, interface="unused"):
    entry = worker_entries(3)[worker_id]
    return RawTarget(interface=interface, mac=entry.mac, ip=entry.ip, switch_mac=SWITCH.mac, switch_ip=SWITCH.ip)


def test_raw_frames_are_the_requests_the_conformance_vectors_expect(pair):
    """A worker's frame is byte for byte what the P4 contract feeds the switch (UDP checksum included)."""
    transport = RawEthernetTransport(target(1), K, sock=pair[0])
    values = np.arange(K, dtype=np.int32) - 7
    message = codec.Messages.build(pool_index=spec.make_pool_index(3, 1), values=values[None, :], tsi=5 * K,
                                   job_number=1, exponents=np.array([[2, -3]], np.int8))
    frame = transport.encode(message)[0].tobytes()
    expected = request_frame(Send(1, 3, 1, 5 * K, values, exponents=(2, -3), job_number=1), worker_entries(3), K)
    assert frame == expected
    assert len(frame) == spec.frame_bytes(K)


def test_raw_transport_keeps_only_replies_to_this_worker(pair):
    transport = RawEthernetTransport(target(0), K, sock=pair[0])
    switch = FrameSwitch(SwitchConfig(slots=4), worker_entries(2), SWITCH)
    frames = [request_frame(Send(w, 0, 0, 0, np.full(K, w + 1, np.int32)), worker_entries(2), K) for w in range(2)]
    switch.process_frame(0, frames[0])
    to_w0, to_w1 = (o.frame for o in switch.process_frame(1, frames[1]))
    kept = transport.accept([to_w0, to_w1, frames[0], to_w0[:100], b"", to_w0 + b"\x00" * 4])
    assert len(kept) == 2  # the reply, and the reply with Ethernet padding after it
    assert codec.decode_messages(kept[0], K).values[0].tolist() == [3] * K
    assert transport.stats.foreign == 4  # other worker's reply, own request, two runts


def _frame_switch_loop(switch, ports, stop):
    """Serve a FrameSwitch over socketpair ends: port i is ports[i]."""
    import select

    while not stop.is_set():
        readable, _, _ = select.select(ports, [], [], 0.02)
        for sock in readable:
            frame = sock.recv(4096)
            for out in switch.process_frame(ports.index(sock), frame):
                ports[out.egress_port].send(out.frame)


@pytest.mark.parametrize("loss", [0.0, 0.1])
def test_raw_workers_aggregate_through_a_frame_switch(loss):
    """Two raw-Ethernet workers against the frame-level model: the same path bmv2 takes, without root."""
    n, elements, window = 2, 64 * 20 + 5, 4
    switch = FrameSwitch(SwitchConfig(slots=window), worker_entries(n), SWITCH)
    pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM) for _ in range(n)]
    stop = threading.Event()
    server = threading.Thread(target=_frame_switch_loop, args=(switch, [p[1] for p in pairs], stop), daemon=True)
    server.start()
    runs = [None] * n

    def worker(w):
        config = WorkerConfig(worker_id=w, num_workers=n, window=window, timeout_s=0.01)
        transport = RawEthernetTransport(target(w), K, sock=pairs[w][0])
        runs[w] = run_worker(config, make_tensor(9, w, elements), transport, loss=loss,
                             rng=np.random.default_rng(w), max_wall_s=20.0)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30.0)
    stop.set()
    server.join(5.0)
    expected = wrapped_sum(np.stack([make_tensor(9, w, elements) for w in range(n)]))
    for run in runs:
        assert run.completed
        np.testing.assert_array_equal(run.result, expected)
    if loss:
        assert sum(r.injected_losses for r in runs) > 0
    for a, b in pairs:
        a.close()
        b.close()


@pytest.mark.network
def test_udp_worker_with_a_float_tensor():
    quantizer = ScalingQuantizer(scale=2.0**20, num_workers=2)
    tensors = np.random.default_rng(0).normal(size=(2, 500)).astype(np.float32)
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    server = SwitchServer(ServerConfig(workers=tuple(s.getsockname() for s in sockets), port=0, slots=8)).start()
    results = [None, None]

    def worker(w):
        config = WorkerConfig(worker_id=w, num_workers=2, window=8, timeout_s=0.02)
        results[w], _ = run_worker_float(config, tensors[w], UdpTransport(server.address, K, sock=sockets[w]),
                                         quantizer, max_wall_s=20.0)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30.0)
    server.stop()
    for sock in sockets:
        sock.close()
    for result in results:
        np.testing.assert_allclose(result, tensors.sum(axis=0), atol=4 / quantizer.scale)


def test_quantizer_bounds_each_contribution_for_n_workers():
    q = ScalingQuantizer(scale=1e9, num_workers=4)
    big = q.quantize(np.array([1e6, -1e6, np.nan], np.float32))
    assert big.tolist() == [np.iinfo(np.int32).max // 4, -(np.iinfo(np.int32).max // 4), 0]
    with pytest.raises(ValueError, match="scale must be a finite number > 0"):
        ScalingQuantizer(scale=0.0, num_workers=2)


def test_raw_target_validation():
    with pytest.raises(ValueError, match="dst_port must be in the switch's range"):
        RawTarget(interface="x", mac="02:00:00:00:00:01", ip="10.0.0.1", dst_port=spec.UDP_PORT - 1)
    with pytest.raises(ValueError, match="MAC address"):
        RawTarget(interface="x", mac="02:00", ip="10.0.0.1")


def test_run_worker_gives_up_at_the_deadline(pair):
    """No switch behind the socket: the worker stops at max_wall_s with completed=False."""
    transport = RawEthernetTransport(target(0), K, sock=pair[0])
    run = run_worker(WorkerConfig(worker_id=0, num_workers=2, window=2, timeout_s=0.01), np.ones(200, np.int32),
                     transport, max_wall_s=0.2)
    assert not run.completed and run.stats.retransmissions > 0
    with pytest.raises(ValueError, match=r"loss must be a probability in \[0, 1\)"):
        run_worker(WorkerConfig(worker_id=0, num_workers=1), np.ones(1, np.int32), transport, loss=1.0)


def test_make_tensor_is_a_pure_function_of_seed_and_worker():
    assert np.array_equal(make_tensor(1, 2, 100), make_tensor(1, 2, 100))
    assert not np.array_equal(make_tensor(1, 2, 100), make_tensor(1, 3, 100))
    assert WorkerProtocol(WorkerConfig(worker_id=0, num_workers=1), make_tensor(0, 0, 10)).total_packets == 1
