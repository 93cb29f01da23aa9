"""Sweeps: every combination of swept values, under several seeds, each run a task on a Dask cluster.

A sweep is a grid of scenario values (``link.loss`` x ``switchml.recovery`` ...)
times a list of seeds. Each (point, seed) is one `run_point` call: a pure
function of the base scenario, the point's values and the seed, so it gives the
same record wherever it runs. `execute` runs the calls serially (one run, or
``jobs=1``), on a ``LocalCluster`` of worker processes (the default), or on an
existing ``dask.distributed`` cluster given by its scheduler address (several
machines); records come back as they finish. `summarize_points` reduces the
runs of each point and method to mean, standard deviation and a 95 %
confidence interval (Student's t on the logarithms, `log_interval`: it never
reaches below zero as a symmetric t interval of a skewed time can) of
aggregation time and ATE/s over the runs that finished.

The sweep document (``sweep.json``) holds every run and every point::

    {"scenario": str, "base": {...}, "axes": {"link.loss": [...], ...}, "seeds": [int, ...],
     "runs": [{"params": {...}, "seed": int, "results": [<summary.json result objects>]}],
     "points": [{"params": {...}, "method": str, "seeds": int, "mean_time_s": float | null,
                 "std_time_s": float | null, "ci95_time_s": [lo, hi] | null, "mean_ate_per_s": ...,
                 "std_ate_per_s": ..., "ci95_ate_per_s": [lo, hi] | null, "completed": int,
                 "correct": int, "wrong": int, "max_time_s": float}]}
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import sys
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace

from switchsim.config import Scenario, ScenarioError, SweepConfig, with_override
from switchsim.outcome import Outcome, outcome

#: The environment variable naming a Dask scheduler (``tcp://host:8786``), as ``--scheduler`` does.
SCHEDULER_VARIABLE = "SWITCHSIM_SCHEDULER"
#: Seeds a sweep may run per point.
MAX_SEEDS = 10_000
#: How long a sweep waits for a Dask scheduler to answer, and then for it to have a worker (seconds).
SCHEDULER_TIMEOUT_S = 5.0
#: Seconds between checks for a stop while a cluster sweep waits for its next run (`execute`).
STOP_POLL_S = 0.1
#: Runs a cluster sweep sends to the scheduler at once.
SUBMIT_BATCH = 256


class ClusterError(RuntimeError):
    """The Dask cluster failed (scheduler lost, unreachable, or without workers): an infrastructure failure,
    not a wrong sum; the runs that finished are kept (exit status 4, `switchsim.outcome.EXIT_INFRASTRUCTURE`).

    Attributes:
        address: the scheduler's address (or "a local Dask cluster").
        failure: what failed, e.g. "did not answer within 5 s".
    """

    def __init__(self, address: str, failure: str) -> None:
        super().__init__(f"Dask scheduler {address}: {failure}")
        self.address = address
        self.failure = failure


@dataclass(frozen=True, slots=True)
class SweepPlan:
    """What a sweep runs: ``base`` with every combination of ``axes`` values, under each seed.

    Attributes:
        base: the scenario the values are applied to.
        axes: ``((SECTION.FIELD, (values, ...)), ...)``; the first is the plots' x axis.
        seeds: seeds each point runs under.
    """

    base: Scenario
    axes: tuple[tuple[str, tuple], ...]
    seeds: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.axes:
            raise ScenarioError("a sweep needs at least one SECTION.FIELD with values")
        if not self.seeds:
            raise ScenarioError("a sweep needs at least one seed")
        for name, values in self.axes:  # a repeated value would run, count and print every run twice
            texts = [json.dumps(value, default=list) for value in values]
            if len(set(texts)) != len(texts):
                raise ScenarioError(f"sweep values of {name}: each value once, got {', '.join(texts)}")
        for params in self.points():  # every point must be a valid scenario: fail before running anything
            scenario_of(self.base, params, self.seeds[0])

    def points(self) -> list[dict]:
        """Every combination of the axes' values, as ``{SECTION.FIELD: value}``, first axis slowest."""
        names = [name for name, _ in self.axes]
        return [dict(zip(names, values, strict=True))
                for values in itertools.product(*(values for _, values in self.axes))]

    def tasks(self) -> list[tuple[dict, int]]:
        """Every ``(point, seed)`` to run, point by point."""
        return [(params, seed) for params in self.points() for seed in self.seeds]


def parse_seeds(text: str) -> tuple[int, ...]:
    """Seeds from ``"0..9"`` (inclusive range), ``"3"`` or ``"0,4,7"``.

    Example:
        >>> parse_seeds("0..4")
        (0, 1, 2, 3, 4)
        >>> parse_seeds("1,5")
        (1, 5)
    """
    text = text.strip()
    try:
        if ".." in text:
            low, high = (int(part) for part in text.split(".."))
            seeds = tuple(range(low, high + 1)) if low <= high else ()
        else:
            seeds = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"--seeds {text!r}: give a range A..B or a comma-separated list of integers >= 0") from None
    if not seeds or min(seeds) < 0 or len(seeds) > MAX_SEEDS or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds {text!r}: give 1..{MAX_SEEDS:,} distinct integers >= 0 (e.g. 0..9 or 1,5,7)")
    return seeds


def scenario_of(base: Scenario, params: dict, seed: int) -> Scenario:
    """``base`` with the point's values and ``seed`` applied (each re-validated)."""
    scenario = base
    for name, value in params.items():
        scenario = with_override(scenario, name, value)
    return with_override(scenario, "seed", seed)


def run_point(base: Scenario, params: dict, seed: int) -> dict:
    """Run one (point, seed): ``{"params", "seed", "results": [summary.json result objects]}``.

    A pure function of its arguments (wall times aside): the record is the same
    on any machine, which is what lets a cluster run it.
    """
    from switchsim.sim.run import run_scenario

    results = run_scenario(scenario_of(base, params, seed))
    return {"params": params, "seed": seed, "results": [r.to_json() for r in results.results]}


def run_key(params: dict, seed: int) -> str:
    """A run's identity in a sweep document (the point's values and the seed), for ``--resume``."""
    return json.dumps([params, seed], sort_keys=True, default=list)


@contextlib.contextmanager
def dask_client(scheduler: str | None, jobs: int, timeout_s: float = SCHEDULER_TIMEOUT_S) -> Iterator:
    """A ``dask.distributed.Client``: to ``scheduler`` when given, else to a new ``LocalCluster``.

    The local cluster has ``jobs`` worker processes of one thread each (the
    engines are single-threaded) and no dashboard; its processes ignore
    SIGINT and log only critical messages (this process alone stops them and
    reports, so Ctrl-C prints no worker tracebacks), and are killed at once
    after Ctrl-C or a failure.

    Raises:
        ClusterError: ``scheduler`` did not answer within ``timeout_s``, or had no worker ``timeout_s`` later.
    """
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=f"{timeout_s}s")
        except (OSError, TimeoutError) as error:
            raise ClusterError(scheduler, f"did not answer within {timeout_s:g} s ({type(error).__name__})") from None
        with _quiet(), client:
            try:
                client.wait_for_workers(1, timeout=timeout_s)
            except (OSError, TimeoutError):
                raise ClusterError(scheduler, f"has no workers (waited {timeout_s:g} s); start some with "
                                   f"`dask worker {scheduler}`") from None
            yield client
        return
    from switchsim.emu.supervisor import sigint_ignored

    # Worker processes (and any the nanny restarts) log only critical messages; they start now, and inherit
    # "ignore SIGINT".
    with _environment(DASK_LOGGING__DISTRIBUTED="critical"):
        with sigint_ignored():
            # No dashboard; the scheduler's HTTP endpoint (which it opens anyway) on a free loopback port, not
            # on Dask's 8787, where a second sweep at once printed "Port 8787 is already in use".
            cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None,
                                   scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
        with _quiet(), cluster, Client(cluster) as client:
            with contextlib.suppress(Exception):
                client.run(_silence_dask_log)  # the workers' own log (they write to this terminal too)
            try:
                yield client
            except BaseException:
                _kill_workers(cluster)  # Ctrl-C or a failure: a busy worker would take 4 s to close
                raise


def _silence_dask_log() -> None:
    """In a local cluster's worker process: Dask's log off (the sweep reports every outcome itself)."""
    import logging

    for name in ["distributed", *(n for n in logging.root.manager.loggerDict if n.startswith("distributed."))]:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


def _kill_workers(cluster) -> None:
    """SIGKILL the local cluster's worker processes (not restarted), so that closing it does not wait on
    workers busy with a run that nobody will read."""
    import signal

    from distributed.core import Status

    for nanny in list(cluster.workers.values()):
        with contextlib.suppress(Exception):
            nanny.status = Status.closing_gracefully  # a nanny closing does not restart its worker
            if nanny.pid:
                os.kill(nanny.pid, signal.SIGKILL)


@contextlib.contextmanager
def _environment(**variables: str) -> Iterator:
    """``variables`` set in the environment for the block (processes started in it inherit them)."""
    previous = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _quiet() -> Iterator:
    """Dask's log silenced while the sweep runs: the sweep reports every outcome itself, in one line, and
    Dask's messages when a cluster fails (a closed connection's traceback, its attempts to reconnect,
    "Worker process still alive after 4.0 seconds, killing") are about the machinery, not the sweep."""
    import logging

    # Dask sets levels on some of its loggers (distributed.client ...): each one is silenced.
    names = ["distributed", *(name for name in logging.root.manager.loggerDict if name.startswith("distributed."))]
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def execute(plan: SweepPlan, done: Callable[[dict], None], *, skip: frozenset[str] = frozenset(),
            scheduler: str | None = None, jobs: int = 2, scheduler_timeout_s: float = SCHEDULER_TIMEOUT_S,
            check_stop: Callable[[], None] = lambda: None) -> int:
    """Run the plan's tasks not in ``skip`` (`run_key`s); call ``done(record)`` as each finishes.

    Serial in this process when there is one task to run, or ``jobs`` is 1 and
    no ``scheduler`` is given; otherwise each task is submitted to Dask (see
    `dask_client`) and records arrive in the order they finish. Returns the
    number of runs made. ``check_stop`` is called between runs and, on a cluster, every `STOP_POLL_S`
    while the sweep waits: it raises to stop the sweep (`StopSignals.check`: a Ctrl-C whose
    exception was lost in a callback still stops it).

    Raises:
        ClusterError: the scheduler was unreachable, had no workers, or was lost during the sweep
            (the records already passed to ``done`` stand).
    """
    tasks = [(params, seed) for params, seed in plan.tasks() if run_key(params, seed) not in skip]
    if len(tasks) <= 1 or (jobs == 1 and not scheduler):
        for params, seed in tasks:
            check_stop()
            done(run_point(plan.base, params, seed))
        return len(tasks)
    import queue
    from concurrent.futures import CancelledError

    from distributed.comm import CommClosedError

    # Dask cancels every future when it loses its scheduler. Only Dask's calls are guarded: an error in
    # `done` (writing sweep.json) is not the cluster's.
    lost = (CancelledError, CommClosedError, OSError, TimeoutError)
    address = scheduler or "a local Dask cluster"
    with dask_client(scheduler, jobs, scheduler_timeout_s) as client:
        futures = []
        watchdog = _WorkerWatchdog(client, futures, scheduler_timeout_s)
        # Each future, once finished (or cancelled), comes here from Dask's callback thread: the loop below
        # takes it at once, and checks for a stop between waits of at most STOP_POLL_S.
        finished: queue.SimpleQueue = queue.SimpleQueue()
        try:
            try:
                # The scenario goes with each task (a few kB), not scattered: data held by workers dies with
                # them, while a task that lost its worker is simply run again on another. A `map` per batch,
                # not a `submit` per task (20,000 submits took 12 s on a loaded machine), and small batches,
                # so that the workers start at once.
                for start in range(0, len(tasks), SUBMIT_BATCH):
                    check_stop()
                    batch = tasks[start:start + SUBMIT_BATCH]
                    batch_futures = client.map(run_point, [plan.base] * len(batch), [params for params, _ in batch],
                                               [seed for _, seed in batch], pure=False)
                    for future in batch_futures:
                        future.add_done_callback(finished.put)
                    futures += batch_futures
            except lost as error:
                raise ClusterError(address, f"lost before the sweep started ({_why(error)})") from None
            watchdog.start()
            for _ in range(len(futures)):
                future = None
                while future is None:
                    check_stop()
                    with contextlib.suppress(queue.Empty):
                        future = finished.get(timeout=STOP_POLL_S)
                try:
                    record = future.result()
                except lost as error:
                    raise ClusterError(address, watchdog.reason or f"lost during the sweep ({_why(error)})") from None
                done(record)
        finally:
            watchdog.stop()
            if scheduler:  # a local cluster is closed with the sweep: cancelling 20,000 tasks first cost 25 s
                with contextlib.suppress(Exception):
                    client.cancel(futures)
    return len(tasks)


def _why(error: BaseException) -> str:
    """``"CommClosedError"``, or with Dask's reason for a cancelled future: ``"FutureCancelledError: ..."``."""
    reason = getattr(error, "reason", None)
    return f"{type(error).__name__}: {reason}" if reason else type(error).__name__


class _WorkerWatchdog:
    """Cancels a sweep's futures when its cluster has had no worker for ``timeout_s`` (checked every second,
    in a thread): without it a sweep whose workers all died would wait forever. The cancelled futures
    then end the sweep as a `ClusterError` with `reason`."""

    def __init__(self, client, futures: list, timeout_s: float) -> None:
        import threading

        self.client = client
        self.futures = futures
        self.timeout_s = timeout_s
        self.reason: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="switchsim-sweep-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)

    def _watch(self) -> None:
        alone_since = None
        while not self._stop.wait(1.0):
            try:
                workers = self.client.scheduler_info().get("workers", {})
            except Exception:  # the scheduler itself is gone: the futures say so
                return
            if workers:
                alone_since = None
                continue
            alone_since = alone_since or time.monotonic()
            if time.monotonic() - alone_since >= self.timeout_s:
                self.reason = f"lost all its workers (none for {self.timeout_s:g} s)"
                with contextlib.suppress(Exception):
                    self.client.cancel(self.futures)
                return


# --- statistics ---------------------------------------------------------------------------------
def mean_interval(values: list[float]) -> tuple[float, float, tuple[float, float]] | None:
    """``(mean, standard deviation, 95 % confidence interval of the mean)``, or None for no values.

    The standard deviation is the sample one (n - 1); the interval is Student's
    t: mean +- t(0.975, n - 1) x std / sqrt(n). One value has std 0 and the
    interval [value, value].

    Example:
        >>> mean, std, (low, high) = mean_interval([1.0, 2.0, 3.0])
        >>> mean, std, round(low, 4), round(high, 4)
        (2.0, 1.0, -0.4841, 4.4841)
    """
    if not values:
        return None
    count = len(values)
    mean = math.fsum(values) / count
    if count == 1:
        return mean, 0.0, (mean, mean)
    from scipy.stats import t as student_t

    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (count - 1))
    half = float(student_t.ppf(0.975, count - 1)) * std / math.sqrt(count)
    return mean, std, (mean - half, mean + half)


def log_interval(values: list[float]) -> tuple[float, float] | None:
    """A 95 % confidence interval of positive ``values``' central value: Student's t on their logarithms.

    Times and rates are positive and skewed (a few runs wait on long timeouts), and their spread is
    multiplicative: a symmetric t interval of a few seeds can reach below zero. On the logarithms,
    exp(mean(log v) +- t(0.975, n - 1) x std(log v) / sqrt(n)) is always positive and as wide as a t
    interval should be for a few seeds (it is the interval of the geometric mean). One value, or all
    equal, gives ``(value, value)``; None for no values, or any value <= 0 (no logarithm).

    Example:
        >>> low, high = log_interval([4.0, 4.0, 4.2, 500.0])
        >>> 0 < low < 4.0 and high > 500.0
        True
        >>> log_interval([5.0])
        (5.0, 5.0)
    """
    if not values or min(values) <= 0:
        return None
    if min(values) == max(values):
        return values[0], values[0]
    logs = [math.log(v) for v in values]
    _, _, (low, high) = mean_interval(logs)
    return math.exp(low), math.exp(high)


def result_label(result: dict) -> str:
    """What a point's ``method`` names: the method, or for jobs sharing a fabric the method and its job.

    Example:
        >>> result_label({"method": "ring"}), result_label({"method": "ring", "job": 2})
        ('ring', 'ring (job 2)')
    """
    job = result.get("job")
    return result["method"] if job is None else f"{result['method']} (job {job})"


def summarize_points(runs: list[dict], plan: SweepPlan) -> list[dict]:
    """One record per point and method, in plan order: statistics over the runs that finished.

    Unfinished runs have no aggregation time, so the mean and interval are over
    the ``completed`` ones (None when none finished); ``correct`` counts exact
    sums and ``wrong`` wrong ones.
    """
    by_key: dict[str, list[dict]] = {}
    for run in runs:
        by_key.setdefault(json.dumps(run["params"], sort_keys=True, default=list), []).append(run)
    points = []
    for params in plan.points():
        chosen = by_key.get(json.dumps(params, sort_keys=True, default=list), [])
        methods = list(dict.fromkeys(result_label(result) for run in chosen for result in run["results"]))
        for method in methods:
            results = [result for run in chosen for result in run["results"] if result_label(result) == method]
            finished = [r for r in results if r["completed"]]
            point = {"params": params, "method": method, "seeds": len(results)}
            for name, key in (("time_s", "aggregation_time_s"), ("ate_per_s", "ate_per_s")):
                summary = mean_interval([r[key] for r in finished])
                interval = log_interval([r[key] for r in finished])
                point[f"mean_{name}"] = None if summary is None else summary[0]
                point[f"std_{name}"] = None if summary is None else summary[1]
                point[f"ci95_{name}"] = None if interval is None else list(interval)
            outcomes = [outcome(r["completed"], r["correct"]) for r in results]
            point["completed"] = len(finished)
            point["correct"] = outcomes.count(Outcome.EXACT)
            point["wrong"] = outcomes.count(Outcome.WRONG)
            point["max_time_s"] = float(params.get("max_time_s", plan.base.max_time_s))
            points.append(point)
    return points


def sweep_document(plan: SweepPlan, runs: list[dict]) -> dict:
    """The ``sweep.json`` document of ``runs`` so far (ordered as the plan; points summarized)."""
    order = {run_key(params, seed): i for i, (params, seed) in enumerate(plan.tasks())}
    ordered = sorted(runs, key=lambda run: order.get(run_key(run["params"], run["seed"]), len(order)))
    return {
        "scenario": plan.base.name,
        "base": base_fingerprint(plan.base),
        "axes": {name: list(values) for name, values in plan.axes},
        "seeds": list(plan.seeds),
        "runs": ordered,
        "points": summarize_points(ordered, plan),
    }


def base_fingerprint(base: Scenario) -> dict:
    """The base scenario as JSON data (what ``--resume`` checks a sweep document was made from).

    The seed and the [sweep] table are left out: a resumed sweep may add seeds or values.
    """
    return json.loads(json.dumps(asdict(replace(base, seed=0, sweep=SweepConfig())), default=list))


def check_runs(document: object, path: os.PathLike | str) -> None:
    """Refuse a sweep document whose runs are not what `run_point` writes, naming the first thing wrong.

    Raises:
        ScenarioError: not an object with a ``runs`` list of ``{"params": {...}, "seed": int, "results":
            [{"method": str, "completed": bool, "correct": bool | null, ...}]}``.
    """
    def refuse(what: str) -> None:
        raise ScenarioError(f"{path}: not a sweep document ({what}); give another --out, or --force to replace it")

    if not isinstance(document, dict) or not isinstance(document.get("runs"), list):
        refuse("no runs list")
    for index, run in enumerate(document["runs"]):
        if not isinstance(run, dict):
            refuse(f"runs[{index}] is {type(run).__name__}, not an object")
        for key, kind in (("params", dict), ("seed", int), ("results", list)):
            if not isinstance(run.get(key), kind) or isinstance(run.get(key), bool):
                refuse(f"runs[{index}] has no {key!r} {kind.__name__}")
        for number, result in enumerate(run["results"]):
            if not isinstance(result, dict) or not {"method", "completed", "correct"} <= set(result):
                refuse(f"runs[{index}].results[{number}] is not a result object (method, completed, correct)")


def resumable_runs(document: dict, plan: SweepPlan, path: os.PathLike | str) -> list[dict]:
    """The runs of an earlier ``sweep.json``, all of which belong to ``plan`` (a resumed sweep may add values
    or seeds, never lose finished runs).

    Raises:
        ScenarioError: the document is not a sweep document, was made from a different base scenario, or
            holds runs that ``plan`` does not contain (writing this sweep's document would discard them).
    """
    way_out = "give another --out, or --force to replace it"
    check_runs(document, path)
    if document.get("base") != base_fingerprint(plan.base):
        raise ScenarioError(f"{path}: written by a sweep of a different scenario ({document.get('scenario')!r}, "
                            f"or other settings) whose {len(document['runs'])} runs this one would discard; "
                            f"{way_out}")
    wanted = {run_key(params, seed) for params, seed in plan.tasks()}
    dropped = [run for run in document["runs"] if run_key(run["params"], run["seed"]) not in wanted]
    if dropped:
        raise ScenarioError(f"{path}: holds {len(document['runs'])} runs, {len(dropped)} of them at values or seeds "
                            f"this sweep does not have, which it would discard; sweep a grid that includes them "
                            f"(with --resume to keep the rest), {way_out}")
    return list(document["runs"])


class _CallableModule(types.ModuleType):
    """This module, callable as `switchsim.api.sweep`: ``switchsim.sweep(...)`` is the Python API's sweep
    (the package attribute ``switchsim.sweep`` is this module once it is imported)."""

    def __call__(self, *args, **kwargs):
        from switchsim.api import sweep

        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
