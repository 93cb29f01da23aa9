"""switchsim: a SwitchML in-network-aggregation simulator, emulator, P4 conformance and IntSGD studies.

The command line is ``switchsim`` (`switchsim.cli`); notebooks use `load`, `run` and `sweep`
(`switchsim.api`, docs/python-api.md). ``__version__`` is the installed distribution's version.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from importlib import metadata as _metadata
from pathlib import Path

try:
    __version__: str = _metadata.version("switchsim")
except _metadata.PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

#: The subpackages that live outside switchsim/ in a source tree: ``switchsim.<name>`` is the top-level folder.
SOURCE_TREE_SUBPACKAGES = ("scenarios", "p4")


class _SourceTreeFinder(importlib.abc.MetaPathFinder):
    """Finds ``switchsim.scenarios`` and ``switchsim.p4`` in a source tree's top-level folders.

    The wheel installs them inside the package (``pyproject.toml``'s package-dir), and an editable install
    maps them; but a process whose current folder is the clone's root imports this ``switchsim/`` folder
    first (``python -m``, and every worker process multiprocessing or Dask starts there), where they are
    missing. This finder maps the same two names onto the same folders, so the source tree imports as the
    installed package does.
    """

    def __init__(self, root: Path) -> None:
        self.folders = {f"{__name__}.{name}": root / name for name in SOURCE_TREE_SUBPACKAGES}

    def find_spec(self, fullname: str, path=None, target=None):
        folder = self.folders.get(fullname)
        if folder is None:
            return None
        return importlib.util.spec_from_file_location(fullname, folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])


def _map_source_tree() -> None:
    package = Path(__file__).resolve().parent
    root = package.parent
    if all((package / name).is_dir() for name in SOURCE_TREE_SUBPACKAGES):
        return  # an installed wheel: the folders are inside the package
    if not all((root / name / "__init__.py").is_file() for name in SOURCE_TREE_SUBPACKAGES):
        return
    if not any(isinstance(finder, _SourceTreeFinder) for finder in sys.meta_path):
        sys.meta_path.append(_SourceTreeFinder(root))  # last: an installed or editable mapping comes first


_map_source_tree()

#: The Python API (`switchsim.api`), imported on first use so that ``import switchsim`` stays light.
#: ``switchsim.sweep`` is the `switchsim.sweep` module, made callable as `switchsim.api.sweep`.
__all__ = ["RunResult", "SweepResult", "__version__", "load", "run", "sweep"]


def __getattr__(name: str):
    if name in ("load", "run", "RunResult", "SweepResult"):
        from switchsim import api

        return getattr(api, name)
    if name == "sweep":
        import switchsim.sweep

        return switchsim.sweep
    raise AttributeError(f"module 'switchsim' has no attribute {name!r}")
