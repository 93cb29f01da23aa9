"""The wheel carries everything the CLI needs: it runs from a fresh virtual environment outside the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from switchsim.resources import p4_dir, scenarios_dir

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


@pytest.mark.slow
def test_wheel_installed_outside_the_checkout_runs_the_cli(tmp_path):
    # ~1.5 min: pip installs the dependencies from the configured (local) index.
    source, wheels, venv, work = tmp_path / "source", tmp_path / "wheels", tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    # Built from a copy: a stale build/ in the checkout can leak removed files into a wheel.
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "dist", "out", "*.egg-info",
                                                                "__pycache__", "*.nbi", "*.nbc"))
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)], tmp_path)
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("switchsim-*.whl")
    assert _run([sys.executable, "-m", "venv", str(venv)], tmp_path).returncode == 0
    installed = _run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], tmp_path)
    assert installed.returncode == 0, installed.stderr
    python, switchsim = venv / "bin" / "python", venv / "bin" / "switchsim"
    where = _run([str(python), "-c", "import switchsim.resources as r; print(r.scenarios_dir()); print(r.p4_dir())"],
                 work)
    assert where.stdout.split() == [str(venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
                                        / "site-packages" / "switchsim" / name) for name in ("scenarios", "p4")]
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
