"""The switchsim command: default job, JSON output, errors that name the argument."""

import json

import pytest

from switchsim.cli import main


def test_run_json_reports_an_exact_sum(capsys):
    assert main(["loop", "--workers", "3", "--elements", "5000", "--loss", "0.05", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["correct"] is True
    assert summary["workers"] == 3 and summary["elements"] == 5000
    assert summary["retransmissions"] > 0


def test_run_prints_a_verdict(capsys):
    assert main(["loop", "--workers", "2", "--elements", "100"]) == 0
    assert "EXACT" in capsys.readouterr().out


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
