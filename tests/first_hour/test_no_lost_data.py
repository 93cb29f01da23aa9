"""Issue 20, items 3 and 4: a sweep never silently discards finished runs; an unwritable output is found
before any simulation."""

import json
import os
from pathlib import Path

import pytest

from switchsim.cli import main

SMALL = """
name = "tiny"
methods = ["switchml", "ring"]
max_time_s = 0.05
[topology]
workers = 3
[switch]
slots = 16
[switchml]
window = 16
timeout_s = 2e-5
[workload]
elements = 4096
source = "synthetic"
[baselines]
transport = "selective"  # a lost ring packet is resent within the 0.05 s limit (RoCE's timeout is 67 ms)
retransmit_timeout_s = 2e-5
"""


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(SMALL)
    return path


@pytest.fixture
def swept(tiny, tmp_path):
    out = tmp_path / "swept"
    assert main(["sweep", str(tiny), "--param", "link.loss", "--values", "0,0.01", "--seeds", "0..1", "--jobs", "1",
                 "--out", str(out)]) == 0
    return out


def _simulations(monkeypatch) -> list:
    """Counts the runs started (a spy on the real engine entry, which still runs)."""
    from switchsim.sim import run as sim_run

    calls = []
    real = sim_run.run_scenario

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(sim_run, "run_scenario", counted)
    return calls


def test_resume_with_a_changed_grid_is_refused_and_the_file_kept(tiny, swept, capsys):
    before = (swept / "sweep.json").read_bytes()
    capsys.readouterr()
    assert main(["sweep", str(tiny), "--param", "link.loss", "--values", "0,0.5", "--seeds", "0..1", "--jobs", "1",
                 "--out", str(swept), "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--force" in err[0] and "--out" in err[0], err
    assert (swept / "sweep.json").read_bytes() == before


def test_a_sweep_that_would_drop_runs_is_refused_without_resume(tiny, swept, capsys):
    before = (swept / "sweep.json").read_bytes()
    capsys.readouterr()
    assert main(["sweep", str(tiny), "--param", "link.loss", "--values", "0", "--jobs", "1",
                 "--out", str(swept)]) == 2
    assert "4 runs" in capsys.readouterr().err
    assert (swept / "sweep.json").read_bytes() == before


def test_a_sweep_of_another_scenario_into_the_folder_is_refused(tiny, swept, tmp_path, capsys):
    other = tmp_path / "other.toml"
    other.write_text(SMALL.replace('name = "tiny"', 'name = "other"').replace("elements = 4096", "elements = 2048"))
    before = (swept / "sweep.json").read_bytes()
    capsys.readouterr()
    assert main(["sweep", str(other), "--param", "link.loss", "--values", "0", "--jobs", "1",
                 "--out", str(swept)]) == 2
    err = capsys.readouterr().err
    assert "tiny" in err and "--force" in err
    assert (swept / "sweep.json").read_bytes() == before


def test_force_replaces_the_old_sweep(tiny, swept, capsys):
    assert main(["sweep", str(tiny), "--param", "link.loss", "--values", "0", "--jobs", "1",
                 "--out", str(swept), "--force"]) == 0
    assert len(json.loads((swept / "sweep.json").read_text())["runs"]) == 1


def test_the_same_sweep_again_and_a_resume_that_adds_seeds_still_work(tiny, swept, capsys):
    argv = ["sweep", str(tiny), "--param", "link.loss", "--values", "0,0.01", "--jobs", "1", "--out", str(swept)]
    assert main([*argv, "--seeds", "0..1"]) == 0
    assert main([*argv, "--seeds", "0..2", "--resume"]) == 0
    assert "(2 runs made, 4 resumed" in capsys.readouterr().out


@pytest.fixture
def locked(tmp_path):
    """A folder this process cannot write into: a read-only one, or /sys for root (which ignores modes)."""
    if os.geteuid() != 0:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o500)
        yield folder
        folder.chmod(0o700)
        return
    sys_folder = Path("/sys")
    probe = sys_folder / "switchsim-probe"
    try:
        probe.mkdir()
    except OSError:
        yield sys_folder
        return
    probe.rmdir()
    pytest.skip("no folder this process cannot write into (root, and /sys is writable)")


def test_run_into_an_unwritable_out_is_refused_before_simulating(tiny, tmp_path, capsys, monkeypatch, locked):
    calls = _simulations(monkeypatch)
    assert main(["run", str(tiny), "--out", str(locked)]) == 2
    assert main(["run", str(tiny), "--out", str(locked / "sub")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("switchsim: error: --out") for line in err), err
    assert calls == []


def test_run_with_a_pcap_in_an_unwritable_folder_is_refused_before_simulating(tiny, tmp_path, capsys, monkeypatch, locked):
    calls = _simulations(monkeypatch)
    assert main(["run", str(tiny), "--out", str(tmp_path / "o"), "--pcap", str(locked / "x.pcap")]) == 2
    assert main(["run", str(tiny), "--out", str(tmp_path / "o"), "--pcap", str(locked / "d" / "x.pcap")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("switchsim: error: --pcap") for line in err), err
    assert calls == []


def test_sweep_into_an_unwritable_out_is_refused_before_simulating(tiny, tmp_path, capsys, monkeypatch, locked):
    calls = _simulations(monkeypatch)
    assert main(["sweep", str(tiny), "--param", "link.loss", "--values", "0,0.01", "--jobs", "1",
                 "--out", str(locked)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("switchsim: error: --out"), err
    assert calls == []
