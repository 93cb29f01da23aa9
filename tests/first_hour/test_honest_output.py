"""Issue 20, item 7: inputs that used to be accepted and then mislead, and reports that misname or hide things."""

import json

import pytest

from switchsim.cli import main
from switchsim.emu.run import emulate, format_summary

from ..builders import tiny_scenario_text


def _scenario(tmp_path, name="tiny", methods=("switchml", "ring")):
    path = tmp_path / "tiny.toml"
    path.write_text(tiny_scenario_text(name, methods))
    return path


def test_duplicate_sweep_values_are_refused(tmp_path, capsys):
    assert main(["sweep", str(_scenario(tmp_path)), "--param", "link.loss", "--values", "0,0", "--jobs", "1",
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--values" in err[0] and "each value once" in err[0], err
    assert not (tmp_path / "out" / "sweep.json").exists()


def test_a_scenario_name_cannot_lead_out_of_the_output_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a" / "b").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a" / "b")
    assert main(["run", str(_scenario(tmp_path, name="../../etc/x"))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "name = '../../etc/x'" in err[0], err
    assert not (tmp_path / "a" / "etc").exists() and not (tmp_path / "etc").exists()


def test_a_misspelled_method_gets_a_suggestion(tmp_path, capsys):
    assert main(["run", str(_scenario(tmp_path, methods=("swichml", "ring"))), "--out", str(tmp_path)]) == 2
    assert "did you mean switchml?" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    (["--target", "2"], "argument --target: must be a number in 0.01..1, got 2"),
    (["--lr", "-1"], "argument --lr: must be a number in 1e-06..10, got -1"),
    (["--compute-s", "-1"], "argument --compute-s: must be a number in 0..100, got -1"),
    (["--methods", "intsgd,fp32x"], "did you mean"),
])
def test_study_training_names_the_flag_before_training(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["study", "training", "--out", str(tmp_path / "out"), *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "TrainingConfig" not in err, err
    assert not (tmp_path / "out").exists()


def test_a_one_seed_point_prints_no_interval(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", str(_scenario(tmp_path)), "--param", "link.loss", "--values", "0,0.001", "--jobs", "1",
                 "--out", str(out)]) == 0
    table = capsys.readouterr().out
    rows = [line for line in table.splitlines() if line.strip().startswith(("0 ", "0.001 "))]
    assert len(rows) == 4 and all("(n=1)" in row and "+-" not in row for row in rows), table


def test_the_loop_names_consumed_packets_as_such(capsys):
    assert main(["loop", "--workers", "3", "--elements", "640", "--loss", "0"]) == 0
    out = capsys.readouterr().out
    # 10 packets per worker, none lost: 10 multicasts and 20 contributions consumed, none dropped
    assert "switch counters: multicast results 10, unicast replies to duplicates 0, consumed or dropped ('drop') 20," \
        in out, out


@pytest.mark.network
def test_emulate_says_which_workers_counted_and_hints_at_the_timeout():
    stopped = emulate(2, 16_000_000, max_wall_s=4.0)  # 250,000 packets per worker: far more than 4 s of work
    assert not stopped["completed"]
    reported = stopped["workers_reported"]
    if reported == 2:  # stopped workers send their counters (issue 21): what they sent is reported, not 0
        assert 0 < stopped["packets_sent"] and "counted by the" not in format_summary(stopped)
    else:  # a worker stopped before it could report (a loaded machine): the report says whose counters these are
        assert f"counted by the {reported} of 2 workers that finished" in format_summary(stopped)
    assert "counted by the 1 of 2 workers that finished" in format_summary({**stopped, "workers_reported": 1})
    hurried = emulate(2, 20_000, timeout_s=1e-6, max_wall_s=60.0)  # a timeout no round trip meets
    assert hurried["correct"] is True
    assert hurried["retransmissions"] > hurried["packets_sent"] / 2, json.dumps(hurried)
    assert "give a larger --timeout" in format_summary(hurried)
    calm = emulate(2, 2_000, timeout_s=5.0, max_wall_s=60.0)
    assert calm["retransmissions"] == 0 and "--timeout" not in format_summary(calm)


def test_study_training_says_it_replaces_earlier_results_before_training(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "training.csv").write_text("earlier results\n")
    assert main(["study", "training", "--model", "softmax", "--methods", "float32", "--bits", "8", "--steps", "2",
                 "--eval-every", "1", "--out", str(out)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"switchsim study training: replacing the earlier results in {out} (give another --out to keep them)"


def test_a_repeated_value_in_a_sweep_table_is_refused(tmp_path, capsys):
    path = _scenario(tmp_path)
    path.write_text(path.read_text() + '[sweep]\nparam = "link.loss"\nvalues = [0.0, 0.01, 0.0]\n')
    assert main(["sweep", str(path), "--jobs", "1", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "link.loss: each value once" in err[0], err
