"""Plots of results (PNG). Reads `Results` or sweep rows only; never runs anything."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from switchsim.sim.metrics import LinkSummary
from switchsim.sim.run import Results

_METRIC_LABELS = {"ate_per_s": "aggregated elements / s (ATE/s)", "time_s": "aggregation time (s)"}
_COLORS = {"switchml": "#1b9e77", "ring": "#d95f02", "ps": "#7570b3", "allgather": "#e7298a"}


def plot_methods(results: Results, out_dir: str | Path) -> Path:
    """Bar charts of ATE/s and aggregation time per method; returns the PNG path."""
    records = results.results
    names = [r.method for r in records]
    colors = [_COLORS.get(n, "grey") for n in names]
    figure, (rate, elapsed) = plt.subplots(1, 2, figsize=(10, 4))
    rate.bar(names, [r.ate_per_s for r in records], color=colors)
    rate.set_ylabel("aggregated elements / s")
    rate.set_title("aggregation throughput (ATE/s)")
    elapsed.bar(names, [r.aggregation_time_s * 1e3 for r in records], color=colors)
    elapsed.set_ylabel("aggregation time (ms)")
    elapsed.set_title("time to all-reduce")
    for axis, values in ((rate, [r.ate_per_s for r in records]),
                         (elapsed, [r.aggregation_time_s * 1e3 for r in records])):
        for x, (value, record) in enumerate(zip(values, records, strict=True)):
            mark = "" if record.correct else " WRONG"
            axis.annotate(f"{value:.3g}{mark}", (x, value), ha="center", va="bottom", fontsize=8)
    scenario = results.scenario
    figure.suptitle(f"{scenario.name}: {scenario.topology.workers_per_job} workers, "
                    f"{scenario.workload.elements:,} elements, {scenario.link.rate_bps / 1e9:g} Gb/s, "
                    f"seed {results.seed}")
    figure.tight_layout()
    path = Path(out_dir) / "methods.png"
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path


#: Dots per inch of every saved plot.
DPI = 120
#: Widest figure, inches: 16 in x 120 dpi = 1,920 px.
MAX_WIDTH_IN = 16.0
#: Up to this many links, one bar per link (named); beyond, the distribution of their utilisation.
MAX_LINK_BARS = 48
_UTILISATION = "utilisation (busy time / run time)"


def links_figure(method: str, links: list[LinkSummary]) -> Figure:
    """Utilisation of ``links``: one named bar each when they are few, else a histogram over links.

    Either way the figure is at most `MAX_WIDTH_IN` wide and both axes are labelled.
    """
    color = _COLORS.get(method, "grey")
    utilisation = [link.utilisation for link in links]
    if len(links) <= MAX_LINK_BARS:
        figure, axis = plt.subplots(figsize=(min(MAX_WIDTH_IN, max(6.0, 0.35 * len(links))), 4))
        axis.bar([link.name for link in links], utilisation, color=color)
        axis.set_xlabel("link (from->to)")
        axis.set_ylabel(_UTILISATION)
        axis.set_ylim(0, 1.05)
        axis.tick_params(axis="x", rotation=90, labelsize=7)
        axis.set_title(f"{method}: link utilisation")
    else:
        figure, axis = plt.subplots(figsize=(8, 4.5))
        axis.hist(utilisation, bins=50, range=(0.0, max(1.0, *utilisation)), color=color)
        busiest = max(links, key=lambda link: link.utilisation)
        axis.set_xlabel(_UTILISATION)
        axis.set_ylabel("links")
        axis.set_title(f"{method}: utilisation of {len(links):,} links (median {float(np.median(utilisation)):.2f}, "
                       f"busiest {busiest.name} {busiest.utilisation:.2f})", fontsize=10)
    figure.tight_layout()
    return figure


def plot_links(results: Results, out_dir: str | Path) -> Path:
    """`links_figure` of the SwitchML run (or the first method) as links.png; returns the PNG path."""
    record = next((r for r in results.results if r.method == "switchml"), results.results[0])
    figure = links_figure(record.method, record.links)
    path = Path(out_dir) / "links.png"
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path


def plot_sweep(rows: list[dict], param: str, out_dir: str | Path, metric: str = "ate_per_s") -> Path:
    """``metric`` against the swept parameter, one line per method; returns the PNG path."""
    figure, axis = plt.subplots(figsize=(7, 4.5))
    methods = sorted({row["method"] for row in rows}, key=lambda m: list(_COLORS).index(m) if m in _COLORS else 99)
    for method in methods:
        points = sorted((row["value"], row[metric]) for row in rows if row["method"] == method)
        axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=method,
                  color=_COLORS.get(method, "grey"))
    positive = sorted({row["value"] for row in rows if isinstance(row["value"], int | float) and row["value"] > 0})
    if len(positive) >= 2 and positive[-1] / positive[0] >= 100:
        has_zero = any(row["value"] == 0 for row in rows)
        if has_zero:
            axis.set_xscale("symlog", linthresh=positive[0])
        else:
            axis.set_xscale("log")
    label = _METRIC_LABELS.get(metric, metric.replace("_", " "))
    axis.set_xlabel(param)
    axis.set_ylabel(label)
    axis.set_title(f"{label} vs {param}")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    path = Path(out_dir) / f"sweep-{param.replace('.', '-')}.png"
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
