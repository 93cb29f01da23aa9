"""The emulator switch's logic without sockets: datagrams in, reply datagrams out.

`DatagramSwitch` serves one job: it identifies the worker by the datagram's
source ``(IP, UDP port)`` in the registration table of its `ServerConfig`,
drops and counts malformed or foreign datagrams by reason (`DROP_REASONS`,
in check order), runs `switchsim.pipeline.Pipeline.process_batch` on the rest
in arrival order, and returns the replies: ``msg_type`` 1, ``size``,
``job_number`` and ``tsi`` echoed, ``pool_index`` = set bit 15 + slot, the
set's exponents and values; a multicast is one datagram per registered worker
(in worker-id order), a unicast goes back to the sender.
`switchsim.emu.switch_server` puts it behind a UDP socket.

Example:
    >>> import numpy as np
    >>> from switchsim.protocol import codec
    >>> switch = DatagramSwitch(ServerConfig(workers=(("127.0.0.1", 4000), ("127.0.0.1", 4001)), slots=4))
    >>> request = codec.encode_messages(codec.Messages.build(pool_index=0, values=np.ones((1, 64), np.int32)))
    >>> switch.handle_batch([(request[0].tobytes(), ("127.0.0.1", 4000))])
    []
    >>> replies = switch.handle_batch([(request[0].tobytes(), ("127.0.0.1", 4001))])
    >>> [(address, int(codec.decode_messages(payload, 64).values[0, 0])) for payload, address in replies]
    [(('127.0.0.1', 4000), 2), (('127.0.0.1', 4001), 2)]
"""

from __future__ import annotations

import math
from collections import Counter as Tally
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

import numpy as np

from switchsim.pipeline import Action, Pipeline, Recipients, SwitchConfig, next_step
from switchsim.pipeline.tables import DropReason
from switchsim.protocol import codec, spec

Endpoint = tuple[str, int]

#: Every reason a datagram can be dropped before (or by) the pipeline, in check order.
DROP_REASONS: tuple[DropReason, ...] = (
    DropReason.UNREGISTERED_SOURCE,
    DropReason.TRUNCATED,
    DropReason.UNKNOWN_SIZE,
    DropReason.UNSUPPORTED_SIZE,
    DropReason.LENGTH_MISMATCH,
    DropReason.WRONG_JOB,
    DropReason.SLOT_OUT_OF_RANGE,
    DropReason.REJECTED,
    DropReason.INTERNAL_ERROR,
)


_HEADER_BYTES = spec.SWITCHML_HEADER.nbytes
_KNOWN_SIZES = np.array(sorted(spec.PAYLOAD_BYTES), dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """What one emulator switch serves and where.

    Attributes:
        workers: registration table, the workers' ``(IP, UDP port)``; index = worker id, n = length (1..32).
        job_number: the one job served (0..255); other jobs' datagrams are dropped.
        host: address to bind (default loopback).
        port: UDP port to bind; ``None`` takes the first free port of ``spec.UDP_PORTS``.
        slots: aggregator slots (must cover the workers' window).
        elements_per_packet: k, one of `spec.SUPPORTED_ELEMENTS_PER_PACKET` (64 or 256 int32 elements).
        hardened: run the pipeline in hardened mode (docs/hardened-mode.md).
        batch_size: datagrams received per pipeline call, at most.
        receive_buffer_bytes: socket receive buffer requested (the kernel may cap it).
        pcap_path: write the well-formed traffic in and out to this pcap file.
    """

    workers: tuple[Endpoint, ...]
    job_number: int = 0
    host: str = "127.0.0.1"
    port: int | None = spec.UDP_PORT
    slots: int = 512
    elements_per_packet: int = 64
    hardened: bool = False
    batch_size: int = 256
    receive_buffer_bytes: int = 4 << 20
    pcap_path: str | None = None

    def __post_init__(self) -> None:
        workers = tuple((str(host), int(port)) for host, port in self.workers)
        object.__setattr__(self, "workers", workers)
        if not 1 <= len(workers) <= spec.MAX_WORKERS:
            raise ValueError(f"workers must list 1..{spec.MAX_WORKERS} (IP, port) pairs, got {len(workers)}")
        if len(set(workers)) != len(workers):
            raise ValueError(f"workers must be distinct (IP, port) pairs, got {list(workers)}")
        for host, port in workers:
            codec.ip_to_int(host)
            if not 1 <= port <= 0xFFFF:
                raise ValueError(f"worker port must be in 1..65535, got {port}")
        codec.ip_to_int(self.host)
        if self.port is not None and not 0 <= self.port <= 0xFFFF:
            raise ValueError(f"port must be in 0..65535 or None, got {self.port}")
        if not 0 <= self.job_number <= 0xFF:
            raise ValueError(f"job_number must be in 0..255, got {self.job_number}")
        if not 1 <= self.batch_size <= 65536:
            raise ValueError(f"batch_size must be in 1..65536, got {self.batch_size}")
        if self.elements_per_packet not in spec.SUPPORTED_ELEMENTS_PER_PACKET:  # the official int32 format only
            raise ValueError(f"elements_per_packet must be one of {spec.SUPPORTED_ELEMENTS_PER_PACKET} (int32 "
                             f"elements; the emulator does not serve narrow elements), got {self.elements_per_packet}")
        SwitchConfig(slots=self.slots, elements_per_packet=self.elements_per_packet, hardened=self.hardened)


@dataclass(slots=True)
class ServerStats:
    """Counters of one switch run (the pipeline's own counters live in the `Pipeline`)."""

    received: int = 0  #: datagrams received
    processed: int = 0  #: datagrams run through the pipeline
    multicasts: int = 0  #: completed sets multicast
    unicasts: int = 0  #: stored results sent back to a retransmitting worker
    datagrams_sent: int = 0  #: reply datagrams handed to the socket
    send_errors: int = 0  #: reply datagrams the socket refused
    first_packet_s: float = math.nan  #: monotonic time of the first received datagram
    last_packet_s: float = math.nan  #: monotonic time of the last received datagram
    drops: Tally = field(default_factory=Tally)  #: datagrams dropped, by reason


class DatagramSwitch:
    """The switch without sockets: a batch of (payload, source) in, (payload, destination) out.

    Args:
        config: what to serve; only ``workers``, ``job_number``, ``slots``,
            ``elements_per_packet`` and ``hardened`` matter here.
    """

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.pipeline = Pipeline(
            SwitchConfig(slots=config.slots, elements_per_packet=config.elements_per_packet, hardened=config.hardened)
        )
        self.addresses: tuple[Endpoint, ...] = config.workers
        self._ids = {address: worker_id for worker_id, address in enumerate(config.workers)}
        self._k = config.elements_per_packet
        self._message_bytes = spec.message_bytes(self._k)
        self._payload_bytes = self._k * spec.ELEMENT_BYTES
        self._size = spec.size_for_elements(self._k)
        self.stats = ServerStats()
        #: called with (rows, sources, destinations) for well-formed messages in and out (pcap)
        self.recorder = None

    def warm_up(self) -> None:
        """Run one packet through a throwaway pipeline of the same kind (numba compiles or loads its cache now)."""
        config = self.pipeline.config
        scratch = Pipeline(SwitchConfig(slots=1, elements_per_packet=config.elements_per_packet,
                                        hardened=config.hardened))
        one = np.zeros(1, dtype=np.int64)
        scratch.process_batch(one, one + 1, np.zeros(1, np.uint8), np.zeros(1, np.uint32), one, one,
                              np.zeros((1, 2), np.int8), np.zeros((1, self._k), np.int32))

    def _classify(self, data: bytes, source: Endpoint) -> tuple[DropReason | None, int]:
        """``(drop reason or None, worker id)`` for one datagram."""
        worker_id = self._ids.get(source, -1)
        if worker_id < 0:
            return DropReason.UNREGISTERED_SOURCE, -1
        if len(data) < _HEADER_BYTES:
            return DropReason.TRUNCATED, worker_id
        header = codec.decode_switchml_header(data)
        payload_bytes = spec.PAYLOAD_BYTES.get(header["size"])
        if payload_bytes is None:
            return DropReason.UNKNOWN_SIZE, worker_id
        if payload_bytes != self._payload_bytes:
            return DropReason.UNSUPPORTED_SIZE, worker_id
        if len(data) != self._message_bytes:
            return (DropReason.TRUNCATED if len(data) < self._message_bytes else DropReason.LENGTH_MISMATCH), worker_id
        if header["job_number"] != self.config.job_number:
            return DropReason.WRONG_JOB, worker_id
        if spec.pool_index_slot(header["pool_index"]) >= self.config.slots:
            return DropReason.SLOT_OUT_OF_RANGE, worker_id
        return None, worker_id

    def handle_batch(self, datagrams: Sequence[tuple[bytes, Endpoint]]) -> list[tuple[bytes, Endpoint]]:
        """Process datagrams in order; return the reply datagrams to send, in order.

        Each source is an ``(IP, UDP port)`` tuple, as ``socket.recvfrom`` returns it.
        """
        stats = self.stats
        stats.received += len(datagrams)
        whole: list[bytes] = []
        worker_ids: list[int] = []
        sources: list[Endpoint] = []
        for data, source in datagrams:
            worker_id = self._ids.get(source, -1)
            if worker_id >= 0 and len(data) == self._message_bytes:  # the common case, checked below in bulk
                whole.append(data)
                worker_ids.append(worker_id)
                sources.append(source)
            else:  # a registered worker's datagram of another length never reaches the pipeline
                reason, _ = self._classify(data, (source[0], source[1]))
                stats.drops[reason or DropReason.LENGTH_MISMATCH] += 1
        if not whole:
            return []
        buffer = np.frombuffer(b"".join(whole), dtype=np.uint8).reshape(len(whole), self._message_bytes)
        messages = codec.decode_messages(buffer, self._k)
        slots = spec.pool_index_slot(messages.pool_index.astype(np.int64))
        supported = messages.size == self._size
        job_ok = messages.job_number == self.config.job_number
        slot_ok = slots < self.config.slots
        valid = supported & job_ok & slot_ok
        if not valid.all():  # same reasons, same order as _classify
            known = np.isin(messages.size, _KNOWN_SIZES)
            for reason, mask in (
                (DropReason.UNKNOWN_SIZE, ~known),
                (DropReason.UNSUPPORTED_SIZE, known & ~supported),
                (DropReason.WRONG_JOB, supported & ~job_ok),
                (DropReason.SLOT_OUT_OF_RANGE, supported & job_ok & ~slot_ok),
            ):
                count = int(np.count_nonzero(mask))
                if count:
                    stats.drops[reason] += count
        if self.recorder is not None and supported.any():
            kept = np.flatnonzero(supported)
            self._record([whole[i] for i in kept], [sources[i] for i in kept], None)
        if not valid.any():
            return []
        if not valid.all():
            chosen = np.flatnonzero(valid)
            messages = codec.Messages(**{f.name: getattr(messages, f.name)[chosen] for f in fields(codec.Messages)})
            worker_ids = [worker_ids[i] for i in chosen]
            sources = [sources[i] for i in chosen]
            slots = slots[chosen]
        return self._process(messages, np.asarray(worker_ids, dtype=np.int64), sources, slots)

    def _process(
        self, messages: codec.Messages, worker_ids: np.ndarray, sources: list[Endpoint], slots: np.ndarray
    ) -> list[tuple[bytes, Endpoint]]:
        count = len(messages)
        sets = spec.pool_index_set(messages.pool_index.astype(np.int64))
        result = self.pipeline.process_batch(
            worker_ids,
            np.full(count, len(self.addresses), dtype=np.int64),
            messages.job_number,
            messages.tsi,
            slots,
            sets,
            messages.exponents,
            messages.values,
        )
        self.stats.processed += count
        actions = result.actions
        rejected = int(np.count_nonzero(actions == Action.REJECTED))
        if rejected:
            self.stats.drops[DropReason.REJECTED] += rejected
        recipients, pool_index = next_step(actions.astype(np.int64), slots, sets)
        replying = np.flatnonzero(recipients != Recipients.NONE)
        if not replying.size:
            return []
        reply = messages.replies(replying, pool_index[replying], result.exponents[replying], result.values[replying])
        encoded = codec.encode_messages(reply)
        out: list[tuple[bytes, Endpoint]] = []
        for row, index in zip(encoded, replying, strict=True):
            payload = row.tobytes()
            if recipients[index] == Recipients.JOB:
                self.stats.multicasts += 1
                out.extend((payload, address) for address in self.addresses)
            else:
                self.stats.unicasts += 1
                out.append((payload, sources[index]))
        if self.recorder is not None:
            self._record([p for p, _ in out], None, [d for _, d in out])
        return out

    def _record(
        self, payloads: list[bytes], sources: list[Endpoint] | None, destinations: list[Endpoint] | None
    ) -> None:
        """Hand messages to the recorder; ``None`` stands for the switch's own address."""
        self.recorder(payloads, sources, destinations)

    def report(self) -> dict:
        """Counters: datagrams, replies, the pipeline's counters and drops by reason."""
        stats = self.stats
        busy_s = stats.last_packet_s - stats.first_packet_s
        busy_s = busy_s if busy_s > 0 else 0.0
        return {
            "job_number": self.config.job_number,
            "workers": len(self.addresses),
            "received": stats.received,
            "processed": stats.processed,
            "multicasts": stats.multicasts,
            "unicasts": stats.unicasts,
            "datagrams_sent": stats.datagrams_sent,
            "send_errors": stats.send_errors,
            "busy_s": busy_s,
            "packets_per_s": stats.processed / busy_s if busy_s else 0.0,
            "pipeline": self.pipeline.counters(),
            "drops": {str(reason): int(stats.drops.get(reason, 0)) for reason in DROP_REASONS},
        }
