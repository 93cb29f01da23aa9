"""The wire-format facts: sizes, widths, enums, ports, pool index."""

import ast
import io
import tokenize
from pathlib import Path

import pytest

from switchsim.protocol import spec


def test_switchml_header_layout():
    assert spec.SWITCHML_HEADER.names == ("msg_type", "unused", "size", "job_number", "tsi", "pool_index")
    assert [f.bits for f in spec.SWITCHML_HEADER.fields] == [4, 1, 3, 8, 32, 16]
    assert spec.SWITCHML_HEADER.nbytes == 8
    assert spec.EXPONENTS_HEADER.nbytes == 2
    assert all(f.signed for f in spec.EXPONENTS_HEADER.fields)


@pytest.mark.parametrize(
    ("k", "udp", "ip", "frame", "wire", "efficiency"),
    [(64, 274, 294, 308, 332, 0.771), (256, 1042, 1062, 1076, 1100, 0.931)],
)
def test_sizes(k, udp, ip, frame, wire, efficiency):
    assert spec.udp_length(k) == udp
    assert spec.ipv4_total_length(k) == ip
    assert spec.frame_bytes(k) == frame
    assert spec.wire_bytes(k) == wire
    assert spec.payload_efficiency(k) == pytest.approx(efficiency, abs=5e-4)


def test_size_enum():
    assert spec.size_for_elements(64) == 1
    assert spec.size_for_elements(256) == 3
    assert spec.elements_for_size(0) == 32
    with pytest.raises(ValueError, match=r"elements_per_packet must be one of \[32, 64, 128, 256\] for 32-bit"):
        spec.size_for_elements(100)
    with pytest.raises(ValueError, match="size must be one of"):
        spec.elements_for_size(8)


@pytest.mark.parametrize(
    ("bits", "k", "size"), [(16, 128, 4), (8, 256, 5), (16, 512, 6), (8, 1024, 7)]
)
def test_narrow_sizes_use_the_free_codes_with_the_same_payload_bytes(bits, k, size):
    assert spec.size_for_elements(k, element_bits=bits) == size
    assert spec.elements_for_size(size) == k
    assert spec.element_bits_for_size(size) == bits
    assert size not in spec.PAYLOAD_BYTES  # an official switch drops it as an unknown size
    official_k = spec.PAYLOAD_BYTES[spec.PayloadSize.IBV_MTU_256 if k * bits == 2048 else spec.PayloadSize.IBV_MTU_1024] // 4
    assert spec.frame_bytes(k, bits) == spec.frame_bytes(official_k)
    assert spec.wire_bytes(k, bits) == spec.wire_bytes(official_k)


def test_narrow_rejects_other_widths_and_counts():
    assert spec.supported_elements_per_packet(16) == (128, 512)
    assert spec.ALL_ELEMENTS_PER_PACKET == (64, 128, 256, 512, 1024)
    with pytest.raises(ValueError, match=r"element_bits must be one of \(32, 16, 8\), got 4"):
        spec.wire_bytes(64, 4)
    with pytest.raises(ValueError, match=r"one of \[256, 1024\] for 8-bit elements, got 64"):
        spec.size_for_elements(64, element_bits=8)


def test_port_range():
    assert spec.UDP_PORT == 48864
    assert list(spec.UDP_PORTS) == list(range(0xBEE0, 0xBEF0))
    assert all(p & spec.UDP_PORT_MASK == spec.UDP_PORT for p in spec.UDP_PORTS)
    assert (spec.UDP_PORTS[-1] + 1) & spec.UDP_PORT_MASK != spec.UDP_PORT


def test_pool_index_round_trip():
    assert spec.make_pool_index(3, 1) == 0x8003
    assert spec.split_pool_index(0x8003) == (3, 1)
    assert spec.split_pool_index(0x4003) == (3, 0)  # bit 14 is not part of slot or set
    assert spec.make_pool_index(spec.MAX_SLOTS - 1, 0) == 0x3FFF
    with pytest.raises(ValueError, match=r"slot must be in 0\.\.16383, got 16384"):
        spec.make_pool_index(spec.MAX_SLOTS, 0)
    with pytest.raises(ValueError, match="set must be 0 or 1, got 2"):
        spec.make_pool_index(0, 2)


def test_field_validation():
    with pytest.raises(ValueError, match="bits must be in 1..64"):
        spec.Field("x", 0)
    with pytest.raises(ValueError, match="not whole bytes"):
        spec.HeaderSpec("odd", (spec.Field("x", 3),))
    with pytest.raises(KeyError, match="has no field 'nope'"):
        spec.SWITCHML_HEADER.field("nope")


#: Numbers only spec.py may write in code: the port and mask, the pool-index slot mask and set bit.
_WIRE_NUMBERS = {spec.UDP_PORT, spec.UDP_PORT_MASK, spec.POOL_SLOT_MASK, 1 << spec.POOL_SET_BIT}
#: An independent transcription of the official client's bytes (a test oracle), spelled with struct on purpose.
_ORACLES = {"official_client.py"}


def wire_spellings(source: str) -> list[str]:
    """Code (not strings or comments) in ``source`` that re-spells the wire format instead of using spec.

    A wire number (port, mask, pool-index mask or set bit), a shift by the set bit, or a ``struct``
    layout in network byte order (header fields laid out by hand; other formats, e.g. pcap's, pass).
    """
    found = []
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
              if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE)]
    for before, token in zip([None, *tokens], tokens, strict=False):
        if token.type != tokenize.NUMBER:
            continue
        try:
            value = int(token.string.replace("_", ""), 0)
        except ValueError:  # a float or complex literal: no wire number is one
            continue
        shift = before is not None and before.string in ("<<", ">>") and value == spec.POOL_SET_BIT
        if value in _WIRE_NUMBERS or shift:
            found.append(f"line {token.start[0]}: {(before.string + ' ') if shift else ''}{token.string}")
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in
                ("pack", "unpack", "pack_into", "unpack_from", "calcsize", "Struct")
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "struct"
                and node.args and isinstance(node.args[0], ast.Constant) and str(node.args[0].value)[:1] in "!>"):
            found.append(f"line {node.lineno}: struct.{node.func.attr}")
    return found


def test_wire_spellings_finds_numbers_shifts_and_struct_layouts():
    source = ("a = 0xBEE0\nb = x >> 15\nc = struct.pack('!H', 1)\n# 0xfff0 in a comment\nd = '48864 in a string'\n"
              "e = struct.pack('=I', 1)\n")
    assert wire_spellings(source) == ["line 1: 0xBEE0", "line 2: >> 15", "line 3: struct.pack"]
    assert wire_spellings("mask = 16383 & y\nz = y << 14\n") == ["line 1: 16383"]


def test_wire_format_is_written_only_in_spec():
    """One definition of each truth: no other module spells the port, the mask or the pool-index layout."""
    root = Path(__file__).resolve().parents[2]
    offenders = [f"{path.relative_to(root)} {spelling}"
                 for package in ("switchsim", "workers") for path in sorted((root / package).rglob("*.py"))
                 if path.name != "spec.py" and path.name not in _ORACLES
                 for spelling in wire_spellings(path.read_text(encoding="utf-8"))]
    assert offenders == []
