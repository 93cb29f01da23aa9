"""Pictures of the training study: accuracy and loss per step, accuracy against simulated time."""

from __future__ import annotations

from pathlib import Path

from switchsim.study.train import TrainingResult

_STYLES = {"float32": "-", "intsgd-random": "-", "intsgd-deterministic": "--", "heuristic": ":",
           "heuristic-sum-in-wire": "-."}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colour(result: TrainingResult, bits: list[int]):
    import matplotlib

    if result.config.method == "float32":
        return "black"
    return matplotlib.colormaps["viridis"](bits.index(result.config.wire_bits) / max(1, len(bits) - 1))


def plot_training(results: list[TrainingResult], out_dir: str | Path) -> list[Path]:
    """One figure per model: test accuracy and test loss against step, a line per method x bits."""
    plt = _pyplot()
    paths = []
    for model in dict.fromkeys(r.config.model for r in results):
        runs = [r for r in results if r.config.model == model]
        bits = sorted({r.config.wire_bits for r in runs if r.config.method != "float32"})
        methods = list(dict.fromkeys(r.config.method for r in runs if r.config.method != "float32"))
        figure, axes = plt.subplots(2, max(1, len(methods)), figsize=(4.6 * max(1, len(methods)), 7.5),
                                    sharex=True, sharey="row", squeeze=False)
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
        plt.close(figure)
        paths.append(path)
    return paths


def plot_time_to_accuracy(curves: list[dict], out_dir: str | Path, target: float) -> list[Path]:
    """Accuracy against simulated time (seconds, log scale), one figure per model.

    ``curves`` rows: model, label, method, wire_bits, times_s (list), accuracy (list, 0..1), iteration_s.
    """
    plt = _pyplot()
    paths = []
    for model in dict.fromkeys(c["model"] for c in curves):
        rows = [c for c in curves if c["model"] == model]
        bits = sorted({c["wire_bits"] for c in rows if c["method"] != "float32"})
        figure, axis = plt.subplots(figsize=(9, 5.5))
        for c in rows:
            colour = "black" if c["method"] == "float32" else plt.get_cmap("viridis")(
                bits.index(c["wire_bits"]) / max(1, len(bits) - 1))
            axis.plot(c["times_s"], [100 * a for a in c["accuracy"]], color=colour,
                      linestyle=_STYLES[c["method"]], label=f"{c['label']} ({c['iteration_s'] * 1e6:.1f} µs/iter)")
        axis.axhline(100 * target, color="grey", linewidth=0.8)
        axis.set_xscale("log")
        axis.set_xlabel("simulated time (s): steps x (all-reduce time + compute time)")
        axis.set_ylabel("test accuracy (%)")
        axis.set_ylim(max(0, 100 * target - 30), 100)
        axis.grid(alpha=0.3, which="both")
        # beside the axes, never over the curves (one entry per method and wire width: 20 and more)
        axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        axis.set_title(f"digits {model}: time to accuracy; float32 = ring all-reduce, IntSGD = SwitchML "
                       "at the narrowest wire width", fontsize=10)
        figure.tight_layout()
        path = Path(out_dir) / f"time-to-accuracy-{model}.png"
        figure.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(figure)
        paths.append(path)
    return paths
