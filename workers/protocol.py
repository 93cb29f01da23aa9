"""The SwitchML worker protocol as a clock-free state machine (protocol reference §3).

The decisions live once, as numba functions over arrays, in
`workers.protocol_state` (the simulator's fast engine calls them directly).
A `WorkerProtocol` wraps one instance of that state for Python drivers; it
holds one worker's (one sending thread's) tensor and decides which packets to
send; a driver (the simulator, the UDP emulator, a
test loop) moves the packets and tells it the time. Nothing here sleeps, reads a
clock or touches a socket.

* Packet p carries elements ``[p*k, (p+1)*k)``; ``tsi`` as `workers.protocol_state.packet_tsi` says.
* Pool-index mapping: ``i = (p + shift) mod 2W``; set 0, slot ``start + i`` if
  ``i < W``, else set 1, slot ``start + i - W``. Packets p and p+W share a slot
  ("lane") with alternating sets.
* Window: packets 0..W-1 go out at start; p+W is sent only when p's result arrives.
* One timer per lane: default 10 ms; on expiry the same packet is resent.
  Backoff by default as the official client (``TimeoutQueue``): once the
  timeouts since the last doubling reach a threshold (100), the period doubles
  and the threshold grows by 100; doublings happen after 100, 300, 600, ...
  timeouts. ``recovery`` picks another policy (`workers.protocol_state`).
* Replies of other jobs and duplicate results are dropped (and counted).

Lifecycle: ``WorkerProtocol(config, tensor)`` -> ``start(now)`` -> repeatedly
``on_result(...)`` / ``on_timeout(now)`` -> ``done`` -> ``result``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from switchsim.protocol import spec
from workers import protocol_state as state

#: The "rto" recovery policy's default floor on the estimated timeout, seconds (10 us: a few
#: unloaded datacenter round trips; the estimate itself follows the measured round trips).
DEFAULT_RTO_MIN_S = 10e-6
#: Time unit of the protocol state: picoseconds.
TICKS_PER_SECOND = 10**12


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """One worker's protocol parameters.

    Attributes:
        worker_id: the worker's rank and bitmap bit, 0..num_workers-1.
        num_workers: n, workers in the job, 1..32.
        window: W, outstanding packets (= slots used), 1..16384.
        start_slot: first slot of this worker's slot range.
        elements_per_packet: k, 64 or 256 (int32); 128, 512 or 1024 with narrow elements.
        job_number: low 8 bits of the job id, 0..255.
        shift: pool-index shift carried across jobs, 0..2W-1 (see `next_shift`).
        timeout_s: initial retransmission timeout (seconds).
        backoff_threshold: timeouts (since the last doubling) that double the period.
        backoff_threshold_increment: how much the threshold grows at each doubling.
        recovery: loss-recovery policy, one of `workers.protocol_state.RECOVERY_POLICIES`:
            "official" (the official backoff), "reset" (backoff undone after each window of
            results) or "rto" (a timeout estimated from measured round trips, as TCP's).
        rto_min_s: the "rto" policy's floor on the estimated timeout (seconds).
    """

    worker_id: int
    num_workers: int
    window: int = 128
    start_slot: int = 0
    elements_per_packet: int = 64
    job_number: int = 0
    shift: int = 0
    timeout_s: float = 0.010
    backoff_threshold: int = 100
    backoff_threshold_increment: int = 100
    recovery: str = "official"
    rto_min_s: float = DEFAULT_RTO_MIN_S

    def __post_init__(self) -> None:
        def need(name: str, ok: bool, allowed: str) -> None:
            if not ok:
                raise ValueError(f"{name} must be {allowed}, got {getattr(self, name)!r}")

        need("num_workers", 1 <= self.num_workers <= spec.MAX_WORKERS, f"in 1..{spec.MAX_WORKERS}")
        need("worker_id", 0 <= self.worker_id < self.num_workers, f"in 0..num_workers-1 = 0..{self.num_workers - 1}")
        need("window", 1 <= self.window <= spec.MAX_SLOTS, f"in 1..{spec.MAX_SLOTS}")
        need(
            "start_slot",
            0 <= self.start_slot and self.start_slot + self.window <= spec.MAX_SLOTS,
            f"in 0..{spec.MAX_SLOTS - self.window} (start_slot + window <= {spec.MAX_SLOTS})",
        )
        need(
            "elements_per_packet",
            self.elements_per_packet in spec.ALL_ELEMENTS_PER_PACKET,
            f"one of {spec.ALL_ELEMENTS_PER_PACKET}",
        )
        need("job_number", 0 <= self.job_number <= 255, "in 0..255")
        need("shift", 0 <= self.shift < 2 * self.window, f"in 0..2*window-1 = 0..{2 * self.window - 1}")
        need("timeout_s", self.timeout_s > 0, "> 0 seconds")
        need("backoff_threshold", self.backoff_threshold >= 1, ">= 1")
        need("backoff_threshold_increment", self.backoff_threshold_increment >= 0, ">= 0")
        need("recovery", self.recovery in state.RECOVERY_POLICIES, f"one of {state.RECOVERY_POLICIES}")
        need("rto_min_s", 0 < self.rto_min_s and (self.recovery != "rto" or self.rto_min_s <= self.timeout_s),
             "> 0 seconds (and <= timeout_s with recovery = 'rto')")


def next_shift(shift: int, total_packets: int, window: int) -> int:
    """The shift the next job must use so its pool indices keep advancing.

    Example:
        >>> next_shift(0, 300, 128)
        44
    """
    return (shift + total_packets) % (2 * window)


def pool_position(packet: int, config: WorkerConfig) -> tuple[int, int]:
    """``(slot, set)`` of packet ``packet`` under ``config``'s mapping (`workers.protocol_state.pool_index_of`)."""
    arrays = state.new_protocol_state(1, config.window)
    _configure(arrays, config, total_packets=packet + 1)
    return spec.split_pool_index(int(state.pool_index_of(arrays[0], 0, packet)))


def _configure(arrays: tuple[np.ndarray, np.ndarray, np.ndarray], config: WorkerConfig, total_packets: int,
               instance: int = 0) -> None:
    state.configure(*arrays, instance, config.worker_id, config.num_workers, config.window, config.start_slot,
                    config.elements_per_packet, config.job_number, config.shift, total_packets,
                    seconds_to_ticks(config.timeout_s), config.backoff_threshold, config.backoff_threshold_increment,
                    state.RECOVERY_POLICIES.index(config.recovery), seconds_to_ticks(config.rto_min_s))


def seconds_to_ticks(seconds: float) -> int:
    """Seconds as the integer picoseconds `workers.protocol_state` runs on (``inf`` -> `NEVER`)."""
    if seconds == math.inf:
        return state.NEVER
    return round(seconds * TICKS_PER_SECOND)


def ticks_to_seconds(ticks: int) -> float:
    """Picoseconds back to seconds (`NEVER` -> ``inf``)."""
    return math.inf if ticks == state.NEVER else ticks / TICKS_PER_SECOND


@dataclass(slots=True)
class WorkerStats:
    """Counters of one worker's protocol run."""

    sent: int = 0  #: packets sent, retransmissions included
    retransmissions: int = 0  #: packets resent after a timeout
    timeouts: int = 0  #: timer expiries
    results: int = 0  #: results accepted
    duplicate_results: int = 0  #: results dropped as duplicates or unexpected
    foreign_results: int = 0  #: results of other jobs dropped

    @classmethod
    def from_status(cls, status: np.ndarray) -> WorkerStats:
        """The counters of one row of `workers.protocol_state` status."""
        return cls(
            sent=int(status[state.S_SENT]),
            retransmissions=int(status[state.S_RETRANSMISSIONS]),
            timeouts=int(status[state.S_TIMEOUTS]),
            results=int(status[state.S_RESULTS]),
            duplicate_results=int(status[state.S_DUPLICATE_RESULTS]),
            foreign_results=int(status[state.S_FOREIGN_RESULTS]),
        )


class WorkerProtocol:
    """One worker's SwitchML protocol with its tensor: `workers.protocol_state` for Python drivers.

    The decisions are the numba functions of `workers.protocol_state` (one
    definition for every driver); this class holds one instance's arrays, the
    tensor and the results, and converts seconds to the integer picoseconds the
    state runs on.

    Args:
        config: the worker's `WorkerConfig`.
        tensor: int32 (S,): this worker's contribution; padded with zeros to whole packets.
        exponents: int8 (P, 2), optional: ``e0``/``e1`` per packet (default zeros).
    """

    def __init__(self, config: WorkerConfig, tensor: np.ndarray, exponents: np.ndarray | None = None) -> None:
        tensor = np.asarray(tensor)
        if tensor.ndim != 1 or tensor.dtype != np.int32:
            raise ValueError(f"tensor must be a 1-D int32 array, got {tensor.dtype} with shape {tensor.shape}")
        k = config.elements_per_packet
        self.config = config
        self.elements = len(tensor)
        self.total_packets = max(1, math.ceil(len(tensor) / k))
        if self.total_packets * k > 1 << 32:
            raise ValueError(f"tensor of {len(tensor)} elements exceeds the 32-bit tsi range")
        self.data = np.zeros(self.total_packets * k, dtype=np.int32)
        self.data[: len(tensor)] = tensor
        self._rows = self.data.reshape(self.total_packets, k)  # packet p's elements: self._rows[p]
        if exponents is None:
            self.exponents = np.zeros((self.total_packets, 2), dtype=np.int8)
        else:
            self.exponents = np.asarray(exponents, dtype=np.int8).reshape(self.total_packets, 2)
        self.result_data = np.zeros_like(self.data)
        self.result_exponents = np.zeros((self.total_packets, 2), dtype=np.int8)
        self.received = np.zeros(self.total_packets, dtype=bool)
        self._arrays = state.new_protocol_state(1, config.window)
        _configure(self._arrays, config, self.total_packets)
        self._out = np.zeros(config.window, np.int64)

    # --- packet contents ------------------------------------------------------
    def pool_index(self, packet: int) -> int:
        """The 16-bit ``pool_index`` of packet ``packet``."""
        return int(state.pool_index_of(self._arrays[0], 0, packet))

    def tsi(self, packet: int) -> int:
        """The ``tsi`` field of packet ``packet`` (`workers.protocol_state.packet_tsi`)."""
        return int(state.packet_tsi(packet))

    def values(self, packet: int) -> np.ndarray:
        """int32 (k,) view of packet ``packet``'s elements."""
        return self._rows[packet]

    # --- events ---------------------------------------------------------------
    @property
    def stats(self) -> WorkerStats:
        """The protocol's counters so far."""
        return WorkerStats.from_status(self._arrays[1][0])

    @property
    def remaining(self) -> int:
        """Packets whose result has not arrived."""
        return int(self._arrays[1][0, state.S_REMAINING])

    @property
    def done(self) -> bool:
        """True once every packet's result has arrived."""
        return bool(self._arrays[1][0, state.S_REMAINING] == 0)

    @property
    def result(self) -> np.ndarray:
        """int32 (S,): the aggregated tensor (valid once `done`)."""
        return self.result_data[: self.elements]

    @property
    def timeout_period_s(self) -> float:
        """Current retransmission timeout (seconds), after backoff."""
        return ticks_to_seconds(int(self._arrays[1][0, state.S_PERIOD]))

    def start(self, now: float) -> list[int]:
        """Packets to send first: 0..min(W, P)-1, timers armed at ``now``."""
        count = state.start(*self._arrays, 0, seconds_to_ticks(now), self._out)
        return self._out[:count].tolist()

    def on_result(
        self,
        now: float,
        job_number: int,
        tsi: int,
        pool_index: int,
        values: np.ndarray,
        exponents: np.ndarray | None = None,
    ) -> list[int]:
        """Take a result from the switch; return the packets to send next (0 or 1)."""
        packet, following = state.on_result(*self._arrays, 0, seconds_to_ticks(now), int(job_number), int(tsi),
                                            int(pool_index))
        if packet < 0:
            return []
        k = self.config.elements_per_packet
        self.result_data[packet * k : (packet + 1) * k] = values
        if exponents is not None:
            self.result_exponents[packet] = exponents
        self.received[packet] = True
        return [] if following < 0 else [following]

    def next_deadline(self) -> float:
        """Earliest timer expiry (seconds), ``inf`` when nothing is outstanding."""
        return ticks_to_seconds(int(state.next_deadline(self._arrays[1], self._arrays[2], 0)))

    def on_timeout(self, now: float) -> list[int]:
        """Expire timers due at ``now``; return the packets to resend (re-armed), in expiry order.

        ``now`` must not decrease between calls (as any clock).
        """
        count = state.on_timeout(*self._arrays, 0, seconds_to_ticks(now), self._out)
        return self._out[:count].tolist()
