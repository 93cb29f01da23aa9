"""Golden output: the default job's summary.json equals a stored copy (wall-clock fields aside).

The run is a pure function of its scenario and seed, so any change to a number in
``summary.json`` shows here. When a change is intended, regenerate the stored copy
and review its diff::

    .venv/bin/python -m tests.test_golden
"""

from __future__ import annotations

import json
from pathlib import Path

from switchsim.config import builtin_scenario, load_scenario
from switchsim.io import summary_document
from switchsim.sim.run import run_scenario

#: The shipped scenario whose summary is stored.
SCENARIO = "quickstart"
GOLDEN = Path(__file__).resolve().parent / "golden" / f"{SCENARIO}-summary.json"
#: Fields that measure the machine, not the run: left out of the comparison.
WALL_CLOCK_FIELDS = frozenset({"wall_time_s"})


def _without_wall_clock(value):
    if isinstance(value, dict):
        return {k: _without_wall_clock(v) for k, v in value.items() if k not in WALL_CLOCK_FIELDS}
    if isinstance(value, list):
        return [_without_wall_clock(v) for v in value]
    return value


def golden_document() -> dict:
    """summary.json of the shipped scenario, as JSON reads it back, without wall-clock fields."""
    document = summary_document(run_scenario(load_scenario(builtin_scenario(SCENARIO))))
    return _without_wall_clock(json.loads(json.dumps(document)))


def test_quickstart_summary_matches_the_stored_copy():
    stored = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert golden_document() == stored, f"regenerate with `python -m tests.test_golden` if intended ({GOLDEN})"


def test_wall_clock_fields_are_left_out_at_every_depth():
    assert _without_wall_clock({"a": [{"wall_time_s": 1.0, "b": 2}], "wall_time_s": 3}) == {"a": [{"b": 2}]}


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(golden_document(), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN}")
