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
