"""Issue 20, item 9: `run` writes results.csv and `sweep` writes sweep.csv, one row per run, method and job."""

import csv
import json

from switchsim.cli import main

from ..builders import tiny_scenario_text


def _read(path):
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_run_writes_a_tidy_results_csv_matching_the_summary(tmp_path):
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(tiny_scenario_text(methods=("switchml", "ring", "ps")))
    out = tmp_path / "out"
    assert main(["run", str(scenario), "--out", str(out), "--seed", "4"]) == 0
    rows = _read(out / "results.csv")
    summary = json.loads((out / "summary.json").read_text())
    assert [row["method"] for row in rows] == ["switchml", "ring", "ps"]
    for row, record in zip(rows, summary["results"], strict=True):
        assert row["scenario"] == "tiny" and row["seed"] == "4" and row["jobs"] == "1"
        assert row["workers_per_job"] == "3" and row["outcome"] == "exact" and row["correct"] == "True"
        assert float(row["aggregation_time_s"]) == record["aggregation_time_s"]
        assert float(row["ate_per_s"]) == record["ate_per_s"]
        assert int(row["retransmissions"]) == record["retransmissions"]


def test_sweep_writes_one_row_per_run_and_method_with_the_swept_fields(tmp_path):
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(tiny_scenario_text())
    out = tmp_path / "out"
    assert main(["sweep", str(scenario), "--param", "link.loss", "--values", "0,0.001", "--seeds", "0..1",
                 "--jobs", "1", "--out", str(out)]) == 0
    rows = _read(out / "sweep.csv")
    assert list(rows[0])[:4] == ["link.loss", "scenario", "seed", "method"]
    assert [(row["link.loss"], row["seed"], row["method"]) for row in rows] == [
        (loss, seed, method) for loss in ("0", "0.001") for seed in ("0", "1") for method in ("switchml", "ring")]
    document = json.loads((out / "sweep.json").read_text())
    times = [r["aggregation_time_s"] for run in document["runs"] for r in run["results"]]
    assert [float(row["aggregation_time_s"]) for row in rows] == times


def test_every_table_with_ate_per_s_explains_it(tmp_path, capsys):
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(tiny_scenario_text(methods=("switchml", "ring", "ps")))
    assert main(["run", str(scenario), "--out", str(tmp_path / "run")]) == 0
    assert "ATE/s: aggregated tensor elements per second" in capsys.readouterr().out
    assert main(["sweep", str(scenario), "--param", "link.loss", "--values", "0", "--jobs", "1", "--out",
                 str(tmp_path / "sweep")]) == 0
    assert "ATE/s: aggregated tensor elements per second" in capsys.readouterr().out
