"""Pictures of the training study: accuracy and loss per step, accuracy against simulated time."""

from __future__ import annotations

from pathlib import Path

from switchsim.study.train import TrainingResult

_STYLES = {"float32": "-", "intsgd-random": "-", "intsgd-deterministic": "--", "heuristic": ":",
           "heuristic-sum-in-wire": "-."}


def _figure(**options):
    """A `matplotlib.figure.Figure` (no pyplot: no backend selected, nothing left open in a notebook)."""
    from matplotlib.figure import Figure

    return Figure(**options)


def _colour(result: TrainingResult, bits: list[int]):
    import matplotlib

    if result.config.method == "float32":
        return "black"
    return matplotlib.colormaps["viridis"](bits.index(result.config.wire_bits) / max(1, len(bits) - 1))


def plot_training(results: list[TrainingResult], out_dir: str | Path) -> list[Path]:
    """One figure per model: test accuracy and test loss against step, a line per method x bits."""
    paths = []
    for model in dict.fromkeys(r.config.model for r in results):
        runs = [r for r in results if r.config.model == model]
        bits = sorted({r.config.wire_bits for r in runs if r.config.method != "float32"})
        methods = list(dict.fromkeys(r.config.method for r in runs if r.config.method != "float32"))
        figure = _figure(figsize=(4.6 * max(1, len(methods)), 7.5))
        axes = figure.subplots(2, max(1, len(methods)), sharex=True, sharey="row", squeeze=False)
        for column, method in enumerate(methods or ["float32"]):
            for r in runs:
                if r.config.method not in (method, "float32"):
                    continue
                style = {"color": _colour(r, bits), "linestyle": _STYLES[r.config.method],
                         "linewidth": 2.2 if r.config.method == "float32" else 1.4, "label": r.config.label}
                axes[0, column].plot(r.steps, [100 * a for a in r.test_accuracy], **style)
                axes[1, column].plot(r.steps, r.test_loss, **style)
            axes[0, column].set_title(method)
            axes[1, column].set_xlabel("step")
            axes[1, column].set_yscale("log")
            axes[0, column].legend(fontsize=7, loc="lower right")
            for axis in axes[:, column]:
                axis.grid(alpha=0.3)
        axes[0, 0].set_ylabel("test accuracy (%)")
        axes[1, 0].set_ylabel("test loss (nats)")
        first = runs[0].config
        figure.suptitle(f"digits, {model} (d = {runs[0].dim}), {first.workers} workers, batch {first.batch}/worker, "
                        f"lr {first.learning_rate}: IntSGD per wire width vs float32 (black)")
        figure.tight_layout()
        path = Path(out_dir) / f"training-{model}.png"
        figure.savefig(path, dpi=110)
        paths.append(path)
    return paths


def plot_time_to_accuracy(curves: list[dict], out_dir: str | Path, target: float) -> list[Path]:
    """Accuracy against simulated time (milliseconds, log scale), one figure per model.

    One panel per aggregation method, each with a line per wire width and the float32 run (black) as the
    reference in every panel: a handful of lines and a short legend each, instead of every method and width
    in one tangle. ``curves`` rows: model, label, method, wire_bits, times_s (list), accuracy (list, 0..1),
    iteration_s.
    """
    import matplotlib

    paths = []
    for model in dict.fromkeys(c["model"] for c in curves):
        rows = [c for c in curves if c["model"] == model]
        bits = sorted({c["wire_bits"] for c in rows if c["method"] != "float32"})
        methods = list(dict.fromkeys(c["method"] for c in rows if c["method"] != "float32")) or ["float32"]
        columns = min(3, len(methods))
        lines = -(-len(methods) // columns)
        figure = _figure(figsize=(5.2 * columns, 4.2 * lines))
        panels = figure.subplots(lines, columns, sharex=True, sharey=True, squeeze=False).ravel()
        for panel, method in zip(panels, methods, strict=False):
            for c in rows:
                if c["method"] not in (method, "float32"):
                    continue
                colour = "black" if c["method"] == "float32" else matplotlib.colormaps["viridis"](
                    bits.index(c["wire_bits"]) / max(1, len(bits) - 1))
                label = "float32 (ring)" if c["method"] == "float32" else f"{c['wire_bits']} bits"
                panel.plot([1e3 * t for t in c["times_s"]], [100 * a for a in c["accuracy"]], color=colour,
                           linestyle=_STYLES[c["method"]], linewidth=2.0 if c["method"] == "float32" else 1.3,
                           label=f"{label}, {c['iteration_s'] * 1e3:.3g} ms/iter")
            panel.axhline(100 * target, color="grey", linewidth=0.8)
            panel.set_xscale("log")
            panel.set_title(method, fontsize=10)
            panel.set_ylim(max(0, 100 * target - 30), 100)
            panel.grid(alpha=0.3, which="both")
            panel.legend(fontsize=7, loc="lower right")
        for panel in panels[len(methods):]:
            panel.set_visible(False)
        for panel in panels[-columns:]:
            panel.set_xlabel("simulated time (ms)")
        for panel in panels[::columns]:
            panel.set_ylabel("test accuracy (%)")
        figure.suptitle(f"digits {model}: time to {100 * target:.0f} % accuracy (grey line); time = steps x "
                        "(all-reduce + compute); float32 = ring all-reduce, IntSGD = SwitchML", fontsize=10)
        figure.tight_layout()
        path = Path(out_dir) / f"time-to-accuracy-{model}.png"
        figure.savefig(path, dpi=110, bbox_inches="tight")
        paths.append(path)
    return paths
