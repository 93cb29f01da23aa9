"""The only module that writes result files: ``summary.json`` and friends.

``summary.json`` is a stable contract::

    {"scenario": str, "seed": int,
     "results": [{"method": "switchml"|"ring"|"ps"|"allgather", "workers": int,
                  "elements": int, "time_s": float, "ate_per_s": float,
                  "correct": bool, "retransmissions": int, ...}],
     "speedups": {"ring": float, ...}, "config": {...}}
"""

from __future__ import annotations

import json
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


def write_sweep(rows: list[dict], out_dir: str | Path) -> Path:
    """Write ``out_dir/sweep.json`` (one row per value and method); returns its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "sweep.json"
    path.write_text(json.dumps(rows, indent=2) + "\n")
    return path
