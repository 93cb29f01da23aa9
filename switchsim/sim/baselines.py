"""Host-based all-reduce baselines on the same links: ring, parameter server, all-gather.

Baselines move whole messages, not packets: a message of B bytes is ``c =
ceil(B / payload)`` full-size packets that reserve each channel of its path
back to back (`Channel.reserve`), forwarded store-and-forward by each switch
after its pipeline latency. Contention between messages that share a channel
(the parameter server's incast) serializes through the channels'
``busy_until``. Loss: each packet is lost on a path of h channels with
probability ``1 - (1 - loss)^h``; the lost ones are resent as a follow-up
message ``retransmit_timeout_s`` after the original arrived (a reliable
transport's timeout), until none is lost. Queue limits do not apply to
message-level traffic (the backlog a reservation finds is still reported).

The integers are real: ring steps add chunks with int32 wrap-around, the
server sums, all-gather sums locally; every worker's tensor is checked.

* ring: reduce-scatter then all-gather, 2(n-1) steps of ``ceil(S/n)`` elements
  to the next worker; a worker starts step s+1 when step s's chunk arrives.
* ps: every worker pushes S elements to one server host on the first switch;
  the server sums when all have arrived and sends the sum back to each.
* allgather: every worker sends its S elements to each other worker and sums.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import simpy

from switchsim.config import Scenario
from switchsim.pipeline import wrapped_sum
from switchsim.protocol.codec import to_wire_width
from switchsim.sim.handlers import synthetic_accumulate, synthetic_block, synthetic_sum
from switchsim.sim.link import Channel
from switchsim.sim.metrics import MethodResult, message_packets, method_result, summarize_links
from switchsim.sim.state import SYNTHETIC_STREAM
from switchsim.sim.topology import Fabric, build_fabric
from workers.quantizers.rng import stream_key


@dataclass(frozen=True, slots=True)
class MessageCosts:
    """What moving a message costs on the baselines' links: the parts of a scenario `MessageNet` reads.

    Attributes:
        payload_bytes: application bytes per packet (baselines.packet_payload_bytes).
        element_bits: bits of one integer element on the wire (workload.element_bits).
        pipeline_latency_s: switch latency per hop, seconds.
        receive_overhead_s: host delay from arrival to delivery, seconds.
        loss: per packet per link loss probability.
        retransmit_timeout_s: a message's lost packets are resent this long after it arrived, seconds.
    """

    payload_bytes: int
    element_bits: int
    pipeline_latency_s: float
    receive_overhead_s: float
    loss: float
    retransmit_timeout_s: float

    @classmethod
    def of(cls, scenario: Scenario) -> MessageCosts:
        """The costs ``scenario`` sets."""
        return cls(scenario.baselines.packet_payload_bytes, scenario.element_bits, scenario.switch.pipeline_latency_s,
                   scenario.host.receive_overhead_s, scenario.link.loss, scenario.baselines.retransmit_timeout_s)


class MessageNet:
    """Sends messages along fabric paths with reservations, loss and retransmission."""

    def __init__(self, env: simpy.Environment, costs: MessageCosts, fabric: Fabric, rng: np.random.Generator):
        self.env = env
        self.costs = costs
        self.fabric = fabric
        self.rng = rng
        self.retransmissions = 0
        self.packets = 0
        #: bytes of one integer element in a message (workload.element_bits / 8)
        self.element_bytes = costs.element_bits // 8
        # per (source, destination): messages in send order, each [complete?, on_arrival]
        self.streams: dict[tuple[int, int], deque[list]] = {}

    def send(self, source: int, destination: int, message_bytes: int, on_arrival: Callable[[], None]) -> None:
        """Send a message now; call ``on_arrival`` once it and every earlier message of its stream arrived."""
        count, size = message_packets(message_bytes, self.costs.payload_bytes)
        stream = self.streams.setdefault((source, destination), deque())
        entry = [False, on_arrival]
        stream.append(entry)

        def complete() -> None:
            entry[0] = True
            while stream and stream[0][0]:
                stream.popleft()[1]()

        self._transfer(self.fabric.path(source, destination), count, size, self.env.now, complete)

    def _transfer(self, path: list[Channel], count: int, size: int, ready: float, on_arrival) -> None:
        latency = self.costs.pipeline_latency_s
        first, last = ready, ready
        for hop, channel in enumerate(path):
            if hop:
                first, last = first + latency, last + latency
            first, last = channel.reserve(count, size, first, last)
        self.packets += count * len(path)
        loss = self.costs.loss
        lost = int(self.rng.binomial(count, 1 - (1 - loss) ** len(path))) if loss else 0
        arrival = last + self.costs.receive_overhead_s
        if lost:
            self.retransmissions += lost
            resend_at = arrival + self.costs.retransmit_timeout_s
            self.env.timeout(resend_at - self.env.now).callbacks.append(
                lambda _e: self._transfer(path, lost, size, self.env.now, on_arrival)
            )
            return
        self.env.timeout(arrival - self.env.now).callbacks.append(lambda _e: on_arrival())


class Contributions:
    """What each host contributes, by element range, and the exact sums to check against.

    In-memory tensors are sliced; the synthetic workload is regenerated from
    `switchsim.sim.handlers.synthetic_values` (the generator the SwitchML
    engines use), so no host's tensor is ever held whole. Expected sums of a
    range are computed once per job and range (from the generator or the
    tensors) and kept until every worker of the job has checked it.
    """

    def __init__(self, scenario: Scenario, groups: list[list[int]], tensors: np.ndarray | None) -> None:
        self.bits = scenario.element_bits
        self.tensors = tensors
        self.elements = scenario.workload.elements if tensors is None else tensors.shape[1]
        hosts = scenario.topology.total_workers
        self.keys = np.array([stream_key(scenario.seed, h, SYNTHETIC_STREAM) for h in range(hosts)], np.uint64)
        self.groups = [np.asarray(group, np.int64) for group in groups]
        self._expected: dict[tuple[int, int, int], list] = {}

    def block(self, host: int, lo: int, hi: int) -> np.ndarray:
        """int32 (hi - lo,): host ``host``'s elements ``lo..hi-1`` (a fresh array)."""
        if self.tensors is not None:
            return self.tensors[host, lo:hi].copy()
        out = np.empty(hi - lo, np.int32)
        synthetic_block(self.keys[host], lo, self.elements, self.bits, out)
        return out

    def add_to(self, host: int, lo: int, target: np.ndarray) -> None:
        """``target += `` host ``host``'s elements ``lo ..`` (int32, wrapping), in place."""
        if self.tensors is not None:
            np.add(target, self.tensors[host, lo : lo + len(target)], out=target)
        else:
            synthetic_accumulate(self.keys[host], lo, self.elements, self.bits, target)

    def matches(self, group: int, lo: int, hi: int, values: np.ndarray, readers: int) -> bool:
        """Is ``values`` the exact wire-width sum of job ``group``'s elements ``lo..hi-1``?

        ``readers`` is how many checks of this range the job will make; the sum is dropped after the last.
        """
        key = (group, lo, hi)
        entry = self._expected.get(key)
        if entry is None:
            members = self.groups[group]
            if self.tensors is not None:
                total = to_wire_width(wrapped_sum(self.tensors[members, lo:hi]), self.bits)
            else:
                total = np.empty(hi - lo, np.int32)
                synthetic_sum(total, self.keys, members, lo, self.elements, self.bits, np.empty(hi - lo, np.int32))
            entry = self._expected[key] = [total, readers]
        entry[1] -= 1
        if entry[1] <= 0:
            del self._expected[key]
        return bool(np.array_equal(to_wire_width(values, self.bits), entry[0]))


def _ring(env, net: MessageNet, group: list[int], g: int, values: Contributions, checked, finish):
    """Reduce-scatter then all-gather; each worker holds only the chunk it forwards next."""
    n = len(group)
    elements = values.elements
    if n == 1:
        lo, hi = 0, elements
        checked(group[0], lo, values.block(group[0], lo, hi), values.matches(g, lo, hi, values.block(group[0], lo, hi),
                                                                              1))
        finish(group[0])
        return
    bounds = np.linspace(0, elements, n + 1).astype(np.int64)
    chunk_elements = -(-elements // n)
    steps = 2 * (n - 1)

    def send_step(position: int, step: int, payload: np.ndarray) -> None:
        chunk = (position - step) % n
        receiver = (position + 1) % n
        lo, hi = int(bounds[chunk]), int(bounds[chunk + 1])

        def arrive() -> None:
            forward = payload  # the message is the receiver's now: add to it in place
            if step < n - 1:  # reduce-scatter: add the receiver's own chunk (int32 wraps around)
                values.add_to(group[receiver], lo, forward)
            if step >= n - 2:  # the receiver now holds the chunk's full sum
                checked(group[receiver], lo, forward, values.matches(g, lo, hi, forward, n))
            if step + 1 < steps:
                send_step(receiver, step + 1, forward)
            else:
                finish(group[receiver])

        net.send(group[position], group[receiver], chunk_elements * net.element_bytes, arrive)

    for position in range(n):
        lo, hi = int(bounds[position]), int(bounds[position + 1])
        send_step(position, 0, values.block(group[position], lo, hi))


def _parameter_server(env, net: MessageNet, group: list[int], g: int, values: Contributions, checked, finish,
                      server: int):
    n = len(group)
    elements = values.elements
    total = np.zeros(elements, np.int32)
    arrived = [0]

    def pushed(worker: int) -> Callable[[], None]:
        def arrive() -> None:
            values.add_to(worker, 0, total)
            arrived[0] += 1
            if arrived[0] == n:
                for w in group:
                    net.send(server, w, elements * net.element_bytes, pulled(w))

        return arrive

    def pulled(worker: int) -> Callable[[], None]:
        def arrive() -> None:
            checked(worker, 0, total, values.matches(g, 0, elements, total, n))
            finish(worker)

        return arrive

    for worker in group:
        net.send(worker, server, elements * net.element_bytes, pushed(worker))


def _allgather(env, net: MessageNet, group: list[int], g: int, values: Contributions, checked, finish):
    """Every worker sends its tensor to every other; each sums what it holds once the last one arrives.

    A worker records which tensors it received and sums them (its own
    included) when the last arrives: the same additions as a running sum, with
    one tensor of memory at a time instead of one per worker.
    """
    n = len(group)
    elements = values.elements
    received = {w: [w] for w in group}

    def total(destination: int) -> np.ndarray:
        result = np.zeros(elements, np.int32)
        for source in received.pop(destination):
            values.add_to(source, 0, result)  # int32 wraps around
        return result

    def receive(source: int, destination: int) -> Callable[[], None]:
        def arrive() -> None:
            received[destination].append(source)
            if len(received[destination]) == n:
                result = total(destination)
                checked(destination, 0, result, values.matches(g, 0, elements, result, n))
                finish(destination)

        return arrive

    if n == 1:
        result = total(group[0])
        checked(group[0], 0, result, values.matches(g, 0, elements, result, 1))
        finish(group[0])
        return
    for source in group:
        for destination in group:
            if destination != source:
                net.send(source, destination, elements * net.element_bytes, receive(source, destination))


def run_baseline(method: str, scenario: Scenario, tensors: np.ndarray | None) -> tuple[MethodResult, np.ndarray | None]:
    """Simulate baseline ``method`` ("ring", "ps", "allgather") on ``scenario``'s topology.

    ``tensors`` (hosts x S int32) are all-reduced as they are; ``None`` uses the
    synthetic workload (``scenario.workload.elements`` per host). Every worker's
    every element is checked against the exact sum. Returns the record (whose
    ``elements`` is the tensor's S, ``scenario.workload.elements``) and, for
    in-memory tensors, each worker's result of the last iteration.
    """
    started = time.perf_counter()
    env = simpy.Environment()
    extra = 1 if method == "ps" else 0
    fabric = build_fabric(env, scenario, extra_hosts=extra)
    net = MessageNet(env, MessageCosts.of(scenario), fabric, np.random.default_rng(scenario.seed))
    workload = scenario.workload
    hosts = scenario.topology.total_workers
    server = hosts  # the parameter server, if any, is the extra host
    values = Contributions(scenario, fabric.groups, tensors)
    group_of = {host: g for g, group in enumerate(fabric.groups) for host in group}
    iterations_left = dict.fromkeys(range(hosts), workload.iterations)
    group_pending = {g: len(group) for g, group in enumerate(fabric.groups)}
    correct = [True]
    all_done = env.event()
    remaining = [hosts]
    final = None if tensors is None else np.zeros((hosts, values.elements), np.int32)

    def checked(host: int, lo: int, result: np.ndarray, exact: bool) -> None:
        if not exact:
            correct[0] = False
        if final is not None and iterations_left[host] == 1:
            final[host, lo : lo + len(result)] = to_wire_width(result, scenario.element_bits)

    def start_iteration(g: int) -> None:
        group = fabric.groups[g]
        group_pending[g] = len(group)
        if method == "ring":
            _ring(env, net, group, g, values, checked, finish)
        elif method == "ps":
            _parameter_server(env, net, group, g, values, checked, finish, server)
        else:
            _allgather(env, net, group, g, values, checked, finish)

    def finish(host: int) -> None:
        g = group_of[host]
        iterations_left[host] -= 1
        group_pending[g] -= 1
        if iterations_left[host] == 0:
            remaining[0] -= 1
            if remaining[0] == 0:
                all_done.succeed()
        elif group_pending[g] == 0:  # the whole job finished this iteration: compute, then the next
            later(g)

    def later(g: int) -> None:
        if workload.compute_s:
            env.timeout(workload.compute_s).callbacks.append(lambda _e: start_iteration(g))
        else:
            start_iteration(g)

    for g in range(len(fabric.groups)):
        later(g)
    env.run(until=env.any_of([all_done, env.timeout(scenario.max_time_s)]))
    completed = all_done.triggered
    now = env.now
    result = method_result(
        method,
        workload,
        scenario.topology.workers_per_job,
        summarize_links(fabric.channels, now),
        now,
        workload.elements,
        completed=completed,
        correct=correct[0],
        wall_time_s=time.perf_counter() - started,
        packet_hops=net.packets,
        retransmissions=net.retransmissions,
    )
    return result, final
