"""Replay a trace of a real DDP job (`switchsim.torch.trace`) on a simulated cluster.

**The trace** (JSON, written by ``switchsim.torch.register(..., trace=PATH)``; times in seconds)::

    {"format": "switchsim-ddp-trace", "version": 1,
     "method": "float32", "bits": null, "aggregation": "process-group", "world_size": 2,
     "parameters": 25557032, "model": "resnet50", ...,            # header: free-form extra fields
     "iterations": [
       {"iteration": 0, "forward_s": 0.41, "backward_s": 0.83, "optimizer_s": 0.05, "step_s": 1.4,
        "buckets": [{"index": 0, "elements": 6300000, "ready_s": 0.21}, ...]},
       ...]}

``forward_s``: the DDP model's forward call; ``backward_s``: from the moment
the backward pass enters the model (its output's gradient is computed) to the
end of the gradient computation; ``optimizer_s``: ``optimizer.step()`` (0 when
not recorded); ``step_s``: forward start to optimizer end, communication
included (null when not recorded). Per bucket, in the order DDP handed them to
the hook: its index, its float32 gradient elements, and ``ready_s``, the
moment the hook received it, from the backward start. DDP rebuilds its buckets
after the first iteration, so the first iteration's buckets may differ.

**The replay** (`replay`), per method of the scenario:

1. The representative iteration: among the iterations after the first (all,
   if there is one), the one with the median ``backward_s``. Its forward,
   backward, optimizer and ready times are multiplied by ``compute_scale``
   (0.1: an accelerator ten times faster than the machine that recorded it).
2. Each bucket's collective time T(S): the scenario with ``workload.elements
   = S`` (synthetic integers, one iteration, no compute) through the
   simulator's entry point `switchsim.sim.run.run_scenario`: every worker
   follows the trace with the same bucket. Up to `EXACT_SIZES` distinct sizes
   are simulated each; beyond that the smallest and largest are, and T is
   interpolated linearly in S between them (collective time is affine in S
   once S spans many packets).
3. DDP launches buckets in order on one communication stream: bucket i's
   collective starts at ``max(ready_i, end_(i-1))`` and ends T(S_i) later.
4. Iteration time = forward + max(backward, last end) + optimizer; exposed
   communication = iteration time - (forward + backward + optimizer).

Assumptions: the collectives do not slow the computation (separate
engines) and one bucket's collective has the network to itself (they do not
overlap each other); every worker is as fast as the recorded one; the
compression's own compute time is inside the recorded times only if the trace
was recorded with that method.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

TRACE_FORMAT = "switchsim-ddp-trace"
TRACE_VERSION = 1
#: At most this many distinct bucket sizes are simulated exactly; beyond, linear interpolation.
EXACT_SIZES = 3


class TraceError(ValueError):
    """A trace file that does not follow the schema (the message names the file and the field)."""


@dataclass(frozen=True, slots=True)
class TraceBucket:
    """One bucket of the representative iteration: index, float32 elements, ready time (s from backward start)."""

    index: int
    elements: int
    ready_s: float


@dataclass(frozen=True, slots=True)
class TraceIteration:
    """One iteration: forward, backward, optimizer times (s) and its buckets."""

    forward_s: float
    backward_s: float
    optimizer_s: float
    buckets: tuple[TraceBucket, ...]


@dataclass(frozen=True, slots=True)
class Trace:
    """A loaded trace: its header and iterations."""

    header: dict
    iterations: tuple[TraceIteration, ...]

    def representative(self) -> TraceIteration:
        """The iteration after the first with the median backward time (the only one if there is one)."""
        candidates = self.iterations[1:] or self.iterations
        ordered = sorted(candidates, key=lambda it: it.backward_s)
        return ordered[(len(ordered) - 1) // 2]


def _number(where: str, value, low: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < low:
        raise TraceError(f"{where} must be a finite number >= {low:g}, got {value!r}")
    return float(value)


def trace_from_dict(document: dict, where: str = "trace") -> Trace:
    """Validate a parsed trace; `TraceError` names the field (``trace.json: iterations[2].buckets[0].ready_s``)."""
    if not isinstance(document, dict) or document.get("format") != TRACE_FORMAT:
        found = document.get("format") if isinstance(document, dict) else document
        raise TraceError(f"{where}: format must be {TRACE_FORMAT!r}, got {found!r}")
    if document.get("version") != TRACE_VERSION:
        raise TraceError(f"{where}: version must be {TRACE_VERSION}, got {document.get('version')!r}")
    raw = document.get("iterations")
    if not isinstance(raw, list) or not raw:
        raise TraceError(f"{where}: iterations must be a non-empty list, got {raw!r}")
    iterations = []
    for i, item in enumerate(raw):
        at = f"{where}: iterations[{i}]"
        if not isinstance(item, dict):
            raise TraceError(f"{at} must be a table, got {item!r}")
        buckets_raw = item.get("buckets")
        if not isinstance(buckets_raw, list) or not buckets_raw:
            raise TraceError(f"{at}.buckets must be a non-empty list, got {buckets_raw!r}")
        buckets = []
        for j, bucket in enumerate(buckets_raw):
            b_at = f"{at}.buckets[{j}]"
            if not isinstance(bucket, dict):
                raise TraceError(f"{b_at} must be a table, got {bucket!r}")
            index, elements = bucket.get("index"), bucket.get("elements")
            if not isinstance(index, int) or isinstance(index, bool) or index < 0:
                raise TraceError(f"{b_at}.index must be an integer >= 0, got {index!r}")
            if not isinstance(elements, int) or isinstance(elements, bool) or not 1 <= elements <= 1 << 31:
                raise TraceError(f"{b_at}.elements must be an integer in 1..2**31, got {elements!r}")
            buckets.append(TraceBucket(index, elements, _number(f"{b_at}.ready_s", bucket.get("ready_s"))))
        iterations.append(TraceIteration(_number(f"{at}.forward_s", item.get("forward_s")),
                                         _number(f"{at}.backward_s", item.get("backward_s")),
                                         _number(f"{at}.optimizer_s", item.get("optimizer_s", 0.0)),
                                         tuple(sorted(buckets, key=lambda b: b.index))))
    header = {k: v for k, v in document.items() if k != "iterations"}
    return Trace(header, tuple(iterations))


def load_trace(path: str | Path) -> Trace:
    """Read and validate a trace file (`TraceError` naming the file and field; FileNotFoundError if absent)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise TraceError(f"{path}: not valid JSON: {error}") from None
    return trace_from_dict(document, str(path))


@dataclass(frozen=True, slots=True)
class BucketTiming:
    """One bucket's collective in the replay (seconds from the backward start)."""

    index: int
    elements: int
    ready_s: float
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """One method's replayed iteration (seconds)."""

    method: str
    forward_s: float
    backward_s: float
    optimizer_s: float
    iteration_s: float
    exposed_s: float
    communication_s: float
    buckets: tuple[BucketTiming, ...]
    simulated_sizes: tuple[int, ...]

    def as_dict(self) -> dict:
        """JSON-ready."""
        return {"method": self.method, "forward_s": self.forward_s, "backward_s": self.backward_s,
                "optimizer_s": self.optimizer_s, "iteration_s": self.iteration_s, "exposed_s": self.exposed_s,
                "communication_s": self.communication_s, "simulated_sizes": list(self.simulated_sizes),
                "buckets": [{"index": b.index, "elements": b.elements, "ready_s": b.ready_s, "start_s": b.start_s,
                             "end_s": b.end_s} for b in self.buckets]}


def compose(iteration: TraceIteration, collective_s: dict[int, float], compute_scale: float = 1.0,
            method: str = "method", simulated_sizes: tuple[int, ...] = ()) -> ReplayResult:
    """The iteration's timeline given each bucket size's collective time (the module docstring's steps 3-4).

    Args:
        iteration: the trace iteration.
        collective_s: elements -> collective time (s) for every bucket size of the iteration.
        compute_scale: factor on forward, backward, optimizer and ready times, > 0.
    """
    forward = iteration.forward_s * compute_scale
    backward = iteration.backward_s * compute_scale
    optimizer = iteration.optimizer_s * compute_scale
    end = 0.0
    timings = []
    for bucket in iteration.buckets:
        ready = bucket.ready_s * compute_scale
        start = max(ready, end)
        end = start + collective_s[bucket.elements]
        timings.append(BucketTiming(bucket.index, bucket.elements, ready, start, end))
    iteration_s = forward + max(backward, end) + optimizer
    exposed = iteration_s - (forward + backward + optimizer)
    return ReplayResult(method, forward, backward, optimizer, iteration_s, exposed,
                        sum(collective_s[b.elements] for b in iteration.buckets), tuple(timings), simulated_sizes)


def _sizes_to_simulate(sizes: list[int]) -> tuple[int, ...]:
    distinct = sorted(set(sizes))
    return tuple(distinct) if len(distinct) <= EXACT_SIZES else (distinct[0], distinct[-1])


def _interpolate(simulated: dict[int, float], size: int) -> float:
    if size in simulated:
        return simulated[size]
    (low, t_low), (high, t_high) = min(simulated.items()), max(simulated.items())
    return t_low + (t_high - t_low) * (size - low) / (high - low)


def replay(scenario, trace: Trace | None = None, progress=None) -> list[ReplayResult]:
    """Replay ``scenario``'s trace (``workload.trace``, or ``trace``) for each of its methods.

    Args:
        scenario: a `switchsim.config.Scenario`; its workload's ``compute_scale`` applies.
        trace: the trace (default: loaded from ``scenario.workload.trace``).
        progress: ``progress(text)`` called before each simulation.

    Returns:
        One `ReplayResult` per method, in the scenario's order.

    Raises:
        RuntimeError: a bucket's simulated collective did not finish (its time limit).
    """
    from switchsim.sim.run import run_scenario

    trace = trace if trace is not None else load_trace(scenario.workload.trace)
    iteration = trace.representative()
    sizes = _sizes_to_simulate([b.elements for b in iteration.buckets])
    times: dict[str, dict[int, float]] = {method: {} for method in scenario.methods}
    for size in sizes:
        if progress is not None:
            progress(f"simulating one bucket of {size:,} elements ({', '.join(scenario.methods)})")
        workload = replace(scenario.workload, source="synthetic", elements=size, iterations=1, compute_s=0.0,
                           trace="", dtype="int32", quantizer="identity")
        results = run_scenario(replace(scenario, workload=workload))
        for result in results.results:
            if not result.completed:
                raise RuntimeError(f"the {result.method} all-reduce of a {size}-element bucket did not finish "
                                   f"within max_time_s = {scenario.max_time_s} s")
            times[result.method][size] = result.aggregation_time_s
    out = []
    for method in scenario.methods:
        collective = {b.elements: _interpolate(times[method], b.elements) for b in iteration.buckets}
        out.append(compose(iteration, collective, scenario.workload.compute_scale, method, sizes))
    return out


def format_replay(results: list[ReplayResult], trace: Trace, compute_scale: float) -> str:
    """A table: method, iteration time, forward + backward + optimizer, communication, exposed (ms)."""
    iteration = trace.representative()
    sizes = [b.elements for b in iteration.buckets]
    lines = [f"trace: {trace.header.get('model', '?')}, {len(sizes)} buckets of {min(sizes):,}..{max(sizes):,} "
             f"elements ({sum(sizes):,} in all), compute_scale {compute_scale:g}",
             f"{'method':<10} {'iteration ms':>13} {'compute ms':>11} {'comm ms':>9} {'exposed ms':>11}"]
    for r in results:
        lines.append(f"{r.method:<10} {r.iteration_s * 1e3:>13.2f} "
                     f"{(r.forward_s + r.backward_s + r.optimizer_s) * 1e3:>11.2f} {r.communication_s * 1e3:>9.2f} "
                     f"{r.exposed_s * 1e3:>11.2f}")
    return "\n".join(lines)


def resolve_trace(trace: str, scenario_path: Path | None) -> Path:
    """A trace path: as given if it exists, else relative to the scenario's folder (shipped traces)."""
    path = Path(trace)
    if path.is_absolute() or path.exists() or scenario_path is None:
        return path
    return Path(scenario_path).parent / path


def run_trace_command(scenario, scenario_arg: str | None, trace_arg: str | None, out_arg: str | None) -> int:
    """``switchsim run`` on a trace: replay, print the table, write ``OUT/replay.json``.

    Exit status: 0 replayed; 3 a bucket's collective did not finish within max_time_s.
    """
    import sys
    import time

    from switchsim.config import ScenarioError, find_scenario
    from switchsim.paths import output_dir

    scenario_path = find_scenario(scenario_arg)
    path = Path(trace_arg) if trace_arg is not None else resolve_trace(scenario.workload.trace, scenario_path)
    if not path.is_file():
        raise FileNotFoundError(f"{'--trace' if trace_arg is not None else 'workload.trace'}: no trace file {path}")
    try:
        scenario = replace(scenario, workload=replace(scenario.workload, source="trace", trace=str(path)))
    except ScenarioError as error:
        raise ValueError(str(error)) from None
    trace = load_trace(path)
    out = output_dir(out_arg or f"out/{scenario.name}", "--out")
    t = scenario.topology
    print(f"switchsim run: {scenario.name}: trace {path} on {t.kind}, {t.workers_per_job} workers, "
          f"{scenario.link.rate_bps / 1e9:g} Gb/s, methods {', '.join(scenario.methods)}, "
          f"compute_scale {scenario.workload.compute_scale:g}", flush=True)
    started = time.perf_counter()
    try:
        results = replay(scenario, trace, progress=lambda text: print(f"  {text}", flush=True))
    except RuntimeError as error:
        print(f"switchsim run: {error}", file=sys.stderr)
        return 3
    print(format_replay(results, trace, scenario.workload.compute_scale))
    document = {"scenario": scenario.name, "trace": str(path), "compute_scale": scenario.workload.compute_scale,
                "workers": t.workers_per_job, "methods": [r.as_dict() for r in results]}
    target = out / "replay.json"
    target.write_text(json.dumps(document, indent=1))
    print(f"wrote {target} (total {time.perf_counter() - started:.1f} s)")
    return 0
