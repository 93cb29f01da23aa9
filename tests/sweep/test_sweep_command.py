"""`switchsim sweep`, `run` and `loop` from the command line: grids, seeds, resume, and unfinished runs
reported as unfinished (never as wrong)."""

import json

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
retransmit_timeout_s = 2e-5
rdma_timeout_exponent = 3  # 33 us: the ring recovers a lost tail well within max_time_s
"""


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(SMALL)
    return path


def test_a_grid_under_seeds_writes_runs_points_and_a_plot(tiny, tmp_path, capsys):
    out = tmp_path / "grid"
    assert main(["sweep", str(tiny), "--param", "link.loss", "--values", "0,0.01", "--param", "switchml.recovery",
                 "--values", "official,rto", "--seeds", "0..1", "--jobs", "1", "--out", str(out)]) == 0
    document = json.loads((out / "sweep.json").read_text())
    assert len(document["runs"]) == 8 and len(document["points"]) == 8
    assert (out / "sweep.png").stat().st_size > 0
    table = capsys.readouterr().out
    assert "exact in all 2" in table and "rto" in table


def test_methods_can_be_swept_by_name(tiny, tmp_path):
    out = tmp_path / "methods"
    assert main(["sweep", str(tiny), "--param", "methods", "--values", "ring,switchml+ring", "--jobs", "1",
                 "--out", str(out)]) == 0
    runs = json.loads((out / "sweep.json").read_text())["runs"]
    assert [[r["method"] for r in run["results"]] for run in runs] == [["ring"], ["switchml", "ring"]]


def test_resume_keeps_finished_runs(tiny, tmp_path, capsys):
    out = tmp_path / "resume"
    argv = ["sweep", str(tiny), "--param", "link.loss", "--values", "0,0.01", "--jobs", "1", "--out", str(out)]
    assert main([*argv, "--seeds", "0"]) == 0
    assert main([*argv, "--seeds", "0..1", "--resume"]) == 0
    assert "(2 runs made, 2 resumed" in capsys.readouterr().out
    assert len(json.loads((out / "sweep.json").read_text())["runs"]) == 4


def test_unfinished_runs_are_reported_as_unfinished(tiny, tmp_path, capsys):
    out = tmp_path / "lossy"
    code = main(["sweep", str(tiny), "--param", "link.loss", "--values", "0.95", "--seeds", "0..1", "--jobs", "1",
                 "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 3
    assert "2 of 2 did not finish (max_time 0.05 s simulated)" in printed and "WRONG" not in printed
    point = json.loads((out / "sweep.json").read_text())["points"][0]
    assert (point["completed"], point["correct"], point["mean_time_s"]) == (0, 0, None)


def test_run_says_did_not_finish_and_records_why(tiny, tmp_path, capsys):
    tiny.write_text(SMALL.replace("workers = 3", "workers = 3\n[link]\nloss = 0.95"))
    assert main(["run", str(tiny), "--out", str(tmp_path / "out")]) == 3
    assert "did not finish (max_time 0.05 s simulated)" in capsys.readouterr().out
    results = json.loads((tmp_path / "out" / "summary.json").read_text())["results"]
    switchml = results[0]
    assert (switchml["completed"], switchml["correct"], switchml["stopped_by"]) == (False, None, "max_time")


def test_loop_reports_an_unfinished_run_with_its_reason(capsys):
    argv = ["loop", "--workers", "4", "--elements", "20000", "--loss", "0.3", "--max-time", "0.002"]
    assert main([*argv, "--json"]) == 3
    summary = json.loads(capsys.readouterr().out)
    assert (summary["completed"], summary["correct"], summary["stopped_by"]) == (False, None, "max_time")
    assert summary["simulated_time_s"] == 0.002
    assert main(argv) == 3
    assert "verdict: did not finish (max_time 0.002 s simulated)" in capsys.readouterr().out


def test_loop_recovery_option_changes_the_outcome(capsys):
    """32 workers at 5 % loss: the official backoff does not finish in 50 ms; the reset policy needs about 4."""
    argv = ["loop", "--workers", "32", "--elements", "131072", "--loss", "0.05", "--max-time", "0.05", "--json"]
    assert main([*argv, "--recovery", "official"]) == 3
    assert json.loads(capsys.readouterr().out)["stopped_by"] == "max_time"
    assert main([*argv, "--recovery", "reset"]) == 0
    assert json.loads(capsys.readouterr().out)["correct"] is True


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["loop", "--max-time", "0"], "must be a number of seconds in (0, 1e+06], got 0"),
        (["loop", "--max-time", "inf"], "must be a number of seconds in (0, 1e+06], got inf"),
        (["loop", "--timeout", "-1"], "must be a number of seconds in (0, 60], got -1"),
        (["loop", "--recovery", "tcp"], "invalid choice: 'tcp'"),
    ],
)
def test_loop_rejects_times_that_cannot_finish(argv, message, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    assert message in capsys.readouterr().err


def test_param_and_values_come_in_pairs(tiny, capsys):
    assert main(["sweep", str(tiny), "--param", "link.loss", "--values", "0", "--param", "switchml.window"]) == 2
    assert "--param and --values come in pairs" in capsys.readouterr().err


def test_sweep_out_that_is_a_file_is_refused_before_running(tiny, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    assert main(["sweep", str(tiny), "--param", "link.loss", "--values", "0", "--out", str(taken)]) == 2
    assert "--out" in capsys.readouterr().err and taken.read_text() == "not a folder"


def test_a_folder_given_as_the_sweep_scenario_is_one_line(tmp_path, capsys):
    assert main(["sweep", str(tmp_path), "--param", "link.loss", "--values", "0"]) == 2
    assert str(tmp_path) in capsys.readouterr().err


def test_shipped_scenarios_are_found_from_any_folder(tmp_path, monkeypatch):
    """The README's `scenarios/NAME.toml` paths work outside the checkout (a wheel install), and bare names too."""
    from switchsim.config import SCENARIOS_DIR, find_scenario

    monkeypatch.chdir(tmp_path)
    assert find_scenario("scenarios/loss-recovery.toml") == SCENARIOS_DIR / "loss-recovery.toml"
    assert find_scenario("paper-10g") == SCENARIOS_DIR / "paper-10g.toml"
    assert find_scenario(None) == SCENARIOS_DIR / "quickstart.toml"
    mine = tmp_path / "scenarios" / "quickstart.toml"
    mine.parent.mkdir()
    mine.write_text('name = "mine"\n')
    assert find_scenario("scenarios/quickstart.toml") == mine.relative_to(tmp_path)  # a file that exists wins
    with pytest.raises(FileNotFoundError, match=r"no scenario file 'nowhere/x\.toml'; the shipped .*'quickstart'"):
        find_scenario("nowhere/x.toml")


@pytest.mark.parametrize("command", ["training", "compare"])
def test_study_timing_scenarios_are_read_before_training(command, tmp_path, capsys):
    from switchsim.cli import main as cli

    assert cli(["study", command, "--timing", "no-such-scenario", "--out", str(tmp_path / "out")]) == 2
    assert "no scenario file 'no-such-scenario'" in capsys.readouterr().err


def test_an_interrupted_sweep_keeps_what_finished_and_resumes(tiny, tmp_path, capsys, monkeypatch):
    from switchsim import sweep

    real, calls = sweep.run_point, []

    def interrupted_third(*args):
        calls.append(args)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(sweep, "run_point", interrupted_third)
    out = tmp_path / "cut"
    argv = ["sweep", str(tiny), "--param", "link.loss", "--values", "0,0.01", "--seeds", "0..1", "--jobs", "1",
            "--out", str(out)]
    assert main(argv) == 130
    assert "interrupted: 2 of 4 runs kept" in capsys.readouterr().err
    assert len(json.loads((out / "sweep.json").read_text())["runs"]) == 2
    monkeypatch.setattr(sweep, "run_point", real)
    assert main([*argv, "--resume"]) == 0
    assert "(2 runs made, 2 resumed" in capsys.readouterr().out
    assert len(json.loads((out / "sweep.json").read_text())["runs"]) == 4
