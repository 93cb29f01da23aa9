"""``switchsim study`` argument errors: they name the option and the allowed range, quickly, without a traceback."""

import argparse
import threading

import pytest

from switchsim.cli import main
from switchsim.study.cli import _comma_list


def _parse_in_thread(parse, text):
    outcome = {}

    def run():
        try:
            parse(text)
        except argparse.ArgumentTypeError as error:
            outcome["error"] = str(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=5)
    return thread.is_alive(), outcome


def test_a_bad_seed_is_rejected_at_once_with_the_option_and_range():
    still_running, outcome = _parse_in_thread(_comma_list(int, range(0, 2**31), "--seeds"), "-1")
    assert not still_running  # min()/max() over range(2**31) used to take minutes
    assert outcome["error"] == "--seeds: [-1] not allowed; choose from 0..2147483647"


@pytest.mark.parametrize("command", ["training", "compare"])
def test_cli_rejects_a_negative_seed_without_a_traceback(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["study", command, "--seeds", "-1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--seeds: [-1] not allowed; choose from 0..2147483647" in err and "Traceback" not in err


def test_a_bad_timing_scenario_fails_before_any_training(tmp_path, capsys, monkeypatch):
    """`study training --timing FOLDER` once trained for minutes before reading --timing."""
    from switchsim.cli import main
    from switchsim.study import train

    def no_training(*_args, **_kwargs):
        raise AssertionError("training started before --timing was read")

    monkeypatch.setattr(train, "run_grid", no_training)
    assert main(["study", "training", "--timing", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert str(tmp_path) in capsys.readouterr().err


def test_time_to_accuracy_is_one_panel_per_method_with_a_short_legend(tmp_path, monkeypatch):
    """29 curves (4 methods x 7 widths + float32): a panel per method, each with its widths and the float32
    reference, in milliseconds; never one axis with a 29-entry legend."""
    from matplotlib.figure import Figure

    from switchsim.study.training_plots import plot_time_to_accuracy

    saved = []
    original = Figure.savefig

    def save_and_keep(figure, *args, **kwargs):
        original(figure, *args, **kwargs)
        saved.append(figure)

    monkeypatch.setattr(Figure, "savefig", save_and_keep)
    methods = ("intsgd-random", "intsgd-deterministic", "heuristic", "heuristic-sum-in-wire")
    curves = [{"model": "mlp", "label": f"{m} {b}", "method": m, "wire_bits": b, "times_s": [1e-3, 2e-3, 4e-3],
               "accuracy": [0.5, 0.8, 0.9], "iteration_s": 1e-5} for m in methods for b in (2, 3, 4, 6, 8, 16, 32)]
    curves.append({"model": "mlp", "label": "float32", "method": "float32", "wire_bits": 32,
                   "times_s": [1e-3, 2e-3], "accuracy": [0.6, 0.95], "iteration_s": 2e-5})
    [path] = plot_time_to_accuracy(curves, tmp_path, 0.9)
    [figure] = saved
    panels = [axis for axis in figure.axes if axis.get_visible()]
    assert [axis.get_title() for axis in panels] == list(methods)
    for axis in panels:
        assert len(axis.get_legend().get_texts()) == 8  # 7 widths + the float32 reference
    assert panels[-1].get_xlabel() == "simulated time (ms)"
    assert list(panels[0].get_lines()[0].get_xdata()) == [1.0, 2.0, 4.0]  # ms
    assert path.stat().st_size > 0
