"""A host collective on a simulated topology: its flows, an engine, a `MethodResult`.

The collective's schedule (`switchsim.sim.collectives`) becomes flows over
the same network, links and engines as SwitchML (`switchsim.sim.transport`);
both engines give the same record (wall time aside).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from switchsim.config import Scenario
from switchsim.sim import fast_engine, simpy_engine, transport
from switchsim.sim import handlers as h
from switchsim.sim.collectives import collective
from switchsim.sim.collectives.flows import FlowTable, ceil_div
from switchsim.sim.metrics import MethodResult, method_result, stopped_result
from switchsim.sim.routes import host_route
from switchsim.sim.state import MemoryLimitError, RunInputs, new_state, seconds, ticks, with_flows
from switchsim.sim.switchml_method import link_summaries, run_switchml, scenario_network

Progress = Callable[[float, int], None]
ENGINES = {"fast": fast_engine.run, "simpy": simpy_engine.run}


def flow_elements(scenario: Scenario) -> int:
    """Elements one transport data packet carries: ``baselines.packet_payload_bytes`` at the element width."""
    return scenario.baselines.packet_payload_bytes * 8 // scenario.element_bits


def flow_table(scenario: Scenario, network) -> FlowTable:
    """An empty `FlowTable` for ``scenario`` on ``network``: its packets' elements, ECMP routes, racks and
    NCCL chunk (``baselines.chunk_bytes`` at the element width)."""
    return FlowTable(flow_elements(scenario), lambda s, d, flow_hash: host_route(network, s, d, flow_hash),
                     network.rack_of, scenario.baselines.chunk_bytes * 8 // scenario.element_bits)


def build_job(table: FlowTable, scenario: Scenario, method: str, group: int, members: list[int], elements: int,
              server_hosts: list[int]) -> None:
    """Add job ``group``'s flows of collective ``method`` to ``table``: its registry entry's schedule, each
    flow's consumer given the entry's receive FIFO (``stage_buffer_bytes``, in packets of
    ``baselines.packet_payload_bytes``; `switchsim.sim.state.with_flows` keeps at least its windows)."""
    entry = collective(method)
    first = len(table)
    entry.build(table, group, members, elements, server_hosts)
    if entry.stage_buffer_bytes:
        packets = ceil_div(entry.stage_buffer_bytes, scenario.baselines.packet_payload_bytes)
        for row in table.rows[first:]:
            row[transport.F_STAGE_BUFFER] = packets


def collective_servers(scenario: Scenario, method: str) -> int:
    """Extra hosts ``method`` needs on ``scenario`` (its registry entry's ``servers`` field)."""
    entry = collective(method)
    return scenario.baselines.servers if entry.servers == "baselines.servers" else 0


def build_state(method: str, scenario: Scenario, tensors: np.ndarray | None, elements: int):
    """The network and the state of ``method`` on ``scenario`` (``tensors`` None: synthetic workload)."""
    servers = collective_servers(scenario, method)
    network = scenario_network(scenario, extra_hosts=servers, switchml_jobs=frozenset())  # no SwitchML tree
    inputs = RunInputs(elements=elements)
    state = new_state(scenario, network, inputs)
    table = flow_table(scenario, network)
    server_hosts = list(range(network.workers, network.hosts))
    for group, members in enumerate(network.groups.tolist()):
        build_job(table, scenario, method, group, members, elements, server_hosts)
    return network, with_flows(state, scenario, table, tensors)


def run_method(method: str, scenario: Scenario, tensors: np.ndarray | None, progress: Progress | None = None,
               engine: str | None = None) -> tuple[MethodResult, np.ndarray | None]:
    """Run any registered method (SwitchML or a host collective): `run_switchml` or `run_collective`."""
    if collective(method).is_switch:
        if tensors is None:
            return run_switchml(scenario, None, progress, elements=scenario.workload.elements, engine=engine)
        return run_switchml(scenario, tensors, progress, engine=engine)
    return run_collective(method, scenario, tensors, progress, engine)


def run_collective(method: str, scenario: Scenario, tensors: np.ndarray | None, progress: Progress | None = None,
                   engine: str | None = None) -> tuple[MethodResult, np.ndarray | None]:
    """Simulate host collective ``method`` on ``scenario``; every final element of every rank is checked.

    ``tensors`` (workers x S int32) are reduced as they are; None runs the synthetic workload of
    ``scenario.workload.elements`` per worker. ``engine`` overrides ``scenario.simulator.engine``.
    Returns the record and, for in-memory tensors, each worker's sums of the last iteration
    (workers x S; None for the synthetic workload and for the all-gather, which sums nothing on the wire).
    """
    started = time.perf_counter()
    elements = scenario.workload.elements if tensors is None else tensors.shape[1]
    network, state = build_state(method, scenario, tensors, elements)
    report = None if progress is None else (lambda now, checked: progress(seconds(now), checked))
    try:
        state, completed, end, _ = ENGINES[engine or scenario.simulator.engine](state, ticks(scenario.max_time_s),
                                                                               report)
    except MemoryLimitError as error:  # reported as not finished, never left to the kernel's OOM killer
        return stopped_result(method, scenario.workload, scenario.topology.workers_per_job, elements,
                              seconds(error.reached_ps), str(error), time.perf_counter() - started), None
    end_s = seconds(end)
    counters = state.counters
    flows = state.flows
    final = None
    if tensors is not None and collective(method).check_bytes_per_element:
        final = state.final[: network.workers, :elements]
    return method_result(
        method,
        scenario.workload,
        scenario.topology.workers_per_job,
        link_summaries(state, network, end_s),
        end_s,
        elements,
        completed=completed,
        correct=bool(completed and counters[h.G_WRONG_PACKETS] == 0 and counters[h.G_WRONG_ELEMENTS] == 0),
        wall_time_s=time.perf_counter() - started,
        packet_hops=int(state.channel_counters[:, h.C_PACKETS].sum()),
        retransmissions=int(flows[:, transport.F_RETRANSMISSIONS].sum()),
        timeouts=int(flows[:, transport.F_TIMEOUTS].sum()),
    ), final

