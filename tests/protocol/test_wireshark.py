"""The generated Wireshark dissector: current, spec-derived, and tshark reads what scapy decodes."""

import importlib.resources
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scapy.all import IP, UDP, Ether, raw, wrpcap

from switchsim import cli
from switchsim.protocol import codec, spec, wireshark
from switchsim.protocol.scapy_layer import (
    SwitchML,
    SwitchMLData,
    SwitchMLData8,
    SwitchMLData16,
    SwitchMLExponents,
    bind_switchml_layers,
)

TSHARK = shutil.which("tshark")
needs_tshark = pytest.mark.skipif(
    TSHARK is None,
    reason="tshark not on PATH (Debian: apt-get install tshark; .ci/run installs it when it can)",
)

FIELDS = [
    "switchml.msg_type",
    "switchml.unused",
    "switchml.size",
    "switchml.job_number",
    "switchml.tsi",
    "switchml.pool_index",
    "switchml.pool_index.set",
    "switchml.pool_index.slot",
    "switchml.exponents.e0",
    "switchml.exponents.e1",
    "switchml.direction",
    "switchml.element_bits",
    "switchml.elements",
    "switchml.value",
]


# --- the generated file -----------------------------------------------------------------------
def test_committed_dissector_equals_a_fresh_render():
    assert not wireshark.stale(), "stale: run `python -m switchsim.protocol.wireshark`"


def test_dissector_is_package_data():
    packaged = importlib.resources.files("switchsim.protocol") / "switchml.lua"
    assert packaged.is_file()
    assert packaged.read_text(encoding="utf-8") == wireshark.render()
    assert wireshark.DISSECTOR_PATH.name == "switchml.lua"


def test_check_detects_a_stale_file(tmp_path, capsys):
    path = tmp_path / "switchml.lua"
    assert wireshark.main(["--check", "--out", str(path)]) == 1  # missing
    assert wireshark.main(["--out", str(path)]) == 0
    assert wireshark.main(["--check", "--out", str(path)]) == 0
    path.write_text(path.read_text(encoding="utf-8").replace("0x3FFF", "0x1FFF"), encoding="utf-8")
    assert wireshark.main(["--check", "--out", str(path)]) == 1
    assert f"stale: {path}" in capsys.readouterr().out


def test_field_list_follows_the_spec():
    assert wireshark.field_abbreviations() == FIELDS
    placed = [(f.abbrev, f.byte_offset, f.container_bytes, f.mask, f.protofield) for f in wireshark.message_fields()]
    assert placed == [
        ("switchml.msg_type", 0, 1, 0xF0, "uint8"),
        ("switchml.unused", 0, 1, 0x08, "uint8"),
        ("switchml.size", 0, 1, 0x07, "uint8"),
        ("switchml.job_number", 1, 1, None, "uint8"),
        ("switchml.tsi", 2, 4, None, "uint32"),
        ("switchml.pool_index", 6, 2, None, "uint16"),
        ("switchml.exponents.e0", 8, 1, None, "int8"),
        ("switchml.exponents.e1", 9, 1, None, "int8"),
    ]
    assert wireshark.header_bytes() == spec.message_bytes(0) == 10
    assert wireshark.pool_index_masks() == (0x8000, 0x3FFF)
    assert wireshark.port_range() == (spec.UDP_PORT, spec.UDP_PORT + 15) == (0xBEE0, 0xBEEF)


def test_rendered_lines_carry_the_spec_values():
    lines = wireshark.render().splitlines()
    for line in (
        'hf.msg_type = ProtoField.uint8("switchml.msg_type", "msg_type", base.DEC, MSG_TYPE_NAMES, 0xF0)',
        'hf.size = ProtoField.uint8("switchml.size", "size", base.DEC, SIZE_NAMES, 0x07)',
        'hf.tsi = ProtoField.uint32("switchml.tsi", "tsi", base.DEC, nil, nil)',
        'hf.pool_index = ProtoField.uint16("switchml.pool_index", "pool_index", base.HEX, nil, nil)',
        'hf.pool_index_set = ProtoField.uint16("switchml.pool_index.set", "set", base.DEC, nil, 0x8000)',
        'hf.pool_index_slot = ProtoField.uint16("switchml.pool_index.slot", "slot", base.DEC, nil, 0x3FFF)',
        'hf.exponents_e0 = ProtoField.int8("switchml.exponents.e0", "e0", base.DEC, nil, nil)',
        "local UDP_PORT_FIRST = 48864",
        "local UDP_PORT_LAST = 48879",
        "local HEADER_BYTES = 10",
        'udp_port:add(string.format("%d-%d", UDP_PORT_FIRST, UDP_PORT_LAST), p_switchml)',
    ):
        assert line in lines, line
    start = lines.index("local SIZE_FORMATS = {")
    assert lines[start + 1 : start + 10] == [
        "    [0] = { 128, 32 },",
        "    [1] = { 256, 32 },",
        "    [2] = { 512, 32 },",
        "    [3] = { 1024, 32 },",
        "    [4] = { 256, 16 },",
        "    [5] = { 256, 8 },",
        "    [6] = { 1024, 16 },",
        "    [7] = { 1024, 8 },",
        "}",
    ]
    assert wireshark.size_names() == {
        0: "IBV_MTU_128: 128 B, 32 x int32",
        1: "IBV_MTU_256: 256 B, 64 x int32",
        2: "IBV_MTU_512: 512 B, 128 x int32",
        3: "IBV_MTU_1024: 1024 B, 256 x int32",
        4: "INT16_256: 256 B, 128 x int16",
        5: "INT8_256: 256 B, 256 x int8",
        6: "INT16_1024: 1024 B, 512 x int16",
        7: "INT8_1024: 1024 B, 1024 x int8",
    }


def test_cli_prints_the_path(capsys):
    assert cli.main(["wireshark", "--path"]) == 0
    assert capsys.readouterr().out == f"{wireshark.DISSECTOR_PATH}\n"
    assert cli.main(["wireshark"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"SwitchML Lua dissector: {wireshark.DISSECTOR_PATH}"
    assert f"  tshark -X lua_script:{wireshark.DISSECTOR_PATH} -r capture.pcap -V" in out.splitlines()
    assert out.splitlines()[-1] == "fields: " + " ".join(FIELDS)


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["wireshark", "--help"])
    assert exit_info.value.code == 0
    assert "lua_script:PATH" in capsys.readouterr().out


# --- tshark against scapy ---------------------------------------------------------------------
WORKER_MAC, SWITCH_MAC = 0x020000000001, 0x02000000FFFF
WORKER_IP, SWITCH_IP = codec.ip_to_int("10.0.0.1"), codec.ip_to_int("10.0.0.254")


def _codec_frames(k, bits, *, result, seed, n=4):
    """n frames of k b-bit elements built by the codec: requests to, or results from, the switch's ports."""
    rng = np.random.default_rng(seed)
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    values = rng.integers(low, high + 1, size=(n, k), dtype=np.int64)
    values[0, :2] = (low, high)  # the extremes of the width
    exponents = rng.integers(-128, 128, size=(n, 2), dtype=np.int64)
    exponents[0] = (-128, 127)
    slots = rng.integers(0, spec.MAX_SLOTS, size=n)
    slots[0] = spec.MAX_SLOTS - 1
    sets = np.arange(n) % 2
    messages = codec.Messages.build(
        pool_index=[spec.make_pool_index(int(s), int(p)) for s, p in zip(slots, sets, strict=True)],
        values=values.astype(np.int32),
        tsi=rng.integers(0, 1 << 32, size=n, dtype=np.uint64).astype(np.uint32),
        job_number=rng.integers(0, 256, size=n),
        exponents=exponents.astype(np.int8),
        element_bits=bits,
    )
    switch_ports = np.array([spec.UDP_PORTS[(seed + i) % len(spec.UDP_PORTS)] for i in range(n)], np.uint16)
    worker_ports = np.full(n, spec.WORKER_UDP_PORT_BASE + seed % 4, np.uint16)
    ones = np.ones(n, np.uint64)
    if result:  # switch -> worker: source port in the range, checksum 0
        frames = codec.Frames(eth_dst=ones * WORKER_MAC, eth_src=ones * SWITCH_MAC, ip_src=ones * SWITCH_IP,
                              ip_dst=ones * WORKER_IP, src_port=switch_ports, dst_port=worker_ports, messages=messages)
        data = codec.encode_frames(frames)
    else:  # worker -> switch: destination port in the range, checksum computed
        frames = codec.Frames(eth_dst=ones * SWITCH_MAC, eth_src=ones * WORKER_MAC, ip_src=ones * WORKER_IP,
                              ip_dst=ones * SWITCH_IP, src_port=worker_ports, dst_port=switch_ports, messages=messages)
        data = codec.encode_frames(frames, compute_udp_checksum=True)
    return [row.tobytes() for row in data]


def _scapy_frames():
    """Frames built with the scapy layers (one per data layer)."""
    bind_switchml_layers()
    request = Ether() / IP(src="10.0.0.2", dst="10.0.0.254") / UDP(sport=4001)
    result = Ether() / IP(src="10.0.0.254", dst="10.0.0.2") / UDP(sport=spec.UDP_PORTS[-1], dport=4001)
    return [
        raw(request / SwitchML(size=1, job_number=9, tsi=4096, pool_index=spec.make_pool_index(5, 1))
            / SwitchMLExponents(e0=-3, e1=4) / SwitchMLData(values=[(-1) ** i * i * 1000003 for i in range(64)])),
        raw(result / SwitchML(size=spec.size_for_elements(128, 16), tsi=128, pool_index=2)
            / SwitchMLExponents(e0=1) / SwitchMLData16(values=[i - 64 for i in range(128)])),
        raw(request / SwitchML(size=spec.size_for_elements(1024, 8), tsi=2**32 - 1, job_number=255,
                               pool_index=spec.make_pool_index(0, 1))
            / SwitchMLExponents(e1=-1) / SwitchMLData8(values=[(i % 256) - 128 for i in range(1024)])),
    ]


def _scapy_fields(frame):
    """What the scapy layer decodes, as tshark's -T fields would print it."""
    bind_switchml_layers()
    packet = Ether(frame)
    header, exponents = packet[SwitchML], packet[SwitchMLExponents]
    data = exponents.payload
    bits = spec.element_bits_for_size(header.size)
    return [
        str(header.msg_type),
        str(header.unused),
        str(header.size),
        str(header.job_number),
        str(header.tsi),
        f"0x{header.pool_index:04x}",
        str(header.pool_set()),
        str(header.pool_slot()),
        str(exponents.e0),
        str(exponents.e1),
        "0" if packet[UDP].dport in spec.UDP_PORTS else "1",
        str(bits),
        str(spec.elements_for_size(header.size)),
        ",".join(str(v) for v in data.values),
    ]


def _tshark(path, *args):
    # HOME next to the capture: no personal preferences or plugins (a copy of the dissector installed there
    # would be loaded twice); the dissector comes only from -X lua_script.
    home = Path(path).parent / "home"
    home.mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "LANG": "C.UTF-8"}
    completed = subprocess.run(
        [TSHARK, "-n", "-r", str(path), "-X", f"lua_script:{wireshark.DISSECTOR_PATH}", *args],
        capture_output=True, text=True, timeout=120, check=True, env=env,
    )
    assert "Lua: Error" not in completed.stderr, completed.stderr
    return completed.stdout


def _tshark_fields(path, fields=FIELDS):
    args = ["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"]
    for name in fields:
        args += ["-e", name]
    return [line.split("\t") for line in _tshark(path, *args).splitlines()]


@needs_tshark
def test_tshark_fields_equal_scapy_decoding(tmp_path):
    frames = [
        *_codec_frames(64, 32, result=False, seed=1),
        *_codec_frames(256, 32, result=True, seed=2),
        *_codec_frames(128, 16, result=False, seed=3),
        *_codec_frames(512, 16, result=True, seed=4),
        *_codec_frames(256, 8, result=True, seed=5),
        *_codec_frames(1024, 8, result=False, seed=6),
        *_scapy_frames(),
    ]
    path = tmp_path / "switchml.pcap"
    wrpcap(str(path), [Ether(f) for f in frames])
    rows = _tshark_fields(path)
    assert len(rows) == len(frames) == 27
    for index, (row, frame) in enumerate(zip(rows, frames, strict=True)):
        assert row == _scapy_fields(frame), f"frame {index + 1}"
    sizes = [int(row[2]) for row in rows]
    assert sorted(set(sizes)) == [1, 3, 4, 5, 6, 7]
    assert {row[6] for row in rows} == {"0", "1"}  # both sets
    assert [len(row[13].split(",")) for row in rows[::4][:6]] == [64, 256, 128, 512, 256, 1024]


@needs_tshark
def test_tshark_summary_lines(tmp_path):
    path = tmp_path / "two.pcap"
    wrpcap(str(path), [Ether(f) for f in _scapy_frames()[:2]])
    assert _tshark_fields(path, ["_ws.col.Protocol", "_ws.col.Info"]) == [
        ["SwitchML", "request job_number=9 tsi=4096 slot=5 set=1 size=1 (64 x int32)"],
        ["SwitchML", "result job_number=0 tsi=128 slot=2 set=0 size=4 (128 x int16)"],
    ]
    assert [line.split(None, 5)[-1] for line in _tshark(path).splitlines()] == [
        "SwitchML 308 request job_number=9 tsi=4096 slot=5 set=1 size=1 (64 x int32)",
        "SwitchML 308 result job_number=0 tsi=128 slot=2 set=0 size=4 (128 x int16)",
    ]
    verbose = _tshark(path, "-V", "-c", "1")
    for line in (
        "SwitchML-UDP (in-network aggregation)",
        "    [direction: request (to the switch) (0)]",
        "        .... .001 = size: IBV_MTU_256: 256 B, 64 x int32 (1)",
        "        pool_index: 0x8005",
        "            1... .... .... .... = set: 1",
        "            ..00 0000 0000 0101 = slot: 5",
        "        e0: -3",
        "    values (64 x int32)",
        "        value: -63000189",
    ):
        assert line in verbose.splitlines(), line


@needs_tshark
def test_tshark_leaves_other_udp_alone_and_flags_truncation(tmp_path):
    bind_switchml_layers()
    other = Ether() / IP() / UDP(sport=spec.UDP_PORTS[0] - 1, dport=spec.UDP_PORTS[-1] + 1) / (b"\x11" * 40)
    short = (Ether() / IP() / UDP(sport=4000) / SwitchML(size=1, tsi=64)
             / SwitchMLExponents() / SwitchMLData(values=list(range(60))))
    path = tmp_path / "edge.pcap"
    wrpcap(str(path), [other, short])
    rows = _tshark_fields(path, ["udp.dstport", "switchml.size", "switchml.elements", "switchml.value",
                                 "_ws.expert.message"])
    assert rows[0] == [str(spec.UDP_PORTS[-1] + 1), "", "", "", ""]
    assert rows[1] == [str(spec.UDP_PORT), "1", "64", ",".join(str(i) for i in range(60)),
                       "240 of 256 payload bytes (size 1)"]


@needs_tshark
def test_decode_as_on_another_port(tmp_path):
    bind_switchml_layers()
    frame = raw(Ether() / IP() / UDP(sport=9998, dport=9999) / SwitchML(size=1, tsi=64, pool_index=0x8001)
                / SwitchMLExponents(e0=2) / SwitchMLData(values=list(range(64))))
    path = tmp_path / "other-port.pcap"
    wrpcap(str(path), [Ether(frame)])
    rows = _tshark_fields(path, ["switchml.tsi", "switchml.pool_index.slot", "switchml.value"])
    assert rows == [[""] * 3]
    decoded = _tshark(path, "-d", "udp.port==9999,switchml", "-T", "fields", "-E", "separator=/t",
                      "-e", "switchml.tsi", "-e", "switchml.pool_index.slot", "-e", "switchml.exponents.e0")
    assert decoded == "64\t1\t2\n"


@needs_tshark
@pytest.mark.network
def test_tshark_reads_an_emulator_capture_as_scapy_does(tmp_path):
    from switchsim.emu.pcap import read_pcap
    from switchsim.emu.run import emulate

    path = tmp_path / "emu.pcap"
    summary = emulate(2, 1000, loss=0.05, pcap=str(path), max_wall_s=60)
    assert summary["correct"], summary["error"]
    frames = [frame for _, frame in read_pcap(path)]
    rows = _tshark_fields(path)
    assert len(rows) == len(frames) > 0
    assert rows == [_scapy_fields(frame) for frame in frames]
    assert {row[10] for row in rows} == {"0", "1"}  # requests and results


@needs_tshark
def test_tshark_reads_a_simulator_capture_as_scapy_does(tmp_path):
    from switchsim.config import load_scenario, with_override
    from switchsim.emu.pcap import read_pcap
    from switchsim.sim.run import run_scenario

    scenario = load_scenario(Path(__file__).resolve().parents[2] / "scenarios" / "element-bits.toml")
    scenario = with_override(with_override(scenario, "workload.elements", 20_000), "workload.element_bits", 16)
    path = tmp_path / "sim.pcap"
    results = run_scenario(scenario, pcap=str(path))
    assert all(r.correct for r in results.results)
    frames = [frame for _, frame in read_pcap(path)]
    rows = _tshark_fields(path)
    assert len(rows) == len(frames) > 0
    assert rows == [_scapy_fields(frame) for frame in frames]
    assert {(row[2], row[11], row[12]) for row in rows} == {("4", "16", "128")}  # INT16_256
    assert {row[10] for row in rows} == {"0", "1"}
