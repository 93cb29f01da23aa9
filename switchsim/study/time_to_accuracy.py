"""Time to accuracy: convergence per iteration combined with simulated time per iteration.

A training run gives accuracy per iteration; the simulator gives how long one
iteration's all-reduce of the model's d elements takes on a scenario's links at
a given wire element width. Together they give accuracy against simulated time
for each bit-width, which is the question "does sending 8-bit integers make my
training finish sooner?".

What each training method costs per iteration (`communication_for`):

* ``float32`` SGD: a host ring all-reduce of d float32 (4-byte) elements;
* IntSGD at b bits: a SwitchML all-reduce of d integers in the narrowest wire
  element that carries b bits (`switchsim.protocol.spec.container_bits`:
  int8, int16 or the official int32);
* the heuristics (``heuristic``, ``heuristic-sum-in-wire``): the same, plus one
  extra SwitchML packet round for the global max|g| (their extra collective).

Compute time per iteration (``compute_s``, seconds, default 0) is added to
every method alike; with 0 the curves compare communication alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from switchsim.config import Scenario, WorkloadConfig
from switchsim.protocol import spec
from switchsim.sim.collective_method import run_method
from switchsim.sim.run import make_tensors


@dataclass(frozen=True, slots=True)
class Communication:
    """One all-reduce to simulate: method ("switchml" or "ring"), d elements, element width in bits."""

    method: str
    elements: int
    element_bits: int


@dataclass(frozen=True, slots=True)
class IterationTime:
    """A simulated all-reduce: what it was and how long it took (seconds); ``correct`` = exact sums."""

    communication: Communication
    aggregation_s: float
    correct: bool


def communication_for(method: str, wire_bits: int, elements: int) -> list[Communication]:
    """The all-reduces one iteration of training ``method`` at ``wire_bits`` needs (see module docstring).

    Example:
        >>> [c.element_bits for c in communication_for("intsgd-random", 4, 650)]
        [8]
        >>> [(c.method, c.elements) for c in communication_for("heuristic", 8, 650)]
        [('switchml', 650), ('switchml', 1)]
    """
    if method == "float32":
        return [Communication("ring", elements, spec.ELEMENT_BITS)]
    main = Communication("switchml", elements, spec.container_bits(wire_bits))
    if method.startswith("heuristic"):  # heuristic and heuristic-sum-in-wire: the extra MAX all-reduce
        return [main, Communication("switchml", 1, spec.ELEMENT_BITS)]
    return [main]


def timing_scenario(base: Scenario, communication: Communication) -> Scenario:
    """``base`` with its workload replaced by one int32 all-reduce of ``communication``'s size and width."""
    workload = WorkloadConfig(elements=communication.elements, element_bits=communication.element_bits)
    return replace(base, methods=(communication.method,), workload=workload,
                   switchml=replace(base.switchml, elements_per_packet=0))


def simulate_iteration(base: Scenario, communication: Communication) -> IterationTime:
    """Simulate one all-reduce on ``base``'s topology and links; its aggregation time in seconds."""
    scenario = timing_scenario(base, communication)
    tensors = make_tensors(scenario)
    result, _ = run_method(communication.method, scenario, tensors)
    if not result.completed:
        raise RuntimeError(f"{communication}: the simulated all-reduce did not complete within "
                           f"max_time_s = {scenario.max_time_s} s")
    return IterationTime(communication, result.aggregation_time_s, result.correct)


def iteration_seconds(
    base: Scenario,
    runs: list[tuple[str, int]],
    elements: int,
    progress: Callable[[int, int], None] | None = None,
) -> dict[tuple[str, int], tuple[float, list[IterationTime]]]:
    """Seconds of communication per iteration for each (method, wire_bits) in ``runs``.

    Each distinct all-reduce is simulated once. Returns ``{(method, bits): (seconds, parts)}``.
    """
    needed = {(method, bits): communication_for(method, bits, elements) for method, bits in runs}
    distinct = sorted({c for parts in needed.values() for c in parts}, key=lambda c: (c.method, -c.element_bits,
                                                                                       c.elements))
    simulated: dict[Communication, IterationTime] = {}
    for index, communication in enumerate(distinct):
        simulated[communication] = simulate_iteration(base, communication)
        if progress:
            progress(index + 1, len(distinct))
    return {key: (sum(simulated[c].aggregation_s for c in parts), [simulated[c] for c in parts])
            for key, parts in needed.items()}


def time_axis(steps: np.ndarray | list[int], iteration_s: float, compute_s: float = 0.0) -> np.ndarray:
    """Simulated seconds after each of ``steps`` iterations: ``steps x (iteration_s + compute_s)``."""
    if iteration_s < 0 or compute_s < 0:
        raise ValueError(f"iteration_s and compute_s must be >= 0 seconds, got {iteration_s}, {compute_s}")
    return np.asarray(steps, dtype=np.float64) * (iteration_s + compute_s)


def time_to_target(times: np.ndarray, accuracies: np.ndarray, target: float) -> float | None:
    """First simulated time (seconds) at which accuracy reaches ``target``; None if it never does.

    Example:
        >>> time_to_target(np.array([0.0, 1.0, 2.0]), np.array([0.1, 0.95, 0.97]), 0.9)
        1.0
    """
    reached = np.flatnonzero(np.asarray(accuracies) >= target)
    return float(np.asarray(times)[reached[0]]) if reached.size else None


TIME_COLUMNS = ("model", "method", "wire_bits", "element_bits", "simulated_elements", "iteration_s", "compute_s",
                "final_accuracy", "target_accuracy", "steps_to_target", "time_to_target_s")


def curves_for(results: list, seconds: dict[tuple[str, int], tuple[float, list[IterationTime]]],
               compute_s: float, target: float) -> list[dict]:
    """Accuracy-vs-time curves and time-to-target rows for training results.

    Args:
        results: training results (``config.model``, ``config.method``, ``config.wire_bits``, ``config.label``,
            ``steps``, ``test_accuracy``), e.g. `switchsim.study.train.TrainingResult`.
        seconds: `iteration_seconds` for the results' (method, wire_bits).
        compute_s: compute seconds per iteration.
        target: test accuracy (0..1) whose first crossing is reported.

    Returns:
        One dict per result: the `TIME_COLUMNS` plus ``label``, ``times_s`` and ``accuracy`` lists.
    """
    curves = []
    for result in results:
        config = result.config
        iteration_s, parts = seconds[(config.method, config.wire_bits)]
        times = time_axis(result.steps, iteration_s, compute_s)
        reached = time_to_target(times, np.asarray(result.test_accuracy), target)
        steps_to = None if reached is None else int(result.steps[int(np.flatnonzero(times == reached)[0])])
        curves.append({
            "model": config.model, "method": config.method, "wire_bits": config.wire_bits,
            "element_bits": parts[0].communication.element_bits, "simulated_elements": parts[0].communication.elements,
            "iteration_s": iteration_s, "compute_s": compute_s, "final_accuracy": result.test_accuracy[-1],
            "target_accuracy": target, "steps_to_target": steps_to, "time_to_target_s": reached,
            "label": config.label, "times_s": times.tolist(), "accuracy": list(result.test_accuracy),
        })
    return curves


def write_time_csv(curves: list[dict], path) -> None:
    """``time_to_accuracy.csv``: one row per run, `TIME_COLUMNS` (seconds; empty = target never reached)."""
    from switchsim.study.csv_file import write_rows

    write_rows(path, TIME_COLUMNS, ([c[k] for k in TIME_COLUMNS] for c in curves))
