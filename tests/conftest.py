"""Fixtures shared by the whole suite (the p4c/bmv2 ones live in tests/p4/conftest.py).

Scenarios as objects come from `tests.builders.build_scenario`; scenarios as
files (what the command line reads) from the `write_scenario` fixture.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write_scenario(tmp_path: Path) -> Callable[..., Path]:
    """``write_scenario(text, name="scenario.toml")`` -> the path of a scenario file holding ``text`` (UTF-8).

    ``text`` may be bytes (written as they are, e.g. to test encodings).
    """

    def write(text: str | bytes, name: str = "scenario.toml") -> Path:
        path = tmp_path / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    return write
