"""``switchsim study compare``: every compressor trained on the digits and timed on the collective it needs.

The table reproduces the structure of the IntSGD paper's Table 1 (Mishchenko,
Wang, Kovalev, Richtárik, ICLR 2022): per method, test accuracy (mean ± sample
standard deviation over seeds), compression overhead, communication and total
time per iteration, plus time to a target accuracy. Rules (the same for every method):

* **Training**: the same digits split, model initialisation, worker minibatches,
  learning rate, Nesterov momentum and weight decay (applied on each worker
  **before** the reduce, `switchsim.study.train.worker_directions`) and step
  count; only the compressor differs. Seeds vary all of these together.
* **Communication**: the transfers each compressor reported
  (`workers.quantizers.compressors.Transfer`) simulated on the same links
  (`switchsim.study.collective_time`): switch all-reduce (SwitchML), ring
  all-reduce at the method's own element width, or all-gather of the message
  packed into bytes (the mean over steps and workers of its exact bit count).
* **Compression overhead**: measured on this machine, once per run, on one
  thread (numba's parallel kernels are limited to one thread while measuring,
  as a worker's cores are busy with its own training; the best of
  `MEASURE_REPEATS` repetitions, as the machine's cores are shared), on a synthetic
  float32 gradient of `MEASURE_ELEMENTS` elements (`compression_seconds`):
  one worker's encode plus its decode (for switch and ring methods the
  collective's sum is excluded; for all-gather methods the worker decodes all
  n messages), in seconds per element, times the model's elements.
* **Compute**: the measured seconds per iteration of one worker's gradient on
  the digits model, averaged over every run of that model (the same value for
  every method: the work is the same); for ``--model-elements`` rows
  ``--compute-s`` (default `PAPER_COMPUTE_S`).
* **Total** = compute + compression + communication; **time to target** =
  the first evaluated step at which the seed-mean test accuracy reaches the
  target, times the total.
* A difference is called out only when it exceeds the seed spread
  (`exceeds_spread`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from switchsim.study.csv_file import write_rows
from switchsim.study.digits import load_digits_split
from switchsim.study.models import MODELS, make_model
from switchsim.study.train import TrainingConfig, TrainingResult, train
from workers.quantizers.compressors import COMPRESSORS, IntSGDRandom, PowerSGD, Transfer
from workers.quantizers.compressors.base import Compressor, packed

#: Elements of the synthetic gradient on which compression time is measured (4 MiB of float32).
MEASURE_ELEMENTS = 1 << 20
#: Repetitions of the compression measurement; the best is kept.
MEASURE_REPEATS = 5
#: ResNet-18's parameters, the paper's model (≈ 11.2 M).
RESNET18_ELEMENTS = 11_200_000
#: The paper's compute per iteration: SGD (all-reduce) total 74.32 ms minus its communication 18.48 ms.
PAPER_COMPUTE_S = 74.32e-3 - 18.48e-3

CSV_COLUMNS = ("model", "method", "collective", "switch_summable", "workers", "elements", "seeds", "steps",
               "accuracy_mean", "accuracy_std", "bits_per_element", "compression_ns_per_element", "compression_s",
               "communication_s", "compute_s", "total_s", "target_accuracy", "steps_to_target", "time_to_target_s")


@dataclass(frozen=True, slots=True)
class CompareConfig:
    """One comparison run.

    Attributes:
        models: digits models to train ("softmax", "mlp").
        methods: compressor names (keys of `workers.quantizers.compressors.COMPRESSORS`).
        seeds: seeds, at least 1 (the table wants >= 5).
        workers: n for the digits runs, 1..32.
        steps: SGD steps per run.
        batch: samples per worker per step.
        learning_rate: eta.
        eval_every: steps between test evaluations.
        target: test accuracy (0..1) for time to target.
        model_elements: also time every method at this many elements (None: skip).
        model_workers: n for the ``model_elements`` rows (the paper's 16).
        model_compute_s: compute seconds per iteration for the ``model_elements`` rows.
        measure_elements: elements of the synthetic gradient the compression time is measured on.
        per_layer: IntSGD (and the int8 ring) with one alpha per tensor instead of one for the model.
    """

    models: tuple[str, ...] = ("softmax", "mlp")
    methods: tuple[str, ...] = tuple(COMPRESSORS)
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    workers: int = 8
    steps: int = 100
    batch: int = 16
    learning_rate: float = 0.1
    eval_every: int = 10
    target: float = 0.9
    model_elements: int | None = None
    model_workers: int = 16
    model_compute_s: float = PAPER_COMPUTE_S
    measure_elements: int = MEASURE_ELEMENTS
    per_layer: bool = False

    def __post_init__(self) -> None:
        bad = [m for m in self.models if m not in MODELS]
        if not self.models or bad:
            raise ValueError(f"CompareConfig.models must be from {tuple(MODELS)}, got {self.models!r}")
        bad = [m for m in self.methods if m not in COMPRESSORS]
        if not self.methods or bad:
            raise ValueError(f"CompareConfig.methods must be from {tuple(COMPRESSORS)}, got {bad or self.methods!r}")
        if not self.seeds:
            raise ValueError("CompareConfig.seeds must hold at least one seed")
        if not 0 < self.target <= 1:
            raise ValueError(f"CompareConfig.target must be in (0, 1], got {self.target!r}")
        if not 4096 <= self.measure_elements <= 1 << 24:
            raise ValueError(
                f"CompareConfig.measure_elements must be in 4096..{1 << 24}, got {self.measure_elements!r}"
            )
        if self.model_elements is not None and not 1 <= self.model_elements <= 1 << 26:
            raise ValueError(f"CompareConfig.model_elements must be in 1..{1 << 26}, got {self.model_elements!r}")


def make_compressor(name: str, model_name: str | None, workers: int, seed: int,
                    layout: tuple[int, ...] | None = None, shapes: list | None = None,
                    per_layer: bool = False) -> Compressor:
    """The compressor ``name`` for a digits model (its layers) or for an explicit layout and shapes.

    ``per_layer`` gives the IntSGD methods (and the int8 ring) one alpha per tensor.

    Example:
        >>> make_compressor("powersgd", "mlp", 8, 0).shapes
        [(64, 32), (32,), (32, 10), (10,)]
    """
    if model_name is not None:
        model = make_model(model_name)
        layout, shapes = model.layer_bounds, model.shapes
    cls = COMPRESSORS[name]
    if cls is PowerSGD:
        return cls(workers, layout, seed, shapes=shapes)
    if issubclass(cls, IntSGDRandom):
        return cls(workers, layout, seed, per_layer=per_layer)
    return cls(workers, layout, seed)


def compression_seconds(compressor: Compressor, gradients: np.ndarray, step: int = 1) -> float:
    """Seconds one worker spends compressing and decompressing ``gradients`` (n, d) once.

    Encode is averaged over the n workers; decode is what one worker does after the
    collective: `finish` on the collective's sum (switch and ring methods), the decode
    of all n messages (all-gather methods), or for PowerSGD its whole step divided by n
    (each worker computes its own products, the orthogonalisation and its residual).
    """
    n = len(gradients)
    if isinstance(compressor, PowerSGD):
        started = time.perf_counter()
        compressor.reduce(gradients, step)
        return (time.perf_counter() - started) / n
    shared = compressor.prepare(gradients)
    started = time.perf_counter()
    messages = [compressor.encode(gradients[w], w, step, shared) for w in range(n)]
    encode_s = (time.perf_counter() - started) / n
    if hasattr(compressor, "finish"):
        total = compressor.sum_messages(messages)
        started = time.perf_counter()
        compressor.finish(total, shared)
    else:
        started = time.perf_counter()
        compressor.decode(messages, step, shared)
    return encode_s + time.perf_counter() - started


def measure_compression(methods: tuple[str, ...], workers: int, elements: int = MEASURE_ELEMENTS,
                        seed: int = 0) -> dict[str, float]:
    """Seconds per element of compression + decompression for each method, on one thread.

    Best of `MEASURE_REPEATS` after a warm-up.

    The gradient is Gaussian float32 (n, elements); PowerSGD sees it as one square-ish matrix.
    """
    import numba

    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return _measure(methods, workers, elements, seed)
    finally:
        numba.set_num_threads(threads)


def _measure(methods: tuple[str, ...], workers: int, elements: int, seed: int) -> dict[str, float]:
    rows = 1 << (int(math.log2(elements)) // 2)
    shape = [(rows, elements // rows)] if elements % rows == 0 else [(elements,)]
    rng = np.random.default_rng([seed, 0xC0DE])
    gradients = (rng.standard_normal((workers, elements)) * 1e-2).astype(np.float32)
    small = gradients[:, :4096].copy()
    per_element = {}
    for name in methods:
        make_compressor(name, None, workers, seed, (0, 4096), [(64, 64)]).reduce(small, 0)  # warm-up (numba)
        compressor = make_compressor(name, None, workers, seed, (0, elements), shape)
        compressor.reduce(gradients, 0)  # a first step sets state (IntSGD's alpha, PowerSGD's Q)
        best = min(compression_seconds(compressor, gradients, step) for step in range(1, 1 + MEASURE_REPEATS))
        per_element[name] = best / elements
    return per_element


def exceeds_spread(a: list[float] | np.ndarray, b: list[float] | np.ndarray) -> bool:
    """True if the means of ``a`` and ``b`` differ by more than the sum of their sample standard deviations.

    The rule for every claim in the table's notes. One value each has no spread: never a claim.

    Example:
        >>> exceeds_spread([0.90, 0.92, 0.91], [0.80, 0.81, 0.79]), exceeds_spread([0.90, 0.92], [0.91, 0.93])
        (True, False)
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < 2 or b.size < 2:
        return False
    return bool(abs(a.mean() - b.mean()) > a.std(ddof=1) + b.std(ddof=1))


@dataclass(slots=True)
class MethodRuns:
    """One method on one digits model: the seeds' results."""

    model: str
    method: str
    results: list[TrainingResult] = field(default_factory=list)

    @property
    def accuracies(self) -> np.ndarray:
        """Final test accuracy per seed."""
        return np.array([r.final_accuracy for r in self.results])

    @property
    def bits_per_element(self) -> float:
        """Mean bits one worker sent per element per step (over seeds)."""
        return float(np.mean([r.bits_per_worker / r.dim for r in self.results]))

    def mean_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """Evaluated steps and the seed-mean test accuracy at each."""
        return np.asarray(self.results[0].steps), np.mean([r.test_accuracy for r in self.results], axis=0)


def main_transfers(runs: MethodRuns) -> list[Transfer]:
    """The transfers of one iteration; all-gather sized by the mean exact bit count over steps and seeds."""
    out = []
    mean_bits = float(np.mean([r.bits_per_worker for r in runs.results]))
    for transfer in runs.results[0].transfers:
        out.append(packed(mean_bits) if transfer.collective == "allgather" else transfer)
    return out


def scaled_transfers(transfers: list[Transfer], dim: int, elements: int, bits_per_element: float) -> list[Transfer]:
    """The transfers at ``elements`` instead of ``dim``: model-sized ones scale (all-gather by its bits per element)."""
    out = []
    for t in transfers:
        if not t.per_model:
            out.append(t)
        elif t.collective == "allgather":
            out.append(packed(bits_per_element * elements))
        else:
            out.append(replace(t, elements=max(1, round(t.elements * elements / dim))))
    return out


def train_all(config: CompareConfig, progress: Callable[[int, int], None] | None = None) -> list[MethodRuns]:
    """Train every (model, method, seed); ``progress(run, runs)`` after each."""
    table = [MethodRuns(m, name) for m in config.models for name in config.methods]
    total = len(table) * len(config.seeds)
    done = 0
    for seed in config.seeds:
        data = load_digits_split(seed)
        for runs in table:
            training = TrainingConfig(model=runs.model, method="float32", workers=config.workers, batch=config.batch,
                                      steps=config.steps, learning_rate=config.learning_rate,
                                      eval_every=config.eval_every, seed=seed)
            compressor = make_compressor(runs.method, runs.model, config.workers, seed, per_layer=config.per_layer)
            runs.results.append(train(training, data=data, reducer=compressor))
            done += 1
            if progress:
                progress(done, total)
    return table


def steps_to_target(steps: np.ndarray, accuracy: np.ndarray, target: float) -> int | None:
    """First evaluated step whose accuracy reaches ``target``; None if none does.

    Example:
        >>> steps_to_target(np.array([10, 20, 30]), np.array([0.5, 0.91, 0.95]), 0.9)
        20
    """
    reached = np.flatnonzero(np.asarray(accuracy) >= target)
    return int(steps[reached[0]]) if reached.size else None


def table_rows(config: CompareConfig, table: list[MethodRuns], compression: dict[str, float],
               seconds: dict[Transfer, float], model_seconds: dict[Transfer, float] | None) -> list[dict]:
    """One dict per (model, method) with `CSV_COLUMNS` (seconds; None = not applicable / never reached)."""
    rows = []
    compute = {model: float(np.mean([r.gradient_s for runs in table if runs.model == model for r in runs.results]))
               / (config.steps * config.workers) for model in config.models}
    for runs in table:
        dim = runs.results[0].dim
        transfers = main_transfers(runs)
        compute_s = compute[runs.model]
        steps, curve = runs.mean_curve()
        reached = steps_to_target(steps, curve, config.target)
        cls = COMPRESSORS[runs.method]
        row = {"model": runs.model, "method": runs.method, "collective": cls.collective,
               "switch_summable": cls.switch_summable, "workers": config.workers, "elements": dim,
               "seeds": len(runs.results), "steps": config.steps, "accuracy_mean": float(runs.accuracies.mean()),
               "accuracy_std": float(runs.accuracies.std(ddof=1)) if len(runs.results) > 1 else 0.0,
               "bits_per_element": runs.bits_per_element,
               "compression_ns_per_element": compression[runs.method] * 1e9,
               "compression_s": compression[runs.method] * dim,
               "communication_s": sum(seconds[t] for t in transfers), "compute_s": compute_s,
               "target_accuracy": config.target, "steps_to_target": reached}
        row["total_s"] = row["compute_s"] + row["compression_s"] + row["communication_s"]
        row["time_to_target_s"] = None if reached is None else reached * row["total_s"]
        rows.append(row)
    if config.model_elements is not None and model_seconds is not None:
        for runs in [r for r in table if r.model == table[-1].model]:
            elements = config.model_elements
            transfers = scaled_transfers(main_transfers(runs), runs.results[0].dim, elements, runs.bits_per_element)
            cls = COMPRESSORS[runs.method]
            row = {"model": f"{elements}-elements", "method": runs.method, "collective": cls.collective,
                   "switch_summable": cls.switch_summable, "workers": config.model_workers, "elements": elements,
                   "seeds": None, "steps": None, "accuracy_mean": None, "accuracy_std": None,
                   "bits_per_element": runs.bits_per_element,
                   "compression_ns_per_element": compression[runs.method] * 1e9,
                   "compression_s": compression[runs.method] * elements,
                   "communication_s": sum(model_seconds[t] for t in transfers), "compute_s": config.model_compute_s,
                   "target_accuracy": None, "steps_to_target": None, "time_to_target_s": None}
            row["total_s"] = row["compute_s"] + row["compression_s"] + row["communication_s"]
            rows.append(row)
    return rows


def model_transfers(config: CompareConfig, table: list[MethodRuns]) -> list[Transfer]:
    """Every transfer the ``model_elements`` rows need (scaled from the last digits model's runs)."""
    last = [r for r in table if r.model == table[-1].model]
    return [t for runs in last for t in scaled_transfers(main_transfers(runs), runs.results[0].dim,
                                                          config.model_elements, runs.bits_per_element)]


def write_csv(rows: list[dict], path: str | Path) -> Path:
    """``compare.csv``: `CSV_COLUMNS`, seconds and bits as floats; empty = not applicable or never reached."""
    return write_rows(path, CSV_COLUMNS, ([f"{row[c]:.6g}" if isinstance(row[c], float) else row[c]
                                            for c in CSV_COLUMNS] for row in rows))
