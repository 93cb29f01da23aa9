"""Conformance vectors: stored file is current, replays clean, and is right by independent means."""

import copy

import numpy as np
import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from switchsim.conformance import vectors
from switchsim.frame_switch import Output
from switchsim.protocol import spec
from switchsim.protocol.scapy_layer import SwitchML, SwitchMLData, SwitchMLExponents, bind_switchml_layers


@pytest.fixture(scope="module")
def stored():
    return vectors.load()


@pytest.fixture(scope="module", autouse=True)
def _scapy_bound():
    bind_switchml_layers()


def test_stored_file_is_what_the_model_generates(stored):
    assert stored == vectors.generate(), "stale: run `switchsim conformance generate`"


def test_stored_vectors_replay_without_mismatch(stored):
    assert vectors.replay(stored) == []


def test_upstream_ptf_scenarios_for_two_and_three_workers(stored):
    names = {s["name"] for s in stored["scenarios"]}
    for scenario in ("basic_reduction", "retransmit_after_reduction", "set1_reduction", "both_sets_and_slot_reuse",
                     "ignore_retransmission_to_half_full_set", "retransmit_to_previous_set", "different_udp_ports",
                     "non_switchml_forwarded"):
        for n in (2, 3):
            assert f"{scenario}/{n}w/k64" in names


def _wrap(total: int) -> int:
    total &= 0xFFFFFFFF
    return total - (1 << 32) if total >= 1 << 31 else total


def _chunks(scenario):
    """(slot, set, tsi) -> {worker: values} from the request frames, dissected by scapy."""
    chunks = {}
    for step in scenario["steps"]:
        packet = Ether(bytes.fromhex(step["frame"]))
        if SwitchMLData not in packet or UDP not in packet or packet[UDP].dport & spec.UDP_PORT_MASK != spec.UDP_PORT:
            continue
        header = packet[SwitchML]
        key = (header.pool_slot(), header.pool_set(), header.tsi)
        worker = int(packet[IP].src.split(".")[-1]) - 1
        chunks.setdefault(key, {})[worker] = (packet[SwitchMLData].values, packet[SwitchMLExponents])
    return chunks


@pytest.mark.parametrize("name", ["basic_reduction", "both_sets_and_slot_reuse", "retransmit_to_previous_set",
                                  "different_udp_ports", "set1_reduction"])
@pytest.mark.parametrize("workers", [2, 3])
def test_every_multicast_carries_the_independent_wrapped_sum(stored, name, workers):
    """Sums computed with Python ints from scapy-dissected inputs equal the expected replies."""
    scenario = next(s for s in stored["scenarios"] if s["name"] == f"{name}/{workers}w/k64")
    chunks = _chunks(scenario)
    replies = 0
    for step in scenario["steps"]:
        for out in step["expect"]:
            reply = Ether(bytes.fromhex(out["frame"]))
            header = reply[SwitchML]
            contributions = chunks[(header.pool_slot(), header.pool_set(), header.tsi)]
            assert len(contributions) == workers
            expected = [_wrap(sum(column)) for column in zip(*(v for v, _ in contributions.values()), strict=True)]
            assert reply[SwitchMLData].values == expected
            assert reply[SwitchMLExponents].e0 == max(e.e0 for _, e in contributions.values())
            assert reply[SwitchMLExponents].e1 == max(e.e1 for _, e in contributions.values())
            assert reply[UDP].chksum == 0 and reply[IP].ttl == 64 and header.msg_type == 1
            assert reply[IP].src == scenario["switch"]["ip"] and reply.src == scenario["switch"]["mac"]
            worker = scenario["workers"][out["worker_id"]]
            assert (reply.dst, reply[IP].dst) == (worker["mac"], worker["ip"])
            replies += 1
    assert replies >= workers


def test_replies_swap_the_completing_packets_ports(stored):
    scenario = next(s for s in stored["scenarios"] if s["name"] == "different_udp_ports/3w/k64")
    completing = Ether(bytes.fromhex(scenario["steps"][2]["frame"]))
    for out in scenario["steps"][2]["expect"]:
        reply = Ether(bytes.fromhex(out["frame"]))
        assert (reply[UDP].sport, reply[UDP].dport) == (completing[UDP].dport, completing[UDP].sport)


def _last_reply_and_true_sum(scenario):
    last = Ether(bytes.fromhex(scenario["steps"][-1]["expect"][0]["frame"]))
    contributions = _chunks(scenario)[(0, 0, last[SwitchML].tsi)]
    true_sum = [_wrap(a + b) for a, b in zip(contributions[0][0], contributions[1][0], strict=True)]
    return last[SwitchMLData].values, true_sum


def test_late_duplicate_vector_shows_a_wrong_sum(stored):
    scenario = next(s for s in stored["scenarios"] if s["name"] == "late_duplicate/2w/k64")
    got, true_sum = _last_reply_and_true_sum(scenario)
    assert got != true_sum
    assert scenario["final_counters"]["stale"] == 0


def test_hardened_late_duplicate_vector_is_stale_and_the_sum_right(stored):
    scenario = next(s for s in stored["scenarios"] if s["name"] == "late_duplicate/2w/k64/hardened")
    got, true_sum = _last_reply_and_true_sum(scenario)
    assert got == true_sum
    assert scenario["final_counters"]["stale"] == 1
    late = scenario["steps"][4]
    assert late["frame"] == scenario["steps"][0]["frame"] and late["expect"] == []


def test_both_modes_replay_the_same_inputs(stored):
    """Every scenario is stored in both modes with the same frames in; only what comes out may differ."""
    by_name = {s["name"]: s for s in stored["scenarios"]}
    hardened = [name for name in by_name if name.endswith("/hardened")]
    assert len(hardened) * 2 == len(by_name)
    for name in hardened:
        faithful = by_name[name.removesuffix("/hardened")]
        assert [st["frame"] for st in faithful["steps"]] == [st["frame"] for st in by_name[name]["steps"]]
        assert by_name[name]["switch"]["hardened"] and not faithful["switch"]["hardened"]


def test_tsi_holds_the_packet_id_little_endian(stored):
    """Packet 0xC0 of official_packet_ids: tsi bytes c0 00 00 00, as the official client writes 0xC0 on x86."""
    scenario = next(s for s in stored["scenarios"] if s["name"] == "official_packet_ids/2w/k64")
    frame = bytes.fromhex(scenario["steps"][2]["frame"])
    offset = 14 + 20 + 8 + 2  # Ethernet, IPv4, UDP, then msg_type/size and job_number
    assert frame[offset : offset + 4] == (0xC0).to_bytes(4, "little") == bytes([0xC0, 0, 0, 0])
    assert vectors.official_tsi(0xC0) == 0xC0000000


def test_hardened_vectors_need_the_byte_swapped_comparison(stored):
    """A hardened switch comparing the raw big-endian tsi stalls on packet ids 0x80 -> 0x100 (2**31 apart as read)."""
    from switchsim.frame_switch import FrameSwitch, SwitchAddress, WorkerEntry
    from switchsim.pipeline import SwitchConfig
    from switchsim.pipeline.process import HARDENED_TSI

    def raw_tsi_switch(scenario):
        cfg = scenario["switch"]
        config = SwitchConfig(slots=cfg["slots"], elements_per_packet=cfg["elements_per_packet"],
                              hardened=HARDENED_TSI if cfg["hardened"] else False)
        return FrameSwitch(config, [WorkerEntry(**w) for w in scenario["workers"]],
                           SwitchAddress(cfg["mac"], cfg["ip"])).process_frame

    document = {**stored, "scenarios": [s for s in stored["scenarios"] if s["name"].startswith("official_packet_ids")]}
    mismatches = vectors.replay(document, raw_tsi_switch)
    assert mismatches and all(m.startswith("official_packet_ids/") and m.split(" ")[0].endswith("/hardened")
                              for m in mismatches)
    assert vectors.replay(document) == []


def test_frame_lengths(stored):
    for scenario in stored["scenarios"]:
        k = scenario["switch"]["elements_per_packet"]
        for step in scenario["steps"]:
            for out in step["expect"]:
                if out["kind"] != "forward":
                    assert len(out["frame"]) // 2 == spec.frame_bytes(k)


def test_replay_detects_a_switch_that_saturates(stored):
    """The contract can fail: a switch that saturates instead of wrapping is caught."""

    def saturating(scenario):
        model = vectors.switch_for(scenario).process_frame

        def process(port, frame):
            outputs = model(port, frame)
            result = []
            for out in outputs:
                data = bytearray(out.frame)
                first_element = len(data) - 4 * scenario["switch"]["elements_per_packet"]
                data[first_element : first_element + 4] = (2**31 - 1).to_bytes(4, "big")  # saturated, not wrapped
                result.append(Output(out.kind, out.egress_port, bytes(data), out.worker_id))
            return result

        return process

    assert len(vectors.replay(stored, saturating)) > 0


def test_load_rejects_other_versions(tmp_path, stored):
    document = copy.deepcopy(stored)
    document["version"] = 99
    path = tmp_path / "v.json"
    vectors.write(document, path)
    with pytest.raises(ValueError, match="version 1"):
        vectors.load(path)


def test_chunk_values_include_extremes():
    values = vectors.chunk_values("x", 0, 0, 64)
    assert values[0] == np.iinfo(np.int32).max and values[1] == np.iinfo(np.int32).min
