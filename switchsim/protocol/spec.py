"""The SwitchML-UDP wire format: the one place where its facts are written.

Every field width, UDP port, enum value and size in switchsim is defined here.
The codec (`switchsim.protocol.codec`), the scapy layer
(`switchsim.protocol.scapy_layer`), the switch drivers and the P4 checks all
derive from these definitions; nothing else may spell a port or a width.

Layout (protocol reference §1, p4app-switchML `headers.p4`)::

    Ethernet (14 B) | IPv4 (20 B, ihl=5) | UDP (8 B) | switchml (8 B)
    | exponents (2 B) | k x int32 big-endian | FCS (4 B)

The switchml header is ``msg_type:4 | unused:1 | size:3 | job_number:8 |
tsi:32 | pool_index:16`` with the *set* in bit 15 of ``pool_index`` and the
*slot* in bits 13..0.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


@dataclass(frozen=True, slots=True)
class Field:
    """One header field: its name (as in P4), width in bits and signedness."""

    name: str
    bits: int
    signed: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.bits <= 64:
            raise ValueError(f"Field {self.name!r}: bits must be in 1..64, got {self.bits}")


@dataclass(frozen=True, slots=True)
class HeaderSpec:
    """A header as an ordered tuple of fields, most significant bit first."""

    name: str
    fields: tuple[Field, ...]

    def __post_init__(self) -> None:
        if self.bits % 8:
            raise ValueError(f"header {self.name!r} is {self.bits} bits, not whole bytes")

    @property
    def bits(self) -> int:
        """Total width in bits."""
        return sum(f.bits for f in self.fields)

    @property
    def nbytes(self) -> int:
        """Total width in bytes."""
        return self.bits // 8

    @property
    def names(self) -> tuple[str, ...]:
        """Field names in wire order."""
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        """The field called ``name``; KeyError naming the header otherwise."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"header {self.name!r} has no field {name!r}; fields: {self.names}")


ETHERNET_HEADER = HeaderSpec(
    "ethernet",
    (Field("dst_addr", 48), Field("src_addr", 48), Field("ether_type", 16)),
)
IPV4_HEADER = HeaderSpec(
    "ipv4",
    (
        Field("version", 4),
        Field("ihl", 4),
        Field("diffserv", 8),
        Field("total_len", 16),
        Field("identification", 16),
        Field("flags", 3),
        Field("frag_offset", 13),
        Field("ttl", 8),
        Field("protocol", 8),
        Field("hdr_checksum", 16),
        Field("src_addr", 32),
        Field("dst_addr", 32),
    ),
)
UDP_HEADER = HeaderSpec(
    "udp",
    (Field("src_port", 16), Field("dst_port", 16), Field("length", 16), Field("checksum", 16)),
)
SWITCHML_HEADER = HeaderSpec(
    "switchml",
    (
        Field("msg_type", 4),
        Field("unused", 1),
        Field("size", 3),
        Field("job_number", 8),
        Field("tsi", 32),
        Field("pool_index", 16),
    ),
)
EXPONENTS_HEADER = HeaderSpec(
    "exponents",
    (Field("e0", 8, signed=True), Field("e1", 8, signed=True)),
)

#: Headers of a SwitchML-UDP frame in wire order (the payload follows them).
FRAME_HEADERS: tuple[HeaderSpec, ...] = (
    ETHERNET_HEADER,
    IPV4_HEADER,
    UDP_HEADER,
    SWITCHML_HEADER,
    EXPONENTS_HEADER,
)

# --- payload ------------------------------------------------------------------
#: Width of one payload element on the official wire: two's-complement int32.
ELEMENT_BITS = 32
ELEMENT_BYTES = ELEMENT_BITS // 8
#: numpy dtype string of one payload element (big-endian, network order).
ELEMENT_DTYPE = ">i4"


class PayloadSize(IntEnum):
    """The 3-bit ``size`` enum (p4app-switchML ``packet_size_t``)."""

    IBV_MTU_128 = 0
    IBV_MTU_256 = 1
    IBV_MTU_512 = 2
    IBV_MTU_1024 = 3


#: Payload bytes for each ``size`` enum value.
PAYLOAD_BYTES: dict[int, int] = {
    PayloadSize.IBV_MTU_128: 128,
    PayloadSize.IBV_MTU_256: 256,
    PayloadSize.IBV_MTU_512: 512,
    PayloadSize.IBV_MTU_1024: 1024,
}
#: Elements per packet that the switch pipeline supports (size 1 and 3).
SUPPORTED_ELEMENTS_PER_PACKET: tuple[int, ...] = (64, 256)

# --- message types, addresses, ports -------------------------------------------
#: ``msg_type`` a worker writes in requests; the switch writes the same in replies.
MSG_TYPE_DATA = 1
ETHERTYPE_IPV4 = 0x0800
IP_PROTOCOL_UDP = 17
IPV4_VERSION = 4
IPV4_IHL_WORDS = 5
#: TTL the switch writes in replies.
REPLY_TTL = 64
#: Workers send to this UDP destination port.
UDP_PORT = 0xBEE0
#: The switch accepts ``dst_port & UDP_PORT_MASK == UDP_PORT`` (0xBEE0..0xBEEF).
UDP_PORT_MASK = 0xFFF0
UDP_PORTS: range = range(UDP_PORT, UDP_PORT + ((~UDP_PORT_MASK) & 0xFFFF) + 1)
#: A worker's first sending thread uses this UDP source port (base + thread id).
WORKER_UDP_PORT_BASE = 4000

# --- pool index ----------------------------------------------------------------
#: Bit of ``pool_index`` that selects the set (shadow copy) of a slot.
POOL_SET_BIT = 15
#: Low bits of ``pool_index`` that hold the slot index (bits 13..0).
POOL_SLOT_BITS = 14
POOL_SLOT_MASK = (1 << POOL_SLOT_BITS) - 1
#: Largest slot count that the pool_index field can address.
MAX_SLOTS = 1 << POOL_SLOT_BITS
#: Workers per job: one bit each in the 32-bit bitmap register.
MAX_WORKERS = 32

# --- framing overheads (bytes) --------------------------------------------------
FCS_BYTES = 4
PREAMBLE_BYTES = 8
INTERFRAME_GAP_BYTES = 12


def size_for_elements(elements_per_packet: int) -> int:
    """The ``size`` enum value for ``elements_per_packet`` int32 elements.

    Raises:
        ValueError: naming the allowed values when no enum value matches.
    """
    for size, nbytes in PAYLOAD_BYTES.items():
        if nbytes == elements_per_packet * ELEMENT_BYTES:
            return int(size)
    allowed = sorted(n // ELEMENT_BYTES for n in PAYLOAD_BYTES.values())
    raise ValueError(f"elements_per_packet must be one of {allowed}, got {elements_per_packet}")


def elements_for_size(size: int) -> int:
    """Elements per packet carried under the ``size`` enum value."""
    try:
        return PAYLOAD_BYTES[size] // ELEMENT_BYTES
    except KeyError:
        raise ValueError(f"size must be one of {sorted(PAYLOAD_BYTES)}, got {size}") from None


def message_bytes(elements_per_packet: int) -> int:
    """Bytes of the UDP payload: switchml header + exponents + elements."""
    return SWITCHML_HEADER.nbytes + EXPONENTS_HEADER.nbytes + elements_per_packet * ELEMENT_BYTES


def udp_length(elements_per_packet: int) -> int:
    """The UDP ``length`` field (bytes): UDP header + message (274 for k = 64)."""
    return UDP_HEADER.nbytes + message_bytes(elements_per_packet)


def ipv4_total_length(elements_per_packet: int) -> int:
    """The IPv4 ``total_len`` field (bytes): 294 for k = 64."""
    return IPV4_HEADER.nbytes + udp_length(elements_per_packet)


def frame_bytes(elements_per_packet: int) -> int:
    """Ethernet frame without FCS (bytes): 308 for k = 64, 1076 for k = 256."""
    return ETHERNET_HEADER.nbytes + ipv4_total_length(elements_per_packet)


def wire_bytes(elements_per_packet: int) -> int:
    """Bytes one frame occupies on the link: frame + FCS + preamble + gap (332 for k = 64).

    This is what sets serialization time: ``wire_bytes * 8 / rate_bps`` seconds.
    """
    return frame_bytes(elements_per_packet) + FCS_BYTES + PREAMBLE_BYTES + INTERFRAME_GAP_BYTES


def payload_efficiency(elements_per_packet: int) -> float:
    """Fraction of on-wire bytes that are payload elements (0.771 for k = 64)."""
    return elements_per_packet * ELEMENT_BYTES / wire_bytes(elements_per_packet)


def make_pool_index(slot: int, pool_set: int) -> int:
    """Pack a slot index and a set (0 or 1) into the 16-bit ``pool_index``."""
    if not 0 <= slot < MAX_SLOTS:
        raise ValueError(f"slot must be in 0..{MAX_SLOTS - 1}, got {slot}")
    if pool_set not in (0, 1):
        raise ValueError(f"set must be 0 or 1, got {pool_set}")
    return (pool_set << POOL_SET_BIT) | slot


def split_pool_index(pool_index: int) -> tuple[int, int]:
    """``(slot, set)`` of a 16-bit ``pool_index`` (bit 14 is ignored)."""
    return pool_index & POOL_SLOT_MASK, (pool_index >> POOL_SET_BIT) & 1
