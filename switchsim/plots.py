"""Plots of results (PNG). Reads `Results` or sweep rows only; never runs anything.

Figures are `matplotlib.figure.Figure` objects, not pyplot ones: importing this module selects no
backend and leaves a notebook's own (inline, widget) alone, and saving a PNG needs no display.
Every time is in milliseconds; ATE/s is spelled out as aggregated tensor elements per second.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from switchsim.outcome import Outcome, outcome
from switchsim.sim.collectives import REGISTRY
from switchsim.sim.metrics import LinkSummary
from switchsim.sim.run import Results

#: ATE/s, said in full wherever it is shown.
ATE_PER_S = "ATE/s (aggregated tensor elements per second)"
_METRIC_LABELS = {"ate_per_s": ATE_PER_S, "time_s": "aggregation time (ms)"}
#: Readable x-axis labels (with units) of the fields a sweep usually varies; others read as the field.
AXIS_LABELS = {
    "link.loss": "link loss probability (per packet, each link)",
    "link.rate_bps": "link rate (bit/s)",
    "link.delay_s": "link propagation delay (s)",
    "link.duplicate": "link duplication probability (per packet)",
    "link.reorder": "link reordering probability (per packet)",
    "switchml.window": "window (packets in flight per worker)",
    "switchml.timeout_s": "retransmission timeout (s)",
    "switchml.recovery": "loss recovery policy",
    "switchml.elements_per_packet": "elements per packet (k)",
    "switch.slots": "switch slots",
    "topology.workers": "workers per job",
    "workload.elements": "elements per worker",
    "methods": "methods",
}
_UNIT_SUFFIXES = {"_s": "s", "_bps": "bit/s", "_bytes": "bytes"}


def axis_label(field: str) -> str:
    """The x-axis label of a swept ``SECTION.FIELD``: words and a unit, the field itself in brackets.

    Example:
        >>> axis_label("link.loss")
        'link loss probability (per packet, each link) [link.loss]'
        >>> axis_label("host.compute_s")
        'host compute (s) [host.compute_s]'
    """
    if field in AXIS_LABELS:
        return f"{AXIS_LABELS[field]} [{field}]"
    words = field.replace(".", " ").replace("_", " ")
    for suffix, unit in _UNIT_SUFFIXES.items():
        if field.endswith(suffix):
            words = f"{field[: -len(suffix)].replace('.', ' ').replace('_', ' ')} ({unit})"
    return f"{words} [{field}]"


def _log_if_spread(axis, values: list[float], factor: float = 10.0) -> bool:
    """A log y axis when the positive ``values`` span ``factor`` or more (small ones stay visible)."""
    positive = [v for v in values if v and v > 0]
    if len(positive) >= 2 and max(positive) / min(positive) >= factor:
        axis.set_yscale("log")
        return True
    return False


_COLORS = {entry.name: entry.color for entry in REGISTRY.values()}


def plot_methods(results: Results, out_dir: str | Path) -> Path:
    """`methods_figure` as methods.png; returns the PNG path."""
    return _save(methods_figure(results), out_dir, "methods.png")


def _save(figure: Figure, out_dir: str | Path, name: str) -> Path:
    """Write ``figure`` as ``out_dir/name`` at `DPI`; returns the path."""
    path = Path(out_dir) / name
    figure.savefig(path, dpi=DPI)
    return path


def _run_title(results: Results, hosts: str) -> str:
    """A run's plot title: the scenario, ``hosts`` (who ran), elements, link rate and seed."""
    scenario = results.scenario
    return (f"{scenario.name}: {hosts}, {scenario.workload.elements:,} elements, "
            f"{scenario.link.rate_bps / 1e9:g} Gb/s, seed {results.seed}")


def methods_figure(results: Results) -> Figure:
    """Bar charts of ATE/s and aggregation time (ms) per method, each on a log axis when values are 10 x apart."""
    records = results.results
    names = [r.method for r in records]
    colors = [_COLORS.get(n, "grey") for n in names]
    figure = Figure(figsize=(10, 4.4))
    rate, elapsed = figure.subplots(1, 2)
    rates = [r.ate_per_s for r in records]
    times = [r.aggregation_time_s * 1e3 if r.completed else 0.0 for r in records]
    rate.bar(names, rates, color=colors)
    rate.set_ylabel("aggregated tensor elements per second")
    rate.set_title("throughput, ATE/s (aggregated tensor elements / s)", fontsize=10)
    elapsed.bar(names, times, color=colors)
    elapsed.set_ylabel("aggregation time (ms)")
    elapsed.set_title("time to all-reduce", fontsize=10)
    for axis, values in ((rate, rates), (elapsed, times)):
        if _log_if_spread(axis, values):  # PS's seconds beside SwitchML's milliseconds: both readable
            axis.set_title(axis.get_title() + ", log scale", fontsize=10)
    for axis, values in ((rate, rates), (elapsed, times)):
        for x, (value, record) in enumerate(zip(values, records, strict=True)):
            verdict = outcome(record.completed, record.correct)
            mark = {Outcome.EXACT: "", Outcome.WRONG: " WRONG"}.get(verdict, " did not finish")
            if value > 0:
                axis.annotate(f"{value:.3g}{mark}", (x, value), ha="center", va="bottom", fontsize=8)
            else:  # nothing to draw (did not finish): the mark at the foot of the axis, whatever its scale
                axis.annotate(mark.strip() or "0", (x, 0.02), xycoords=axis.get_xaxis_transform(), ha="center",
                              va="bottom", fontsize=8)
    figure.suptitle(_run_title(results, f"{results.scenario.topology.workers_per_job} workers"))
    figure.tight_layout()
    return figure


def plot_tenants(results: Results, out_dir: str | Path) -> Path:
    """`tenants_figure` as tenants.png; returns the PNG path."""
    return _save(tenants_figure(results), out_dir, "tenants.png")


def tenants_figure(results: Results) -> Figure:
    """Jobs sharing a fabric: each job's aggregation time alone and shared (ms), its slowdown above the bars."""
    records = results.results
    labels = [f"job {r.job}\n{r.method}" for r in records]
    shared = [r.aggregation_time_s * 1e3 if r.completed else 0.0 for r in records]
    alone = [r.alone_time_s * 1e3 if r.alone_time_s is not None else 0.0 for r in records]
    figure = Figure(figsize=(max(6.0, min(MAX_WIDTH_IN, 1.6 * len(records) + 2)), 4.4))
    axis = figure.subplots()
    positions = list(range(len(records)))
    width = 0.38
    axis.bar([x - width / 2 for x in positions], alone, width, label="alone", color="#bbbbbb")
    axis.bar([x + width / 2 for x in positions], shared, width, label="sharing the fabric",
             color=[_COLORS.get(r.method, "grey") for r in records])
    for x, record, value in zip(positions, records, shared, strict=True):
        verdict = outcome(record.completed, record.correct)
        text = {Outcome.EXACT: "", Outcome.WRONG: "WRONG "}.get(verdict, "did not finish ")
        if record.slowdown is not None:
            text += f"{record.slowdown:.2f}x"
        axis.annotate(text.strip(), (x + width / 2, value), ha="center", va="bottom", fontsize=8)
    axis.set_xticks(positions, labels)
    axis.set_ylabel("aggregation time (ms)")
    axis.set_title("each job alone and with every job running (slowdown = shared / alone)", fontsize=10)
    axis.legend(fontsize=8)
    figure.suptitle(_run_title(results, f"{len(records)} jobs of {results.scenario.topology.workers_per_job} workers"))
    figure.tight_layout()
    return figure


#: Dots per inch of every saved plot.
DPI = 120
#: Widest figure, inches: 16 in x 120 dpi = 1,920 px.
MAX_WIDTH_IN = 16.0
#: Up to this many links, one bar per link (named); beyond, the distribution of their utilisation.
MAX_LINK_BARS = 48
_UTILISATION = "utilisation (busy time / run time)"


#: The three things links.png shows per link, with how each reads and its unit factor.
_LINK_QUANTITIES = (("utilisation", _UTILISATION, 1.0), ("max_queue_bytes", "peak queue (KiB)", 1 / 1024),
                    ("drops", "packets dropped (queue full + loss)", 1.0))


def _link_value(link: LinkSummary, quantity: str) -> float:
    return float(link.queue_drops + link.loss_drops) if quantity == "drops" else float(getattr(link, quantity))


def links_figure(method: str, links: list[LinkSummary]) -> Figure:
    """Per link: utilisation, peak queue and drops; one named bar each when they are few, else histograms.

    Three panels, because on a symmetric topology the utilisation alone is the same bar many times: the
    queue peaks and drops show where the links differ (a panel whose values are all equal says so in its
    title). The figure is at most `MAX_WIDTH_IN` wide and every axis is labelled.
    """
    color = _COLORS.get(method, "grey")
    few = len(links) <= MAX_LINK_BARS
    width = min(MAX_WIDTH_IN, max(6.0, 0.35 * len(links))) if few else 12.0
    figure = Figure(figsize=(width, 9.0 if few else 4.5))
    panels = figure.subplots(3, 1, sharex=True) if few else figure.subplots(1, 3)
    for panel, (quantity, label, factor) in zip(panels, _LINK_QUANTITIES, strict=True):
        values = [_link_value(link, quantity) * factor for link in links]
        same = f" (all {values[0]:.3g})" if values and min(values) == max(values) else ""
        if few:
            panel.bar([link.name for link in links], values, color=color)
            panel.set_ylabel(label, fontsize=8)
            panel.set_title(f"{method}: {label}{same}", fontsize=9)
        else:
            high = max(values) if values else 1.0
            panel.hist(values, bins=50, range=(0.0, high if high > 0 else 1.0), color=color)
            busiest = max(links, key=lambda link: _link_value(link, quantity))
            panel.set_xlabel(label)
            panel.set_ylabel("links")
            panel.set_title(f"{len(links):,} links: median {float(np.median(values)):.3g}, most "
                            f"{busiest.name} {_link_value(busiest, quantity) * factor:.3g}{same}", fontsize=8)
        panel.grid(alpha=0.3)
    if few:
        panels[-1].set_xlabel("link (from->to)")
        panels[-1].tick_params(axis="x", rotation=90, labelsize=7)
        panels[0].set_ylim(0, 1.05)
    else:
        figure.suptitle(f"{method}: per-link utilisation, peak queue and drops", fontsize=10)
    figure.tight_layout()
    return figure


def plot_links(results: Results, out_dir: str | Path) -> Path:
    """`links_figure` of the SwitchML run (or the first method) as links.png; returns the PNG path."""
    record = next((r for r in results.results if r.method == "switchml"), results.results[0])
    figure = links_figure(record.method, record.links)
    path = Path(out_dir) / "links.png"
    figure.savefig(path, dpi=DPI)
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
    figure = Figure(figsize=(12, 4.8))
    panels = figure.subplots(1, 2)
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
            # the interval is of the logarithms (geometric), the dot the arithmetic mean: when the spread is
            # tiny, rounding can leave the dot a hair outside the interval; that side's bar is then empty
            low = [max(0.0, m - p[f"ci95_{name}"][0] * factor) for m, p in zip(means, finished, strict=True)]
            high = [max(0.0, p[f"ci95_{name}"][1] * factor - m) for m, p in zip(means, finished, strict=True)]
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
        panel.set_xlabel(axis_label(x_name))
        panel.set_ylabel(title)
        means = [p[f"mean_{name}"] for p in points if p[f"mean_{name}"]]
        if means and max(means) / min(means) >= 100:  # orders of magnitude apart: a log axis shows them all
            panel.set_yscale("log")
        else:
            panel.set_ylim(bottom=0)
        panel.grid(alpha=0.3)
    seeds = len(document["seeds"])
    figure.suptitle(f"{document['scenario']}: mean of {seeds} seed(s), bars: 95 % confidence interval "
                    "(t on the logarithms); hollow: some seeds did not finish; x on the axis: none finished")
    handles, names = panels[1].get_legend_handles_labels()
    figure.legend(handles, names, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    figure.tight_layout()
    path = Path(out_dir) / "sweep.png"
    figure.savefig(path, dpi=120, bbox_inches="tight")
    return path
