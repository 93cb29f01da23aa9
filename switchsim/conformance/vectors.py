"""Conformance vectors: named scenarios of input frames -> expected output frames.

Generated from the pipeline model through `switchsim.frame_switch.FrameSwitch`
and stored as a versioned JSON file (``vectors.json`` beside this module). That
file is the contract a P4 switch must meet byte for byte: for every input
frame, the exact frames out (kind multicast / unicast / forward, egress port,
receiving worker) in order, or silence.

The scenarios follow the upstream PTF tests (protocol reference §5), for 2 and 3
workers, plus single-worker, k = 256, int32 wrap-around, the late-duplicate
hazard, packet ids that cross a byte boundary and frames built as the official
DPDK client builds them; each in the faithful mode and (a scenario name ending
in ``/hardened``) in hardened mode (docs/hardened-mode.md).

``tsi`` carries the packet id as the official DPDK client writes it: in host
byte order, little-endian on x86, so the big-endian field holds the id
byte-swapped (`official_tsi`).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from switchsim.frame_switch import FrameSwitch, Output, SwitchAddress, WorkerEntry, worker_entries
from switchsim.paths import read_text
from switchsim.pipeline import SwitchConfig
from switchsim.pipeline.process import FAITHFUL, HARDENED_PACKET_ID
from switchsim.protocol import codec, spec

FORMAT = "switchsim-conformance"
VERSION = 1
DEFAULT_PATH = Path(__file__).with_name("vectors.json")
SWITCH = SwitchAddress()
SLOTS = 8  #: slots of the switch every scenario assumes (the P4 program may have more)
#: What every scenario's tsi holds (the scenario's ``switch.tsi``): the packet id written little-endian.
TSI_ENCODING = "packet_id_little_endian"

INT32_MAX = np.iinfo(np.int32).max
INT32_MIN = np.iinfo(np.int32).min


def official_tsi(packet: int) -> int:
    """The ``tsi`` field (as a big-endian number) for packet id ``packet`` written little-endian.

    The official DPDK client stores the packet id in host byte order
    (``dpdk_worker_thread_utils.inc``: only ``pool_index`` and the type/size byte
    are converted), so on x86 the field holds the id byte-swapped.

    Example:
        >>> hex(official_tsi(0x80)), hex(official_tsi(0x100))
        ('0x80000000', '0x10000')
    """
    return int.from_bytes((packet & 0xFFFFFFFF).to_bytes(4, "little"), "big")


@dataclass(frozen=True, slots=True)
class Send:
    """One input frame of a scenario: worker ``worker_id`` sends a chunk."""

    worker_id: int
    slot: int
    pool_set: int
    tsi: int  #: the field as a big-endian number; the scenarios write `official_tsi` of a packet id
    values: np.ndarray
    exponents: tuple[int, int] = (0, 0)
    job_number: int = 1
    src_port: int = spec.WORKER_UDP_PORT_BASE
    dst_port: int = spec.UDP_PORT
    raw: bytes | None = None  #: send these bytes instead (non-SwitchML traffic)
    ttl: int = 64  #: the request's IPv4 TTL (the official DPDK client sends 128)


def chunk_values(name: str, worker_id: int, packet: int, k: int) -> np.ndarray:
    """Deterministic int32 values for (scenario, worker, packet); elements 0 and 1 are extremes.

    Element 0 is INT32_MAX and element 1 INT32_MIN for every worker, so every
    sum of two or more workers wraps around.
    """
    seed = zlib.crc32(f"{name}/{worker_id}/{packet}".encode())
    values = np.random.default_rng(seed).integers(INT32_MIN, INT32_MAX, size=k, endpoint=True, dtype=np.int64)
    values[0], values[1] = INT32_MAX, INT32_MIN
    return values.astype(np.int32)


def request_frame(send: Send, workers: list[WorkerEntry], k: int) -> bytes:
    """The worker's request frame for ``send`` (UDP checksum computed as a host stack would)."""
    if send.raw is not None:
        return send.raw
    worker = workers[send.worker_id]
    message = codec.Messages.build(
        pool_index=spec.make_pool_index(send.slot, send.pool_set),
        values=send.values.reshape(1, k),
        tsi=send.tsi,
        job_number=send.job_number,
        exponents=np.array([send.exponents], dtype=np.int8),
    )
    frames = codec.Frames(
        eth_dst=np.array([codec.mac_to_int(SWITCH.mac)], np.uint64),
        eth_src=np.array([codec.mac_to_int(worker.mac)], np.uint64),
        ip_src=np.array([codec.ip_to_int(worker.ip)], np.uint32),
        ip_dst=np.array([codec.ip_to_int(SWITCH.ip)], np.uint32),
        src_port=np.array([send.src_port], np.uint16),
        dst_port=np.array([send.dst_port], np.uint16),
        messages=message,
        ttl=np.array([send.ttl], np.uint8),
    )
    return codec.encode_frames(frames, compute_udp_checksum=True)[0].tobytes()


def _round(name: str, workers: range, slot: int, pool_set: int, packet: int, k: int, **extra) -> list[Send]:
    """Every worker's packet ``packet`` (8 slots: packet p goes to slot p mod 8, set (p mod 16) // 8)."""
    return [
        Send(w, slot, pool_set, official_tsi(packet), chunk_values(name, w, packet, k), exponents=(w - 1, -w), **extra)
        for w in workers
    ]


# --- scenarios ---------------------------------------------------------------------
# Each builder returns (description, sends) for n workers and k elements.
Builder = Callable[[str, int, int], tuple[str, list[Send]]]


def basic_reduction(name: str, n: int, k: int) -> tuple[str, list[Send]]:
    """Slot 0, set 0: the first n-1 packets produce nothing, the last the sum to all."""
    return "first n-1 packets consumed silently; the last multicasts the wrapped sum", _round(
        name, range(n), 0, 0, 0, k
    )


def retransmit_after_reduction(name: str, n: int, k: int) -> tuple[str, list[Send]]:
    """Reduce, then every worker resends: each gets a unicast copy of the result."""
    first = _round(name, range(n), 1, 0, 1, k)
    return "after the reduction, each resend gets a unicast copy back out its port", first + first


def set1_reduction(name: str, n: int, k: int) -> tuple[str, list[Send]]:
    """The same in set 1 (pool_index bit 15)."""
    first = _round(name, range(n), 2, 1, 10, k)
    return "reduction and retransmissions in set 1", first + first


def both_sets_and_slot_reuse(name: str, n: int, k: int) -> tuple[str, list[Send]]:
    """Set 0, set 1, then set 0 again with new values: old contents must not leak."""
    sends = _round(name, range(n), 3, 0, 3, k)
    sends += _round(name, range(n), 3, 1, 11, k)
    sends += _round(name, range(n), 3, 0, 19, k)
    return "chunks on set 0, set 1, set 0: the third sum holds only the third chunk", sends


def ignore_retransmission_to_half_full_set(name: str, n: int, k: int) -> tuple[str, list[Send]]:
    """Worker 0 sends twice before the others: the duplicate is dropped, the sum stays right."""
    sends = _round(name, range(n), 4, 0, 4, k)
    return "a duplicate to an incomplete set is dropped", [sends[0], sends[0], *sends[1:]]


def retransmit_to_previous_set(name: str, n: int, k: int) -> tuple[str, list[Send]]:
    """Set 0 completes; worker 0 moves on to set 1; the others resend set 0 and get it."""
    first = _round(name, range(n), 5, 0, 5, k)
    second = _round(name, range(n), 5, 1, 13, k)
    return "while set 1 is half done, resends to set 0 still get set 0's result", (
        [*first, second[0], *first[1:], *second[1:]]
    )


def different_udp_ports(name: str, n: int, k: int) -> tuple[str, list[Send]]:
    """Each worker uses its own source and destination port; replies swap the completing packet's."""
    sends = [
        Send(
            w,
            6,
            0,
            official_tsi(6),
            chunk_values(name, w, 6, k),
            src_port=spec.WORKER_UDP_PORT_BASE + 7 * w + 1,
            dst_port=spec.UDP_PORTS[w % len(spec.UDP_PORTS) + 1],
        )
        for w in range(n)
    ]
    first_resend = sends[0]
    return "replies echo the triggering packet's UDP ports, swapped", [*sends, first_resend]


def non_switchml_forwarded(name: str, n: int, k: int) -> tuple[str, list[Send]]:
    """Plain UDP between workers is forwarded by MAC, not aggregated; strangers are dropped."""
    workers = worker_entries(n)
    ordinary = _plain_udp_frame(workers[0], workers[1], 53)
    near_miss = _plain_udp_frame(workers[1], workers[0], spec.UDP_PORT - 1)
    sends = [Send(0, 0, 0, 0, np.zeros(k, np.int32), raw=ordinary),
             Send(1, 0, 0, 0, np.zeros(k, np.int32), raw=near_miss)]
    stranger = Send(0, 7, 0, official_tsi(7), chunk_values(name, 0, 7, k))
    sends.append(Send(0, 7, 0, stranger.tsi, stranger.values, raw=_from_stranger(request_frame(stranger, workers, k))))
    sends += _round(name, range(n), 7, 0, 7, k)
    return "non-SwitchML UDP is L2-forwarded; SwitchML from an unregistered source is dropped", sends


def late_duplicate(name: str, n: int, k: int) -> tuple[str, list[Send]]:
    """A late duplicate after its sender moved to the other set (the official hazard; hardened: stale)."""
    first = _round(name, range(n), 0, 0, 0, k)
    second = _round(name, range(n), 0, 1, 8, k)
    third = _round(name, range(n), 0, 0, 16, k)
    late = first[0]
    return (
        "faithful switch: a duplicate arriving after every worker moved on re-opens the set "
        "(consumed, counter n-1); the next chunk on that set is then corrupted: worker 0's packet is "
        "taken as a duplicate and the others add onto the stale contents - the late-duplicate hazard. "
        "Hardened switch: the duplicate is stale (dropped untouched) and the next chunk sums right",
        [*first, *second, late, *third],
    )


def official_packet_ids(name: str, n: int, k: int) -> tuple[str, list[Send]]:
    """Packet ids 0x80, 0xC0, 0x100 on one slot (W = 64, the official 256 outstanding over 4 threads).

    Written little-endian (tsi 0x80000000, 0xC0000000, 0x00010000), the third
    reads as 2**31 + 0x10000 *behind* the first as a big-endian number: a
    switch comparing the raw field would call it stale and deadlock; the
    packet ids, compared serially, are in order. Then a late duplicate of the
    first chunk, and a retransmission of the third.
    """
    first = _round(name, range(n), 0, 0, 0x80, k)
    second = _round(name, range(n), 0, 1, 0xC0, k)
    third = _round(name, range(n), 0, 0, 0x100, k)
    return (
        "packet ids crossing a byte boundary in the little-endian tsi: every chunk completes "
        "(hardened: ids compared serially after the byte swap); a late duplicate of the first chunk "
        "corrupts the faithful switch and is stale for the hardened one",
        [*first, *second, *third, first[0], third[-1]],
    )


def official_client_frames(name: str, n: int, k: int) -> tuple[str, list[Send]]:
    """Requests exactly as the official DPDK client builds them: TTL 128, UDP checksum, e0 only, tsi little-endian."""
    sends = []
    for packet, slot, pool_set in ((2, 2, 0), (10, 2, 1), (18, 2, 0)):
        sends += [Send(w, slot, pool_set, official_tsi(packet), chunk_values(name, w, packet, k), exponents=(3 - w, 0),
                       src_port=spec.WORKER_UDP_PORT_BASE + w, ttl=128) for w in range(n)]
    return "official-client requests (TTL 128, UDP checksum set, only e0, tsi = packet id little-endian) " \
        "aggregate like any other; the replies are the switch's own (TTL 64, UDP checksum 0)", sends


def malformed_dropped(name: str, n: int, k: int) -> tuple[str, list[Send]]:
    """Truncated frames and unsupported size enums are dropped; aggregation stays exact."""
    workers = worker_entries(n)
    good = _round(name, range(n), 6, 1, 14, k)
    frame = request_frame(good[0], workers, k)
    size_offset = spec.ETHERNET_HEADER.nbytes + spec.IPV4_HEADER.nbytes + spec.UDP_HEADER.nbytes
    other_size = next(s for s in spec.PAYLOAD_BYTES if spec.PAYLOAD_BYTES[s] != k * spec.ELEMENT_BYTES)
    wrong_size = bytearray(frame)
    wrong_size[size_offset] = (wrong_size[size_offset] & 0xF8) | other_size
    malformed = [
        Send(0, 6, 1, 0, good[0].values, raw=frame[: len(frame) - 1]),
        Send(0, 6, 1, 0, good[0].values, raw=frame[: size_offset + 4]),
        Send(0, 6, 1, 0, good[0].values, raw=bytes(wrong_size)),
    ]
    return "truncated frames and an unsupported size enum are dropped untouched", [*malformed, *good]


def _plain_udp_frame(source: WorkerEntry, destination: WorkerEntry, dst_port: int) -> bytes:
    """A 64-byte UDP frame between two workers (hand-built: no SwitchML)."""
    payload = bytes(range(18))
    udp = (4000).to_bytes(2, "big") + dst_port.to_bytes(2, "big") + (8 + len(payload)).to_bytes(2, "big") + bytes(2)
    total = 20 + len(udp) + len(payload)
    ip = bytearray(
        bytes([0x45, 0])
        + total.to_bytes(2, "big")
        + bytes([0, 1, 0, 0, 64, spec.IP_PROTOCOL_UDP, 0, 0])
        + codec.ip_to_int(source.ip).to_bytes(4, "big")
        + codec.ip_to_int(destination.ip).to_bytes(4, "big")
    )
    checksum = int(codec.ipv4_checksum(np.frombuffer(bytes(ip), np.uint8).reshape(1, 20))[0])
    ip[10:12] = checksum.to_bytes(2, "big")
    ethernet = (
        codec.mac_to_int(destination.mac).to_bytes(6, "big")
        + codec.mac_to_int(source.mac).to_bytes(6, "big")
        + spec.ETHERTYPE_IPV4.to_bytes(2, "big")
    )
    return ethernet + bytes(ip) + udp + payload


def _from_stranger(frame: bytes) -> bytes:
    """``frame`` with its source MAC replaced by one that is not in the worker table."""
    return frame[:6] + bytes.fromhex("0200000000ee") + frame[12:]


SCENARIOS: dict[str, Builder] = {
    "basic_reduction": basic_reduction,
    "retransmit_after_reduction": retransmit_after_reduction,
    "set1_reduction": set1_reduction,
    "both_sets_and_slot_reuse": both_sets_and_slot_reuse,
    "ignore_retransmission_to_half_full_set": ignore_retransmission_to_half_full_set,
    "retransmit_to_previous_set": retransmit_to_previous_set,
    "different_udp_ports": different_udp_ports,
    "non_switchml_forwarded": non_switchml_forwarded,
    "late_duplicate": late_duplicate,
    "malformed_dropped": malformed_dropped,
    "official_packet_ids": official_packet_ids,
    "official_client_frames": official_client_frames,
}

#: (scenario, workers, elements per packet, hardened) combinations in the file: every
#: scenario in both modes for 2 and 3 workers at k = 64, and the rest in both modes.
CASES: tuple[tuple[str, int, int, bool], ...] = tuple(
    (name, n, k, hardened)
    for hardened in (False, True)
    for name, n, k in (
        *((name, n, 64) for n in (2, 3) for name in SCENARIOS),
        ("basic_reduction", 1, 64),
        ("retransmit_after_reduction", 1, 64),
        ("basic_reduction", 2, 256),
        ("both_sets_and_slot_reuse", 3, 256),
        ("official_client_frames", 2, 256),
    )
)


def _output_record(output: Output) -> dict:
    return {
        "kind": output.kind,
        "egress_port": output.egress_port,
        "worker_id": output.worker_id,
        "frame": output.frame.hex(),
    }


def scenario_name(name: str, num_workers: int, elements_per_packet: int, hardened: bool = False) -> str:
    """``basic_reduction/2w/k64``, and ``.../hardened`` for hardened mode."""
    return f"{name}/{num_workers}w/k{elements_per_packet}" + ("/hardened" if hardened else "")


def build_scenario(name: str, num_workers: int, elements_per_packet: int, hardened: bool = False) -> dict:
    """One scenario's record: switch, worker table, and steps with expected outputs."""
    case = scenario_name(name, num_workers, elements_per_packet, hardened)
    # Frames and values do not depend on the mode: the two modes replay the same inputs.
    description, sends = SCENARIOS[name](scenario_name(name, num_workers, elements_per_packet), num_workers,
                                         elements_per_packet)
    workers = worker_entries(num_workers)
    # Hardened scenarios compare chunks by packet id, the tsi byte-swapped (the official client's encoding).
    config = SwitchConfig(slots=SLOTS, elements_per_packet=elements_per_packet,
                          hardened=HARDENED_PACKET_ID if hardened else FAITHFUL)
    switch = FrameSwitch(config, workers, SWITCH)
    steps = []
    for send in sends:
        frame = request_frame(send, workers, elements_per_packet)
        ingress = workers[send.worker_id].port
        outputs = switch.process_frame(ingress, frame)
        steps.append({"ingress_port": ingress, "frame": frame.hex(), "expect": [_output_record(o) for o in outputs]})
    return {
        "name": case,
        "description": description,
        "switch": {
            "slots": SLOTS,
            "elements_per_packet": elements_per_packet,
            "hardened": hardened,
            "tsi": TSI_ENCODING,
            "mac": SWITCH.mac,
            "ip": SWITCH.ip,
        },
        "workers": [asdict(w) for w in workers],
        "steps": steps,
        "final_counters": switch.pipeline.counters(),
    }


def generate() -> dict:
    """The whole vector document, deterministically."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "generated_by": "switchsim.conformance.vectors from switchsim/pipeline and switchsim/protocol/spec.py",
        "wire": {
            "udp_port": spec.UDP_PORT,
            "udp_port_mask": spec.UDP_PORT_MASK,
            "frame_bytes": {str(k): spec.frame_bytes(k) for k in spec.SUPPORTED_ELEMENTS_PER_PACKET},
        },
        "scenarios": [build_scenario(*case) for case in CASES],
    }


def write(document: dict, path: Path = DEFAULT_PATH) -> None:
    """Write ``document`` as stable, diff-friendly JSON."""
    path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


def load(path: Path = DEFAULT_PATH) -> dict:
    """Read a vector document and check its format and version."""
    try:
        document = json.loads(read_text(path, "conformance vector"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not JSON: {error}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT or document.get("version") != VERSION:
        document = document if isinstance(document, dict) else {}
        raise ValueError(
            f"{path}: not a {FORMAT} version {VERSION} file "
            f"(format={document.get('format')!r}, version={document.get('version')!r})"
        )
    check_document(document, path)
    return document


#: The keys each scenario, its switch and each step of a vector document must have.
SCENARIO_KEYS, SWITCH_KEYS, STEP_KEYS = ("name", "switch", "workers", "steps"), \
    ("slots", "elements_per_packet", "hardened", "mac", "ip"), ("ingress_port", "frame", "expect")
WORKER_KEYS = ("worker_id", "mac", "ip", "port")


def check_document(document: dict, path: Path | str) -> None:
    """Check that every scenario of ``document`` has the keys `replay` reads and hexadecimal frames.

    Raises:
        ValueError: one line naming ``path``, the scenario (and step) and the missing key or bad frame.
    """
    scenarios = document.get("scenarios")
    if not isinstance(scenarios, list):
        raise ValueError(f"{path}: missing key 'scenarios' (a list of scenarios)")
    for number, scenario in enumerate(scenarios):
        where = f"{path}: scenario {number}"
        if not isinstance(scenario, dict):
            raise ValueError(f"{where}: not an object")
        where = f"{path}: scenario {scenario.get('name', number)!r}"
        _require(scenario, SCENARIO_KEYS, where)
        _require(scenario["switch"], SWITCH_KEYS, f"{where} switch")
        if not isinstance(scenario["workers"], list) or not isinstance(scenario["steps"], list):
            raise ValueError(f"{where}: 'workers' and 'steps' must be lists")
        for index, worker in enumerate(scenario["workers"]):
            _require(worker, WORKER_KEYS, f"{where} worker {index}")
        for index, step in enumerate(scenario["steps"]):
            _require(step, STEP_KEYS, f"{where} step {index}")
            frames = [("frame", step["frame"])] + [
                (f"expect[{i}].frame", e.get("frame") if isinstance(e, dict) else None)
                for i, e in enumerate(step["expect"] if isinstance(step["expect"], list) else [None])]
            for key, frame in frames:
                try:
                    bytes.fromhex(frame)
                except (TypeError, ValueError) as error:
                    raise ValueError(f"{where} step {index}: {key} is not a hexadecimal string ({error})") from None


def _require(record, keys: tuple[str, ...], where: str) -> None:
    if not isinstance(record, dict):
        raise ValueError(f"{where}: not an object")
    missing = [key for key in keys if key not in record]
    if missing:
        raise ValueError(f"{where}: missing key {missing[0]!r} (needs {', '.join(keys)})")


def switch_for(scenario: dict) -> FrameSwitch:
    """A fresh `FrameSwitch` configured as ``scenario`` says."""
    cfg = scenario["switch"]
    if cfg.get("tsi", TSI_ENCODING) != TSI_ENCODING:
        raise ValueError(f"scenario {scenario['name']}: tsi encoding {cfg['tsi']!r}, expected {TSI_ENCODING!r}")
    config = SwitchConfig(slots=cfg["slots"], elements_per_packet=cfg["elements_per_packet"],
                          hardened=HARDENED_PACKET_ID if cfg["hardened"] else FAITHFUL)
    return FrameSwitch(config, [WorkerEntry(**w) for w in scenario["workers"]], SwitchAddress(cfg["mac"], cfg["ip"]))


def replay(document: dict, process: Callable[[dict], Callable[[int, bytes], list[Output]]] | None = None) -> list[str]:
    """Feed every scenario's frames to a switch; return one line per mismatch (empty = conformant).

    Args:
        document: a vector document (`load` or `generate`).
        process: given a scenario, returns its ``(ingress_port, frame) -> outputs`` function;
            default: a fresh `FrameSwitch` (the model itself).
    """
    mismatches = []
    for scenario in document["scenarios"]:
        handle = process(scenario) if process else switch_for(scenario).process_frame
        for index, step in enumerate(scenario["steps"]):
            got = [_output_record(o) for o in handle(step["ingress_port"], bytes.fromhex(step["frame"]))]
            if got != step["expect"]:
                mismatches.append(f"{scenario['name']} step {index}: expected {_brief(step['expect'])}, "
                                  f"got {_brief(got)}")
    return mismatches


def _brief(records: list[dict]) -> str:
    if not records:
        return "nothing"
    return ", ".join(f"{r['kind']}->port {r['egress_port']} ({len(r['frame']) // 2} B)" for r in records)
