"""The switchsim command: default job, JSON output, errors that name the argument."""

import json

import pytest

from switchsim.cli import main


def test_loop_json_reports_an_exact_sum(capsys):
    assert main(["loop", "--workers", "3", "--elements", "5000", "--loss", "0.05", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["correct"] is True
    assert summary["workers"] == 3 and summary["elements"] == 5000
    assert summary["retransmissions"] > 0


def test_loop_prints_a_verdict(capsys):
    assert main(["loop", "--workers", "2", "--elements", "100"]) == 0
    assert "verdict: exact" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["loop", "--workers", "33"], "must be an integer in 1..32, got 33"),
        (["loop", "--loss", "1.5"], "must be a probability in [0, 1), got 1.5"),
        (["loop", "--elements-per-packet", "100"], "invalid choice"),
    ],
)
def test_bad_arguments_name_the_range(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_conformance_check_passes_on_the_stored_vectors(capsys):
    assert main(["conformance", "check"]) == 0
    assert "0 mismatches" in capsys.readouterr().out


def test_conformance_check_of_missing_file_is_a_clear_error(capsys, tmp_path):
    assert main(["conformance", "check", "--vectors", str(tmp_path / "none.json")]) == 2
    assert "none.json" in capsys.readouterr().err


SMALL = """
name = "small"
seed = 3
methods = ["switchml", "ring", "ps", "allgather"]
[topology]
workers = 3
[switch]
slots = 32
[switchml]
window = 32
[workload]
elements = 20000
"""


def test_run_writes_the_summary_contract_and_plots(tmp_path, capsys):
    scenario = tmp_path / "small.toml"
    scenario.write_text(SMALL)
    out = tmp_path / "out"
    assert main(["run", str(scenario), "--out", str(out), "--seed", "5"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"] == "small" and summary["seed"] == 5
    assert [r["method"] for r in summary["results"]] == ["switchml", "ring", "ps", "allgather"]
    for record in summary["results"]:
        assert {"method", "workers", "elements", "time_s", "ate_per_s", "correct", "retransmissions"} <= set(record)
        assert record["correct"] is True and record["workers"] == 3 and record["elements"] == 20000
    assert (out / "methods.png").stat().st_size > 0 and (out / "links.png").stat().st_size > 0
    table = capsys.readouterr().out
    assert "switchml" in table and "SwitchML x" in table


def test_sweep_runs_each_value_and_plots(tmp_path, capsys):
    scenario = tmp_path / "small.toml"
    scenario.write_text(SMALL.replace('"switchml", "ring", "ps", "allgather"', '"switchml", "ring"'))
    out = tmp_path / "sweep"
    assert main(["sweep", str(scenario), "--param", "topology.workers", "--values", "2,4", "--jobs", "1",
                 "--out", str(out)]) == 0
    points = json.loads((out / "sweep.json").read_text())["points"]
    assert sorted((p["params"]["topology.workers"], p["method"]) for p in points) == [
        (2, "ring"), (2, "switchml"), (4, "ring"), (4, "switchml")]
    assert (out / "sweep.png").stat().st_size > 0


def test_bad_scenario_is_an_error_naming_the_field(tmp_path, capsys):
    scenario = tmp_path / "bad.toml"
    scenario.write_text("[link]\nloss = 7\n")
    assert main(["run", str(scenario), "--out", str(tmp_path)]) == 2
    assert "bad.toml: link.loss = 7.0 is out of range: must be a probability in [0, 1)" in capsys.readouterr().err


def test_argument_types_name_the_range():
    import argparse

    from switchsim.arguments import positive, probability, ranged

    assert probability("0.25") == 0.25
    assert ranged(1, 4)("4") == 4
    assert positive("1e-3") == 1e-3
    for parse, text, message in ((probability, "1", r"\[0, 1\)"), (ranged(1, 4), "5", r"1\.\.4"),
                                 (positive, "0", "> 0")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            parse(text)


def test_python_dash_m_switchsim_is_the_command_with_its_exit_status(tmp_path):
    """``python -m switchsim`` works from any folder, teaches as ``switchsim`` does and keeps exit 2 for bad input."""
    import subprocess
    import sys

    helped = subprocess.run([sys.executable, "-m", "switchsim", "run", "--help"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and "usage: switchsim run" in helped.stdout
    missing = subprocess.run([sys.executable, "-m", "switchsim", "run", str(tmp_path / "absent.toml")], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "absent.toml" in missing.stderr
