"""Vectorized encode/decode between numpy arrays and SwitchML-UDP bytes.

A batch of N packets is one ``(N, nbytes)`` uint8 array; each header field is
one length-N array. The byte layout is derived from `switchsim.protocol.spec`:
consecutive fields are grouped into whole big-endian words (8/16/32/64 bits, or
a 48-bit MAC as 6 bytes) and read or written with shifts and masks, so no
Python loop runs per packet or per element.

Two levels:

* `Messages`: the UDP payload alone (switchml header, exponents, k elements),
  what the simulator and the UDP emulator carry.
* `Frames`: full Ethernet/IPv4/UDP frames, as bmv2 and pcap files see them,
  with lengths and the IPv4 (and optionally UDP) checksum computed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from switchsim.protocol import spec

_WORD_DTYPES = {8: ">u1", 16: ">u2", 32: ">u4", 64: ">u8"}


@dataclass(frozen=True, slots=True)
class _Placement:
    """Where one header field lives: numpy field name, right shift, mask."""

    column: str
    shift: int
    mask: int
    signed_bits: int  # 0 when unsigned, else the width to sign-extend from


def _layout(headers: tuple[spec.HeaderSpec, ...]) -> tuple[list[tuple], dict[str, _Placement]]:
    """numpy dtype description and field placements for ``headers`` in order.

    Field keys are ``"header.field"``. Fields are grouped MSB-first into words
    that end on a byte boundary and have a numpy width; a 48-bit field becomes
    six bytes.
    """
    description: list[tuple] = []
    placements: dict[str, _Placement] = {}
    for header in headers:
        group: list[spec.Field] = []
        for f in header.fields:
            group.append(f)
            bits = sum(g.bits for g in group)
            if bits == 48 and len(group) == 1:
                column = f"{header.name}_{f.name}"
                description.append((column, "u1", (6,)))
                placements[f"{header.name}.{f.name}"] = _Placement(column, 0, (1 << 48) - 1, 0)
                group = []
            elif bits in _WORD_DTYPES:
                column = f"{header.name}_" + "_".join(g.name for g in group)
                description.append((column, _WORD_DTYPES[bits]))
                shift = bits
                for g in group:
                    shift -= g.bits
                    placements[f"{header.name}.{g.name}"] = _Placement(
                        column, shift, (1 << g.bits) - 1, g.bits if g.signed else 0
                    )
                group = []
        if group:
            raise ValueError(f"header {header.name!r}: fields {[g.name for g in group]} do not end on a word")
    return description, placements


_MESSAGE_HEADERS = (spec.SWITCHML_HEADER, spec.EXPONENTS_HEADER)
_MESSAGE_DESCRIPTION, _MESSAGE_PLACEMENTS = _layout(_MESSAGE_HEADERS)
_FRAME_DESCRIPTION, _FRAME_PLACEMENTS = _layout(spec.FRAME_HEADERS)
_HEADER_DESCRIPTION, _HEADER_PLACEMENTS = _layout((spec.SWITCHML_HEADER,))


def message_dtype(elements_per_packet: int, element_bits: int = spec.ELEMENT_BITS) -> np.dtype:
    """Structured dtype of one SwitchML message (UDP payload) with k elements of ``element_bits``."""
    values = ("values", spec.element_dtype(element_bits), (elements_per_packet,))
    return np.dtype([*_MESSAGE_DESCRIPTION, values])


def frame_dtype(elements_per_packet: int, element_bits: int = spec.ELEMENT_BITS) -> np.dtype:
    """Structured dtype of one SwitchML-UDP Ethernet frame (no FCS) with k elements of ``element_bits``."""
    values = ("values", spec.element_dtype(element_bits), (elements_per_packet,))
    return np.dtype([*_FRAME_DESCRIPTION, values])


def to_wire_width(values: np.ndarray, element_bits: int) -> np.ndarray:
    """int32 values as a ``element_bits``-bit element carries them: the low bits, sign-extended.

    This is what the narrow-element extension's switch sends back from its
    int32 register (the sum wraps modulo 2**b); identity at 32 bits.

    Example:
        >>> to_wire_width(np.array([127, 128, -129, 300], np.int32), 8).tolist()
        [127, -128, 127, 44]
    """
    values = np.asarray(values, dtype=np.int32)
    if element_bits == spec.ELEMENT_BITS:
        return values
    return values.astype(spec.element_dtype(element_bits)).astype(np.int32)


def _check_fits(values: np.ndarray, element_bits: int) -> None:
    """Raise when a value does not fit ``element_bits`` (encoding never truncates silently)."""
    if element_bits < spec.ELEMENT_BITS and values.size:
        low, high = -(1 << (element_bits - 1)), (1 << (element_bits - 1)) - 1
        smallest, largest = int(values.min()), int(values.max())
        if smallest < low or largest > high:
            raise ValueError(f"values: {element_bits}-bit elements must lie in {low}..{high}, "
                             f"got {smallest}..{largest} (use to_wire_width to wrap on purpose)")


def _read(records: np.ndarray, placement: _Placement) -> np.ndarray:
    column = records[placement.column]
    if column.ndim == 2:  # 48-bit address stored as 6 bytes
        word = np.zeros(len(column), dtype=np.uint64)
        for i in range(column.shape[1]):
            word = (word << np.uint64(8)) | column[:, i].astype(np.uint64)
        return word
    word = column.astype(np.uint64)
    value = (word >> np.uint64(placement.shift)) & np.uint64(placement.mask)
    if placement.signed_bits:
        bits = placement.signed_bits
        signed = value.astype(np.int64)
        return np.where(signed >= (1 << (bits - 1)), signed - (1 << bits), signed).astype(np.int8)
    return value


def _write(records: np.ndarray, placement: _Placement, values: np.ndarray | int, key: str) -> None:
    array = np.asarray(values)
    wide = array.astype(np.int64).astype(np.uint64) & np.uint64(placement.mask)
    if not placement.signed_bits and np.any(array.astype(np.int64) != wide.astype(np.int64)):
        raise ValueError(f"{key}: values must fit in {placement.mask.bit_length()} unsigned bits")
    column = records[placement.column]
    if column.ndim == 2:
        wide = np.broadcast_to(wide, (len(records),))
        for i in range(column.shape[1]):
            column[:, i] = ((wide >> np.uint64(8 * (column.shape[1] - 1 - i))) & np.uint64(0xFF)).astype(np.uint8)
        return
    current = column.astype(np.uint64)
    cleared = current & ~np.uint64(placement.mask << placement.shift)
    records[placement.column] = cleared | (wide << np.uint64(placement.shift))


@dataclass(slots=True)
class Messages:
    """A batch of N SwitchML messages; field names are the spec's.

    Attributes:
        msg_type, size, job_number, tsi, pool_index: switchml header fields, shape (N,).
        exponents: int8, shape (N, 2): ``e0`` and ``e1``.
        values: int32, shape (N, k): the payload elements.
    """

    msg_type: np.ndarray
    size: np.ndarray
    job_number: np.ndarray
    tsi: np.ndarray
    pool_index: np.ndarray
    exponents: np.ndarray
    values: np.ndarray
    unused: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint8))

    def __len__(self) -> int:
        return len(self.values)

    @property
    def elements_per_packet(self) -> int:
        """k, the number of elements per packet."""
        return int(self.values.shape[1])

    @property
    def element_bits(self) -> int:
        """Width of each element on the wire, from the ``size`` code.

        32 for official codes, for an empty batch and for codes no format knows
        (tests build such malformed packets on purpose).
        """
        widths = {spec.SIZE_FORMATS.get(int(s), (0, spec.ELEMENT_BITS))[1] for s in np.unique(self.size)}
        if not widths:
            return spec.ELEMENT_BITS
        if len(widths) != 1:
            raise ValueError(f"size: one batch must use one element width, got {sorted(widths)}")
        return widths.pop()

    @classmethod
    def build(
        cls,
        *,
        pool_index: np.ndarray | int,
        values: np.ndarray,
        tsi: np.ndarray | int = 0,
        job_number: np.ndarray | int = 0,
        exponents: np.ndarray | None = None,
        msg_type: int = spec.MSG_TYPE_DATA,
        element_bits: int = spec.ELEMENT_BITS,
    ) -> Messages:
        """A batch from the fields a worker chooses; ``size`` follows from k and ``element_bits``.

        Example:
            >>> m = Messages.build(pool_index=[0, 1], values=np.ones((2, 64), np.int32))
            >>> int(m.size[0])
            1
        """
        values = np.atleast_2d(np.asarray(values, dtype=np.int32))
        n = len(values)
        size = spec.size_for_elements(values.shape[1], element_bits)
        if exponents is None:
            exponents = np.zeros((n, 2), dtype=np.int8)
        return cls(
            msg_type=np.full(n, msg_type, dtype=np.uint8),
            size=np.full(n, size, dtype=np.uint8),
            job_number=np.broadcast_to(np.asarray(job_number, dtype=np.uint8), (n,)).copy(),
            tsi=np.broadcast_to(np.asarray(tsi, dtype=np.uint32), (n,)).copy(),
            pool_index=np.broadcast_to(np.asarray(pool_index, dtype=np.uint16), (n,)).copy(),
            exponents=np.asarray(exponents, dtype=np.int8).reshape(n, 2),
            values=values,
            unused=np.zeros(n, dtype=np.uint8),
        )

    def replies(self, rows: np.ndarray, pool_index: np.ndarray | int, exponents: np.ndarray,
                values: np.ndarray) -> Messages:
        """The switch's replies to messages ``rows`` (protocol reference §2).

        ``msg_type`` = `spec.MSG_TYPE_DATA`; ``size``, ``job_number`` and ``tsi`` echoed from
        each request; ``pool_index`` (bit 14 clear), exponents and values as given: the
        pipeline's next step and the set's contents (broadcast over the rows).

        Example:
            >>> request = Messages.build(pool_index=0x4003, values=np.ones((1, 64), np.int32), tsi=9, job_number=2)
            >>> reply = request.replies(np.zeros(2, np.int64), 3, np.array([5, 0]), np.full(64, 7))
            >>> reply.tsi.tolist(), reply.job_number.tolist(), reply.pool_index.tolist(), int(reply.values[1, 0])
            ([9, 9], [2, 2], [3, 3], 7)
        """
        rows = np.asarray(rows, dtype=np.int64)
        n, k = len(rows), self.values.shape[1]
        return Messages(
            msg_type=np.full(n, spec.MSG_TYPE_DATA, dtype=np.uint8),
            size=self.size[rows],
            job_number=self.job_number[rows],
            tsi=self.tsi[rows],
            pool_index=np.broadcast_to(np.asarray(pool_index, dtype=np.uint16), (n,)).copy(),
            exponents=np.broadcast_to(np.asarray(exponents, dtype=np.int8), (n, 2)).copy(),
            values=np.broadcast_to(np.asarray(values, dtype=np.int32), (n, k)).copy(),
            unused=np.zeros(n, dtype=np.uint8),
        )

    def header_columns(self) -> dict[str, np.ndarray]:
        """``"switchml.<field>"`` and ``"exponents.<field>"`` -> array, for encoding."""
        columns: dict[str, np.ndarray] = {}
        for f in spec.SWITCHML_HEADER.fields:
            array = getattr(self, f.name)
            columns[f"switchml.{f.name}"] = array if len(array) else np.zeros(len(self), np.uint8)
        columns["exponents.e0"] = self.exponents[:, 0]
        columns["exponents.e1"] = self.exponents[:, 1]
        return columns


def _messages_from(records: np.ndarray, placements: dict[str, _Placement]) -> Messages:
    def get(key: str, dtype: type) -> np.ndarray:
        return _read(records, placements[key]).astype(dtype)

    return Messages(
        msg_type=get("switchml.msg_type", np.uint8),
        size=get("switchml.size", np.uint8),
        job_number=get("switchml.job_number", np.uint8),
        tsi=get("switchml.tsi", np.uint32),
        pool_index=get("switchml.pool_index", np.uint16),
        exponents=np.stack([get("exponents.e0", np.int8), get("exponents.e1", np.int8)], axis=1),
        values=records["values"].astype(np.int32),
        unused=get("switchml.unused", np.uint8),
    )


def encode_messages(messages: Messages) -> np.ndarray:
    """Bytes of each message, shape (N, message_bytes(k)) uint8.

    Example:
        >>> m = Messages.build(pool_index=0x8003, values=np.arange(64, dtype=np.int32))
        >>> encode_messages(m)[0, :8].tobytes().hex()
        '1100000000008003'
    """
    k, bits = messages.elements_per_packet, messages.element_bits
    _check_fits(messages.values, bits)
    records = np.zeros(len(messages), dtype=message_dtype(k, bits))
    for key, column in messages.header_columns().items():
        _write(records, _MESSAGE_PLACEMENTS[key], column, key)
    records["values"] = messages.values
    return records.view(np.uint8).reshape(len(messages), -1)


def decode_switchml_header(data: bytes) -> dict[str, int]:
    """The SwitchML header's fields (spec names -> values) from the start of a UDP payload.

    Only the first `spec.SWITCHML_HEADER` bytes are read, so a truncated message's header
    can still be told apart (a switch sorting what it drops).

    Raises:
        ValueError: when ``data`` is shorter than the header.

    Example:
        >>> decode_switchml_header(bytes.fromhex("1105" "00000080" "8003"))
        {'msg_type': 1, 'unused': 0, 'size': 1, 'job_number': 5, 'tsi': 128, 'pool_index': 32771}
    """
    nbytes = spec.SWITCHML_HEADER.nbytes
    if len(data) < nbytes:
        raise ValueError(f"a SwitchML header is {nbytes} bytes, got {len(data)}")
    records = np.frombuffer(bytes(data[:nbytes]), dtype=np.dtype(_HEADER_DESCRIPTION))
    return {key.split(".", 1)[1]: int(_read(records, placement)[0]) for key, placement in _HEADER_PLACEMENTS.items()}


def decode_messages(
    buffer: np.ndarray | bytes, elements_per_packet: int, element_bits: int = spec.ELEMENT_BITS
) -> Messages:
    """Messages from a (N, message_bytes(k, b)) uint8 array (or one message's bytes).

    Narrow elements (``element_bits`` 8 or 16) are sign-extended to int32.
    """
    data = np.frombuffer(buffer, dtype=np.uint8) if isinstance(buffer, bytes | bytearray | memoryview) else buffer
    nbytes = spec.message_bytes(elements_per_packet, element_bits)
    data = np.ascontiguousarray(data).reshape(-1, nbytes)
    records = data.view(message_dtype(elements_per_packet, element_bits)).reshape(-1)
    return _messages_from(records, _MESSAGE_PLACEMENTS)


@dataclass(slots=True)
class Frames:
    """A batch of N SwitchML-UDP frames: addresses, ports and the messages.

    Attributes:
        eth_dst, eth_src: MAC addresses as uint64, shape (N,).
        ip_src, ip_dst: IPv4 addresses as uint32, shape (N,).
        src_port, dst_port: UDP ports, shape (N,).
        messages: the SwitchML payloads.
        ttl: IPv4 TTL, shape (N,) (64 by default).
        udp_checksum: UDP checksums, shape (N,); filled in by `encode_frames`.
    """

    eth_dst: np.ndarray
    eth_src: np.ndarray
    ip_src: np.ndarray
    ip_dst: np.ndarray
    src_port: np.ndarray
    dst_port: np.ndarray
    messages: Messages
    ttl: np.ndarray | None = None
    udp_checksum: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.messages)


def _ones_complement_sum(words: np.ndarray) -> np.ndarray:
    """Folded 16-bit one's-complement sum of each row of ``words`` (uint16)."""
    total = words.astype(np.uint64).sum(axis=1)
    for _ in range(3):
        total = (total & np.uint64(0xFFFF)) + (total >> np.uint64(16))
    return total.astype(np.uint16)


def ipv4_checksum(headers: np.ndarray) -> np.ndarray:
    """IPv4 header checksum of each (N, 20) uint8 row (checksum field taken as is)."""
    words = np.ascontiguousarray(headers).view(">u2")
    return (~_ones_complement_sum(words)).astype(np.uint16)


def udp_checksum(ip_src: np.ndarray, ip_dst: np.ndarray, udp_segments: np.ndarray) -> np.ndarray:
    """UDP checksum over the IPv4 pseudo-header and each (N, L) segment (L even).

    The segment's own checksum field must be zero. A computed 0 is sent as 0xFFFF.
    """
    n, length = udp_segments.shape
    pseudo = np.empty((n, 6), dtype=np.uint64)
    pseudo[:, 0] = np.asarray(ip_src, np.uint64) >> np.uint64(16)
    pseudo[:, 1] = np.asarray(ip_src, np.uint64) & np.uint64(0xFFFF)
    pseudo[:, 2] = np.asarray(ip_dst, np.uint64) >> np.uint64(16)
    pseudo[:, 3] = np.asarray(ip_dst, np.uint64) & np.uint64(0xFFFF)
    pseudo[:, 4] = spec.IP_PROTOCOL_UDP
    pseudo[:, 5] = length
    words = np.ascontiguousarray(udp_segments).view(">u2").astype(np.uint64)
    total = _ones_complement_sum(np.concatenate([pseudo, words], axis=1))
    checksum = (~total).astype(np.uint16)
    return np.where(checksum == 0, np.uint16(0xFFFF), checksum)


_IPV4_START = spec.ETHERNET_HEADER.nbytes
_UDP_START = _IPV4_START + spec.IPV4_HEADER.nbytes


def encode_frames(frames: Frames, *, compute_udp_checksum: bool = False) -> np.ndarray:
    """Bytes of each frame without FCS, shape (N, frame_bytes(k)) uint8.

    Lengths, version/ihl, protocol and the IPv4 checksum are filled in here.
    ``compute_udp_checksum`` computes the UDP checksum (as a host stack would);
    otherwise it is ``frames.udp_checksum`` or 0 (as the switch sends replies).
    """
    messages = frames.messages
    k, bits = messages.elements_per_packet, messages.element_bits
    _check_fits(messages.values, bits)
    n = len(messages)
    records = np.zeros(n, dtype=frame_dtype(k, bits))
    ttl = spec.REPLY_TTL if frames.ttl is None else frames.ttl
    columns: dict[str, np.ndarray | int] = {
        "ethernet.dst_addr": frames.eth_dst,
        "ethernet.src_addr": frames.eth_src,
        "ethernet.ether_type": spec.ETHERTYPE_IPV4,
        "ipv4.version": spec.IPV4_VERSION,
        "ipv4.ihl": spec.IPV4_IHL_WORDS,
        "ipv4.total_len": spec.ipv4_total_length(k, bits),
        "ipv4.ttl": ttl,
        "ipv4.protocol": spec.IP_PROTOCOL_UDP,
        "ipv4.src_addr": frames.ip_src,
        "ipv4.dst_addr": frames.ip_dst,
        "udp.src_port": frames.src_port,
        "udp.dst_port": frames.dst_port,
        "udp.length": spec.udp_length(k, bits),
        **messages.header_columns(),
    }
    for key, column in columns.items():
        _write(records, _FRAME_PLACEMENTS[key], column, key)
    records["values"] = messages.values
    data = records.view(np.uint8).reshape(n, -1)
    data_ip = data[:, _IPV4_START:_UDP_START]
    checksum = ipv4_checksum(data_ip)
    data[:, _IPV4_START + 10] = (checksum >> 8).astype(np.uint8)
    data[:, _IPV4_START + 11] = (checksum & 0xFF).astype(np.uint8)
    if compute_udp_checksum:
        udp = udp_checksum(frames.ip_src, frames.ip_dst, data[:, _UDP_START:])
    else:
        udp = np.zeros(n, np.uint16) if frames.udp_checksum is None else np.asarray(frames.udp_checksum, np.uint16)
    data[:, _UDP_START + 6] = (udp >> 8).astype(np.uint8)
    data[:, _UDP_START + 7] = (udp & 0xFF).astype(np.uint8)
    return data


def decode_frame_headers(
    buffer: np.ndarray, elements_per_packet: int, element_bits: int = spec.ELEMENT_BITS
) -> dict[str, np.ndarray]:
    """Every header field of each frame, as ``"header.field"`` -> array (N,)."""
    records = np.ascontiguousarray(buffer).reshape(-1, spec.frame_bytes(elements_per_packet, element_bits))
    records = records.view(frame_dtype(elements_per_packet, element_bits)).reshape(-1)
    return {key: _read(records, placement) for key, placement in _FRAME_PLACEMENTS.items()}


def decode_frames(
    buffer: np.ndarray | bytes, elements_per_packet: int, element_bits: int = spec.ELEMENT_BITS
) -> Frames:
    """Frames from a (N, frame_bytes(k, b)) uint8 array (or one frame's bytes); narrow elements sign-extended."""
    data = np.frombuffer(buffer, dtype=np.uint8) if isinstance(buffer, bytes | bytearray | memoryview) else buffer
    data = np.ascontiguousarray(data).reshape(-1, spec.frame_bytes(elements_per_packet, element_bits))
    records = data.view(frame_dtype(elements_per_packet, element_bits)).reshape(-1)
    headers = {key: _read(records, placement) for key, placement in _FRAME_PLACEMENTS.items()}
    return Frames(
        eth_dst=headers["ethernet.dst_addr"],
        eth_src=headers["ethernet.src_addr"],
        ip_src=headers["ipv4.src_addr"].astype(np.uint32),
        ip_dst=headers["ipv4.dst_addr"].astype(np.uint32),
        src_port=headers["udp.src_port"].astype(np.uint16),
        dst_port=headers["udp.dst_port"].astype(np.uint16),
        messages=_messages_from(records, _FRAME_PLACEMENTS),
        ttl=headers["ipv4.ttl"].astype(np.uint8),
        udp_checksum=headers["udp.checksum"].astype(np.uint16),
    )


def message_field_names() -> tuple[str, ...]:
    """Header field names that `Messages` carries (must equal the spec's)."""
    return tuple(f.name for f in fields(Messages) if f.name not in ("exponents", "values"))


def mac_to_int(mac: str) -> int:
    """``"02:00:00:00:00:01"`` -> 0x020000000001."""
    parts = mac.split(":")
    if len(parts) != 6:
        raise ValueError(f"MAC address must have six ':'-separated bytes, got {mac!r}")
    return int("".join(parts), 16)


def int_to_mac(value: int) -> str:
    """0x020000000001 -> ``"02:00:00:00:00:01"``."""
    return ":".join(f"{(int(value) >> (8 * i)) & 0xFF:02x}" for i in range(5, -1, -1))


def ip_to_int(ip: str) -> int:
    """``"10.0.0.1"`` -> 0x0A000001."""
    parts = [int(p) for p in ip.split(".")]
    if len(parts) != 4 or not all(0 <= p <= 255 for p in parts):
        raise ValueError(f"IPv4 address must be four bytes a.b.c.d, got {ip!r}")
    return (parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]


def int_to_ip(value: int) -> str:
    """0x0A000001 -> ``"10.0.0.1"``."""
    return ".".join(str((int(value) >> s) & 0xFF) for s in (24, 16, 8, 0))
