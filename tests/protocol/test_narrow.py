"""The narrow-element extension: byte-exact 8/16-bit payloads, round trips, scapy, range checks."""

import struct

import numpy as np
import pytest
from scapy.all import IP, UDP, Ether, raw

from switchsim.protocol import codec, spec
from switchsim.protocol.scapy_layer import (
    SwitchML,
    SwitchMLData,
    SwitchMLData8,
    SwitchMLData16,
    SwitchMLExponents,
    bind_switchml_layers,
)

FORMATS = [(16, 128, ">h"), (8, 256, ">b"), (16, 512, ">h"), (8, 1024, ">b")]


def _values(bits, k, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=(3, k), dtype=np.int32)


@pytest.mark.parametrize(("bits", "k", "fmt"), FORMATS)
def test_narrow_message_bytes_match_struct(bits, k, fmt):
    values = _values(bits, k)
    messages = codec.Messages.build(pool_index=[1, 2, 0x8003], values=values, tsi=7, job_number=5,
                                    element_bits=bits)
    data = codec.encode_messages(messages)
    size = spec.size_for_elements(k, bits)
    for row, pool_index in enumerate((1, 2, 0x8003)):
        expected = struct.pack(">BBIHbb", (1 << 4) | size, 5, 7, pool_index, 0, 0)
        expected += b"".join(struct.pack(fmt, int(v)) for v in values[row])
        assert data[row].tobytes() == expected
    assert data.shape == (3, spec.message_bytes(k, bits)) == (3, 10 + k * bits // 8)


@pytest.mark.parametrize(("bits", "k", "fmt"), FORMATS)
def test_narrow_round_trip_sign_extends(bits, k, fmt):
    values = _values(bits, k, seed=1)
    values[0, :2] = [-(1 << (bits - 1)), (1 << (bits - 1)) - 1]
    messages = codec.Messages.build(pool_index=[0, 1, 2], values=values, element_bits=bits)
    decoded = codec.decode_messages(codec.encode_messages(messages), k, bits)
    assert decoded.values.dtype == np.int32
    assert np.array_equal(decoded.values, values)
    assert decoded.element_bits == bits


def test_encoding_never_truncates_silently():
    values = np.zeros((1, 256), np.int32)
    values[0, 5] = 128
    messages = codec.Messages.build(pool_index=0, values=values, element_bits=8)
    with pytest.raises(ValueError, match=r"8-bit elements must lie in -128..127, got 0..128"):
        codec.encode_messages(messages)


def test_to_wire_width_is_the_low_bits_sign_extended():
    values = np.array([2**31 - 1, -(2**31), 40000, -40000, 255, 256], np.int32)
    assert codec.to_wire_width(values, 16).tolist() == [-1, 0, 40000 - 65536, 65536 - 40000, 255, 256]
    assert codec.to_wire_width(values, 8).tolist() == [-1, 0, 64, -64, -1, 0]
    assert codec.to_wire_width(values, 32) is not None and codec.to_wire_width(values, 32).tolist() == values.tolist()


@pytest.mark.parametrize(("bits", "k", "layer"), [(32, 64, SwitchMLData), (16, 128, SwitchMLData16),
                                                   (8, 256, SwitchMLData8), (8, 1024, SwitchMLData8)])
def test_frames_dissect_with_the_layer_of_their_width(bits, k, layer):
    bind_switchml_layers()
    values = _values(bits, k, seed=2)[:1]
    def column(value, dtype):
        return np.array([value], dtype)

    frames = codec.Frames(
        eth_dst=column(0x0200000000AA, np.uint64), eth_src=column(0x0200000000BB, np.uint64),
        ip_src=column(0x0A000001, np.uint32), ip_dst=column(0x0A0000FE, np.uint32),
        src_port=column(4000, np.uint16), dst_port=column(spec.UDP_PORT, np.uint16),
        messages=codec.Messages.build(pool_index=9, values=values, element_bits=bits),
    )
    data = codec.encode_frames(frames)[0].tobytes()
    assert len(data) == spec.frame_bytes(k, bits)
    packet = Ether(data)
    assert packet[SwitchML].size == spec.size_for_elements(k, bits)
    assert packet.haslayer(layer)
    assert packet[layer].values == values[0].tolist()
    rebuilt = (Ether(dst=packet.dst, src=packet.src) / IP(src=packet[IP].src, dst=packet[IP].dst, ttl=packet[IP].ttl, id=0)
               / UDP(sport=4000, dport=spec.UDP_PORT, chksum=0)
               / SwitchML(size=spec.size_for_elements(k, bits), pool_index=9) / SwitchMLExponents()
               / layer(values=values[0].tolist()))
    assert raw(rebuilt) == data
    assert np.array_equal(codec.decode_frames(data, k, bits).messages.values, values)
