"""Data-parallel training on the digits with n simulated workers, the all-reduce through integers.

Each step, every worker w draws a minibatch from its own shard of the
training set (RNG keyed by (seed, w, step), so runs are reproducible and
independent of everything else), computes its float32 gradient, and the
worker adds weight decay and updates its own momentum buffer **before the
reduce**, as the IntSGD authors' runs do (`worker_directions`):

    d_w = g_w + weight_decay x,   m_w <- mu m_w + d_w,   send m_w (or d_w + mu m_w with Nesterov)

The `Aggregator` (or a `workers.quantizers.compressors.Compressor`) averages the
n directions — exactly (float32) or compressed — and every worker applies
``x <- x - eta mean``; IntSGD's alpha is advanced from that update.

A compressor whose ``momentum_before_reduce`` is False (the IntSGD authors'
default ``mom_before_reduce=False``; PowerSGD's Algorithm 2) receives instead
each worker's gradient plus weight decay, ``d_w = g_w + weight_decay x``
(error feedback, if any, acts on that), and the momentum is applied once to
the aggregated mean, identically on every worker (`momentum_after_reduce`).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from switchsim.protocol import spec
from switchsim.study.aggregation import METHODS, Aggregator
from switchsim.study.csv_file import write_rows
from switchsim.study.digits import Dataset, load_digits_split, shards
from switchsim.study.models import MODELS, evaluate, init_params, loss_and_gradient, make_model

CSV_COLUMNS = ("model", "method", "wire_bits", "accumulator_bits", "workers", "seed", "step", "train_loss",
               "test_loss", "test_accuracy", "clipped", "overflowed", "alpha")


def _need(ok: bool, name: str, value: object, allowed: str) -> None:
    if not ok:
        raise ValueError(f"TrainingConfig.{name} = {value!r} is out of range: must be {allowed}")


@dataclass(frozen=True, slots=True)
class TrainingConfig:
    """One training run.

    Attributes:
        model: "softmax" or "mlp".
        method: "float32", "intsgd-random", "intsgd-deterministic" or "heuristic".
        wire_bits: b, bits per integer on the wire, 2..32 (ignored by float32).
        accumulator_bits: a, 8..32; None = the wire element width that holds b (8, 16, 32).
        workers: n, 1..32.
        batch: samples per worker per step, 1..256.
        steps: SGD steps, 1..100000.
        learning_rate: eta, > 0.
        weight_decay: L2 coefficient, >= 0 (added to each worker's gradient before the reduce).
        momentum: mu, momentum of each worker's buffer before the reduce, 0 <= mu < 1 (the authors' 0.9).
        nesterov: Nesterov momentum (send ``d + mu m``) instead of heavy ball (send ``m``).
        eval_every: steps between test-set evaluations, >= 1 (the last step is always evaluated).
        per_layer: IntSGD alpha per tensor instead of global.
        safe: clip so the n-way sum cannot overflow the accumulator.
        through_pipeline: also aggregate through the SwitchML protocol + pipeline model (a check; slower).
        seed: data split, initialisation, minibatches and rounding.
    """

    model: str = "mlp"
    method: str = "float32"
    wire_bits: int = 32
    accumulator_bits: int | None = None
    workers: int = 8
    batch: int = 16
    steps: int = 300
    learning_rate: float = 0.1
    weight_decay: float = 1e-4
    momentum: float = 0.9
    nesterov: bool = True
    eval_every: int = 10
    per_layer: bool = False
    safe: bool = True
    through_pipeline: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        _need(self.model in MODELS, "model", self.model, f"one of {tuple(MODELS)}")
        _need(self.method in METHODS, "method", self.method, f"one of {METHODS}")
        _need(isinstance(self.wire_bits, int) and 2 <= self.wire_bits <= 32, "wire_bits", self.wire_bits,
              "an integer in 2..32")
        _need(self.accumulator_bits is None or (isinstance(self.accumulator_bits, int)
                                                and 8 <= self.accumulator_bits <= 32),
              "accumulator_bits", self.accumulator_bits, "None or an integer in 8..32")
        _need(isinstance(self.workers, int) and 1 <= self.workers <= spec.MAX_WORKERS, "workers", self.workers,
              f"an integer in 1..{spec.MAX_WORKERS}")
        _need(isinstance(self.batch, int) and 1 <= self.batch <= 256, "batch", self.batch, "an integer in 1..256")
        _need(isinstance(self.steps, int) and 1 <= self.steps <= 100_000, "steps", self.steps,
              "an integer in 1..100000")
        _need(0 < self.learning_rate < np.inf, "learning_rate", self.learning_rate, "finite and > 0")
        _need(0 <= self.weight_decay < np.inf, "weight_decay", self.weight_decay, "finite and >= 0")
        _need(0 <= self.momentum < 1, "momentum", self.momentum, "in [0, 1)")
        _need(isinstance(self.eval_every, int) and self.eval_every >= 1, "eval_every", self.eval_every,
              "an integer >= 1")
        _need(isinstance(self.seed, int) and 0 <= self.seed < 2**63, "seed", self.seed, "an integer in 0..2**63-1")

    @property
    def label(self) -> str:
        """"float32", or method and wire bits, e.g. "intsgd-random 8b"."""
        return self.method if self.method == "float32" else f"{self.method} {self.wire_bits}b"


@dataclass(slots=True)
class TrainingResult:
    """Curves and totals of one run.

    Attributes:
        config: the run's configuration.
        dim: d, parameters all-reduced per step.
        accumulator_bits: a in use.
        steps, train_loss, test_loss, test_accuracy: one entry per evaluation (after ``steps[i]`` steps;
            train loss averaged over the workers' minibatches of that step, in nats).
        clipped, overflowed, alpha: per evaluation, totals since the last one (mean alpha).
        bits_per_worker: mean over steps of the bits one worker sent per step (compressors; NaN otherwise).
        transfers: the collectives of the last step (compressors; empty otherwise).
        wall_s: wall-clock seconds of the run.
        gradient_s: wall-clock seconds spent computing the n workers' gradients (all steps).
    """

    config: TrainingConfig
    dim: int
    accumulator_bits: int
    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    clipped: list[int] = field(default_factory=list)
    overflowed: list[int] = field(default_factory=list)
    alpha: list[float] = field(default_factory=list)
    bits_per_worker: float = float("nan")
    transfers: list = field(default_factory=list)
    wall_s: float = 0.0
    gradient_s: float = 0.0

    @property
    def final_accuracy(self) -> float:
        """Test accuracy after the last step."""
        return self.test_accuracy[-1]


def worker_gradients(model, params: np.ndarray, data: Dataset, parts: list[np.ndarray], batch: int, seed: int,
                     step: int) -> tuple[np.ndarray, float]:
    """Each worker's float32 gradient on its own minibatch at ``step``: (n, d), and the mean loss."""
    gradients = np.empty((len(parts), model.dim), np.float32)
    losses = 0.0
    for worker, part in enumerate(parts):
        rng = np.random.default_rng([seed, worker, step])
        rows = part[rng.choice(len(part), size=min(batch, len(part)), replace=False)]
        loss, gradients[worker] = loss_and_gradient(model, params, data.x_train[rows], data.y_train[rows])
        losses += loss
    return gradients, losses / len(parts)


def worker_directions(gradients: np.ndarray, params: np.ndarray, buffers: np.ndarray, momentum: float,
                      weight_decay: float, nesterov: bool) -> np.ndarray:
    """What each worker sends: weight decay and its momentum applied before the reduce (float32 (n, d)).

    ``d_w = g_w + weight_decay x``; ``buffers[w] <- momentum buffers[w] + d_w`` (updated in place);
    returns ``d_w + momentum buffers[w]`` with Nesterov, else ``buffers[w]``.

    Example:
        >>> b = np.zeros((1, 2), np.float32)
        >>> worker_directions(np.ones((1, 2), np.float32), np.ones(2, np.float32), b, 0.5, 0.0, False).tolist()
        [[1.0, 1.0]]
        >>> worker_directions(np.ones((1, 2), np.float32), np.ones(2, np.float32), b, 0.5, 0.0, False).tolist()
        [[1.5, 1.5]]
    """
    directions = gradients + np.float32(weight_decay) * params
    buffers *= np.float32(momentum)
    buffers += directions
    return directions + np.float32(momentum) * buffers if nesterov else buffers.copy()


def momentum_after_reduce(mean: np.ndarray, buffer: np.ndarray, momentum: float, nesterov: bool) -> np.ndarray:
    """The step direction from the aggregated ``mean`` (PowerSGD's Algorithm 2): ``buffer <- mu buffer + mean``.

    Returns ``mean + mu buffer`` with Nesterov, else ``buffer`` (a copy); ``buffer`` (float32[d]) is updated in place.

    Example:
        >>> b = np.zeros(2, np.float32)
        >>> momentum_after_reduce(np.ones(2, np.float32), b, 0.5, True).tolist(), b.tolist()
        ([1.5, 1.5], [1.0, 1.0])
    """
    buffer *= np.float32(momentum)
    buffer += mean
    return mean + np.float32(momentum) * buffer if nesterov else buffer.copy()


def train(config: TrainingConfig, progress: Callable[[int, int], None] | None = None,
          data: Dataset | None = None, reducer=None) -> TrainingResult:
    """Run ``config``; ``progress(step, steps)`` is called after each step.

    ``reducer`` (optional) replaces the `Aggregator`: any object with ``reduce(directions, step) -> (mean,
    stats)`` and ``observe(delta, learning_rate)``, e.g. a `workers.quantizers.compressors.Compressor`.
    """
    started = time.perf_counter()
    data = data if data is not None else load_digits_split(config.seed)
    model = make_model(config.model, inputs=data.x_train.shape[1], classes=int(data.y_train.max()) + 1)
    params = init_params(model, config.seed)
    parts = shards(len(data.y_train), config.workers)
    if reducer is None:
        reducer = Aggregator(config.method, config.wire_bits, config.workers, model.layer_bounds,
                             accumulator_bits=config.accumulator_bits, safe=config.safe, per_layer=config.per_layer,
                             through_pipeline=config.through_pipeline, seed=config.seed)
    result = TrainingResult(config, model.dim, getattr(reducer, "accumulator_bits", 32))
    clipped = overflowed = 0
    alphas: list[float] = []
    bits: list[float] = []
    buffers = np.zeros((config.workers, model.dim), np.float32)
    before = getattr(reducer, "momentum_before_reduce", True)
    shared_buffer = np.zeros(model.dim, np.float32)
    eta = np.float32(config.learning_rate)
    for step in range(config.steps):
        tick = time.perf_counter()
        gradients, train_loss = worker_gradients(model, params, data, parts, config.batch, config.seed, step)
        result.gradient_s += time.perf_counter() - tick
        if before:
            directions = worker_directions(gradients, params, buffers, config.momentum, config.weight_decay,
                                           config.nesterov)
        else:
            directions = gradients + np.float32(config.weight_decay) * params
        mean, stats = reducer.reduce(directions, step)
        if not before:
            mean = momentum_after_reduce(mean, shared_buffer, config.momentum, config.nesterov)
        delta = -eta * mean
        params += delta
        reducer.observe(delta, config.learning_rate)
        clipped += stats.clipped
        overflowed += stats.overflowed
        alphas.append(getattr(stats, "alpha", float("nan")))
        if hasattr(stats, "bits_per_worker"):
            bits.append(stats.bits_per_worker)
            result.transfers = stats.transfers
        done = step + 1
        if done % config.eval_every == 0 or done == config.steps:
            test_loss, accuracy = evaluate(model, params, data.x_test, data.y_test)
            result.steps.append(done)
            result.train_loss.append(train_loss)
            result.test_loss.append(test_loss)
            result.test_accuracy.append(accuracy)
            result.clipped.append(clipped)
            result.overflowed.append(overflowed)
            result.alpha.append(float(np.mean(alphas)))
            clipped = overflowed = 0
            alphas = []
        if progress:
            progress(done, config.steps)
    result.bits_per_worker = float(np.mean(bits)) if bits else float("nan")
    result.wall_s = time.perf_counter() - started
    return result


def grid(base: TrainingConfig, methods: tuple[str, ...], bits: tuple[int, ...]) -> list[TrainingConfig]:
    """Every (method, wire bits) run; float32 once (it has no wire width)."""
    configs = [replace(base, method="float32", wire_bits=32)] if "float32" in methods else []
    configs += [replace(base, method=m, wire_bits=b) for m, b in itertools.product(methods, bits) if m != "float32"]
    return configs


def run_grid(configs: list[TrainingConfig], progress: Callable[[int, int], None] | None = None) -> list[TrainingResult]:
    """Train every config (sharing each seed's data split); ``progress(run, runs)`` after each run."""
    splits: dict[int, Dataset] = {}
    results = []
    for index, config in enumerate(configs):
        data = splits.setdefault(config.seed, load_digits_split(config.seed))
        results.append(train(config, data=data))
        if progress:
            progress(index + 1, len(configs))
    return results


def write_training_csv(results: list[TrainingResult], path: str | Path) -> Path:
    """``training.csv``: one row per run and evaluation, columns `CSV_COLUMNS` (losses in nats)."""
    rows = ([r.config.model, r.config.method, r.config.wire_bits if r.config.method != "float32" else 32,
             r.accumulator_bits, r.config.workers, r.config.seed, step, f"{r.train_loss[i]:.6g}",
             f"{r.test_loss[i]:.6g}", f"{r.test_accuracy[i]:.6g}", r.clipped[i], r.overflowed[i], f"{r.alpha[i]:.6g}"]
            for r in results for i, step in enumerate(r.steps))
    return write_rows(path, CSV_COLUMNS, rows)


def bit_width_table(results: list[TrainingResult]) -> str:
    """Final test accuracy (%) per model, method and wire bits, as a plain-text table."""
    lines = []
    for model in dict.fromkeys(r.config.model for r in results):
        runs = [r for r in results if r.config.model == model]
        bits = sorted({r.config.wire_bits for r in runs if r.config.method != "float32"})
        lines.append(f"{model} (d = {runs[0].dim}, n = {runs[0].config.workers}, {runs[0].config.steps} steps): "
                     "final test accuracy %")
        lines.append(f"{'method':22}" + "".join(f"{b:>8}b" for b in bits))
        for method in dict.fromkeys(r.config.method for r in runs):
            row = {r.config.wire_bits: r.final_accuracy for r in runs if r.config.method == method}
            if method == "float32":
                lines.append(f"{'float32 (reference)':22}{100 * next(iter(row.values())):9.1f}")
            else:
                lines.append(f"{method:22}" + "".join(f"{100 * row[b]:9.1f}" if b in row else f"{'':9}"
                                                      for b in bits))
        lines.append("")
    return "\n".join(lines)


def result_record(result: TrainingResult) -> dict:
    """A JSON-ready dict of one run (config and curves)."""
    record = asdict(result)
    record["label"] = result.config.label
    return record


def captured_gradients(model: str, workers: int, step: int, seed: int = 0, **config) -> np.ndarray:
    """Real gradients: what the n workers send (n, d) float32 after ``step`` steps of float32 training.

    Trains ``model`` on the digits with ``workers`` workers (other `TrainingConfig`
    fields from ``config``) and returns what each worker would send at step ``step``:
    its gradient with weight decay and momentum applied (`worker_directions`).
    """
    data = load_digits_split(seed)
    base = TrainingConfig(model=model, workers=workers, steps=max(step, 1), seed=seed, **config)
    net = make_model(model, inputs=data.x_train.shape[1], classes=int(data.y_train.max()) + 1)
    params = init_params(net, seed)
    parts = shards(len(data.y_train), workers)
    aggregator = Aggregator("float32", 32, workers, net.layer_bounds)
    eta = np.float32(base.learning_rate)
    buffers = np.zeros((workers, net.dim), np.float32)
    for k in range(step):
        gradients, _ = worker_gradients(net, params, data, parts, base.batch, seed, k)
        directions = worker_directions(gradients, params, buffers, base.momentum, base.weight_decay, base.nesterov)
        mean, _ = aggregator.reduce(directions, k)
        params -= eta * mean
    gradients = worker_gradients(net, params, data, parts, base.batch, seed, step)[0]
    return worker_directions(gradients, params, buffers, base.momentum, base.weight_decay, base.nesterov)
