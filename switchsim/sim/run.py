"""`run_scenario`: Scenario -> tensors -> each method on the same topology -> `Results`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from switchsim.config import Scenario
from switchsim.sim.baselines import run_baseline
from switchsim.sim.metrics import MethodResult
from switchsim.sim.switchml_method import run_switchml

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
        """SwitchML's time advantage over each baseline: baseline time / SwitchML time."""
        if not any(r.method == "switchml" for r in self.results):
            return {}
        switchml = self.by_method("switchml").aggregation_time_s
        return {r.method: r.aggregation_time_s / switchml for r in self.results if r.method != "switchml"}


def make_tensors(scenario: Scenario) -> np.ndarray:
    """Each worker's int32 tensor (hosts x S), drawn from the scenario's seed over the full int32 range."""
    rng = np.random.default_rng(scenario.seed)
    hosts = scenario.topology.total_workers
    return rng.integers(np.iinfo(np.int32).min, np.iinfo(np.int32).max, size=(hosts, scenario.workload.elements),
                        dtype=np.int32, endpoint=True)


def run_scenario(scenario: Scenario, progress: Progress | None = None) -> Results:
    """Run every method of ``scenario`` on identical links and tensors.

    ``progress(method, simulated_s, packets)`` is called periodically during the
    packet-level SwitchML run.
    """
    if scenario.workload.dtype != "int32":
        raise NotImplementedError("float32 workloads are not simulated yet: use workload.dtype = 'int32'")
    tensors = make_tensors(scenario)
    results = Results(scenario=scenario, seed=scenario.seed)
    for method in scenario.methods:
        if method == "switchml":
            report = None if progress is None else (lambda now, packets: progress("switchml", now, packets))
            result, _ = run_switchml(scenario, tensors, report)
        else:
            result, _ = run_baseline(method, scenario, tensors)
        results.results.append(result)
    return results
