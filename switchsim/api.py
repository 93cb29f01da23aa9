"""The Python API for notebooks and scripts: `load` a scenario, `run` it, `sweep` it; results as tables.

The command line and these functions call the same engines and write nothing unless asked
(``out=``). Results keep the full records (`RunResult.results`, `SweepResult.document`) and
give tidy rows, one per run, method and job (the columns of ``results.csv`` / ``sweep.csv``),
as a list of dicts (`rows`) or a pandas DataFrame (`to_frame`, with the optional extra
``pip install 'switchsim[pandas]'``). docs/python-api.md shows a session.

Example:
    >>> import switchsim
    >>> scenario = switchsim.load("quickstart", {"workload.elements": 4096, "methods": ["switchml", "ring"]})
    >>> result = switchsim.run(scenario)
    >>> [(row["method"], row["outcome"]) for row in result.rows()]
    [('switchml', 'exact'), ('ring', 'exact')]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from switchsim.config import Scenario, find_scenario, load_scenario, with_override
from switchsim.outcome import exit_status, outcome
from switchsim.sim.run import Results

#: What `to_frame` says when pandas is missing.
PANDAS_MISSING = ("to_frame() needs pandas, an optional dependency: pip install 'switchsim[pandas]' "
                  "(or use .rows(), a list of dicts)")


def _frame(rows: list[dict], columns: tuple[str, ...]):
    try:
        import pandas
    except ImportError:
        raise ImportError(PANDAS_MISSING) from None
    return pandas.DataFrame(rows, columns=list(columns))


def load(scenario: str | Path | Scenario | None = None, overrides: dict[str, Any] | None = None) -> Scenario:
    """A validated `Scenario`: a TOML file, a shipped scenario's name ("quickstart"), or a `Scenario`.

    ``overrides`` maps ``SECTION.FIELD`` (or a top-level field) to a value, as ``switchsim sweep --param``
    does: ``{"link.loss": 0.01, "methods": ["switchml", "ring"]}``. ``None`` is the default job (quickstart).

    Raises:
        switchsim.config.ScenarioError: naming the field and its allowed range.
        FileNotFoundError: no such file and no shipped scenario of that name.
    """
    loaded = scenario if isinstance(scenario, Scenario) else load_scenario(find_scenario(scenario))
    for name, value in (overrides or {}).items():
        loaded = with_override(loaded, name, value)
    return loaded


@dataclass(frozen=True, slots=True)
class RunResult:
    """What `run` returns: every method's record on one scenario and seed.

    Attributes:
        results: the engines' `switchsim.sim.run.Results` (``results.results``: one `MethodResult` per method).
    """

    results: Results

    @property
    def exact(self) -> bool:
        """Every method finished with the exact sum."""
        return self.exit_status == 0

    @property
    def exit_status(self) -> int:
        """The command's exit status: 0 exact, 1 a wrong sum, 3 a method did not finish."""
        return exit_status(outcome(r.completed, r.correct) for r in self.results.results)

    def rows(self) -> list[dict]:
        """Tidy rows, one per method (and job), as ``results.csv``."""
        from switchsim import io

        return io.run_rows(self.results)

    def to_frame(self):
        """`rows` as a pandas DataFrame (ImportError naming the extra when pandas is missing)."""
        from switchsim import io

        return _frame(self.rows(), io.RESULT_COLUMNS)


def run(scenario: str | Path | Scenario | None = None, overrides: dict[str, Any] | None = None, *,
        seed: int | None = None, out: str | Path | None = None) -> RunResult:
    """Run every method of a scenario (`load`'s arguments) on the same links and tensors.

    ``seed`` replaces the scenario's seed. With ``out``, writes what ``switchsim run --out`` writes there
    (summary.json, results.csv, plots); by default nothing is written.
    """
    from switchsim.paths import output_dir
    from switchsim.sim.run import run_scenario

    loaded = load(scenario, overrides)
    if seed is not None:
        loaded = with_override(loaded, "seed", seed)
    folder = output_dir(out, "out") if out is not None else None
    result = RunResult(run_scenario(loaded))
    if folder is not None:
        from switchsim import io, plots

        io.write_summary(result.results, folder)
        io.write_results_csv(result.results, folder)
        plots.plot_methods(result.results, folder)
        plots.plot_links(result.results, folder)
    return result


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What `sweep` returns: the sweep document (as ``sweep.json``) of every run.

    Attributes:
        document: ``{"scenario", "axes", "seeds", "runs", "points", ...}`` (`switchsim.sweep.sweep_document`).
        jobs: the base scenario's job count (a column of the rows).
    """

    document: dict
    jobs: int = 1

    @property
    def exit_status(self) -> int:
        """0 every run exact, 1 a wrong sum, 3 a run did not finish."""
        return exit_status(outcome(r["completed"], r["correct"]) for run in self.document["runs"]
                           for r in run["results"])

    def rows(self) -> list[dict]:
        """Tidy rows, one per run (point x seed) and method, the swept fields first, as ``sweep.csv``."""
        from switchsim import io

        return io.sweep_rows(self.document, self.jobs)

    def to_frame(self):
        """`rows` as a pandas DataFrame (ImportError naming the extra when pandas is missing)."""
        from switchsim import io

        return _frame(self.rows(), (*self.document["axes"], *io.RESULT_COLUMNS))

    def points(self) -> list[dict]:
        """Per point and method: mean, standard deviation and 95 % interval over the seeds (``points``)."""
        return self.document["points"]


def sweep(scenario: str | Path | Scenario | None, grid: dict[str, list], *, seeds: list[int] | tuple[int, ...] = (),
          overrides: dict[str, Any] | None = None, jobs: int = 1, scheduler: str | None = None,
          out: str | Path | None = None) -> SweepResult:
    """Run a scenario at every combination of ``grid``'s values (``{"link.loss": [0, 0.01]}``), once per seed.

    ``seeds`` defaults to the scenario's [sweep] seeds, else its seed. ``jobs`` > 1 runs on a local Dask
    cluster of that many processes, ``scheduler`` on an existing one (as ``switchsim sweep``); the default
    runs serially here. With ``out``, writes sweep.json, sweep.csv and sweep.png there.

    Raises:
        switchsim.config.ScenarioError: an empty grid, a repeated value, or a value a field does not allow.
    """
    from switchsim.sweep import SweepPlan, execute, sweep_document

    base = load(scenario, overrides)
    axes = tuple((name, tuple(tuple(v) if isinstance(v, list) else v for v in values)) for name, values in grid.items())
    plan = SweepPlan(base=base, axes=axes, seeds=tuple(seeds) or base.sweep.seeds or (base.seed,))
    folder = None
    if out is not None:
        from switchsim.paths import output_dir

        folder = output_dir(out, "out")
    runs: list[dict] = []
    execute(plan, runs.append, scheduler=scheduler, jobs=jobs)
    result = SweepResult(sweep_document(plan, runs), base.topology.job_count)
    if folder is not None:
        from switchsim import io, plots

        io.write_sweep(result.document, folder)
        io.write_sweep_csv(result.document, result.jobs, folder)
        plots.plot_sweep(result.document, folder)
    return result
