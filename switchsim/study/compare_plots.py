"""Figures of ``switchsim study compare``: accuracy vs simulated time and accuracy vs bits per element (PNG, Agg)."""

from __future__ import annotations

from pathlib import Path

from switchsim.study.compare import MethodRuns

_MARKERS = "os^vD<>ph*XP"
_LINES = ("-", "--", ":", "-.")


def _style(index: int) -> dict:
    return {"marker": _MARKERS[index % len(_MARKERS)], "linestyle": _LINES[index % len(_LINES)], "alpha": 0.8,
            "markersize": 4}


def plot_compare(table: list[MethodRuns], rows: list[dict], out: str | Path) -> list[Path]:
    """Per digits model: ``compare-<model>-accuracy-vs-time.png`` and ``compare-<model>-accuracy-vs-bits.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for model in dict.fromkeys(r.model for r in table):
        runs = {r.method: r for r in table if r.model == model}
        model_rows = [r for r in rows if r["model"] == model]
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for index, row in enumerate(model_rows):  # one curve per method and collective (both switches)
            steps, curve = runs[row["method"]].mean_curve()
            label = f"{row['method']} ({row['collective']}{'*' if row['collective'] == 'switch-int8' else ''})"
            ax.plot(steps * row["total_s"] * 1e3, 100 * curve, label=label, **_style(index))
        ax.set_xscale("log")
        written.append(_finish(plt, fig, ax, "time per iteration x iterations (ms, log scale)\n"
                               "* switch-int8: switchsim's narrow-element extension (no hardware implements it)",
                               "test accuracy % (mean over seeds)", f"{model}: accuracy vs time",
                               out / f"compare-{model}-accuracy-vs-time.png"))
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for index, r in enumerate(runs.values()):
            style = _style(index)
            ax.errorbar(r.bits_per_element, 100 * r.accuracies.mean(),
                        yerr=100 * r.accuracies.std(ddof=1) if len(r.accuracies) > 1 else 0, label=r.method,
                        marker=style["marker"], linestyle="none", capsize=3)
        ax.set_xscale("log", base=2)
        written.append(_finish(plt, fig, ax, "bits per element one worker sends per step (log2 scale)",
                               "final test accuracy % (mean ± std over seeds)",
                               f"{model}: accuracy vs bits per element",
                               out / f"compare-{model}-accuracy-vs-bits.png"))
    return written


def _finish(plt, fig, ax, xlabel: str, ylabel: str, title: str, path: Path) -> Path:
    """Label, legend and grid ``ax``; save ``fig`` to ``path`` (PNG) and close it."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


