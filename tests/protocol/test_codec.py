"""Codec: exact bytes against hand-built frames, round trips, scapy agreement."""

import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import raw

from switchsim.protocol import codec, spec
from switchsim.protocol.scapy_layer import SwitchML, SwitchMLData, SwitchMLExponents, bind_switchml_layers

WORKER_MAC, SWITCH_MAC = "02:00:00:00:00:01", "02:00:00:00:ff:ff"
WORKER_IP, SWITCH_IP = "10.0.0.1", "10.0.0.254"


def _checksum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def hand_built_frame(k: int, values: list[int], *, udp_checksum: int) -> bytes:
    """The frame built field by field with struct, independent of the codec."""
    switchml = struct.pack("!BBIH", (1 << 4) | spec.size_for_elements(k), 7, 0x01020304, 0x8005)
    exponents = struct.pack("!bb", -3, 12)
    payload = struct.pack(f"!{k}i", *values)
    udp_len = 8 + len(switchml) + len(exponents) + len(payload)
    udp = struct.pack("!HHHH", 4001, 0xBEE0, udp_len, udp_checksum)
    ip_header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0, 64, 17, 0,
                            bytes([10, 0, 0, 1]), bytes([10, 0, 0, 254]))
    ip_header = ip_header[:10] + struct.pack("!H", _checksum(ip_header)) + ip_header[12:]
    ethernet = bytes.fromhex("02000000ffff" "020000000001" "0800")
    return ethernet + ip_header + udp + switchml + exponents + payload


def codec_frame(k: int, values: np.ndarray, *, compute_udp_checksum: bool) -> bytes:
    message = codec.Messages.build(pool_index=0x8005, values=values.reshape(1, k), tsi=0x01020304, job_number=7,
                                   exponents=np.array([[-3, 12]]))
    frames = codec.Frames(
        eth_dst=np.array([codec.mac_to_int(SWITCH_MAC)], np.uint64),
        eth_src=np.array([codec.mac_to_int(WORKER_MAC)], np.uint64),
        ip_src=np.array([codec.ip_to_int(WORKER_IP)], np.uint32),
        ip_dst=np.array([codec.ip_to_int(SWITCH_IP)], np.uint32),
        src_port=np.array([4001], np.uint16),
        dst_port=np.array([0xBEE0], np.uint16),
        messages=message,
    )
    return codec.encode_frames(frames, compute_udp_checksum=compute_udp_checksum)[0].tobytes()


@pytest.mark.parametrize(("k", "length"), [(64, 308), (256, 1076)])
def test_frame_bytes_match_hand_built(k, length):
    values = (np.arange(k, dtype=np.int64) * -977 + 2**31 - 1 - 5 * k).astype(np.int32)
    values[0], values[-1] = np.iinfo(np.int32).min, -1
    frame = codec_frame(k, values, compute_udp_checksum=False)
    assert len(frame) == length
    assert frame == hand_built_frame(k, values.tolist(), udp_checksum=0)


def test_udp_checksum_matches_hand_computed():
    k = 64
    values = np.arange(k, dtype=np.int32) - 30
    frame = codec_frame(k, values, compute_udp_checksum=True)
    unchecked = hand_built_frame(k, values.tolist(), udp_checksum=0)
    pseudo = bytes([10, 0, 0, 1, 10, 0, 0, 254, 0, 17]) + struct.pack("!H", spec.udp_length(k))
    expected = _checksum(pseudo + unchecked[34:])
    assert frame == hand_built_frame(k, values.tolist(), udp_checksum=expected)


def test_header_bytes_of_one_message():
    message = codec.Messages.build(pool_index=0x8003, values=np.zeros((1, 64), np.int32), tsi=64, job_number=9,
                                   exponents=np.array([[-1, 2]]))
    data = codec.encode_messages(message)
    assert data.shape == (1, spec.message_bytes(64))
    assert data[0, :10].tobytes() == bytes.fromhex("11 09 00000040 8003 ff 02")


messages_strategy = st.integers(1, 5).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 15), min_size=n, max_size=n),
        st.lists(st.integers(0, 255), min_size=n, max_size=n),
        st.lists(st.integers(0, 2**32 - 1), min_size=n, max_size=n),
        st.lists(st.integers(0, 2**16 - 1), min_size=n, max_size=n),
        st.lists(st.tuples(st.integers(-128, 127), st.integers(-128, 127)), min_size=n, max_size=n),
        st.sampled_from(spec.SUPPORTED_ELEMENTS_PER_PACKET),
        st.integers(0, 2**32 - 1),
    )
)


@given(messages_strategy)
def test_message_round_trip(fields):
    msg_type, job, tsi, pool_index, exponents, k, seed = fields
    values = np.random.default_rng(seed).integers(-(2**31), 2**31, size=(len(tsi), k)).astype(np.int32)
    message = codec.Messages.build(pool_index=pool_index, values=values, tsi=tsi, job_number=job,
                                   exponents=np.array(exponents))
    message.msg_type[:] = msg_type
    decoded = codec.decode_messages(codec.encode_messages(message), k)
    for name in codec.message_field_names():
        np.testing.assert_array_equal(getattr(decoded, name), getattr(message, name), err_msg=name)
    np.testing.assert_array_equal(decoded.exponents, message.exponents)
    np.testing.assert_array_equal(decoded.values, values)


def test_message_fields_are_the_spec_fields():
    assert sorted(codec.message_field_names()) == sorted(spec.SWITCHML_HEADER.names)


def test_frame_round_trip_and_checksums_verify():
    k = 64
    frame = codec_frame(k, np.arange(k, dtype=np.int32), compute_udp_checksum=True)
    decoded = codec.decode_frames(frame, k)
    assert codec.int_to_mac(decoded.eth_src[0]) == WORKER_MAC
    assert codec.int_to_ip(decoded.ip_dst[0]) == SWITCH_IP
    assert int(decoded.src_port[0]) == 4001
    assert int(decoded.messages.tsi[0]) == 0x01020304
    data = np.frombuffer(frame, np.uint8).reshape(1, -1)
    assert int(codec.ipv4_checksum(data[:, 14:34])[0]) == 0  # a valid header sums to 0xFFFF


def test_encode_rejects_field_out_of_range():
    message = codec.Messages.build(pool_index=0, values=np.zeros((1, 64), np.int32))
    message.size[:] = 9
    with pytest.raises(ValueError, match=r"switchml.size: values must fit in 3 unsigned bits"):
        codec.encode_messages(message)


def test_address_helpers():
    assert codec.mac_to_int("02:00:00:00:00:0a") == 0x02000000000A
    assert codec.int_to_mac(0x02000000000A) == "02:00:00:00:00:0a"
    assert codec.int_to_ip(codec.ip_to_int("192.168.1.20")) == "192.168.1.20"
    with pytest.raises(ValueError, match="six"):
        codec.mac_to_int("02:00")
    with pytest.raises(ValueError, match="four bytes"):
        codec.ip_to_int("10.0.0.300")


def test_scapy_builds_the_same_bytes_and_dissects_codec_frames():
    bind_switchml_layers()
    k = 64
    values = np.arange(k, dtype=np.int32) * 1000 - 7
    frame = codec_frame(k, values, compute_udp_checksum=True)
    built = (
        Ether(dst=SWITCH_MAC, src=WORKER_MAC)
        / IP(src=WORKER_IP, dst=SWITCH_IP, id=0, flags=0)
        / UDP(sport=4001)
        / SwitchML(job_number=7, tsi=0x01020304, pool_index=0x8005)
        / SwitchMLExponents(e0=-3, e1=12)
        / SwitchMLData(values=values.tolist())
    )
    assert raw(built) == frame
    dissected = Ether(frame)
    assert dissected[UDP].dport == 0xBEE0
    assert dissected[SwitchML].size == 1
    assert dissected[SwitchML].pool_slot() == 5
    assert dissected[SwitchML].pool_set() == 1
    assert dissected[SwitchMLExponents].e0 == -3
    assert dissected[SwitchMLData].values == values.tolist()


def test_scapy_dissects_replies_by_source_port_over_the_whole_range():
    bind_switchml_layers()
    for port in (spec.UDP_PORTS[0], spec.UDP_PORTS[-1]):
        reply = Ether() / IP() / UDP(sport=port, dport=4000) / SwitchML(size=3) / SwitchMLExponents() / SwitchMLData(
            values=list(range(256)))
        dissected = Ether(raw(reply))
        assert dissected[SwitchMLData].values == list(range(256))
        assert len(raw(reply)) == spec.frame_bytes(256)


def test_scapy_fields_are_the_spec_fields():
    assert tuple(f.name for f in SwitchML.fields_desc) == spec.SWITCHML_HEADER.names
    assert [f.size for f in SwitchML.fields_desc] == [f.bits for f in spec.SWITCHML_HEADER.fields]
    assert tuple(f.name for f in SwitchMLExponents.fields_desc) == spec.EXPONENTS_HEADER.names
