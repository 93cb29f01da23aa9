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

import numpy as np
from numba.extending import register_jitable


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


#: Payload bytes for each official ``size`` enum value (int32 elements).
PAYLOAD_BYTES: dict[int, int] = {
    PayloadSize.IBV_MTU_128: 128,
    PayloadSize.IBV_MTU_256: 256,
    PayloadSize.IBV_MTU_512: 512,
    PayloadSize.IBV_MTU_1024: 1024,
}
#: Elements per packet of the official int32 format (size codes 1 and 3): what the official
#: switch, the P4 programs, the emulator and the CLI's workers take. The pipeline model also
#: takes the narrow-element sizes (`ALL_ELEMENTS_PER_PACKET`).
SUPPORTED_ELEMENTS_PER_PACKET: tuple[int, ...] = (64, 256)

# --- narrow-element extension (switchsim's, not in p4app-switchML) --------------
# The official wire carries int32 elements only. This extension carries b-bit
# two's-complement elements, b in NARROW_ELEMENT_BITS, in the same 256- and
# 1024-byte payloads, so a packet holds 32/b times as many elements. It uses the
# four size codes the official enum leaves free (4..7), so an official switch
# drops such packets as unknown sizes instead of misreading them. The switch
# sign-extends each element into its int32 register; the result goes back at
# the same width b (the low b bits of the register: the sum wraps modulo 2**b).
# Every header stays as above.


class NarrowPayloadSize(IntEnum):
    """Size codes of the narrow-element extension: payload bytes and element width."""

    INT16_256 = 4
    INT8_256 = 5
    INT16_1024 = 6
    INT8_1024 = 7


#: Element widths in bits the narrow extension carries.
NARROW_ELEMENT_BITS: tuple[int, ...] = (16, 8)
#: Every element width a payload can carry: official 32 first, then the extension.
WIRE_ELEMENT_BITS: tuple[int, ...] = (ELEMENT_BITS, *NARROW_ELEMENT_BITS)
#: ``size`` code -> (payload bytes, element bits), official and extension.
SIZE_FORMATS: dict[int, tuple[int, int]] = {
    **{int(size): (nbytes, ELEMENT_BITS) for size, nbytes in PAYLOAD_BYTES.items()},
    int(NarrowPayloadSize.INT16_256): (256, 16),
    int(NarrowPayloadSize.INT8_256): (256, 8),
    int(NarrowPayloadSize.INT16_1024): (1024, 16),
    int(NarrowPayloadSize.INT8_1024): (1024, 8),
}


def _check_element_bits(element_bits: int) -> None:
    if element_bits not in WIRE_ELEMENT_BITS:
        raise ValueError(f"element_bits must be one of {WIRE_ELEMENT_BITS}, got {element_bits!r}")


def supported_elements_per_packet(element_bits: int = ELEMENT_BITS) -> tuple[int, ...]:
    """Elements per packet the switch supports at ``element_bits``: the 256- and 1024-byte payloads.

    Example:
        >>> supported_elements_per_packet(32), supported_elements_per_packet(8)
        ((64, 256), (256, 1024))
    """
    _check_element_bits(element_bits)
    return tuple(nbytes * 8 // element_bits for nbytes in (256, 1024))


#: Every elements-per-packet value some supported payload carries (any width).
ALL_ELEMENTS_PER_PACKET: tuple[int, ...] = tuple(
    sorted({k for bits in WIRE_ELEMENT_BITS for k in supported_elements_per_packet(bits)})
)


def container_bits(value_bits: int) -> int:
    """The narrowest wire element width (8, 16 or 32) that carries ``value_bits``-bit integers (1..32).

    Example:
        >>> [container_bits(b) for b in (2, 8, 9, 16, 17, 32)]
        [8, 8, 16, 16, 32, 32]
    """
    if not 1 <= value_bits <= ELEMENT_BITS:
        raise ValueError(f"value_bits must be in 1..{ELEMENT_BITS}, got {value_bits!r}")
    return min(bits for bits in WIRE_ELEMENT_BITS if bits >= value_bits)


def element_dtype(element_bits: int = ELEMENT_BITS) -> str:
    """numpy dtype string of one big-endian payload element of ``element_bits`` bits ('>i4', '>i2', 'i1')."""
    _check_element_bits(element_bits)
    return {32: ELEMENT_DTYPE, 16: ">i2", 8: "i1"}[element_bits]


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


def size_for_elements(elements_per_packet: int, element_bits: int = ELEMENT_BITS) -> int:
    """The ``size`` code for ``elements_per_packet`` elements of ``element_bits`` bits.

    Raises:
        ValueError: naming the allowed values when no code matches.

    Example:
        >>> size_for_elements(64), size_for_elements(256, element_bits=8)
        (1, 5)
    """
    _check_element_bits(element_bits)
    for size, (nbytes, bits) in SIZE_FORMATS.items():
        if bits == element_bits and nbytes * 8 == elements_per_packet * element_bits:
            return int(size)
    allowed = sorted(nbytes * 8 // bits for nbytes, bits in SIZE_FORMATS.values() if bits == element_bits)
    raise ValueError(f"elements_per_packet must be one of {allowed} for {element_bits}-bit elements, "
                     f"got {elements_per_packet}")


def _size_format(size: int) -> tuple[int, int]:
    try:
        return SIZE_FORMATS[size]
    except KeyError:
        raise ValueError(f"size must be one of {sorted(SIZE_FORMATS)}, got {size}") from None


def elements_for_size(size: int) -> int:
    """Elements per packet carried under the ``size`` code (official or narrow)."""
    nbytes, bits = _size_format(size)
    return nbytes * 8 // bits


def element_bits_for_size(size: int) -> int:
    """Element width in bits under the ``size`` code: 32 for the official codes."""
    return _size_format(size)[1]


def payload_bytes(elements_per_packet: int, element_bits: int = ELEMENT_BITS) -> int:
    """Bytes of the k elements: ``k * element_bits / 8``."""
    _check_element_bits(element_bits)
    return elements_per_packet * element_bits // 8


def message_bytes(elements_per_packet: int, element_bits: int = ELEMENT_BITS) -> int:
    """Bytes of the UDP payload: switchml header + exponents + elements."""
    return SWITCHML_HEADER.nbytes + EXPONENTS_HEADER.nbytes + payload_bytes(elements_per_packet, element_bits)


def udp_length(elements_per_packet: int, element_bits: int = ELEMENT_BITS) -> int:
    """The UDP ``length`` field (bytes): UDP header + message (274 for k = 64)."""
    return UDP_HEADER.nbytes + message_bytes(elements_per_packet, element_bits)


def ipv4_total_length(elements_per_packet: int, element_bits: int = ELEMENT_BITS) -> int:
    """The IPv4 ``total_len`` field (bytes): 294 for k = 64."""
    return IPV4_HEADER.nbytes + udp_length(elements_per_packet, element_bits)


def frame_bytes(elements_per_packet: int, element_bits: int = ELEMENT_BITS) -> int:
    """Ethernet frame without FCS (bytes): 308 for k = 64, 1076 for k = 256."""
    return ETHERNET_HEADER.nbytes + ipv4_total_length(elements_per_packet, element_bits)


def wire_bytes(elements_per_packet: int, element_bits: int = ELEMENT_BITS) -> int:
    """Bytes one frame occupies on the link: frame + FCS + preamble + gap (332 for k = 64).

    This is what sets serialization time: ``wire_bytes * 8 / rate_bps`` seconds.

    Example:
        >>> wire_bytes(64), wire_bytes(256, element_bits=8)  # same 256-byte payload
        (332, 332)
    """
    return frame_bytes(elements_per_packet, element_bits) + FCS_BYTES + PREAMBLE_BYTES + INTERFRAME_GAP_BYTES


def payload_efficiency(elements_per_packet: int, element_bits: int = ELEMENT_BITS) -> float:
    """Fraction of on-wire bytes that are payload elements (0.771 for k = 64)."""
    return payload_bytes(elements_per_packet, element_bits) / wire_bytes(elements_per_packet, element_bits)


# --- field arithmetic, written once ------------------------------------------------------
# `register_jitable`: plain Python for Python callers (ints or numpy arrays alike), compiled into the
# caller when numba code calls it (the pipeline, the worker protocol, the simulator's handlers).
@register_jitable
def pack_pool_index(slot, pool_set):
    """The 16-bit ``pool_index`` of ``slot`` (0..`MAX_SLOTS` - 1) in ``pool_set`` (0 or 1), bit 14 clear; unchecked.

    Example:
        >>> hex(pack_pool_index(5, 1)), pack_pool_index(np.array([1, 2]), np.array([0, 1])).tolist()
        ('0x8005', [1, 32770])
    """
    return (pool_set << POOL_SET_BIT) | slot


@register_jitable
def pool_index_slot(pool_index):
    """The slot a ``pool_index`` names (its low `POOL_SLOT_BITS` bits; bit 14 is ignored)."""
    return pool_index & POOL_SLOT_MASK


@register_jitable
def pool_index_set(pool_index):
    """The set (0 or 1) a ``pool_index`` names (bit `POOL_SET_BIT`)."""
    return (pool_index >> POOL_SET_BIT) & 1


@register_jitable
def byteswap32(value):
    """The 32-bit ``value`` with its bytes reversed: a packet id written little-endian <-> the big-endian tsi field.

    Example:
        >>> hex(byteswap32(0x80)), hex(byteswap32(0x00010000))
        ('0x80000000', '0x100')
    """
    x = np.int64(value) & 0xFFFFFFFF
    return ((x & 0xFF) << 24) | ((x & 0xFF00) << 8) | ((x >> 8) & 0xFF00) | ((x >> 24) & 0xFF)


def make_pool_index(slot: int, pool_set: int) -> int:
    """`pack_pool_index`, checked: a ValueError names the range of a bad slot or set."""
    if not 0 <= slot < MAX_SLOTS:
        raise ValueError(f"slot must be in 0..{MAX_SLOTS - 1}, got {slot}")
    if pool_set not in (0, 1):
        raise ValueError(f"set must be 0 or 1, got {pool_set}")
    return int(pack_pool_index(slot, pool_set))


def split_pool_index(pool_index: int) -> tuple[int, int]:
    """``(slot, set)`` of a 16-bit ``pool_index`` (bit 14 is ignored)."""
    return int(pool_index_slot(pool_index)), int(pool_index_set(pool_index))
