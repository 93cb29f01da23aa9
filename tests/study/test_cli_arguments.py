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


def test_the_time_to_accuracy_legend_sits_beside_the_axes(tmp_path, monkeypatch):
    """22 curves: the legend is drawn right of the plotting area, never over the data."""
    from matplotlib.figure import Figure

    from switchsim.study.training_plots import plot_time_to_accuracy

    extents = []
    original = Figure.savefig

    def save_and_measure(figure, *args, **kwargs):
        original(figure, *args, **kwargs)
        renderer = figure.canvas.get_renderer()
        axis = figure.axes[0]
        legend = axis.get_legend()
        extents.append((len(legend.get_texts()), legend.get_window_extent(renderer).x0,
                        axis.get_window_extent(renderer).x1))

    monkeypatch.setattr(Figure, "savefig", save_and_measure)
    curves = [{"model": "mlp", "label": f"intsgd {b} bits #{i}", "method": "intsgd-random", "wire_bits": b,
               "times_s": [1e-3, 2e-3, 4e-3], "accuracy": [0.5, 0.8, 0.9], "iteration_s": 1e-5}
              for i, b in enumerate([2, 3, 4, 8, 16, 32] * 4)][:22]
    [path] = plot_time_to_accuracy(curves, tmp_path, 0.9)
    [(entries, legend_left, axes_right)] = extents
    assert entries == 22 and legend_left >= axes_right
    assert path.stat().st_size > 0
