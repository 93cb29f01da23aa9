"""The dependency rules of docs/architecture.md ("Dependencies point one way"), checked on every import statement."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: package (or module) -> the first-party packages its files may import (itself included). Longest prefix wins.
ALLOWED: dict[str, set[str]] = {
    "switchsim.protocol": {"switchsim.protocol"},
    "switchsim.pipeline": {"switchsim.pipeline", "switchsim.protocol"},
    "workers": {"workers", "switchsim.protocol"},
    # a driver: checks its result with the switch's arithmetic (switchsim.pipeline.wrapped_sum)
    "workers.client": {"workers", "switchsim.protocol", "switchsim.pipeline"},
    "switchsim.frame_switch": {"switchsim.pipeline", "switchsim.protocol"},
    "switchsim.memory_loop": {"switchsim.pipeline", "switchsim.protocol", "workers.protocol"},
    # the shape of the world: nothing but itself (the config classes only in type hints)
    "switchsim.topology": {"switchsim.topology", "switchsim.config"},
    "switchsim.conformance": {"switchsim.conformance", "switchsim.frame_switch", "switchsim.paths",
                              "switchsim.pipeline", "switchsim.protocol"},
}
#: Imported by nothing but the command line (and themselves).
TOP_ONLY = ("switchsim.cli", "switchsim.study")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _first_party_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
        found |= {name for name in names if name.split(".")[0] in ("switchsim", "workers")}
    return found


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


MODULES = {_module_name(p): p for top in ("switchsim", "workers") for p in sorted((ROOT / top).rglob("*.py"))}


def _rule(module: str) -> set[str] | None:
    owners = [package for package in ALLOWED if _within(module, package)]
    return ALLOWED[max(owners, key=len)] if owners else None


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _rule(m) is not None))
def test_module_imports_only_what_its_layer_may(module):
    allowed = _rule(module)
    imported = _first_party_imports(MODULES[module])
    assert sorted(name for name in imported if not any(_within(name, a) for a in allowed)) == []


def test_only_the_command_line_imports_the_top():
    offenders = [f"{module} imports {name}" for module, path in MODULES.items()
                 for name in _first_party_imports(path)
                 if any(_within(name, top) and not _within(module, top) for top in TOP_ONLY)
                 and not _within(module, "switchsim.cli") and module != "switchsim.__main__"]  # the command too
    assert offenders == []


def test_the_rules_catch_a_violation(tmp_path):
    # the checker itself: a pipeline module importing the simulator is found
    bad = tmp_path / "bad.py"
    bad.write_text("from switchsim.sim import run\nimport switchsim.protocol.spec\nfrom . import x\n", encoding="utf-8")
    imported = _first_party_imports(bad)
    assert imported == {"switchsim.sim", "switchsim.protocol.spec"}
    assert [n for n in imported if not any(_within(n, a) for a in ALLOWED["switchsim.pipeline"])] == ["switchsim.sim"]
