"""SwitchML on a simulated topology: workers, switches, links, real integers, R iterations."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import simpy

from switchsim.config import Scenario
from switchsim.pipeline import Pipeline, SwitchConfig, wrapped_sum
from switchsim.protocol import spec
from switchsim.protocol.codec import to_wire_width
from switchsim.sim.capture import SimCapture
from switchsim.sim.metrics import MethodResult, method_result
from switchsim.sim.nodes import SwitchNode, TableEntry, WorkerNode
from switchsim.sim.topology import Fabric, build_fabric
from workers.protocol import WorkerConfig, WorkerProtocol, next_shift

Progress = Callable[[float, int], None]


def _switches(env: simpy.Environment, scenario: Scenario, fabric: Fabric, workers: list[WorkerNode]) -> list[SwitchNode]:
    """Create and wire the switches of ``fabric``; returns them (spine last)."""
    topology, k = scenario.topology, scenario.elements_per_packet
    wire = spec.wire_bytes(k, scenario.element_bits)
    config = SwitchConfig(slots=scenario.switch.slots, elements_per_packet=k, hardened=scenario.switch.hardened)
    latency = scenario.switch.pipeline_latency_s
    n = topology.workers
    racks = topology.racks if topology.kind == "two_level" else 1
    switch_names = [f"tor{r}" for r in range(racks)] if topology.kind == "two_level" else ["sw0"]
    bits = scenario.element_bits
    switches = [SwitchNode(env, name, Pipeline(config), latency, wire, bits) for name in switch_names]
    for host, worker in enumerate(workers):
        switch = switches[fabric.rack_of[host]]
        local = host % n
        port = host - fabric.rack_of[host] * n if topology.kind == "two_level" else host
        switch.table[host] = TableEntry(group=worker.group, worker_id=local, num_workers=n, port=port)
        switch.ports[port] = fabric.host_down[host]
        switch.members.setdefault(worker.group, []).append(port)
        fabric.host_up[host].receiver = switch.receive
        fabric.host_down[host].receiver = worker.receive
        worker.uplink = fabric.host_up[host]
    if topology.kind == "two_level":
        spine = SwitchNode(env, "spine", Pipeline(config), latency, wire, bits)
        for rack, tor in enumerate(switches):
            tor.uplink = fabric.rack_up[rack]
            tor.up_source = ("tor", rack)
            fabric.rack_up[rack].receiver = spine.receive
            fabric.rack_down[rack].receiver = tor.receive
            spine.table[("tor", rack)] = TableEntry(group=0, worker_id=rack, num_workers=racks, port=rack)
            spine.ports[rack] = fabric.rack_down[rack]
            spine.members.setdefault(0, []).append(rack)
        switches.append(spine)
    return switches


def run_switchml(scenario: Scenario, tensors: np.ndarray, progress: Progress | None = None,
                 exponents: np.ndarray | None = None, received_exponents: np.ndarray | None = None,
                 elements: int | None = None, pcap: str | None = None) -> tuple[MethodResult, np.ndarray]:
    """Simulate ``scenario``'s SwitchML all-reduce of ``tensors`` (hosts x S int32).

    Returns the result record and the integer sums the workers received in the
    last iteration (hosts x S). ``exponents`` (hosts x packets x 2, int8) are sent
    in the exponent header when given (float workloads); ``received_exponents``
    (same shape), when given, receives the exponents of each worker's results.
    ``elements`` is the tensor size to report (default S). ``pcap`` names a file
    to write host 0's SwitchML traffic to (`switchsim.sim.capture`).
    """
    started = time.perf_counter()
    env = simpy.Environment()
    topology, protocol_config, workload = scenario.topology, scenario.switchml, scenario.workload
    k, window = scenario.elements_per_packet, protocol_config.window
    fabric = build_fabric(env, topology, scenario.link, scenario.seed)
    hosts = topology.total_workers
    # results travel at element_bits: the int32 wrap-around sum's low bits (identity at 32)
    expected = [to_wire_width(wrapped_sum(tensors[group]), scenario.element_bits) for group in fabric.groups]
    group_of = [0] * hosts
    for g, group in enumerate(fabric.groups):
        for host in group:
            group_of[host] = g
    iterations_left = [workload.iterations] * hosts
    correct = [True] * hosts
    all_done = env.event()
    remaining = [hosts]
    final = np.zeros_like(tensors)

    def protocol_for(worker: WorkerNode, iteration: int) -> WorkerProtocol:
        total_packets = max(1, -(-tensors.shape[1] // k))
        config = WorkerConfig(
            worker_id=worker.index % topology.workers,
            num_workers=topology.workers,
            window=window,
            start_slot=worker.group * window,
            elements_per_packet=k,
            job_number=iteration & 0xFF,
            shift=next_shift(0, iteration * total_packets, window),
            timeout_s=protocol_config.timeout_s,
            backoff_threshold=protocol_config.backoff_threshold,
            backoff_threshold_increment=protocol_config.backoff_threshold_increment,
        )
        host_exponents = None if exponents is None else exponents[worker.index]
        return WorkerProtocol(config, tensors[worker.index], host_exponents)

    def on_done(worker: WorkerNode) -> None:
        protocol = worker.finished[-1]
        if not np.array_equal(protocol.result, expected[worker.group]):
            correct[worker.index] = False
        iterations_left[worker.index] -= 1
        if iterations_left[worker.index] == 0:
            final[worker.index] = protocol.result
            if received_exponents is not None:
                received_exponents[worker.index] = protocol.result_exponents
            remaining[0] -= 1
            if remaining[0] == 0:
                all_done.succeed()
            return
        worker.finished.clear()
        iteration = workload.iterations - iterations_left[worker.index]
        start_later(worker, iteration)

    def start_later(worker: WorkerNode, iteration: int) -> None:
        if workload.compute_s:
            env.timeout(workload.compute_s).callbacks.append(lambda _e: worker.begin(protocol_for(worker, iteration)))
        else:
            worker.begin(protocol_for(worker, iteration))

    wire = spec.wire_bytes(k, scenario.element_bits)
    workers = [
        WorkerNode(env, host, group_of[host], wire, scenario.host.send_overhead_s, scenario.host.receive_overhead_s,
                   on_done)
        for host in range(hosts)
    ]
    switches = _switches(env, scenario, fabric, workers)
    capture = None
    if pcap is not None:
        capture = SimCapture(pcap, 0, k, element_bits=scenario.element_bits)
        fabric.host_up[0].tap = fabric.host_down[0].tap = capture.tap
    for worker in workers:
        start_later(worker, 0)

    if progress is not None:
        def report(env: simpy.Environment):
            while True:
                yield env.timeout(1e-3)
                progress(env.now, sum(c.stats.packets for c in fabric.host_up))
        env.process(report(env))
    env.run(until=env.any_of([all_done, env.timeout(scenario.max_time_s)]))
    completed = all_done.triggered
    if capture is not None:
        capture.close()
    now = env.now
    stats = [w.finished[-1].stats if w.finished else (w.protocol.stats if w.protocol else None) for w in workers]
    retransmissions = sum(s.retransmissions for s in stats if s)
    timeouts = sum(s.timeouts for s in stats if s)
    counters: dict[str, int] = {}
    for switch in switches:
        for key, value in switch.pipeline.counters().items():
            counters[key] = counters.get(key, 0) + value
    channels = fabric.channels
    result = method_result(
        "switchml",
        scenario,
        channels,
        now,
        tensors.shape[1] if elements is None else elements,
        completed=completed,
        correct=all(correct),
        wall_time_s=time.perf_counter() - started,
        packet_hops=sum(c.stats.packets for c in channels),
        retransmissions=retransmissions,
        timeouts=timeouts,
        switch_counters=counters,
    )
    return result, final
