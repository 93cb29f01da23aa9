"""``compare.md``: the comparison table in the structure of the IntSGD paper's Table 1, and its spread-checked notes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from switchsim.study.compare import CompareConfig, MethodRuns, exceeds_spread
from workers.quantizers.compressors import COMPRESSORS

#: The footnote every table with a switch-int8 row carries.
INT8_FOOTNOTE = ("switch-int8 is switchsim's narrow-element extension (int8 elements, 256 per 256-byte payload; "
                 "docs/narrow-elements.md): no hardware implements it. switch-int32 is official SwitchML "
                 "(int32 elements, 64 per 256-byte payload), where 8-bit integers travel as int32.")


def _time(seconds: float | None, unit: float) -> str:
    return "never" if seconds is None else f"{seconds / unit:.3f}" if seconds / unit < 10 else f"{seconds / unit:.1f}"


def _label(collective: str) -> str:
    return "switch-int8*" if collective == "switch-int8" else collective


def markdown_table(rows: list[dict], target: float) -> str:
    """One Markdown table per model: accuracy (mean ± std), bits, compression, communication, compute, total, target.

    Digits rows are in microseconds, paper-sized rows in milliseconds (as the paper's table); one row per
    method and collective; a footnote marks the int8 switch as switchsim's extension.
    """
    out = []
    for model in dict.fromkeys(r["model"] for r in rows):
        group = [r for r in rows if r["model"] == model]
        digits = group[0]["accuracy_mean"] is not None
        unit, name = (1e-6, "µs") if digits else (1e-3, "ms")
        first = group[0]
        if digits:
            out.append(f"### {model} (d = {first['elements']}, n = {first['workers']}, {first['steps']} steps, "
                       f"{first['seeds']} seeds, each method at its best learning rate)\n")
        else:
            out.append(f"### {model} (d = {first['elements']:,}, n = {first['workers']}; times only: accuracy is not "
                       "trained at this size)\n")
        header = ["method", "collective", "bits/element", "bytes/worker"]
        header += ["lr", "test accuracy %"] if digits else []
        header += [f"compression ({name})", f"communication ({name})", f"compute ({name})", f"total ({name})"]
        if digits:
            header += [f"steps to {100 * target:.0f} %", f"time to {100 * target:.0f} % (ms)"]
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "|".join("---" for _ in header) + "|")
        for r in group:
            cells = [r["method"], _label(r["collective"]), f"{r['bits_per_element']:.2f}", f"{r['wire_bytes']:,.0f}"]
            if digits:
                cells += [f"{r['learning_rate']:g}", f"{100 * r['accuracy_mean']:.2f} ± {100 * r['accuracy_std']:.2f}"]
            cells += [_time(r["compression_s"], unit), _time(r["communication_s"], unit), _time(r["compute_s"], unit),
                      _time(r["total_s"], unit)]
            if digits:
                cells += ["never" if r["steps_to_target"] is None else str(r["steps_to_target"]),
                          _time(r["time_to_target_s"], 1e-3)]
            out.append("| " + " | ".join(cells) + " |")
        if any(r["collective"] == "switch-int8" for r in group):
            out.append("")
            out.append("\\* " + INT8_FOOTNOTE)
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
    """IntSGD's communication: float32 ring -> int8 ring (32 -> 8 bits) -> deployed switch -> int8 switch."""
    notes = []
    for model in dict.fromkeys(r["model"] for r in rows):
        by = {(r["method"], r["collective"]): r["communication_s"] for r in rows if r["model"] == model}
        keys = [("float32-ring", "float32-ring"), ("int8-ring", "int8-ring"), ("intsgd-random", "switch-int32"),
                ("intsgd-random", "switch-int8")]
        if not set(keys) <= set(by):
            continue
        f32, i8, sw32, sw8 = (by[k] for k in keys)
        unit, name = (1e-3, "ms") if f32 > 1e-3 else (1e-6, "µs")
        notes.append(f"- {model}: communication float32 ring {f32 / unit:.1f} {name} -> int8 ring {i8 / unit:.1f} "
                     f"{name} ({f32 / i8:.2f}x, 32 -> 8 bits) -> deployed switch (int32 elements) {sw32 / unit:.1f} "
                     f"{name} (int8 ring / switch-int32 = {i8 / sw32:.2f}x) -> int8 switch extension {sw8 / unit:.1f} "
                     f"{name} (int8 ring / switch-int8 = {i8 / sw8:.2f}x).")
    return notes


def learning_rate_table(swept: list[MethodRuns]) -> list[str]:
    """Final accuracy (mean ± std) of every method at every learning rate of the sweep, per model."""
    rates = sorted({r.learning_rate for r in swept})
    lines = []
    for model in dict.fromkeys(r.model for r in swept):
        lines += [f"#### {model}", "", "| method | " + " | ".join(f"lr {r:g}" for r in rates) + " |",
                  "|---|" + "---|" * len(rates)]
        for method in dict.fromkeys(r.method for r in swept if r.model == model):
            cells = {r.learning_rate: _pct(r.accuracies) if len(r.accuracies) > 1 else f"{100 * r.accuracies[0]:.2f} %"
                     for r in swept if r.model == model and r.method == method}
            lines.append(f"| {method} | " + " | ".join(cells.get(rate, "-") for rate in rates) + " |")
        lines.append("")
    return lines


def write_markdown(config: CompareConfig, rows: list[dict], table: list[MethodRuns],
                   compression: dict[int, dict[str, float]], wall_s: float, path: str | Path,
                   swept: list[MethodRuns] | None = None) -> Path:
    """``compare.md``: how it was run, the tables, the measured compression speeds and the notes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Compressors compared on the collective each needs",
        "",
        f"Digits models, {config.workers} workers x batch {config.batch}, {config.steps} steps, learning rates "
        f"{', '.join(map(str, config.learning_rates))} (each method at its best), Nesterov momentum 0.9 after the "
        "aggregation (before it for signSGD, as Signum), weight decay 1e-4 on each gradient; IntSGD alpha "
        f"{'per layer' if config.per_layer else 'global'}; seeds "
        f"{', '.join(map(str, config.seeds))}; accuracy is the final test accuracy, mean ± sample standard "
        "deviation over seeds. Times are per iteration: compression measured on this machine (CPU time, one "
        "thread, at each row's worker count), communication "
        "simulated on the same links, compute measured (digits) or given (paper-sized rows).",
        "",
        markdown_table(rows, config.target),
        "## Compression + decompression measured on this machine (once per run, at each row's worker count)",
        "",
        "| method | " + " | ".join(f"ns per element, n = {w}" for w in compression) + " |",
        "|---|" + "---|" * len(compression),
        *[f"| {m} | " + " | ".join(f"{compression[w][m] * 1e9:.2f}" for w in compression) + " |"
          for m in config.methods],
        "",
        "## Learning-rate sweep (final test accuracy %, mean ± std over seeds)",
        "",
        *(learning_rate_table(swept) if swept else []),
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
