"""`run_scenario`: Scenario -> tensors -> each method on the same topology -> `Results`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from switchsim.config import Scenario
from switchsim.sim.collective_method import run_collective
from switchsim.sim.collectives import collective
from switchsim.sim.memory import check_memory
from switchsim.sim.metrics import MethodResult
from switchsim.sim.switchml_method import run_switchml
from switchsim.sim.tenants import run_tenants
from switchsim.sim.workload import check_float, make_workload

Progress = Callable[[str, float, int], None]


@dataclass(slots=True)
class Results:
    """Everything a run produced: the scenario, its seed, one record per method."""

    scenario: Scenario
    seed: int
    results: list[MethodResult] = field(default_factory=list)

    def by_method(self, method: str) -> MethodResult:
        """The record of ``method``; KeyError naming the methods run otherwise."""
        for result in self.results:
            if result.method == method:
                return result
        raise KeyError(f"method {method!r} was not run; ran {[r.method for r in self.results]}")

    def speedups(self) -> dict[str, float]:
        """SwitchML's time advantage over each baseline: baseline time / SwitchML time.

        Only methods that finished are compared (a run stopped at its time limit has no time to compare);
        jobs sharing a fabric are not method comparisons (each has its ``slowdown`` instead).
        """
        if self.scenario.job_methods or not any(r.method == "switchml" and r.completed for r in self.results):
            return {}
        switchml = self.by_method("switchml").aggregation_time_s
        return {r.method: r.aggregation_time_s / switchml for r in self.results
                if r.method != "switchml" and r.completed}


class _StoppedError(Exception):
    """Raised in the SwitchML engine thread, between chunks, once the caller was interrupted."""


def make_tensors(scenario: Scenario) -> np.ndarray:
    """Each worker's int32 tensor (hosts x S) for an int32 scenario, drawn from its seed."""
    return make_workload(scenario).integers


def run_scenario(scenario: Scenario, progress: Progress | None = None, pcap: str | None = None) -> Results:
    """Run every method of ``scenario`` on identical links and tensors (or, with ``job_methods``, its jobs
    sharing the fabric at once and each alone: `switchsim.sim.tenants.run_tenants`).

    ``progress(method, simulated_s, fraction done)`` is called periodically during the
    packet-level SwitchML run; ``pcap`` captures host 0's SwitchML traffic.
    The SwitchML run goes on in a thread while the baselines run here: the fast
    engine releases the GIL, so the two use both cores.
    """
    check_memory(scenario)
    if scenario.job_methods:  # jobs sharing the fabric, each with its own method, then each alone
        return Results(scenario=scenario, seed=scenario.seed, results=run_tenants(scenario, progress))
    synthetic = scenario.workload.source == "synthetic"
    workload = None if synthetic else make_workload(scenario)
    stop = threading.Event()  # set when this thread is interrupted (Ctrl-C): the engine thread stops too

    def report(now: float, done: float) -> None:  # called by the engine between chunks of events
        if stop.is_set():
            raise _StoppedError
        if progress is not None:
            progress("switchml", now, done)

    by_method: dict[str, MethodResult] = {}
    outcome: dict[str, object] = {}

    def switchml() -> None:
        try:
            outcome["result"] = _switchml(scenario, workload, report, pcap)
        except BaseException as error:  # handed to the caller, which re-raises it
            outcome["error"] = error

    # A daemon thread: on Ctrl-C the process leaves at once, even while this thread compiles the engine
    # (minutes on a fresh install; a pool's worker would be joined at exit). Between chunks of events it
    # also stops by itself once ``stop`` is set.
    engine = threading.Thread(target=switchml, name="switchml-engine", daemon=True)
    try:
        if "switchml" in scenario.methods:  # the one in-network method (the registry's is_switch entry)
            engine.start()
        for method in scenario.methods:
            if not collective(method).is_switch:
                by_method[method] = run_collective(method, scenario,
                                                   None if synthetic else workload.baseline_integers)[0]
        if "switchml" in scenario.methods:
            engine.join()
            if "error" in outcome:
                raise outcome["error"]
            by_method["switchml"] = outcome["result"]
    except BaseException:  # KeyboardInterrupt above all: leave without waiting for the whole SwitchML run
        stop.set()
        raise
    return Results(scenario=scenario, seed=scenario.seed, results=[by_method[m] for m in scenario.methods])


def _switchml(scenario: Scenario, workload, report, pcap: str | None) -> MethodResult:
    """SwitchML on the synthetic workload (``workload`` None) or on the drawn one, float decode checked."""
    if workload is None:  # nothing held whole: every packet's values are regenerated
        return run_switchml(scenario, None, report, elements=scenario.workload.elements, pcap=pcap)[0]
    received = None if workload.exponents is None else np.zeros_like(workload.exponents)
    result, sums = run_switchml(scenario, workload.integers, report, exponents=workload.exponents,
                                received_exponents=received, elements=workload.elements, pcap=pcap)
    if workload.floats is None:
        return result
    check = check_float(scenario, workload, sums, received)
    return replace(result, float_max_abs_error=check.max_abs_error, float_relative_error=check.max_relative_error,
                   correct=result.correct and check.exponents_match and check.within_bound)
