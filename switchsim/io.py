"""The only module that writes result files: ``summary.json``, ``results.csv``, ``sweep.json``, ``sweep.csv``.

``summary.json`` is a stable contract::

    {"scenario": str, "seed": int,
     "results": [{"method": "switchml"|"ring"|"ps"|"allgather", "workers": int,
                  "elements": int, "time_s": float, "ate_per_s": float,
                  "correct": bool, "retransmissions": int, ...}],
     "speedups": {"ring": float, ...}, "config": {...}}
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict
from pathlib import Path

from switchsim.sim.run import Results


def summary_document(results: Results) -> dict:
    """The summary.json document of ``results``."""
    return {
        "scenario": results.scenario.name,
        "seed": results.seed,
        "results": [r.to_json() for r in results.results],
        "speedups": results.speedups(),
        "config": asdict(results.scenario),
    }


def write_summary(results: Results, out_dir: str | Path) -> Path:
    """Write ``out_dir/summary.json``; returns its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "summary.json"
    path.write_text(json.dumps(summary_document(results), indent=2) + "\n")
    return path


#: The columns of a tidy results row (``results.csv``, ``sweep.csv`` after its swept fields): one row per run,
#: method and job (``job`` is empty for a record covering every job; jobs sharing a fabric have one row each, with
#: their time alone and slowdown). Times in seconds, as in summary.json; ``ate_per_s`` is aggregated tensor elements per
#: second (elements x iterations / aggregation time).
RESULT_COLUMNS = ("scenario", "seed", "method", "job", "jobs", "workers_per_job", "elements", "iterations", "outcome",
                  "completed", "correct", "stopped_by", "aggregation_time_s", "alone_time_s", "slowdown", "ate_per_s",
                  "goodput_per_worker_bps", "retransmissions", "timeouts", "packets", "bytes", "max_queue_bytes",
                  "max_link_utilisation", "wall_time_s")


def result_rows(scenario: str, seed: int, jobs: int, records: list[dict], params: dict | None = None) -> list[dict]:
    """Tidy rows (one per method record of one run) of `MethodResult.to_json` records, ``params`` first.

    Example:
        >>> row = result_rows("s", 3, 1, [{"method": "ring", "workers": 4, "elements": 8, "iterations": 1,
        ...                                "completed": False, "correct": None, "stopped_by": "max_time"}],
        ...                   {"link.loss": 0.1})[0]
        >>> row["link.loss"], row["seed"], row["outcome"], row["aggregation_time_s"]
        (0.1, 3, 'did not finish', None)
    """
    from switchsim.outcome import outcome

    rows = []
    for record in records:
        row = dict(params or {})
        row.update(scenario=scenario, seed=seed, jobs=jobs, workers_per_job=record["workers"],
                   outcome=outcome(record["completed"], record["correct"]).value)
        for column in RESULT_COLUMNS:
            row.setdefault(column, record.get(column))
        if not record["completed"]:
            row["aggregation_time_s"] = row["ate_per_s"] = None  # no time to report for an unfinished run
        rows.append(row)
    return rows


def write_rows(path: Path, rows: list[dict], columns: tuple[str, ...]) -> Path:
    """Write ``rows`` (dicts) as CSV with ``columns`` in that order, ``None`` as an empty cell; returns the path."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    return path


def run_rows(results: Results) -> list[dict]:
    """The tidy rows of a run: one per method (and job)."""
    scenario = results.scenario
    return result_rows(scenario.name, results.seed, scenario.topology.job_count,
                       [r.to_json() for r in results.results])


def write_results_csv(results: Results, out_dir: str | Path) -> Path:
    """Write ``out_dir/results.csv``: `run_rows` under `RESULT_COLUMNS`; returns its path."""
    return write_rows(Path(out_dir) / "results.csv", run_rows(results), RESULT_COLUMNS)


def sweep_rows(document: dict, jobs: int) -> list[dict]:
    """The tidy rows of a sweep document: one per run (point x seed) and method, the swept fields first."""
    return [row for run in document["runs"]
            for row in result_rows(document["scenario"], run["seed"], jobs, run["results"], run["params"])]


def write_sweep_csv(document: dict, jobs: int, out_dir: str | Path) -> Path:
    """Write ``out_dir/sweep.csv``: `sweep_rows`, a column per swept field then `RESULT_COLUMNS`."""
    return write_rows(Path(out_dir) / "sweep.csv", sweep_rows(document, jobs),
                      (*document["axes"], *RESULT_COLUMNS))


def write_sweep(document: dict, out_dir: str | Path) -> Path:
    """Write ``out_dir/sweep.json`` (`switchsim.sweep.sweep_document`); returns its path.

    The file is replaced in one step (written beside it, then renamed), so an
    interrupted sweep leaves the last complete document, never half of one.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "sweep.json"
    partial = out / ".sweep.json.partial"
    partial.write_text(json.dumps(document, indent=2, default=list) + "\n")
    os.replace(partial, path)
    return path


def read_sweep(out_dir: str | Path) -> dict | None:
    """The ``out_dir/sweep.json`` document, or None when there is none."""
    path = Path(out_dir) / "sweep.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a JSON sweep document ({error}); remove it or choose another --out") from None
