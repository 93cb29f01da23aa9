"""The fast and SimPy engines give identical results: every shipped scenario (scaled down) and generated ones."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchsim.config import ScenarioError, load_scenario, scenario_from_dict
from switchsim.sim import fast_engine
from switchsim.sim.memory import check_memory
from switchsim.sim.run import make_tensors, run_scenario
from switchsim.sim.switchml_method import run_switchml
from workers.protocol_state import RECOVERY_POLICIES

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.toml"))


def record(result) -> dict:
    """The summary.json record without the wall-clock fields."""
    data = result.to_json()
    data.pop("wall_time_s")
    return data


def both(scenario, tensors=None):
    elements = scenario.workload.elements
    return [run_switchml(scenario, tensors, elements=elements, engine=engine)[0] for engine in ("fast", "simpy")]


def scaled_down(scenario):
    """Small tensors on at most 16 hosts (a fat tree of k = 4, three tiers; 12 hosts in 3 racks; a tree of fanout
    2 x 2 x 2, three tiers; 8 on one switch), window <= 32, <= 2 iterations: well under a second per engine."""
    topology = scenario.topology
    if topology.kind == "two_level":
        topology = replace(topology, workers=min(topology.workers, 4), racks=min(topology.racks, 3))
    elif topology.kind == "fat_tree":  # jobs sharing a fabric keep their jobs (one method each): 16 hosts hold 4
        topology = replace(topology, k=4, jobs=topology.jobs if scenario.job_methods else min(topology.jobs, 2))
    elif topology.kind == "tree":
        topology = replace(topology, fanout=tuple(min(f, 2) for f in topology.fanout), jobs=1)
    else:
        topology = replace(topology, workers=min(topology.workers, 8))
    window = min(scenario.switchml.window, 32)
    workload = scenario.workload
    if workload.source == "trace":  # the engines run each bucket's collective: one synthetic all-reduce here
        workload = replace(workload, source="synthetic", trace="")
    return replace(scenario, topology=topology, switchml=replace(scenario.switchml, window=window),
                   workload=replace(workload, elements=min(workload.elements, 20_000),
                                    iterations=min(workload.iterations, 2)))


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_engines_agree_on_every_shipped_scenario(path):
    """SwitchML on each shipped scenario, scaled down: the fast and SimPy engines give the same record (wall time
    aside), exact; the host collectives are compared in `test_engines_agree_on_every_shipped_collective`."""
    scenario = scaled_down(load_scenario(path))
    if scenario.job_methods:  # jobs sharing a fabric: the whole run (every job at once, then each alone)
        fast, simpy = (run_scenario(replace(scenario, simulator=replace(scenario.simulator, engine=engine))).results
                       for engine in ("fast", "simpy"))
        assert [record(r) for r in fast] == [record(r) for r in simpy]
        assert all(r.completed and r.correct for r in fast) and len(fast) == len(scenario.job_methods)
        return
    if scenario.workload.source == "tensors" and scenario.workload.dtype == "int32":
        tensors = make_tensors(scenario)
        fast, simpy = both(scenario, tensors)
        assert record(fast) == record(simpy)
        assert fast.completed and fast.correct
    if scenario.workload.dtype == "int32":
        synthetic = replace(scenario, methods=("switchml",),
                            workload=replace(scenario.workload, source="synthetic"))
        fast, simpy = both(synthetic)
        assert record(fast) == record(simpy)
        assert fast.completed and fast.correct
    else:  # float32: whole runs through run_scenario, decode checks included
        results = [run_scenario(replace(scenario, methods=("switchml",),
                                        simulator=replace(scenario.simulator, engine=engine))).results[0]
                   for engine in ("fast", "simpy")]
        assert record(results[0]) == record(results[1]) and results[0].correct


def collective_cases():
    """``(scenario path, method)``: each host collective (ring, ps, allgather, tree, ...) a shipped scenario lists."""
    from switchsim.sim.collectives import collective

    return [(path, method) for path in SCENARIOS for method in load_scenario(path).methods
            if not collective(method).is_switch and not load_scenario(path).job_methods]  # tenants: above


@pytest.mark.parametrize(("path", "method"), collective_cases(), ids=lambda case: getattr(case, "stem", case))
def test_engines_agree_on_every_shipped_collective(path, method):
    """Each host collective a shipped scenario lists, scaled down, over its transport: the fast and SimPy engines
    give the same summary record (wall time aside), exact."""
    scenario = replace(scaled_down(load_scenario(path)), methods=(method,))
    fast, simpy = (run_scenario(replace(scenario, simulator=replace(scenario.simulator, engine=engine))).results[0]
                   for engine in ("fast", "simpy"))
    assert record(fast) == record(simpy)
    assert fast.completed and fast.correct
    assert fast.packet_hops > 0


@pytest.mark.parametrize("path", [p for p in SCENARIOS if load_scenario(p).topology.kind in ("fat_tree", "tree")],
                         ids=lambda p: p.stem)
def test_scaled_down_fat_trees_and_trees_keep_three_tiers(path):
    """The scaled-down fat tree (k = 4) and tree (fanout 2 x 2 x 2) still route across three switch tiers: the
    longest host-to-host path is host -> edge -> aggregation -> core and back down, 6 channels."""
    topology = scaled_down(load_scenario(path)).built_topology
    longest = max(len(topology.path(0, other, 0)) for other in range(1, topology.hosts))
    assert longest == 6


faults = st.fixed_dictionaries({
    "loss": st.sampled_from([0.0, 0.01, 0.05]),
    "duplicate": st.sampled_from([0.0, 0.02, 0.1]),
    "duplicate_delay_s": st.sampled_from([0.0, 1e-6, 5e-6]),
    "reorder": st.sampled_from([0.0, 0.05, 0.2]),
    "reorder_delay_s": st.sampled_from([5e-7, 3e-6]),
    "queue_bytes": st.sampled_from([2048, 8192, 4 * 1024 * 1024]),
})
topologies = st.sampled_from([
    {"kind": "one_rack", "workers": 1}, {"kind": "one_rack", "workers": 5},
    {"kind": "two_level", "workers": 2, "racks": 3}, {"kind": "multi_job", "workers": 3, "jobs": 2},
    {"kind": "fat_tree", "k": 2}, {"kind": "fat_tree", "k": 4, "jobs": 2, "oversubscription": 2.0},
    {"kind": "tree", "fanout": [2, 2, 2]}, {"kind": "tree", "fanout": [1, 3], "jobs": 3},
])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(link=faults, topology=topologies, window=st.sampled_from([1, 3, 8]), elements=st.integers(1, 3000),
       hardened=st.booleans(), bits=st.sampled_from([32, 16, 8]), seed=st.integers(0, 2**32),
       iterations=st.integers(1, 2), overheads=st.booleans(), synthetic=st.booleans(),
       recovery=st.sampled_from(RECOVERY_POLICIES))
def test_engines_agree_under_loss_duplication_and_reordering(link, topology, window, elements, hardened, bits, seed,
                                                             iterations, overheads, synthetic, recovery):
    scenario = scenario_from_dict({
        "seed": seed, "methods": ["switchml"], "max_time_s": 0.05,
        "topology": topology, "link": link,
        "switch": {"slots": 3 * window, "hardened": hardened},
        "switchml": {"window": window, "timeout_s": 2e-5, "backoff_threshold": 20, "recovery": recovery,
                     "rto_min_s": 2e-6},
        "host": {"send_overhead_s": 1e-7 if overheads else 0.0, "receive_overhead_s": 2e-7 if overheads else 0.0},
        "workload": {"elements": elements, "element_bits": bits, "iterations": iterations,
                     "compute_s": 1e-6 if overheads else 0.0, "source": "synthetic" if synthetic else "tensors"},
    })
    tensors = None if synthetic else make_tensors(scenario)
    fast, simpy = both(scenario, tensors)
    assert record(fast) == record(simpy)
    if hardened and fast.completed:
        assert fast.correct  # hardened mode never returns a wrong sum, faults or not


def test_a_fast_engine_that_skips_a_timer_is_caught(monkeypatch):
    """The equality check can fail: a fast engine that loses every 50th timer it schedules is caught."""
    scenario = scenario_from_dict({
        "methods": ["switchml"], "max_time_s": 0.05, "topology": {"workers": 4}, "link": {"loss": 0.05},
        "switch": {"slots": 8}, "switchml": {"window": 8, "timeout_s": 2e-5},
        "workload": {"elements": 4000, "source": "synthetic"}})
    honest = both(scenario)
    assert record(honest[0]) == record(honest[1])
    monkeypatch.setattr(fast_engine, "run_events", _losing_timers)
    broken = run_switchml(scenario, None, elements=4000, engine="fast")[0]
    assert record(broken) != record(honest[1])


def _losing_timers(state, *arrays_and_limits):
    """`fast_engine.run_events`, one event at a time from Python, dropping every 50th timer event it schedules."""
    from switchsim.sim import handlers as h

    *arrays, out, max_time, max_events = arrays_and_limits
    scalars = arrays[-1]
    timers = 0
    for handled in range(max_events):
        if state.counters[h.G_HOSTS_REMAINING] == 0:
            return fast_engine.COMPLETED, handled
        pending = fast_engine.drain(*arrays)
        if not len(pending):
            return fast_engine.EMPTY, handled
        if pending[0, h.E_TIME] > max_time:
            fast_engine.schedule(*arrays, pending, len(pending))
            return fast_engine.TIME_LIMIT, handled
        first, rest = pending[0], pending[1:]
        count = h.handle_one_event(state, *first.tolist(), out)
        scalars[fast_engine.K_LAST_TIME] = first[h.E_TIME]
        caused = []
        for row in out[:count]:
            if row[h.E_KIND] == h.TIMER:
                timers += 1
                if timers % 50 == 0:
                    continue
            caused.append(row)
        following = np.concatenate([rest, np.array(caused, np.int64).reshape(-1, h.EVENT_FIELDS)])
        fast_engine.schedule(*arrays, following, len(following))
    return fast_engine.RUNNING, max_events


def test_the_calendar_keeps_time_then_scheduling_order():
    """Events come out by time, and in scheduling order within one instant, whatever the push pattern."""
    from switchsim.sim import handlers as h

    rng = np.random.default_rng(3)
    calendar = fast_engine.Calendar(64)
    times = rng.integers(0, 20, size=500)
    rows = np.zeros((500, h.EVENT_FIELDS), np.int64)
    rows[:, h.E_TIME] = times
    rows[:, h.E_PAYLOAD] = np.arange(500)  # scheduling order
    fast_engine.schedule(*calendar.arrays(), rows[:40], 40)
    calendar.grow()  # growing keeps the order
    calendar.grow()
    calendar.grow()
    fast_engine.schedule(*calendar.arrays(), rows[40:], 460)
    drained = fast_engine.drain(*calendar.arrays())
    expected = sorted(range(500), key=lambda i: (times[i], i))
    assert drained[:, h.E_PAYLOAD].tolist() == expected


def test_synthetic_results_are_checked_in_full():
    """A synthetic run checks every result packet: n workers x packets x iterations."""
    scenario = scenario_from_dict({"methods": ["switchml"], "topology": {"kind": "two_level", "workers": 3, "racks": 2},
                                   "switch": {"slots": 8}, "switchml": {"window": 8},
                                   "workload": {"elements": 1000, "source": "synthetic", "iterations": 2}})
    from switchsim.sim import handlers as h
    from switchsim.sim.state import RunInputs, new_state
    from switchsim.sim.switchml_method import scenario_network

    state = new_state(scenario, scenario_network(scenario), RunInputs(elements=1000))
    state, completed, _, _ = fast_engine.run(state, 10**12)
    packets = -(-1000 // 64)
    assert completed
    assert state.counters[h.G_CHECKED_PACKETS] == 6 * packets * 2
    assert state.counters[h.G_WRONG_PACKETS] == 0


def test_memory_guard_names_the_estimate_and_the_way_out():
    scenario = scenario_from_dict({"topology": {"workers": 32}, "workload": {"elements": 1 << 31}})
    with pytest.raises(ScenarioError, match=r"GiB.*32 hosts x 2,147,483,648 elements.*synthetic"):
        check_memory(scenario, available=24 * 2**30)
    synthetic = replace(scenario, methods=("switchml",), workload=replace(scenario.workload, source="synthetic"))
    assert check_memory(synthetic, available=24 * 2**30) < 2**30


@pytest.mark.parametrize("engine", ["fast", "simpy"])
def test_progress_reports_the_share_of_results_received(engine, monkeypatch):
    scenario = scenario_from_dict({"methods": ["switchml"], "topology": {"workers": 4}, "switch": {"slots": 8},
                                   "switchml": {"window": 8}, "workload": {"elements": 64 * 400, "source": "synthetic"}})
    seen = []
    from switchsim.sim import simpy_engine

    chunk = {"fast": {"chunk": 1000}, "simpy": {"every": 1000}}[engine]
    runner = {"fast": fast_engine.run, "simpy": simpy_engine.run}[engine]
    from switchsim.sim import switchml_method

    monkeypatch.setitem(switchml_method.ENGINES, engine,
                        lambda state, max_time, progress: runner(state, max_time, progress, **chunk))
    run_switchml(scenario, None, lambda now, done: seen.append((now, done)), elements=64 * 400, engine=engine)
    assert len(seen) > 3
    assert [done for _, done in seen] == sorted(done for _, done in seen)
    assert seen[-1][1] == 1.0 and 0 < seen[0][1] < 1
