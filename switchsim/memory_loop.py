"""An in-memory, lossy, event-ordered loop: n `WorkerProtocol`s and one `Pipeline`.

The smallest engine that joins the worker protocol and the switch model: no
links, no bytes, just a time-ordered queue of deliveries with Bernoulli loss,
duplication (with an extra delay, to reach beyond one round trip) and jitter
(reordering). Tests use it to check exactly-once aggregation under faults; the
SimPy simulator adds links, queues and timing on top of the same two parts.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np

from switchsim.pipeline import Pipeline, Recipients, SwitchConfig, next_step
from switchsim.protocol import spec
from workers.protocol import DEFAULT_RTO_MIN_S, WorkerConfig, WorkerProtocol, WorkerStats

_TO_SWITCH, _TO_WORKER, _TIMER = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Faults:
    """Fault injection, each probability in [0, 1], per packet copy.

    Attributes:
        loss_up: probability a worker -> switch packet is lost.
        loss_down: probability a switch -> worker packet (each multicast copy) is lost.
        duplicate: probability a packet is delivered twice.
        duplicate_delay_s: extra delay of the second copy (seconds).
        jitter_s: each delivery is delayed by a uniform [0, jitter_s) extra (reordering).
    """

    loss_up: float = 0.0
    loss_down: float = 0.0
    duplicate: float = 0.0
    duplicate_delay_s: float = 0.0
    jitter_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("loss_up", "loss_down", "duplicate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
        for name in ("duplicate_delay_s", "jitter_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 seconds, got {getattr(self, name)!r}")


@dataclass(slots=True)
class LoopResult:
    """What every worker ended with, and how the run went."""

    results: np.ndarray  #: int32 (n, S): each worker's aggregated tensor
    completed: bool  #: every worker received every result before max_time_s
    stopped_by: str | None  #: None when completed, else "max_time" (`switchsim.outcome`)
    time_s: float  #: simulated time at the end (seconds)
    worker_stats: list[WorkerStats] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)


def peak_bytes(workers: int, elements: int) -> int:
    """Bytes an in-memory run over (workers, elements) holds at its peak, for refusing runs that cannot fit.

    Per element of every worker: the tensor drawn as int64 (8 bytes) and kept as int32 (4), and
    that worker's int32 result (4); per element once: the int64 expected sum (8).

    Example:
        >>> peak_bytes(8, 2**30) / 2**30
        136.0
    """
    return workers * elements * (8 + 4 + 4) + elements * 8


def run_in_memory(
    tensors: np.ndarray,
    *,
    window: int = 8,
    elements_per_packet: int = 64,
    hardened: bool = False,
    faults: Faults | None = None,
    seed: int = 0,
    one_way_delay_s: float = 5e-6,
    timeout_s: float = 1e-4,
    backoff_threshold: int = 100,
    backoff_threshold_increment: int = 100,
    recovery: str = "official",
    max_time_s: float = 10.0,
    job_number: int = 0,
) -> LoopResult:
    """All-reduce ``tensors`` (n, S) int32 through one switch; return what each worker got.

    Args:
        tensors: int32 (n, S): row w is worker w's contribution.
        window: W, outstanding packets per worker (slots used).
        elements_per_packet: k, 64 or 256.
        hardened: run the switch in hardened mode.
        faults: loss / duplication / reordering; none by default.
        seed: seeds the fault RNG (the run is a pure function of its arguments).
        one_way_delay_s: delivery delay each way (seconds).
        timeout_s: the workers' initial retransmission timeout (seconds).
        backoff_threshold, backoff_threshold_increment: the official backoff (`workers.protocol.WorkerConfig`).
        recovery: loss-recovery policy, "official", "reset" or "rto" (`workers.protocol_state`).
        max_time_s: give up (completed = False) past this simulated time.
        job_number: the job's 8-bit number.
    """
    tensors = np.asarray(tensors)
    if tensors.ndim != 2 or tensors.dtype != np.int32:
        raise ValueError(f"tensors must be a 2-D int32 array (workers, elements), got {tensors.dtype} {tensors.shape}")
    faults = faults or Faults()
    rng = np.random.default_rng(seed)
    n = len(tensors)
    pipeline = Pipeline(SwitchConfig(slots=window, elements_per_packet=elements_per_packet, hardened=hardened))
    workers = [
        WorkerProtocol(
            WorkerConfig(
                worker_id=w,
                num_workers=n,
                window=window,
                elements_per_packet=elements_per_packet,
                job_number=job_number,
                timeout_s=timeout_s,
                backoff_threshold=backoff_threshold,
                backoff_threshold_increment=backoff_threshold_increment,
                recovery=recovery,
                rto_min_s=min(timeout_s, DEFAULT_RTO_MIN_S),
            ),
            tensors[w],
        )
        for w in range(n)
    ]
    queue: list[tuple] = []
    sequence = 0

    def push(time: float, kind: int, target: int, payload: tuple | None) -> None:
        nonlocal sequence
        heapq.heappush(queue, (time, sequence, kind, target, payload))
        sequence += 1

    def deliver(now: float, kind: int, target: int, payload: tuple, loss: float) -> None:
        copies = 2 if faults.duplicate and rng.random() < faults.duplicate else 1
        for copy in range(copies):
            if loss and rng.random() < loss:
                continue
            delay = one_way_delay_s + (rng.random() * faults.jitter_s if faults.jitter_s else 0.0)
            push(now + delay + copy * faults.duplicate_delay_s, kind, target, payload)

    timer_at = [np.inf] * n

    def send(now: float, w: int, packets: list[int]) -> None:
        proto = workers[w]
        for p in packets:
            slot, pool_set = spec.split_pool_index(proto.pool_index(p))
            message = (w, proto.tsi(p), slot, pool_set, proto.exponents[p], proto.values(p))
            deliver(now, _TO_SWITCH, 0, message, faults.loss_up)
        deadline = proto.next_deadline()
        if deadline < timer_at[w]:
            timer_at[w] = deadline
            push(deadline, _TIMER, w, None)

    for w in range(n):
        send(0.0, w, workers[w].start(0.0))

    now = 0.0
    remaining = sum(not p.done for p in workers)
    while queue and remaining:
        now, _, kind, target, payload = heapq.heappop(queue)
        if now > max_time_s:
            break
        if kind == _TO_SWITCH:
            w, tsi, slot, pool_set, exponents, values = payload
            action, out_values, out_exponents = pipeline.process(
                w, n, job_number, tsi, slot, pool_set, exponents, values
            )
            recipients, pool_index = next_step(int(action), slot, pool_set)
            if recipients != Recipients.NONE:
                reply = (tsi, int(pool_index), out_values, out_exponents)
                for receiver in range(n) if recipients == Recipients.JOB else (w,):
                    deliver(now, _TO_WORKER, receiver, reply, faults.loss_down)
        elif kind == _TO_WORKER:
            proto = workers[target]
            was_done = proto.done
            tsi, pool_index, values, exponents = payload
            send(now, target, proto.on_result(now, job_number, tsi, pool_index, values, exponents))
            remaining -= proto.done and not was_done
        else:
            if now != timer_at[target]:
                continue
            timer_at[target] = np.inf
            send(now, target, workers[target].on_timeout(now))

    return LoopResult(
        results=np.stack([p.result for p in workers]),
        completed=remaining == 0,
        stopped_by=None if remaining == 0 else "max_time",
        time_s=now if remaining == 0 else max_time_s,
        worker_stats=[p.stats for p in workers],
        counters=pipeline.counters(),
    )
