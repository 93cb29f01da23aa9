"""Overflow versus bit-width: IntSGD on synthetic gradients through an a-bit aggregator.

For every setting (wire width b, accumulator width a, workers n, clip policy,
gradient distribution) each of n workers draws a gradient, encodes it with
IntSGD (randomized rounding, adaptive alpha from the mean gradient), the
integers are summed as an a-bit switch register would (wrap-around), and the
decoded mean is compared with the exact float64 mean.

Alpha policies: "adaptive" is IntSGD's alpha = sqrt(d) / sqrt(2n ||x^k - x^(k-1)||^2 / eta^2 + eps^2)
with the update taken as the mean gradient (eta = 1); "fill" scales each
worker's max |g| to the wire's largest value (2^(b-1) - 1), using every bit.

Clip policies: "safe" clips so the n-way sum cannot leave the accumulator
(``[-floor(2^(a-1)/n), floor((2^(a-1)-1)/n)]`` within the wire range,
`workers.quantizers.intsgd.clip_range`); "unsafe" clips only to the wire width,
so the sum may wrap — which is what this study measures.

Gradients: synthetic ("gaussian", "student_t" with 3 degrees of freedom, "sparse"
with 95 % zeros), each a shared signal plus per-worker noise of ``dim`` elements;
and real ("digits-mlp"): the n workers' gradients of the digits MLP (d = 2,410)
after `REAL_STEP` steps of float32 data-parallel training (`switchsim.study.train`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from switchsim.study.csv_file import write_rows
from workers.quantizers.accumulate import accumulate
from workers.quantizers.base import Context
from workers.quantizers.intsgd import AlphaState, IntSGD, adaptive_alpha

SYNTHETIC = ("gaussian", "student_t", "sparse")
REAL = ("digits-mlp",)
DISTRIBUTIONS = SYNTHETIC + REAL
#: Training step at which real gradients are captured (the loss is still falling there).
REAL_STEP = 50
POLICIES = ("safe", "unsafe")
ALPHA_POLICIES = ("adaptive", "fill")
COLUMNS = ("distribution", "bits", "accumulator_bits", "workers", "policy", "alpha_policy", "alpha", "clip",
           "clipped_rate",
           "overflow_rate", "relative_error", "variance", "variance_bound")


@dataclass(frozen=True, slots=True)
class OverflowStudy:
    """The grid of the study; every tuple is swept.

    Attributes:
        bits: wire widths b (2..32).
        accumulator_bits: register widths a (8..32).
        workers: n values (1..32).
        policies: clip policies, "safe" and/or "unsafe".
        alpha_policies: "adaptive" and/or "fill".
        distributions: "gaussian", "student_t" (3 degrees of freedom, heavy tails), "sparse" (95 % zeros),
            "digits-mlp" (real gradients, d = 2410 whatever ``dim``).
        dim: d, gradient elements per worker of the synthetic distributions.
        seed: seeds gradients and rounding.
    """

    bits: tuple[int, ...] = (2, 3, 4, 6, 8, 12, 16, 32)
    accumulator_bits: tuple[int, ...] = (16, 32)
    workers: tuple[int, ...] = (2, 8, 32)
    policies: tuple[str, ...] = POLICIES
    alpha_policies: tuple[str, ...] = ALPHA_POLICIES
    distributions: tuple[str, ...] = DISTRIBUTIONS
    dim: int = 1 << 16
    seed: int = 0

    def __post_init__(self) -> None:
        checks = (
            ("bits", all(2 <= b <= 32 for b in self.bits), "values in 2..32"),
            ("accumulator_bits", all(8 <= a <= 32 for a in self.accumulator_bits), "values in 8..32"),
            ("workers", all(1 <= n <= 32 for n in self.workers), "values in 1..32"),
            ("policies", set(self.policies) <= set(POLICIES), f"drawn from {POLICIES}"),
            ("alpha_policies", set(self.alpha_policies) <= set(ALPHA_POLICIES), f"drawn from {ALPHA_POLICIES}"),
            ("distributions", set(self.distributions) <= set(DISTRIBUTIONS), f"drawn from {DISTRIBUTIONS}"),
            ("dim", 1 <= self.dim <= 1 << 26, "in 1..2**26"),
        )
        for name, ok, allowed in checks:
            if not ok:
                raise ValueError(f"{name} = {getattr(self, name)!r} is out of range: must be {allowed}")


def synthetic_gradients(distribution: str, workers: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """float32 (workers, dim) gradients: a shared signal plus per-worker noise."""
    signal = rng.standard_normal(dim)
    if distribution == "gaussian":
        noise = rng.standard_normal((workers, dim))
    elif distribution == "student_t":
        noise = rng.standard_t(3, size=(workers, dim))
    elif distribution == "sparse":
        noise = rng.standard_normal((workers, dim)) * (rng.random((workers, dim)) < 0.05) * 10
        signal = signal * (rng.random(dim) < 0.05)
    else:
        raise ValueError(f"distribution must be one of {SYNTHETIC}, got {distribution!r}")
    return (signal + noise).astype(np.float32)


def real_gradients(distribution: str, workers: int, seed: int) -> np.ndarray:
    """float32 (workers, d): real training gradients named ``distribution`` (one of `REAL`)."""
    from switchsim.study.train import captured_gradients

    if distribution not in REAL:
        raise ValueError(f"distribution must be one of {REAL}, got {distribution!r}")
    return captured_gradients(distribution.split("-", 1)[1], workers, REAL_STEP, seed)


def run_setting(gradients: np.ndarray, bits: int, accumulator_bits: int, policy: str, seed: int,
                alpha_policy: str = "adaptive") -> dict:
    """One row: encode every worker's gradient, aggregate at a bits (wrap), decode, compare."""
    n, d = gradients.shape
    exact_mean = gradients.astype(np.float64).mean(axis=0)
    quantizer = IntSGD(wire_bits=bits, accumulator_bits=accumulator_bits, rounding="randomized",
                       safe=policy == "safe")
    if alpha_policy == "adaptive":
        alpha = adaptive_alpha(float(exact_mean @ exact_mean), 1.0, d, n)
    else:
        alpha = (2 ** (bits - 1) - 1) / max(float(np.abs(gradients).max()), 1e-30)
    state = AlphaState((0, d), (alpha,))
    encoded = [quantizer.encode(np.ascontiguousarray(gradients[w]), Context(worker=w, num_workers=n, seed=seed,
                                                                             shared=state)) for w in range(n)]
    integers = np.ascontiguousarray(np.stack([e.integers for e in encoded]))
    total = accumulate(integers, accumulator_bits=accumulator_bits, wire_bits=bits, mode="wrap")
    decoded_mean = quantizer.decode(total.total, state, n).astype(np.float64) / n
    error = decoded_mean - exact_mean
    norm = float(np.linalg.norm(exact_mean))
    return {
        "bits": bits,
        "accumulator_bits": accumulator_bits,
        "workers": n,
        "policy": policy,
        "alpha_policy": alpha_policy,
        "alpha": alpha,
        "clip": quantizer.clip(n),
        "clipped_rate": sum(e.clipped for e in encoded) / (n * d),
        "overflow_rate": total.overflowed / d,
        "relative_error": float(np.linalg.norm(error)) / norm if norm else 0.0,
        # variance of the decoded sum vs n independent roundings' bound n * d / (4 alpha^2)
        "variance": float(np.sum((error * n) ** 2)),
        "variance_bound": n * d / (4 * alpha**2),
    }


def run_study(study: OverflowStudy, progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """Every setting of ``study``; rows in grid order."""
    rows = []
    grid = list(itertools.product(study.distributions, study.workers))
    settings = [s for s in itertools.product(study.bits, study.accumulator_bits, study.policies, study.alpha_policies)
                if s[0] <= s[1]]  # a wire wider than the accumulator is not a setting
    total = len(grid) * len(settings)
    for index, (distribution, n) in enumerate(grid):
        if distribution in REAL:
            gradients = real_gradients(distribution, n, study.seed)
        else:
            gradients = synthetic_gradients(distribution, n, study.dim, np.random.default_rng([study.seed, index]))
        for bits, accumulator, policy, alpha_policy in settings:
            rows.append({"distribution": distribution,
                         **run_setting(gradients, bits, accumulator, policy, study.seed, alpha_policy)})
            if progress:
                progress(len(rows), total)
    return rows


def write_csv(rows: list[dict], path: str | Path) -> Path:
    """``overflow.csv``: one row per setting, columns `COLUMNS`."""
    return write_rows(path, COLUMNS, ([row[key] for key in COLUMNS] for row in rows))


_MARKERS = "os^D"


def series_style(accumulator_index: int, policy: str) -> dict:
    """Matplotlib style of one series: marker by accumulator width, line and fill by clip policy.

    Overlapping series stay visible: safe is solid with filled markers, unsafe dashed with hollow,
    larger markers, and every line is semi-transparent.

    Example:
        >>> series_style(0, "safe")["marker"], series_style(1, "unsafe")["linestyle"]
        ('o', '--')
    """
    safe = policy == "safe"
    return {"marker": _MARKERS[accumulator_index % len(_MARKERS)], "linestyle": "-" if safe else "--",
            "markersize": 4 if safe else 8, "markerfacecolor": None if safe else "none", "alpha": 0.75}


def plot_study(rows: list[dict], out_dir: str | Path, workers: int, alpha_policy: str = "fill") -> list[Path]:
    """Overflow rate and relative error against wire bits, for ``workers`` workers and one alpha policy.

    Writes ``<metric>-n<workers>-<alpha_policy>.png`` in ``out_dir`` (one file per n, metric and policy).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for metric, label in (("overflow_rate", "overflow rate (elements wrapped)"),
                          ("relative_error", "relative error ||Q(g) - g|| / ||g||")):
        shown = [d for d in DISTRIBUTIONS if any(r["distribution"] == d for r in rows)]
        figure, axes = plt.subplots(1, len(shown), figsize=(4.3 * len(shown), 4), sharey=True, squeeze=False)
        axes = axes[0]
        for axis, distribution in zip(axes, shown, strict=True):
            accumulators = sorted({r["accumulator_bits"] for r in rows})
            for (k, accumulator), policy in itertools.product(enumerate(accumulators), POLICIES):
                points = sorted((r["bits"], r[metric]) for r in rows if r["distribution"] == distribution
                                and r["workers"] == workers and r["accumulator_bits"] == accumulator
                                and r["policy"] == policy and r["alpha_policy"] == alpha_policy)
                if points:
                    axis.plot([p[0] for p in points], [max(p[1], 1e-9) for p in points],
                              label=f"a={accumulator}, {policy}", **series_style(k, policy))
            axis.set_title(distribution)
            axis.set_xlabel("wire bits b")
            axis.set_yscale("log")
            axis.grid(alpha=0.3)
        axes[0].set_ylabel(label)
        axes[0].legend(fontsize=8)
        figure.suptitle(f"IntSGD, {workers} workers, alpha {alpha_policy}: {label} vs wire width "
                        "(values < 1e-9 drawn at 1e-9)")
        figure.tight_layout()
        path = Path(out_dir) / f"{metric}-n{workers}-{alpha_policy}.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        paths.append(path)
    return paths
