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

import numpy as np
import simpy

from switchsim.config import Scenario
from switchsim.pipeline import wrapped_sum
from switchsim.protocol.codec import to_wire_width
from switchsim.sim.link import Channel
from switchsim.sim.metrics import MethodResult, message_packets, method_result, summarize_links
from switchsim.sim.topology import Fabric, build_fabric


class MessageNet:
    """Sends messages along fabric paths with reservations, loss and retransmission."""

    def __init__(self, env: simpy.Environment, scenario: Scenario, fabric: Fabric, rng: np.random.Generator):
        self.env = env
        self.scenario = scenario
        self.fabric = fabric
        self.rng = rng
        self.retransmissions = 0
        self.packets = 0
        #: bytes of one integer element in a message (workload.element_bits / 8)
        self.element_bytes = scenario.element_bits // 8
        # per (source, destination): messages in send order, each [complete?, on_arrival]
        self.streams: dict[tuple[int, int], deque[list]] = {}

    def send(self, source: int, destination: int, message_bytes: int, on_arrival: Callable[[], None]) -> None:
        """Send a message now; call ``on_arrival`` once it and every earlier message of its stream arrived."""
        count, size = message_packets(message_bytes, self.scenario.baselines.packet_payload_bytes)
        stream = self.streams.setdefault((source, destination), deque())
        entry = [False, on_arrival]
        stream.append(entry)

        def complete() -> None:
            entry[0] = True
            while stream and stream[0][0]:
                stream.popleft()[1]()

        self._transfer(self.fabric.path(source, destination), count, size, self.env.now, complete)

    def _transfer(self, path: list[Channel], count: int, size: int, ready: float, on_arrival) -> None:
        latency = self.scenario.switch.pipeline_latency_s
        first, last = ready, ready
        for hop, channel in enumerate(path):
            if hop:
                first, last = first + latency, last + latency
            first, last = channel.reserve(count, size, first, last)
        self.packets += count * len(path)
        loss = self.scenario.link.loss
        lost = int(self.rng.binomial(count, 1 - (1 - loss) ** len(path))) if loss else 0
        arrival = last + self.scenario.host.receive_overhead_s
        if lost:
            self.retransmissions += lost
            resend_at = arrival + self.scenario.baselines.retransmit_timeout_s
            self.env.timeout(resend_at - self.env.now).callbacks.append(
                lambda _e: self._transfer(path, lost, size, self.env.now, on_arrival)
            )
            return
        self.env.timeout(arrival - self.env.now).callbacks.append(lambda _e: on_arrival())


def _ring(env, net: MessageNet, group: list[int], buffers: dict[int, np.ndarray], done: Callable[[int], None]):
    n = len(group)
    if n == 1:
        done(group[0])
        return
    elements = buffers[group[0]].shape[0]
    bounds = np.linspace(0, elements, n + 1).astype(np.int64)
    chunk_elements = -(-elements // n)
    steps = 2 * (n - 1)

    def send_step(position: int, step: int) -> None:
        chunk = (position - step) % n
        payload = buffers[group[position]][bounds[chunk] : bounds[chunk + 1]].copy()
        receiver = (position + 1) % n

        def arrive() -> None:
            target = buffers[group[receiver]][bounds[chunk] : bounds[chunk + 1]]
            if step < n - 1:
                np.add(target, payload, out=target)  # int32 arrays wrap around
            else:
                target[:] = payload
            if step + 1 < steps:
                send_step(receiver, step + 1)
            else:
                done(group[receiver])

        net.send(group[position], group[receiver], chunk_elements * net.element_bytes, arrive)

    for position in range(n):
        send_step(position, 0)


def _parameter_server(env, net: MessageNet, group: list[int], buffers, done, server: int):
    n = len(group)
    elements = buffers[group[0]].shape[0]
    total = np.zeros(elements, np.int32)
    arrived = [0]

    def pushed(worker: int) -> Callable[[], None]:
        def arrive() -> None:
            np.add(total, buffers[worker], out=total)
            arrived[0] += 1
            if arrived[0] == n:
                for w in group:
                    net.send(server, w, elements * net.element_bytes, pulled(w))

        return arrive

    def pulled(worker: int) -> Callable[[], None]:
        def arrive() -> None:
            buffers[worker][:] = total
            done(worker)

        return arrive

    for worker in group:
        net.send(worker, server, elements * net.element_bytes, pushed(worker))


def _allgather(env, net: MessageNet, group: list[int], buffers, done):
    n = len(group)
    if n == 1:
        done(group[0])
        return
    originals = {w: buffers[w].copy() for w in group}
    received = dict.fromkeys(group, 0)

    def receive(source: int, destination: int) -> Callable[[], None]:
        def arrive() -> None:
            np.add(buffers[destination], originals[source], out=buffers[destination])
            received[destination] += 1
            if received[destination] == n - 1:
                done(destination)

        return arrive

    elements = buffers[group[0]].shape[0]
    for source in group:
        for destination in group:
            if destination != source:
                net.send(source, destination, elements * net.element_bytes, receive(source, destination))


def run_baseline(method: str, scenario: Scenario, tensors: np.ndarray) -> tuple[MethodResult, np.ndarray]:
    """Simulate baseline ``method`` ("ring", "ps", "allgather") on ``scenario``'s topology."""
    started = time.perf_counter()
    env = simpy.Environment()
    extra = 1 if method == "ps" else 0
    fabric = build_fabric(env, scenario.topology, scenario.link, scenario.seed, extra_hosts=extra)
    net = MessageNet(env, scenario, fabric, np.random.default_rng(scenario.seed))
    workload = scenario.workload
    hosts = scenario.topology.total_workers
    server = hosts  # the parameter server, if any, is the extra host
    # integers travel at element_bits, so every partial sum wraps modulo 2**element_bits
    expected = {g: to_wire_width(wrapped_sum(tensors[group]), scenario.element_bits)
                for g, group in enumerate(fabric.groups)}
    group_of = {host: g for g, group in enumerate(fabric.groups) for host in group}
    iterations_left = dict.fromkeys(range(hosts), workload.iterations)
    group_pending = {g: len(group) for g, group in enumerate(fabric.groups)}
    correct = [True]
    all_done = env.event()
    remaining = [hosts]
    buffers: dict[int, np.ndarray] = {}
    final = np.zeros_like(tensors)

    def start_iteration(g: int) -> None:
        for host in fabric.groups[g]:
            buffers[host] = tensors[host].copy()
        group_pending[g] = len(fabric.groups[g])
        group = fabric.groups[g]
        if method == "ring":
            _ring(env, net, group, buffers, done)
        elif method == "ps":
            _parameter_server(env, net, group, buffers, done, server)
        else:
            _allgather(env, net, group, buffers, done)

    def done(host: int) -> None:
        g = group_of[host]
        if not np.array_equal(to_wire_width(buffers[host], scenario.element_bits), expected[g]):
            correct[0] = False
        iterations_left[host] -= 1
        group_pending[g] -= 1
        if iterations_left[host] == 0:
            final[host] = to_wire_width(buffers[host], scenario.element_bits)
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
        scenario,
        summarize_links(fabric.channels, now),
        now,
        tensors.shape[1],
        completed=completed,
        correct=correct[0],
        wall_time_s=time.perf_counter() - started,
        packet_hops=net.packets,
        retransmissions=net.retransmissions,
    )
    return result, final
