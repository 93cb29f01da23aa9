"""``compare.md``: the comparison table in the structure of the IntSGD paper's Table 1, and its spread-checked notes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from switchsim.study.compare import CompareConfig, MethodRuns, exceeds_spread
from workers.quantizers.compressors import COMPRESSORS


def _time(seconds: float | None, unit: float) -> str:
    return "never" if seconds is None else f"{seconds / unit:.3f}" if seconds / unit < 10 else f"{seconds / unit:.1f}"


def markdown_table(rows: list[dict], target: float) -> str:
    """One Markdown table per model: accuracy (mean ± std), bits, compression, communication, compute, total, target.

    Digits rows are in microseconds, ``N-elements`` rows in milliseconds (as the paper's table).
    """
    out = []
    for model in dict.fromkeys(r["model"] for r in rows):
        group = [r for r in rows if r["model"] == model]
        digits = group[0]["accuracy_mean"] is not None
        unit, name = (1e-6, "µs") if digits else (1e-3, "ms")
        first = group[0]
        if digits:
            out.append(f"### {model} (d = {first['elements']}, n = {first['workers']}, {first['steps']} steps, "
                       f"{first['seeds']} seeds)\n")
        else:
            out.append(f"### {model} (n = {first['workers']}; times only: accuracy is not trained at this size)\n")
        header = ["method", "collective", "switch sums it", "bits/element", "test accuracy %", f"compression ({name})",
                  f"communication ({name})", f"compute ({name})", f"total ({name})"]
        if digits:
            header += [f"steps to {100 * target:.0f} %", f"time to {100 * target:.0f} % (ms)"]
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "|".join("---" for _ in header) + "|")
        for r in group:
            accuracy = (f"{100 * r['accuracy_mean']:.2f} ± {100 * r['accuracy_std']:.2f}" if digits else "-")
            cells = [r["method"], r["collective"], "yes" if r["switch_summable"] else "no",
                     f"{r['bits_per_element']:.2f}", accuracy, _time(r["compression_s"], unit),
                     _time(r["communication_s"], unit), _time(r["compute_s"], unit), _time(r["total_s"], unit)]
            if digits:
                cells += ["never" if r["steps_to_target"] is None else str(r["steps_to_target"]),
                          _time(r["time_to_target_s"], 1e-3)]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def _pct(values: np.ndarray) -> str:
    return f"{100 * values.mean():.2f} ± {100 * values.std(ddof=1):.2f} %"


def accuracy_notes(table: list[MethodRuns]) -> list[str]:
    """Accuracy claims, each only where the difference exceeds the seed spread (`exceeds_spread`)."""
    notes = []
    for model in dict.fromkeys(r.model for r in table):
        runs = {r.method: r.accuracies for r in table if r.model == model}
        pairs = [("intsgd-random", "intsgd-deterministic"), ("heuristic", "intsgd-deterministic")]
        pairs += [(m, "float32-ring") for m in runs if m != "float32-ring"]
        for a, b in pairs:
            if a not in runs or b not in runs or len(runs[a]) < 2:
                continue
            if exceeds_spread(runs[a], runs[b]):
                verdict = "higher" if runs[a].mean() > runs[b].mean() else "lower"
                notes.append(f"- {model}: {a} ({_pct(runs[a])}) is {verdict} than {b} ({_pct(runs[b])}), "
                             "beyond the seed spread.")
            elif (a, b) in pairs[:2]:
                notes.append(f"- {model}: {a} ({_pct(runs[a])}) vs {b} ({_pct(runs[b])}): within the seed spread, "
                             "no claim.")
        within = [m for m in runs if m != "float32-ring" and "float32-ring" in runs and len(runs[m]) > 1
                  and not exceeds_spread(runs[m], runs["float32-ring"])]
        if within:
            notes.append(f"- {model}: within the seed spread of float32-ring: {', '.join(within)}.")
    return notes


def time_notes(rows: list[dict]) -> list[str]:
    """The communication split: float32 ring -> int8 ring (32 -> 8 bits) and int8 ring -> switch (the collective)."""
    notes = []
    for model in dict.fromkeys(r["model"] for r in rows):
        by = {r["method"]: r for r in rows if r["model"] == model}
        if not {"float32-ring", "int8-ring", "intsgd-random"} <= set(by):
            continue
        f32, i8, sw = (by[m]["communication_s"] for m in ("float32-ring", "int8-ring", "intsgd-random"))
        notes.append(f"- {model}: communication float32 ring {f32 * 1e6:.1f} µs -> int8 ring {i8 * 1e6:.1f} µs "
                     f"({f32 / i8:.2f}x, 32 -> 8 bits) -> int8 switch {sw * 1e6:.1f} µs ({i8 / sw:.2f}x, ring -> "
                     f"switch); in all {f32 / sw:.2f}x.")
    return notes


def write_markdown(config: CompareConfig, rows: list[dict], table: list[MethodRuns], compression: dict[str, float],
                   wall_s: float, path: str | Path) -> Path:
    """``compare.md``: how it was run, the tables, the measured compression speeds and the notes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Compressors compared on the collective each needs",
        "",
        f"Digits models, {config.workers} workers x batch {config.batch}, {config.steps} steps, learning rate "
        f"{config.learning_rate}, Nesterov momentum 0.9 and weight decay 1e-4 before the reduce; IntSGD alpha "
        f"{'per layer' if config.per_layer else 'global'}; seeds "
        f"{', '.join(map(str, config.seeds))}; accuracy is the final test accuracy, mean ± sample standard "
        "deviation over seeds. Times are per iteration: compression measured on this machine, communication "
        "simulated on the same links, compute measured (digits) or given (paper-sized rows).",
        "",
        markdown_table(rows, config.target),
        "## Compression + decompression measured on this machine (once per run)",
        "",
        "| method | ns per element |",
        "|---|---|",
        *[f"| {m} | {compression[m] * 1e9:.2f} |" for m in config.methods],
        "",
        "## Notes (claims only beyond the seed spread)",
        "",
        *accuracy_notes(table),
        *time_notes(rows),
        "",
        "## Whether a switch can sum each method",
        "",
        *[f"- {m}: {COMPRESSORS[m].switch_reason}." for m in config.methods],
        "",
        f"Wall time of this run: {wall_s:.1f} s.",
        "",
    ]
    path.write_text("\n".join(lines))
    return path
