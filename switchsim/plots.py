"""Plots of results (PNG). Reads `Results` or sweep rows only; never runs anything."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from switchsim.outcome import Outcome, outcome
from switchsim.sim.collectives import REGISTRY
from switchsim.sim.metrics import LinkSummary
from switchsim.sim.run import Results

_METRIC_LABELS = {"ate_per_s": "aggregated elements / s (ATE/s)", "time_s": "aggregation time (s)"}
_COLORS = {entry.name: entry.color for entry in REGISTRY.values()}


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
            verdict = outcome(record.completed, record.correct)
            mark = {Outcome.EXACT: "", Outcome.WRONG: " WRONG"}.get(verdict, " did not finish")
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


def sweep_positions(values: list) -> tuple[list[float], list[str], str]:
    """Where each swept value sits on the x axis: ``(positions, tick labels, scale)``.

    Numbers are placed at their value with a tick at each (8, 16, 32 rather than
    10, 15, 20), on a log scale (symmetric log when 0 is among them) when they
    span a factor of 20 or more. Booleans and strings are categories, one slot
    each in the order given.

    Example:
        >>> sweep_positions([8, 16, 32])
        ([8, 16, 32], ['8', '16', '32'], 'linear')
        >>> sweep_positions([False, True])
        ([0, 1], ['False', 'True'], 'linear')
    """
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if not numeric:
        return list(range(len(values))), [str(v) for v in values], "linear"
    positive = sorted(v for v in values if v > 0)
    scale = "linear"
    if len(positive) >= 2 and positive[-1] / positive[0] >= 20:
        scale = "symlog" if any(v == 0 for v in values) else "log"
    return list(values), [f"{v:g}" for v in values], scale


def plot_sweep(document: dict, out_dir: str | Path) -> Path:
    """Mean aggregation time and ATE/s against the first swept field, with 95 % confidence intervals.

    One line per method and combination of the other swept fields. A point
    where some seeds did not finish is drawn hollow; one where none finished
    has no value and is marked with an x on the axis ("did not finish").
    Returns the PNG path.
    """
    axes = list(document["axes"].items())
    x_name, x_values = axes[0]
    positions, labels, scale = sweep_positions(x_values)
    where = {json.dumps(v, default=list): p for v, p in zip(x_values, positions, strict=True)}
    points = document["points"]
    series: dict[tuple, list[dict]] = {}
    for point in points:
        others = tuple((name.split(".")[-1], point["params"][name]) for name, _ in axes[1:])
        series.setdefault((point["method"], others), []).append(point)
    # series with the same numbers (ring does not depend on the SwitchML recovery policy) are drawn once
    curves: dict[tuple, tuple[str, list[str], list[dict]]] = {}
    for (method, others), chosen in series.items():
        numbers = (method, *((p["params"][x_name], p["mean_time_s"], p["completed"]) for p in chosen))
        label = ", ".join(f"{name}={value}" for name, value in others)
        curves.setdefault(numbers, (method, [], chosen))[1].append(label)
    figure, panels = plt.subplots(1, 2, figsize=(12, 4.8))
    styles = ["-", "--", ":", "-."]
    markers = ["o", "s", "^", "D", "v", "P", "X"]
    for index, (method, labels_of, chosen) in enumerate(curves.values()):
        if not labels_of[0]:
            shown = method
        elif len(labels_of) == 1:
            shown = f"{method}, {labels_of[0]}"
        else:
            shown = f"{method} (same for: {'; '.join(labels_of)})"
        color = _COLORS.get(method) if len(curves) <= len(_COLORS) and len(axes) == 1 else None
        style = {"color": color, "linestyle": styles[index % len(styles)], "marker": markers[index % len(markers)],
                 "capsize": 3}
        for panel, name, factor in ((panels[0], "time_s", 1e3), (panels[1], "ate_per_s", 1.0)):
            finished = [p for p in chosen if p[f"mean_{name}"] is not None]
            xs = [where[json.dumps(p["params"][x_name], default=list)] for p in finished]
            means = [p[f"mean_{name}"] * factor for p in finished]
            low = [m - p[f"ci95_{name}"][0] * factor for m, p in zip(means, finished, strict=True)]
            high = [p[f"ci95_{name}"][1] * factor - m for m, p in zip(means, finished, strict=True)]
            drawn = panel.errorbar(xs, means, yerr=[low, high], label=shown if panel is panels[1] else None,
                                   **style)
            style["color"] = drawn[0].get_color()
            partial = [(x, m) for x, m, p in zip(xs, means, finished, strict=True) if p["completed"] < p["seeds"]]
            if partial:
                panel.scatter(*zip(*partial, strict=True), s=90, facecolors="white", edgecolors=style["color"],
                              zorder=3)
            unfinished = [where[json.dumps(p["params"][x_name], default=list)] for p in chosen
                          if p[f"mean_{name}"] is None]
            if unfinished:  # at the foot of the axis, whatever its scale
                panel.scatter(unfinished, [0] * len(unfinished), marker="x", s=80, color=style["color"], zorder=3,
                              clip_on=False, transform=panel.get_xaxis_transform())
    for panel, title, name in ((panels[0], "aggregation time (ms)", "time_s"),
                               (panels[1], _METRIC_LABELS["ate_per_s"], "ate_per_s")):
        if scale != "linear":
            panel.set_xscale(scale, **({"linthresh": min(v for v in x_values if v > 0)} if scale == "symlog" else {}))
        panel.set_xticks(positions, labels)
        panel.minorticks_off()
        panel.set_xlabel(x_name)
        panel.set_ylabel(title)
        means = [p[f"mean_{name}"] for p in points if p[f"mean_{name}"]]
        if means and max(means) / min(means) >= 100:  # orders of magnitude apart: a log axis shows them all
            panel.set_yscale("log")
        else:
            panel.set_ylim(bottom=0)
        panel.grid(alpha=0.3)
    seeds = len(document["seeds"])
    figure.suptitle(f"{document['scenario']}: mean of {seeds} seed(s), bars: 95 % confidence interval; "
                    "hollow: some seeds did not finish; x on the axis: none finished")
    handles, names = panels[1].get_legend_handles_labels()
    figure.legend(handles, names, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    figure.tight_layout()
    path = Path(out_dir) / "sweep.png"
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path
