"""Issue 20, item 10: the Python API (switchsim.load / run / sweep), its tidy rows and DataFrames."""

import sys

import pytest

import switchsim
from switchsim.config import ScenarioError

SMALL = {"workload.elements": 4096, "workload.source": "synthetic", "topology.workers": 3,
         "methods": ["switchml", "ring"]}


def test_load_run_and_rows_match_the_engines():
    scenario = switchsim.load("quickstart", SMALL)
    assert scenario.name == "quickstart" and scenario.topology.workers == 3
    result = switchsim.run(scenario, seed=2)
    assert result.exact and result.exit_status == 0
    rows = result.rows()
    assert [(row["method"], row["seed"], row["outcome"]) for row in rows] == [("switchml", 2, "exact"),
                                                                              ("ring", 2, "exact")]
    assert [row["aggregation_time_s"] for row in rows] == [r.aggregation_time_s for r in result.results.results]


def test_run_writes_the_command_files_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    switchsim.run("quickstart", SMALL)
    assert list(tmp_path.iterdir()) == []
    switchsim.run("quickstart", SMALL, out=tmp_path / "out")
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"summary.json", "results.csv", "methods.png",
                                                              "links.png"}


def test_sweep_rows_and_points():
    result = switchsim.sweep("quickstart", {"link.loss": [0, 0.001]}, seeds=[0, 1], overrides=SMALL)
    rows = result.rows()
    assert [(row["link.loss"], row["seed"], row["method"]) for row in rows] == [
        (loss, seed, method) for loss in (0, 0.001) for seed in (0, 1) for method in ("switchml", "ring")]
    assert len(result.points()) == 4 and result.exit_status == 0
    with pytest.raises(ScenarioError, match="each value once"):
        switchsim.sweep("quickstart", {"link.loss": [0, 0]}, overrides=SMALL)


def test_to_frame_is_a_dataframe_of_the_rows():
    pandas = pytest.importorskip("pandas", reason="pandas is the optional extra switchsim[pandas]")
    result = switchsim.run("quickstart", SMALL)
    frame = result.to_frame()
    assert isinstance(frame, pandas.DataFrame)
    assert frame["method"].tolist() == ["switchml", "ring"]
    assert frame["ate_per_s"].tolist() == [row["ate_per_s"] for row in result.rows()]


def test_to_frame_without_pandas_names_the_extra(monkeypatch):
    result = switchsim.run("quickstart", SMALL)
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if pandas were not installed
    with pytest.raises(ImportError, match=r"pip install 'switchsim\[pandas\]'"):
        result.to_frame()


def test_version_and_the_public_names():
    assert switchsim.__version__ == __import__("importlib.metadata").metadata.version("switchsim")
    assert callable(switchsim.load) and callable(switchsim.run) and callable(switchsim.sweep)
    import switchsim.sweep as module  # the module of the same name stays importable, and callable

    assert module.parse_seeds("0..2") == (0, 1, 2) and callable(module)
