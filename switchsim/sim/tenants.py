"""Jobs sharing a fabric: every job runs its own method at the same time (`Scenario.job_methods`).

One state carries them all: SwitchML jobs' hosts run the worker protocol
(``H_SWITCHML``) while the collective jobs' flows run over the same channels,
queues and switches (`switchsim.sim.transport`), on either engine. SwitchML
jobs share each switch's slot pool through fixed allotments, as a controller
partitions it: the i-th SwitchML job (in job order) owns slots ``i W .. (i +
1) W - 1`` (W = ``switchml.window``) on every switch of its aggregation tree,
whichever jobs are running. Each job is then run alone on the same fabric (the
other jobs' hosts idle, its allotment unchanged), so that each job's slowdown
is its shared time over its time alone.

Only the synthetic workload is supported: every value is generated per packet
and every final element of every job is checked exactly, as in single-method
runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from switchsim.config import Scenario
from switchsim.sim import fast_engine, simpy_engine, transport
from switchsim.sim import handlers as h
from switchsim.sim.collective_method import build_job, flow_table
from switchsim.sim.collectives import collective
from switchsim.sim.metrics import MethodResult, method_result, stopped_result
from switchsim.sim.network import Network
from switchsim.sim.state import MemoryLimitError, RunInputs, new_state, seconds, ticks, with_flows
from switchsim.sim.switchml_method import link_summaries, scenario_network
from workers import protocol_state as protocol

#: ``progress(label, simulated_s, fraction done)``: label "shared" or "job J alone".
Progress = Callable[[str, float, float], None]
ENGINES = {"fast": fast_engine.run, "simpy": simpy_engine.run}


@dataclass(frozen=True, slots=True)
class SlotAllotment:
    """The slots one SwitchML job owns on each switch of its aggregation tree.

    Attributes:
        job: the job (row of the topology's jobs).
        first_slot: its first slot; it owns ``first_slot .. first_slot + slots - 1``.
        slots: how many (its window: one slot per packet in flight).
        switches: the switches that aggregate for it (its tree), by number.
    """

    job: int
    first_slot: int
    slots: int
    switches: tuple[int, ...]


def slot_allotments(scenario: Scenario) -> list[SlotAllotment]:
    """Each SwitchML job's allotment: consecutive ranges of ``switchml.window`` slots, in job order."""
    topology = scenario.topology.shape
    window = scenario.switchml.window
    allotments = []
    for job, method in enumerate(scenario.job_methods):
        if collective(method).is_switch:
            switches = tuple(sorted(topology.jobs[job].children))
            allotments.append(SlotAllotment(job, len(allotments) * window, window, switches))
    return allotments


@dataclass(frozen=True, slots=True)
class _JobOutcome:
    """What one job achieved in one run (shared or alone)."""

    time_s: float
    completed: bool
    correct: bool
    retransmissions: int
    timeouts: int


def build_shared_state(scenario: Scenario, active: frozenset[int]) -> tuple[h.SimState, Network]:
    """The state of ``scenario``'s jobs on one fabric, jobs not in ``active`` idle; and the network.

    SwitchML hosts carry their job's allotment (`slot_allotments`) whether or not
    the other jobs run; collective jobs carry their registry schedule's flows.
    """
    methods = scenario.job_methods
    servers = scenario.baselines.servers if any(collective(m).servers for m in methods) else 0
    switchml_jobs = frozenset(j for j, m in enumerate(methods) if collective(m).is_switch)
    network = scenario_network(scenario, extra_hosts=servers, switchml_jobs=switchml_jobs)
    elements = scenario.workload.elements
    state = new_state(scenario, network, RunInputs(elements=elements))
    groups = network.groups.tolist()
    for allotment in slot_allotments(scenario):
        state.hosts[groups[allotment.job], h.H_START_SLOT] = allotment.first_slot
    table = flow_table(scenario, network)
    server_hosts = list(range(network.workers, network.hosts))
    switchml_hosts = np.zeros(network.hosts, np.int64)
    collective_jobs = np.zeros(len(groups), bool)
    for job, members in enumerate(groups):
        if job not in active:
            continue
        entry = collective(methods[job])
        if entry.is_switch:
            switchml_hosts[members] = 1
        else:
            collective_jobs[job] = True
            build_job(table, scenario, methods[job], job, members, elements, server_hosts)
    return with_flows(state, scenario, table, None, collective_jobs, switchml_hosts), network


def _job_outcomes(state: h.SimState, scenario: Scenario, active: frozenset[int], end: int) -> dict[int, _JobOutcome]:
    """Each active job's finishing time, completion, exactness and retransmissions, from the final state."""
    hosts = state.hosts
    iterations = scenario.workload.iterations
    outcomes = {}
    for job in sorted(active):
        members = state.groups[job]
        if collective(scenario.job_methods[job]).is_switch:
            done = bool(hosts[members, h.H_DONE].all())
            finished = int(hosts[members, h.H_FINISHED_AT].max())
            wrong = int(hosts[members, h.H_WRONG_RESULTS].sum())
            running = members[hosts[members, h.H_ACTIVE] == 1]
            status = state.protocol_status
            retransmissions = int(hosts[members, h.H_RETRANSMISSIONS].sum()
                                  + status[running, protocol.S_RETRANSMISSIONS].sum())
            timeouts = int(hosts[members, h.H_TIMEOUTS].sum() + status[running, protocol.S_TIMEOUTS].sum())
        else:
            row = state.collective_groups[job]
            done = bool(row[transport.GR_ITERATION] >= iterations)
            finished = int(row[transport.GR_FINISHED_AT])
            wrong = int(row[transport.GR_WRONG_ELEMENTS])
            flows = state.flows[row[transport.GR_FIRST_FLOW]:row[transport.GR_END_FLOW]]
            retransmissions = int(flows[:, transport.F_RETRANSMISSIONS].sum())
            timeouts = int(flows[:, transport.F_TIMEOUTS].sum())
        outcomes[job] = _JobOutcome(seconds(finished if done else end), done, done and wrong == 0,
                                    retransmissions, timeouts)
    return outcomes


def run_jobs(scenario: Scenario, active: frozenset[int], progress: Callable[[float, float], None] | None = None,
             engine: str | None = None) -> tuple[dict[int, MethodResult], float]:
    """Run the ``active`` jobs of ``scenario`` at once; one record per job and the run's wall seconds.

    Each record's links and packet-hops are the whole run's (the jobs share them).
    """
    started = time.perf_counter()
    state, network = build_shared_state(scenario, active)
    total = max(1, int(state.counters[h.G_HOSTS_REMAINING]))
    report = None if progress is None else (
        lambda now, _checked: progress(seconds(now), 1 - int(state.counters[h.G_HOSTS_REMAINING]) / total))
    try:
        state, _completed, end, _ = ENGINES[engine or scenario.simulator.engine](state, ticks(scenario.max_time_s),
                                                                                report)
    except MemoryLimitError as error:  # every job of this run: not finished, never left to the OOM killer
        wall = time.perf_counter() - started
        return {job: replace(stopped_result(scenario.job_methods[job], scenario.workload,
                                            scenario.topology.workers_per_job, scenario.workload.elements,
                                            seconds(error.reached_ps), str(error), wall), job=job)
                for job in sorted(active)}, wall
    wall = time.perf_counter() - started
    end_s = seconds(end)
    links = link_summaries(state, network, end_s)
    hops = int(state.channel_counters[:, h.C_PACKETS].sum())
    records = {}
    for job, outcome in _job_outcomes(state, scenario, active, end).items():
        record = method_result(scenario.job_methods[job], scenario.workload, scenario.topology.workers_per_job,
                               links, outcome.time_s, scenario.workload.elements, completed=outcome.completed,
                               correct=outcome.correct, wall_time_s=wall, packet_hops=hops,
                               retransmissions=outcome.retransmissions, timeouts=outcome.timeouts)
        records[job] = replace(record, job=job)
    return records, wall


def run_tenants(scenario: Scenario, progress: Progress | None = None, engine: str | None = None) -> list[MethodResult]:
    """Every job at once, then each alone: one record per job (the shared run's), with its slowdown.

    ``slowdown`` is the job's aggregation time shared over alone (1.0: unaffected by the others);
    None when either run did not finish.
    """
    jobs = frozenset(range(len(scenario.job_methods)))

    def labelled(label: str):
        return None if progress is None else (lambda now, done: progress(label, now, done))

    shared, _ = run_jobs(scenario, jobs, labelled("shared"), engine)
    results = []
    for job in sorted(jobs):
        alone = run_jobs(scenario, frozenset({job}), labelled(f"job {job} alone"), engine)[0][job]
        record = shared[job]
        slowdown = (record.aggregation_time_s / alone.aggregation_time_s
                    if record.completed and alone.completed else None)
        results.append(replace(record, alone_time_s=alone.aggregation_time_s if alone.completed else None,
                               slowdown=slowdown))
    return results
