"""Where the files the CLI needs are: the shipped scenarios and the P4 sources.

On disk they are the checkout's top-level ``scenarios/`` and ``p4/`` folders;
the wheel installs them as the package data ``switchsim.scenarios`` and
``switchsim.p4`` (``pyproject.toml`` maps the folders), and an editable install
maps the same names onto the checkout. Both are found with `importlib.resources`,
so an installed switchsim needs no checkout.

Example:
    >>> (scenarios_dir() / "quickstart.toml").is_file()
    True
    >>> (p4_dir() / "bmv2" / "switchml.p4").is_file()
    True
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def _package_dir(package: str) -> Path:
    # Both ship as plain files (a wheel is unpacked on install), so the traversable is a real folder.
    return Path(str(resources.files(package)))


def scenarios_dir() -> Path:
    """The folder of the shipped scenario TOML files (``quickstart.toml`` and friends)."""
    return _package_dir("switchsim.scenarios")


def p4_dir() -> Path:
    """The folder of the P4 sources: ``bmv2/``, ``tofino/`` and the generated ``common/``."""
    return _package_dir("switchsim.p4")
