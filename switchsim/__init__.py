"""switchsim: a SwitchML in-network-aggregation simulator, emulator, P4 conformance and IntSGD studies.

The command line is ``switchsim`` (`switchsim.cli`); notebooks use `load`, `run` and `sweep`
(`switchsim.api`, docs/python-api.md). ``__version__`` is the installed distribution's version.
"""

from __future__ import annotations

from importlib import metadata as _metadata

try:
    __version__: str = _metadata.version("switchsim")
except _metadata.PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
