"""pcap files of the SwitchML traffic the emulator switch sees.

The emulator carries bare SwitchML messages (UDP payloads) over loopback
sockets, which have no Ethernet layer. To make that traffic readable by
tshark, Wireshark and scapy, `MessageFramer` wraps each message into a full
Ethernet/IPv4/UDP frame with `switchsim.protocol.codec.encode_frames` (real IP
addresses and UDP ports, synthetic MAC addresses) and `PcapWriter` stores the
frames in the plain libpcap format (magic ``0xa1b2c3d4``, version 2.4,
linktype 1 = Ethernet, microsecond timestamps).

MAC addresses follow the conformance vectors: worker w is
``02:00:00:00:00:(w+1)``, the switch is ``SwitchAddress().mac``; any other
source gets `UNKNOWN_MAC`. Requests carry the UDP checksum a host stack would
compute, replies carry 0 (as the switch sends them).

Example:
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "x.pcap")
    ...     with PcapWriter(path) as pcap:
    ...         pcap.write(bytes(60), 1.5)
    ...     print([(t, len(f)) for t, f in read_pcap(path)])
    [(1.5, 60)]
"""

from __future__ import annotations

import struct
from pathlib import Path
from types import TracebackType

import numpy as np

from switchsim.frame_switch import SwitchAddress
from switchsim.protocol import codec, spec
from switchsim.protocol.addresses import worker_mac

#: libpcap magic number (microsecond timestamps), written in native byte order.
PCAP_MAGIC = 0xA1B2C3D4
PCAP_VERSION = (2, 4)
#: LINKTYPE_ETHERNET.
LINKTYPE_ETHERNET = 1
DEFAULT_SNAPLEN = 65535
#: MAC address given to endpoints that are neither the switch nor a registered worker.
UNKNOWN_MAC = "02:00:00:00:ee:ee"

_GLOBAL_HEADER = struct.Struct("=IHHiIII")
_RECORD_HEADER = struct.Struct("=IIII")

Endpoint = tuple[str, int]


class PcapWriter:
    """A libpcap file opened for writing.

    Lifecycle: ``PcapWriter(path)`` writes the global header; `write` /
    `write_rows` append frames; `close` (or leaving the ``with`` block)
    flushes and closes the file.

    Args:
        path: file to create (overwritten).
        snaplen: the snapshot length announced in the header; longer frames are cut.
    """

    def __init__(self, path: str | Path, snaplen: int = DEFAULT_SNAPLEN) -> None:
        if not 1 <= snaplen <= 0x3FFFF:
            raise ValueError(f"snaplen must be in 1..{0x3FFFF}, got {snaplen}")
        self.path = Path(path)
        self.snaplen = snaplen
        self.frames_written = 0
        self._file = self.path.open("wb")
        self._file.write(_GLOBAL_HEADER.pack(PCAP_MAGIC, *PCAP_VERSION, 0, 0, snaplen, LINKTYPE_ETHERNET))

    def write(self, frame: bytes | memoryview | np.ndarray, timestamp_s: float) -> None:
        """Append one frame captured at ``timestamp_s`` (seconds since the epoch)."""
        data = frame.tobytes() if isinstance(frame, np.ndarray) else bytes(frame)
        seconds = int(timestamp_s)
        micros = min(round((timestamp_s - seconds) * 1e6), 999_999)
        captured = data[: self.snaplen]
        self._file.write(_RECORD_HEADER.pack(seconds, micros, len(captured), len(data)))
        self._file.write(captured)
        self.frames_written += 1

    def write_rows(self, rows: np.ndarray, timestamp_s: float) -> None:
        """Append every row of an (N, L) uint8 array of frames, all at ``timestamp_s`` (one file write)."""
        rows = np.ascontiguousarray(rows, dtype=np.uint8)
        if rows.ndim != 2 or not len(rows):
            return
        seconds = int(timestamp_s)
        micros = min(round((timestamp_s - seconds) * 1e6), 999_999)
        length = rows.shape[1]
        captured = min(length, self.snaplen)
        header = _RECORD_HEADER.pack(seconds, micros, captured, length)
        self._file.write(b"".join(header + row.tobytes() for row in rows[:, :captured]))
        self.frames_written += len(rows)

    def close(self) -> None:
        """Flush and close the file (idempotent)."""
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def read_pcap(path: str | Path) -> list[tuple[float, bytes]]:
    """``(timestamp_s, frame)`` of every record of a libpcap file (either byte order).

    Raises:
        ValueError: if the file is not a libpcap file with Ethernet frames.
    """
    data = Path(path).read_bytes()
    if len(data) < _GLOBAL_HEADER.size:
        raise ValueError(f"{path}: too short for a pcap global header ({len(data)} bytes)")
    for order in "<>":
        magic, _, _, _, _, _, linktype = struct.unpack(order + "IHHiIII", data[: _GLOBAL_HEADER.size])
        if magic == PCAP_MAGIC:
            break
    else:
        raise ValueError(f"{path}: not a libpcap file (magic {data[:4].hex()})")
    if linktype != LINKTYPE_ETHERNET:
        raise ValueError(f"{path}: linktype {linktype}, expected {LINKTYPE_ETHERNET} (Ethernet)")
    record = struct.Struct(order + "IIII")
    records = []
    offset = _GLOBAL_HEADER.size
    while offset + record.size <= len(data):
        seconds, micros, captured, _ = record.unpack_from(data, offset)
        offset += record.size
        records.append((seconds + micros / 1e6, data[offset : offset + captured]))
        offset += captured
    return records


class MessageFramer:
    """Wraps SwitchML messages (UDP payloads) into Ethernet/IPv4/UDP frames with the codec.

    Args:
        elements_per_packet: k of the messages.
        switch: the switch's (IP, UDP port).
        workers: registered workers' (IP, UDP port), index = worker id.
    """

    def __init__(
        self, elements_per_packet: int, switch: Endpoint, workers: list[Endpoint] | tuple[Endpoint, ...]
    ) -> None:
        self.elements_per_packet = elements_per_packet
        self.switch = switch
        self._macs = {tuple(w): codec.mac_to_int(worker_mac(i)) for i, w in enumerate(workers)}
        self._macs[tuple(switch)] = codec.mac_to_int(SwitchAddress().mac)
        self._unknown = codec.mac_to_int(UNKNOWN_MAC)
        self._addresses: dict[tuple[str, int], tuple[int, int, int]] = {}

    def mac(self, endpoint: Endpoint) -> int:
        """The synthetic MAC address of ``endpoint`` as an integer."""
        return self._macs.get(tuple(endpoint), self._unknown)

    def _address(self, endpoint: Endpoint) -> tuple[int, int, int]:
        """(MAC, IPv4, port) of ``endpoint`` as integers, cached."""
        key = (endpoint[0], endpoint[1])
        found = self._addresses.get(key)
        if found is None:
            found = self._addresses[key] = (self.mac(key), codec.ip_to_int(key[0]), int(key[1]))
        return found

    def frames(self, rows: np.ndarray, sources: list[Endpoint], destinations: list[Endpoint]) -> np.ndarray:
        """Frames (N, frame_bytes(k)) for N message rows sent from ``sources[i]`` to ``destinations[i]``."""
        k = self.elements_per_packet
        rows = np.ascontiguousarray(rows, dtype=np.uint8).reshape(-1, spec.message_bytes(k))
        messages = codec.decode_messages(rows, k)
        source = np.array([self._address(s) for s in sources], dtype=np.uint64).reshape(-1, 3)
        destination = np.array([self._address(d) for d in destinations], dtype=np.uint64).reshape(-1, 3)
        frames = codec.Frames(
            eth_dst=destination[:, 0],
            eth_src=source[:, 0],
            ip_src=source[:, 1].astype(np.uint32),
            ip_dst=destination[:, 1].astype(np.uint32),
            src_port=source[:, 2].astype(np.uint16),
            dst_port=destination[:, 2].astype(np.uint16),
            messages=messages,
        )
        switch = self._address(self.switch)
        from_switch = (source[:, 1] == switch[1]) & (source[:, 2] == switch[2])
        if from_switch.all():  # replies: UDP checksum 0, as the switch sends them
            return codec.encode_frames(frames)
        requests = codec.encode_frames(frames, compute_udp_checksum=True)
        if from_switch.any():
            requests[from_switch] = codec.encode_frames(frames)[from_switch]
        return requests
