"""Issue 20, items 8 and 10: plots that show small times next to large ones, what varies between links, a
readable sweep axis, ATE/s spelled out; and importing switchsim.plots leaves a notebook's backend alone."""

import subprocess
import sys

from switchsim.config import load_scenario
from switchsim.plots import ATE_PER_S, axis_label, links_figure, methods_figure, plot_methods
from switchsim.sim.metrics import LinkSummary
from switchsim.sim.run import run_scenario


def test_importing_the_plots_selects_no_backend():
    code = ("import matplotlib; matplotlib.use('svg'); import switchsim.plots, switchsim.api; "
            "print(matplotlib.get_backend())")
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "svg"


def test_methods_png_uses_a_log_axis_when_times_are_orders_apart(tmp_path):
    scenario = tmp_path / "spread.toml"
    scenario.write_text('name = "spread"\nmethods = ["switchml", "ps"]\n[topology]\nworkers = 16\n'
                        '[switch]\nslots = 64\n[switchml]\nwindow = 64\n[workload]\nelements = 65536\n'
                        'source = "synthetic"\n')
    results = run_scenario(load_scenario(scenario))
    times = [r.aggregation_time_s for r in results.results]
    assert max(times) / min(times) >= 10, times  # PS's server link carries 16 tensors: over 10 x SwitchML's
    rate, elapsed = methods_figure(results).axes
    assert elapsed.get_yscale() == "log" and rate.get_yscale() == "log"
    assert "aggregated tensor elements" in rate.get_title()
    assert plot_methods(results, tmp_path).stat().st_size > 0


def test_links_figure_shows_queue_peaks_and_drops_besides_utilisation():
    links = [LinkSummary(name=f"l{i}", packets=10, bytes=100, utilisation=1.0, max_queue_bytes=1024.0 * i,
                         queue_drops=i, loss_drops=1) for i in range(4)]
    figure = links_figure("switchml", links)
    utilisation, queue, drops = figure.axes
    assert "(all 1)" in utilisation.get_title()  # the same everywhere: said once
    assert [p.get_height() for p in queue.patches] == [0.0, 1.0, 2.0, 3.0]  # KiB
    assert [p.get_height() for p in drops.patches] == [1.0, 2.0, 3.0, 4.0]
    assert "(all" not in queue.get_title()


def test_sweep_axis_reads_in_words_with_a_unit():
    assert axis_label("link.loss") == "link loss probability (per packet, each link) [link.loss]"
    assert axis_label("switchml.timeout_s") == "retransmission timeout (s) [switchml.timeout_s]"
    assert "aggregated tensor elements per second" in ATE_PER_S


def test_a_skewed_time_interval_stays_above_zero():
    import math

    from switchsim.sweep import log_interval, mean_interval

    times = [0.004, 0.004, 0.0042, 0.5]  # three quick runs and one that waited on long timeouts
    _, _, (t_low, _) = mean_interval(times)
    assert t_low < 0  # what the symmetric Student-t interval said, and the plot clipped
    low, high = log_interval(times)
    geometric = math.exp(sum(map(math.log, times)) / len(times))
    assert 0 < low < geometric < high
    two = log_interval([0.507, 0.532])  # two seeds: as wide as t(0.975, 1) = 12.7 makes it, not [min, max]
    assert two[0] < 0.45 and two[1] > 0.6
