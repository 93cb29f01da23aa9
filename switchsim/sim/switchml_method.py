"""SwitchML on a simulated topology: build the run's arrays, run an engine, report a `MethodResult`.

Both engines (``fast``: `switchsim.sim.fast_engine`; ``simpy``:
`switchsim.sim.simpy_engine`) run the same handlers on the same state and
give the same result record (wall time aside).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from switchsim.config import Scenario
from switchsim.pipeline.tables import Counter
from switchsim.sim import fast_engine, simpy_engine
from switchsim.sim import handlers as h
from switchsim.sim.capture import SimCapture
from switchsim.sim.metrics import LinkSummary, MethodResult, method_result, stopped_result
from switchsim.sim.network import Network, build_network
from switchsim.sim.state import TICKS_PER_SECOND, MemoryLimitError, RunInputs, new_state, seconds, ticks
from workers import protocol_state as protocol

Progress = Callable[[float, int], None]
ENGINES = {"fast": fast_engine.run, "simpy": simpy_engine.run}
#: Packets a pcap keeps (host 0's links).
CAPTURE_LIMIT = 200_000


def scenario_network(scenario: Scenario, extra_hosts: int = 0, switchml_jobs: frozenset[int] | None = None) -> Network:
    """The packet-level network of ``scenario``'s topology and links (``extra_hosts``: parameter servers;
    ``switchml_jobs``: the jobs whose aggregation trees are lowered, default every job)."""
    return build_network(scenario.built_topology, h.REQUEST, h.RESULT_AT_SWITCH, h.RESULT, extra_hosts,
                         switchml_jobs)


def run_switchml(scenario: Scenario, tensors: np.ndarray | None, progress: Progress | None = None,
                 exponents: np.ndarray | None = None, received_exponents: np.ndarray | None = None,
                 elements: int | None = None, pcap: str | None = None,
                 engine: str | None = None) -> tuple[MethodResult, np.ndarray | None]:
    """Simulate ``scenario``'s SwitchML all-reduce.

    ``tensors`` (hosts x S int32) are sent as they are; ``None`` runs the
    synthetic workload (`switchsim.sim.handlers.synthetic_values`) of
    ``elements`` elements per worker. Every result packet is checked in full
    against its exact sum either way. Returns the record and, for in-memory
    tensors, the integer sums each worker received in the last iteration
    (hosts x S; None for the synthetic workload). ``exponents`` (hosts x
    packets x 2, int8) travel in the exponent header (float workloads);
    ``received_exponents``, when given, receives the results' exponents.
    ``pcap`` names a file for host 0's SwitchML traffic; ``engine`` overrides
    ``scenario.simulator.engine``. ``progress(simulated_s, fraction)`` is called
    now and then with the fraction of all result packets received so far.
    """
    started = time.perf_counter()
    engine = engine or scenario.simulator.engine
    network = scenario_network(scenario)
    if tensors is None:
        if elements is None:
            raise ValueError("the synthetic workload needs elements (per worker)")
        inputs = RunInputs(elements=elements)
    else:
        inputs = RunInputs(elements=tensors.shape[1], tensors=tensors, exponents=exponents, keep_results=True)
    state = new_state(scenario, network, inputs, capture_host=0 if pcap else -1,
                      capture_limit=CAPTURE_LIMIT if pcap else 0)
    total_results = network.hosts * int(state.parameters[h.P_TOTAL_PACKETS]) * scenario.workload.iterations
    report = None if progress is None else (lambda now, results: progress(seconds(now), results / total_results))
    try:
        state, completed, end, _ = ENGINES[engine](state, ticks(scenario.max_time_s), report)
    except MemoryLimitError as error:  # reported as not finished, never left to the kernel's OOM killer
        return stopped_result("switchml", scenario.workload, scenario.topology.workers_per_job,
                              inputs.elements if elements is None else elements, seconds(error.reached_ps),
                              str(error), time.perf_counter() - started), None
    if pcap is not None:
        _write_capture(state, pcap, scenario)
    final = None
    if tensors is not None:
        final = state.final[:, : tensors.shape[1]]
        if received_exponents is not None:
            received_exponents[...] = state.final_exponents.reshape(received_exponents.shape)
    end_s = seconds(end)
    links = link_summaries(state, network, end_s)
    counters = state.counters
    retransmissions, timeouts = _protocol_totals(state)
    result = method_result(
        "switchml",
        scenario.workload,
        scenario.topology.workers_per_job,
        links,
        end_s,
        inputs.elements if elements is None else elements,
        completed=completed,
        correct=bool(completed and counters[h.G_WRONG_PACKETS] == 0),
        wall_time_s=time.perf_counter() - started,
        packet_hops=int(state.channel_counters[:, h.C_PACKETS].sum()),
        retransmissions=retransmissions,
        timeouts=timeouts,
        switch_counters=switch_counters(state),
    )
    return result, final


def link_summaries(state: h.SimState, network: Network, time_s: float) -> list[LinkSummary]:
    """Every channel's totals (the engines' integer counters, converted to bytes and seconds at its rate)."""
    stats = state.channel_counters
    rates = network.link_rate_bps
    return [
        LinkSummary(
            name=name,
            packets=int(stats[c, h.C_PACKETS]),
            bytes=int(stats[c, h.C_BYTES]),
            utilisation=float(stats[c, h.C_BYTES]) * 8 / float(rates[c]) / time_s if time_s > 0 else 0.0,
            max_queue_bytes=float(stats[c, h.C_MAX_BACKLOG]) * (float(rates[c]) / 8 / TICKS_PER_SECOND),
            queue_drops=int(stats[c, h.C_QUEUE_DROPS]),
            loss_drops=int(stats[c, h.C_LOSS_DROPS]),
        )
        for c, name in enumerate(network.names)
    ]


def switch_counters(state: h.SimState) -> dict[str, int]:
    """Totals of each pipeline `Counter` over every switch and slot."""
    totals = state.pool_counters.sum(axis=(0, 1))
    return {c.name.lower(): int(totals[c]) for c in Counter}


def _protocol_totals(state: h.SimState) -> tuple[int, int]:
    """Retransmissions and timeouts over every iteration, the one running included."""
    hosts = state.hosts
    active = hosts[:, h.H_ACTIVE] == 1
    status = state.protocol_status
    retransmissions = hosts[:, h.H_RETRANSMISSIONS].sum() + status[active, protocol.S_RETRANSMISSIONS].sum()
    timeouts = hosts[:, h.H_TIMEOUTS].sum() + status[active, protocol.S_TIMEOUTS].sum()
    return int(retransmissions), int(timeouts)


def _write_capture(state: h.SimState, path: str, scenario: Scenario) -> None:
    capture = SimCapture(path, 0, scenario.elements_per_packet, limit=CAPTURE_LIMIT,
                         element_bits=scenario.element_bits)
    rows = int(state.counters[h.G_CAPTURED])
    for row in range(rows):
        departure, is_result, header = state.capture_meta[row].tolist()
        job_number, pool_index, tsi = h.header_fields(header)
        capture.add(seconds(departure), bool(is_result), job_number, tsi, pool_index, state.capture_exponents[row],
                    state.capture_values[row])
    capture.left_out = int(state.counters[h.G_CAPTURE_LEFT_OUT])
    capture.close()
