"""The P4 sources agree with switchsim/protocol/spec.py: header fields, constants, size enum (runs everywhere)."""

import re
from pathlib import Path

import pytest

from switchsim.p4gen.render import COMMON, DEFAULT_ROOT, P4_ELEMENTS_PER_CHUNK, P4_ELEMENTS_PER_PACKET, element_names
from switchsim.protocol import spec

TARGETS = ("bmv2", "tofino")
_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_HEADER = re.compile(r"\bheader\s+(\w+)\s*\{(.*?)\}", re.S)
_FIELD = re.compile(r"^(bit|int)\s*<\s*(\d+)\s*>\s+(\w+)$")
_CONST = re.compile(r"\bconst\s+bit\s*<\s*(\d+)\s*>\s+(\w+)\s*=\s*(0x[0-9A-Fa-f]+|\d+)\s*;")
_ENUM = re.compile(r"\benum\s+bit\s*<\s*(\d+)\s*>\s+(\w+)\s*\{(.*?)\}", re.S)


def strip_comments(text):
    return _COMMENTS.sub("", text)


def parse_headers(text):
    """{header type: [(kind, width, field), ...]} from P4 source text; a malformed member raises."""
    headers = {}
    for name, body in _HEADER.findall(strip_comments(text)):
        fields = []
        for member in (m.strip() for m in body.split(";")):
            if not member:
                continue
            match = _FIELD.match(" ".join(member.split()))
            assert match, f"header {name}: cannot parse member {member!r}"
            fields.append((match.group(1), int(match.group(2)), match.group(3)))
        assert name not in headers, f"header {name} defined twice"
        headers[name] = fields
    return headers


def parse_consts(text):
    """{name: (width, value)} of ``const bit<N> NAME = VALUE;`` declarations."""
    return {name: (int(width), int(value, 0)) for width, name, value in _CONST.findall(strip_comments(text))}


def target_text(target):
    """Every P4 file the target's program reads: its own and the shared ones in p4/common."""
    paths = sorted((DEFAULT_ROOT / target).glob("*.p4")) + sorted((DEFAULT_ROOT / COMMON).glob("*.p4"))
    return "\n".join(path.read_text(encoding="utf-8") for path in paths)


def header_problems(headers):
    """Differences between parsed P4 headers and the spec (empty when they agree)."""
    problems = []
    for header in spec.FRAME_HEADERS:
        want = [("int" if f.signed else "bit", f.bits, f.name) for f in header.fields]
        got = headers.get(f"{header.name}_h")
        if got != want:
            problems.append(f"{header.name}_h: P4 {got} != spec {want}")
    want_data = [("bit", spec.ELEMENT_BITS, name) for name in element_names(P4_ELEMENTS_PER_CHUNK)]
    if headers.get("data_h") != want_data:
        problems.append(f"data_h: expected {P4_ELEMENTS_PER_CHUNK} x bit<{spec.ELEMENT_BITS}>")
    return problems


def const_problems(consts):
    """Differences between the P4 constants and the spec."""
    udp, sml = spec.UDP_HEADER, spec.SWITCHML_HEADER
    want = {
        "UDP_PORT": (udp.field("dst_port").bits, spec.UDP_PORT),
        "UDP_PORT_MASK": (udp.field("dst_port").bits, spec.UDP_PORT_MASK),
        "MSG_TYPE_DATA": (sml.field("msg_type").bits, spec.MSG_TYPE_DATA),
        "POOL_SET_MASK": (sml.field("pool_index").bits, 1 << spec.POOL_SET_BIT),
        "POOL_SLOT_MASK": (sml.field("pool_index").bits, spec.POOL_SLOT_MASK),
        "ETHERTYPE_IPV4": (spec.ETHERNET_HEADER.field("ether_type").bits, spec.ETHERTYPE_IPV4),
        "IP_PROTOCOL_UDP": (spec.IPV4_HEADER.field("protocol").bits, spec.IP_PROTOCOL_UDP),
        "REPLY_TTL": (spec.IPV4_HEADER.field("ttl").bits, spec.REPLY_TTL),
    }
    for k in P4_ELEMENTS_PER_PACKET:
        want |= {
            f"SWITCHML_SIZE_{k}": (sml.field("size").bits, spec.size_for_elements(k)),
            f"UDP_LENGTH_{k}": (udp.field("length").bits, spec.udp_length(k)),
            f"IPV4_TOTAL_LEN_{k}": (spec.IPV4_HEADER.field("total_len").bits, spec.ipv4_total_length(k)),
            f"FRAME_BYTES_{k}": (32, spec.frame_bytes(k)),
        }
    return [f"{name}: P4 {consts.get(name)} != spec {value}" for name, value in want.items() if consts.get(name) != value]


@pytest.mark.parametrize("target", TARGETS)
def test_headers_match_the_spec(target):
    assert header_problems(parse_headers(target_text(target))) == []


@pytest.mark.parametrize("target", TARGETS)
def test_constants_match_the_spec(target):
    assert const_problems(parse_consts(target_text(target))) == []


@pytest.mark.parametrize("target", TARGETS)
def test_size_enum_matches_the_spec(target):
    enums = {name: (int(width), body) for width, name, body in _ENUM.findall(strip_comments(target_text(target)))}
    width, body = enums["packet_size_t"]
    assert width == spec.SWITCHML_HEADER.field("size").bits
    members = {m.split("=")[0].strip(): int(m.split("=")[1]) for m in body.split(",") if m.strip()}
    assert members == {size.name: int(size) for size in spec.PayloadSize}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("bit<16> pool_index;", "bit<15> pool_index;"),
        ("bit<32> tsi;", "bit<16> tsi;"),
        ("int<8> e0;", "bit<8> e0;"),
        ("bit<4>  msg_type;\n    bit<1>  unused;", "bit<1>  unused;\n    bit<4>  msg_type;"),
        ("bit<16> dst_port;", "bit<16> dport;"),
        ("bit<13> frag_offset;", "bit<12> frag_offset;"),
    ],
)
def test_a_drifted_header_is_caught(old, new):
    text = target_text("bmv2")
    assert old in text
    assert header_problems(parse_headers(text.replace(old, new, 1))) != []


def test_a_drifted_constant_is_caught():
    declared = f"const bit<16> UDP_PORT_MASK = 0x{spec.UDP_PORT_MASK:04X};"
    assert declared in target_text("bmv2")
    text = target_text("bmv2").replace(declared, "const bit<16> UDP_PORT_MASK = 0xFF00;")
    assert any("UDP_PORT_MASK" in p for p in const_problems(parse_consts(text)))
    data = target_text("bmv2").replace("bit<32> d63;", "bit<16> d63;")
    assert any("data_h" in p for p in header_problems(parse_headers(data)))


def test_wire_constants_appear_only_in_the_generated_files():
    """Hand-written P4 uses the names; only switchml_constants.p4 spells the port and the mask."""
    literals = {f"0x{spec.UDP_PORT:x}", str(spec.UDP_PORT), f"0x{spec.UDP_PORT_MASK:x}", str(spec.UDP_PORT_MASK)}
    offenders = []
    for path in sorted(DEFAULT_ROOT.glob("*/*.p4")):
        if path.name == "switchml_constants.p4":
            continue
        text = strip_comments(path.read_text(encoding="utf-8")).lower()
        offenders += [f"{path.relative_to(DEFAULT_ROOT)}: {token}" for token in literals if token in text]
    assert offenders == []


@pytest.mark.parametrize("target", TARGETS)
def test_every_include_exists(target):
    folder = DEFAULT_ROOT / target
    for path in folder.glob("*.p4"):
        for name in re.findall(r'#include\s+"([^"]+)"', path.read_text(encoding="utf-8")):
            assert (folder / name).exists(), f"{path.name} includes missing {name}"


@pytest.mark.parametrize("target", TARGETS)
def test_generated_includes_are_shared_not_copied(target):
    """Both programs include the generated files from p4/common; no target has a copy."""
    folder = DEFAULT_ROOT / target
    assert not [p.name for p in folder.glob("switchml_*.p4") if p.name != "switchml.p4"]
    included = "\n".join(p.read_text(encoding="utf-8") for p in folder.glob("*.p4"))
    for name in ("switchml_constants.p4", "switchml_data.p4", "switchml_values.p4"):
        assert f'#include "../{COMMON}/{name}"' in included, name


def test_tofino_program_says_what_is_and_is_not_checked():
    text = (DEFAULT_ROOT / "tofino" / "switchml.p4").read_text(encoding="utf-8")
    assert "CHECKED BY P4C'S FRONT END ONLY, NOT COMPILED FOR TOFINO" in text
    assert "not openly available" not in text and "PHV allocation" in text


def test_p4_sources_are_balanced():
    """A cheap syntax sanity check: braces and parentheses balance in every P4 file."""
    for path in DEFAULT_ROOT.glob("*/*.p4"):
        text = strip_comments(path.read_text(encoding="utf-8"))
        text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
        assert text.count("{") == text.count("}"), path
        assert text.count("(") == text.count(")"), path
        assert Path(path).read_text(encoding="utf-8").endswith("\n")


def shift_problems(text):
    """Shifts whose amount is a constant wider than 8 bits: p4c's bmv2 backend rejects them."""
    consts = parse_consts(text)
    return [f"{op} {name} (bit<{consts[name][0]}>)" for op, name in re.findall(r"(<<|>>)\s*(\w+)", strip_comments(text))
            if name in consts and consts[name][0] > 8]


@pytest.mark.parametrize("target", ["bmv2"])
def test_no_shift_by_a_wide_constant(target):
    """p4c-bm2-ss: "shift amount limited to 8 bits on this target" (read a bit with a slice instead)."""
    assert shift_problems(target_text(target)) == []
    assert shift_problems("const bit<16> POOL_SET_BIT = 15;\nx = (bit<1>)(p >> POOL_SET_BIT);") == [
        ">> POOL_SET_BIT (bit<16>)"]


def test_every_generated_constant_is_used():
    """Nothing dead in switchml_constants.p4: each const and #define is used by another P4 file."""
    constants = (DEFAULT_ROOT / COMMON / "switchml_constants.p4").read_text(encoding="utf-8")
    names = re.findall(r"^const bit<\d+> (\w+) =", constants, re.MULTILINE)
    names += [n for n in re.findall(r"^#define (\w+)", constants, re.MULTILINE) if n != "_SWITCHML_CONSTANTS_"]
    others = "\n".join(strip_comments(p.read_text(encoding="utf-8")) for p in sorted(DEFAULT_ROOT.glob("*/*.p4"))
                       if p.name != "switchml_constants.p4")
    assert len(names) > 20
    assert [n for n in names if not re.search(rf"\b{n}\b", others)] == []
