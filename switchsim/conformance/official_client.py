"""Requests as the official DPDK client builds them, and a lock-step driver that aggregates with them.

p4app-switchML's DPDK worker (``dev_root/client_lib/src/backends/dpdk/
dpdk_worker_thread_utils.inc``, ``BuildPacket``) writes, with the NIC
computing both checksums (``PKT_TX_IP_CKSUM | PKT_TX_UDP_CKSUM``):

* IPv4: version/ihl 0x45, TTL **128**, protocol UDP, identification, flags and
  fragment offset 0, the header checksum;
* UDP: source port = the thread's (base + thread id), destination the SwitchML port,
  the checksum **computed** (the pseudo-header sum, completed by the NIC);
* SwitchML: ``job_type_size = (1 << 4) + size``, the job number, ``tsi`` = the
  packet id in **host byte order** (little-endian on x86: the one field it does
  not convert), ``pool_index`` big-endian, from ``PktId2PoolIndex``: ``i = (p +
  shift) mod 2W``, slot ``start + i`` (set 0) or ``start + i - W`` (set 1);
* the payload, and the block exponent ``e0`` only (``e1`` stays 0).

The frames here are put together with `struct`, not with
`switchsim.protocol.codec`, so they check the codec-built switch against an
independent rendering of the official client's bytes. One difference from the
official client is kept on purpose: switchsim's wire places the exponents
header before the payload (`switchsim.protocol.spec`); p4app-switchML's
``headers.p4`` and its client place a 16-bit exponent after it. Everything
else is the official client's.

`aggregate` drives a switch with these frames in lock step (every worker sends
packet p, the last contribution's multicast answers it; packet p + W follows on
the same slot, other set), optionally re-sending each worker-0 packet late,
after the chunk that replaced it completed (the late-duplicate hazard).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from switchsim.frame_switch import SwitchAddress, WorkerEntry
from switchsim.protocol import codec, spec

#: The official client's IPv4 TTL.
OFFICIAL_TTL = 128


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def official_pool_index(packet: int, window: int, start_slot: int = 0, shift: int = 0) -> int:
    """``PktId2PoolIndex``: set 0 slot ``start + i`` for ``i < W``, else set 1 (bit 15) slot ``start + i - W``.

    Example:
        >>> official_pool_index(3, 8), hex(official_pool_index(11, 8))
        (3, '0x8003')
    """
    i = (packet + shift) % (2 * window)
    return start_slot + i if i < window else (start_slot + i - window) | 0x8000


def official_request(worker: WorkerEntry, switch: SwitchAddress, *, packet: int, pool_index: int,
                     values: np.ndarray, e0: int = 0, job_number: int = 1, thread: int = 0) -> bytes:
    """One request frame exactly as the official DPDK client sends it (module docstring)."""
    k = len(values)
    size = spec.size_for_elements(k)
    payload = struct.pack("!bb", e0, 0) + np.asarray(values, dtype=">i4").tobytes()
    switchml = struct.pack("!BB", (spec.MSG_TYPE_DATA << 4) + size, job_number & 0xFF) + struct.pack(
        "<I", packet & 0xFFFFFFFF) + struct.pack("!H", pool_index)
    udp_length = 8 + len(switchml) + len(payload)
    src_ip = codec.ip_to_int(worker.ip).to_bytes(4, "big")
    dst_ip = codec.ip_to_int(switch.ip).to_bytes(4, "big")
    ports = struct.pack("!HH", spec.WORKER_UDP_PORT_BASE + thread, spec.UDP_PORT)
    pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, spec.IP_PROTOCOL_UDP, udp_length)
    udp_checksum = _checksum(pseudo + ports + struct.pack("!HH", udp_length, 0) + switchml + payload) or 0xFFFF
    udp = ports + struct.pack("!HH", udp_length, udp_checksum)
    ip = struct.pack("!BBHHHBBH", 0x45, 0, 20 + udp_length, 0, 0, OFFICIAL_TTL, spec.IP_PROTOCOL_UDP, 0)
    ip += src_ip + dst_ip
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    ethernet = (codec.mac_to_int(switch.mac).to_bytes(6, "big") + codec.mac_to_int(worker.mac).to_bytes(6, "big")
                + struct.pack("!H", spec.ETHERTYPE_IPV4))
    return ethernet + ip + udp + switchml + payload


@dataclass(slots=True)
class OfficialRun:
    """What `aggregate` saw: each packet's reply (values, e0) per worker, and anything unexpected."""

    replies: dict[int, dict[int, tuple[list[int], int]]]
    problems: list[str]
    frames_sent: int = 0


def aggregate(switch: Callable[[int, bytes], Sequence[tuple[int, bytes]]], workers: Sequence[WorkerEntry],
              tensors: np.ndarray, *, elements_per_packet: int, window: int,
              address: SwitchAddress | None = None, late_duplicates: bool = False,
              job_number: int = 1) -> OfficialRun:
    """Aggregate ``tensors`` (n, P * k) through ``switch`` with official-client frames, packet by packet.

    Args:
        switch: ``(ingress port, frame) -> [(egress port, frame), ...]``, the frames the switch emits.
        workers: the worker table (worker w on ``workers[w].port``).
        tensors: int32, one row per worker.
        elements_per_packet: k.
        window: W, lanes (slots) per worker.
        address: the switch's MAC/IP (destination of the requests).
        late_duplicates: after packet p's chunk completes, re-send worker 0's packet p - W
            (its set is idle by then: a late duplicate).
        job_number: the job number in every request.
    """
    address = address or SwitchAddress()
    n, total = tensors.shape
    k = elements_per_packet
    packets = total // k
    run = OfficialRun(replies={}, problems=[])
    frames: dict[tuple[int, int], bytes] = {}
    for p in range(packets):
        chunk = tensors[:, p * k : (p + 1) * k]
        outputs: list[tuple[int, bytes]] = []
        for w, worker in enumerate(workers):
            frames[w, p] = official_request(worker, address, packet=p, pool_index=official_pool_index(p, window),
                                            values=chunk[w], e0=(p + w) % 7 - 3, job_number=job_number)
            outputs += switch(worker.port, frames[w, p])
            run.frames_sent += 1
        if len(outputs) != n:
            run.problems.append(f"packet {p}: {len(outputs)} frames out, expected {n} (one per worker)")
        for port, frame in outputs:
            message = codec.decode_frames(frame, k).messages
            tsi = int(message.tsi[0])
            if tsi != int.from_bytes(p.to_bytes(4, "little"), "big"):
                run.problems.append(f"packet {p}: reply tsi {tsi:#010x}")
            if frame[22] != spec.REPLY_TTL:
                run.problems.append(f"packet {p}: reply TTL {frame[22]}")
            receiver = next((w for w, worker in enumerate(workers) if worker.port == port), None)
            run.replies.setdefault(p, {})[receiver] = ([int(v) for v in message.values[0]],
                                                        int(message.exponents[0][0]))
        if late_duplicates and p >= window:
            late = switch(workers[0].port, frames[0, p - window])
            run.frames_sent += 1
            if late:
                run.problems.append(f"late duplicate of packet {p - window}: {len(late)} frames out")
    return run


def expected_sum(tensors: np.ndarray, packet: int, k: int) -> list[int]:
    """The int32 wrap-around sum of every worker's packet ``packet``, with Python integers."""
    columns = tensors[:, packet * k : (packet + 1) * k].astype(np.int64).sum(axis=0)
    return [int((c + 2**31) % 2**32 - 2**31) for c in columns]
