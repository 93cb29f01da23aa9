"""The wheel carries everything the CLI needs: it runs from a fresh virtual environment outside the checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from switchsim.resources import p4_dir, scenarios_dir

from .builders import tiny_scenario_text

ROOT = Path(__file__).resolve().parents[1]


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_every_package_folder_is_listed_in_pyproject():
    config = _setuptools()
    mapped = config["package-dir"]
    listed = {mapped.get(name, name.replace(".", "/")) for name in config["packages"]}
    on_disk = {str(p.parent.relative_to(ROOT)) for top in ("switchsim", "workers", "scenarios", "p4")
               for p in (ROOT / top).rglob("__init__.py")}
    assert listed == on_disk


def test_resources_are_the_checkout_folders_in_an_editable_install():
    assert scenarios_dir() == ROOT / "scenarios"
    assert p4_dir() == ROOT / "p4"


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """``(venv, source)``: the wheel, installed the usual way (not editable) into a fresh virtual environment,
    and ``source``, the copy of the clone it was built from (a clone's root, with its switchsim/ folder)."""
    # ~1.5 min: pip installs the dependencies from the configured (local) index.
    tmp_path = tmp_path_factory.mktemp("wheel")
    source, wheels, venv = tmp_path / "source", tmp_path / "wheels", tmp_path / "venv"
    # Built from a copy: a stale build/ in the checkout can leak removed files into a wheel.
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "dist", "out", "*.egg-info",
                                                                "__pycache__", "*.nbi", "*.nbc"))
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)], tmp_path)
    assert built.returncode == 0, built.stderr
    shutil.rmtree(source / "build", ignore_errors=True)
    (wheel,) = wheels.glob("switchsim-*.whl")
    assert _run([sys.executable, "-m", "venv", str(venv)], tmp_path).returncode == 0
    installed = _run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], tmp_path)
    assert installed.returncode == 0, installed.stderr
    return venv, source


@pytest.mark.slow
def test_wheel_installed_outside_the_checkout_runs_the_cli(installed, tmp_path):
    venv, _ = installed
    work = tmp_path / "work"
    work.mkdir()
    python, switchsim = venv / "bin" / "python", venv / "bin" / "switchsim"
    where = _run([str(python), "-c", "import switchsim.resources as r; print(r.scenarios_dir()); print(r.p4_dir())"],
                 work)
    assert where.stdout.split() == [str(venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
                                        / "site-packages" / "switchsim" / name) for name in ("scenarios", "p4")]
    version = _run([str(switchsim), "--version"], work)
    assert version.returncode == 0 and version.stdout.strip() == f"switchsim {_project_version()}", version
    ran = _run([str(switchsim), "run"], work)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "switchsim run: quickstart" in ran.stdout
    assert (work / "out" / "quickstart" / "summary.json").is_file()
    checked = _run([str(switchsim), "conformance", "check"], work)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert ", 0 mismatches" in checked.stdout
    # the other README commands that need shipped files or a fresh folder
    looped = _run([str(switchsim), "loop", "--workers", "3", "--elements", "5000", "--loss", "0.05"], work)
    assert looped.returncode == 0 and "verdict: exact" in looped.stdout, looped.stdout + looped.stderr
    emulated = _run([str(switchsim), "emulate", "--workers", "3", "--elements", "2000", "--pcap", "out/swml.pcap"],
                    work)
    assert emulated.returncode == 0 and "verdict: exact" in emulated.stdout, emulated.stdout + emulated.stderr
    assert (work / "out" / "swml.pcap").stat().st_size > 24
    swept = _run([str(switchsim), "sweep", "scenarios/loss-sweep.toml", "--param", "link.loss", "--values",
                  "0,0.0001", "--jobs", "2", "--out", "out/sweep"], work)  # the README's path, a local Dask cluster
    assert swept.returncode == 0 and "local Dask cluster of 2 processes" in swept.stdout, swept.stdout + swept.stderr
    assert (work / "out" / "sweep" / "sweep.json").is_file()
    rendered = _run([str(python), "-m", "switchsim.p4gen.render", "--check"], work)
    assert rendered.returncode == 0 and "0 stale" in rendered.stdout, rendered.stdout + rendered.stderr


def _project_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]




@pytest.mark.slow
def test_wheel_installed_runs_from_the_clone_root(installed):
    # From the clone's root, Python puts the current folder first on the path of `python -m` and of every
    # worker process multiprocessing and Dask start: they import the clone's switchsim/ folder, which has no
    # switchsim.scenarios or switchsim.p4 of its own (pyproject.toml maps them from the top-level folders).
    venv, root = installed
    python, switchsim = venv / "bin" / "python", venv / "bin" / "switchsim"
    assert (root / "switchsim" / "__init__.py").is_file() and not (root / "switchsim" / "scenarios").exists()
    emulated = _run([str(switchsim), "emulate", "--workers", "3", "--elements", "2000", "--loss", "0.01", "--timeout",
                     "0.05", "--max-wall", "300", "--json"], root)
    assert emulated.returncode == 0, emulated.stdout + emulated.stderr
    assert json.loads(emulated.stdout)["correct"] is True
    assert "Traceback" not in emulated.stderr
    (root / "tiny.toml").write_text(tiny_scenario_text())
    swept = _run([str(switchsim), "sweep", "tiny.toml", "--param", "link.loss", "--values", "0,0.001", "--jobs", "2",
                  "--out", "out/tiny-sweep"], root)
    assert swept.returncode == 0 and "local Dask cluster of 2 processes" in swept.stdout, swept.stdout + swept.stderr
    assert len(json.loads((root / "out" / "tiny-sweep" / "sweep.json").read_text())["runs"]) == 2
    module = _run([str(python), "-m", "switchsim.p4gen.render", "--check"], root)  # `python -m` from the root
    assert module.returncode == 0 and "0 stale" in module.stdout, module.stdout + module.stderr


@pytest.mark.slow
@pytest.mark.bmv2
def test_wheel_installed_replays_on_bmv2_from_the_clone_root(installed, tmp_path):
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("the bmv2 replay needs root and `ip` (network namespace, veth pairs)")
    if shutil.which("p4c-bm2-ss") is None or shutil.which("simple_switch") is None:
        pytest.skip("p4c-bm2-ss or simple_switch not on PATH (see docs/bmv2.md)")
    venv, root = installed
    document = json.loads((root / "switchsim" / "conformance" / "vectors.json").read_text())
    document["scenarios"] = document["scenarios"][:3]  # a few scenarios: the point is the imports, not the switch
    subset = tmp_path / "vectors.json"
    subset.write_text(json.dumps(document))
    replayed = _run([str(venv / "bin" / "python"), "-m", "switchsim.p4gen.bmv2_runner", "replay", "--mode",
                     "faithful", "--vectors", str(subset)], root)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "bmv2 faithful: 3 scenarios" in replayed.stdout and ", 0 mismatches" in replayed.stdout, replayed.stdout
