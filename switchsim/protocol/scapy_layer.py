"""scapy layers for SwitchML-UDP, built from `switchsim.protocol.spec`.

Three layers mirror the P4 headers: `SwitchML` (``switchml_h``),
`SwitchMLExponents` (``exponents_h``) and `SwitchMLData` (the k int32
elements); `SwitchMLData16` and `SwitchMLData8` carry the narrow-element
extension's payloads and are chosen by the header's ``size`` code. Their
``fields_desc`` are generated from the spec, so a width or a name cannot drift
from the codec.

Binding to UDP is explicit (no import-time side effects): call
`bind_switchml_layers()` once, then ``Ether(raw_bytes)`` dissects any frame to
or from the switch's port range (``spec.UDP_PORTS``) and ``UDP()/SwitchML()``
defaults to dport ``spec.UDP_PORT``.

Example:
    >>> from scapy.all import Ether, IP, UDP, raw
    >>> bind_switchml_layers()
    >>> frame = (Ether()/IP()/UDP(sport=4000)/SwitchML(size=1, pool_index=3)
    ...          /SwitchMLExponents()/SwitchMLData(values=list(range(64))))
    >>> len(raw(frame))
    308
"""

from __future__ import annotations

from scapy.fields import BitField, FieldListField, SignedByteField, SignedIntField, SignedShortField
from scapy.layers.inet import UDP
from scapy.packet import Packet, bind_bottom_up, bind_layers, bind_top_down

from switchsim.protocol import spec


def _fields(header: spec.HeaderSpec, defaults: dict[str, int]) -> list:
    result = []
    for f in header.fields:
        default = defaults.get(f.name, 0)
        if f.signed and f.bits == 8:
            result.append(SignedByteField(f.name, default))
        else:
            result.append(BitField(f.name, default, f.bits))
    return result


def _payload_length(packet: Packet) -> int:
    """Payload bytes announced by the enclosing SwitchML header's ``size``."""
    layer = packet.underlayer
    while layer is not None and not isinstance(layer, SwitchML):
        layer = layer.underlayer
    if layer is None or layer.size not in spec.SIZE_FORMATS:
        return len(packet.original) if packet.original else 0
    return spec.SIZE_FORMATS[layer.size][0]


class SwitchML(Packet):
    """The 8-byte SwitchML header (P4 ``switchml_h``)."""

    name = "SwitchML"
    fields_desc = _fields(
        spec.SWITCHML_HEADER,
        {"msg_type": spec.MSG_TYPE_DATA, "size": spec.size_for_elements(64)},
    )

    def pool_slot(self) -> int:
        """Slot index (bits 13..0 of ``pool_index``)."""
        return spec.split_pool_index(self.pool_index)[0]

    def pool_set(self) -> int:
        """Set, 0 or 1 (bit 15 of ``pool_index``)."""
        return spec.split_pool_index(self.pool_index)[1]


class SwitchMLExponents(Packet):
    """The two int8 block exponents (P4 ``exponents_h``); the data layer follows the ``size`` code."""

    name = "SwitchMLExponents"
    fields_desc = _fields(spec.EXPONENTS_HEADER, {})

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        """`SwitchMLData` for official sizes, the narrow layer for the extension's codes."""
        header = self.underlayer
        if isinstance(header, SwitchML) and header.size in spec.SIZE_FORMATS:
            return _DATA_LAYERS[spec.element_bits_for_size(header.size)]
        return SwitchMLData


def _data_fields(element_field: type, bits: int) -> list:
    return [
        FieldListField(
            "values",
            [],
            element_field("value", 0),
            length_from=_payload_length,
            max_count=max(nbytes for nbytes, _ in spec.SIZE_FORMATS.values()) * 8 // bits,
        ),
    ]


class SwitchMLData(Packet):
    """The k big-endian int32 payload elements; k follows the header's ``size``."""

    name = "SwitchMLData"
    fields_desc = _data_fields(SignedIntField, 32)


class SwitchMLData16(Packet):
    """Narrow-element extension: big-endian int16 payload elements (size codes 4 and 6)."""

    name = "SwitchMLData16"
    fields_desc = _data_fields(SignedShortField, 16)


class SwitchMLData8(Packet):
    """Narrow-element extension: int8 payload elements (size codes 5 and 7)."""

    name = "SwitchMLData8"
    fields_desc = _data_fields(SignedByteField, 8)


_DATA_LAYERS: dict[int, type[Packet]] = {32: SwitchMLData, 16: SwitchMLData16, 8: SwitchMLData8}
assert set(_DATA_LAYERS) == set(spec.WIRE_ELEMENT_BITS)


def bind_switchml_layers() -> None:
    """Bind the layers to UDP on the switch's whole port range (idempotent).

    Dissection matches either UDP port in ``spec.UDP_PORTS`` (requests have it
    as destination, replies as source); building ``UDP()/SwitchML()`` sets
    dport ``spec.UDP_PORT``.
    """
    for port in spec.UDP_PORTS:
        bind_bottom_up(UDP, SwitchML, dport=port)
        bind_bottom_up(UDP, SwitchML, sport=port)
    bind_top_down(UDP, SwitchML, dport=spec.UDP_PORT)
    bind_layers(SwitchML, SwitchMLExponents)
    bind_layers(SwitchMLExponents, SwitchMLData)
