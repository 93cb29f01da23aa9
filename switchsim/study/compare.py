"""``switchsim study compare``: every compressor trained on the digits and timed on the collective it needs.

The table reproduces the structure of the IntSGD paper's Table 1 (Mishchenko,
Wang, Kovalev, Richtárik, ICLR 2022): per method and collective, test accuracy
(mean ± sample standard deviation over seeds), compression overhead,
communication and total time per iteration, plus time to a target accuracy.
Rules (the same for every method):

* **Training**: the same digits split, model initialisation, worker minibatches,
  Nesterov momentum 0.9, weight decay 1e-4 and step count; only the compressor
  differs. Momentum is placed as each method's paper does
  (`workers.quantizers.compressors.base.Compressor.momentum_before_reduce`:
  after the aggregation for all but signSGD, see `switchsim.study.train`).
  Each method is trained at every learning rate of ``learning_rates`` (3 by
  default) and reported at its best (highest seed-mean final accuracy,
  `best_runs`), so no method is judged at a rate tuned for another.
* **Rows**: every switch-summable method gets two switch rows (`row_collectives`):
  ``switch-int32``, official SwitchML (int32 elements, 64 per 256-byte payload;
  IntSGD's 8-bit integers travel as int32), and ``switch-int8``, switchsim's
  narrow-element extension (docs/narrow-elements.md; no hardware implements it);
  TernGrad also an ``allgather`` row (its own message, 2 d + 32 L bits). Ring
  methods keep ``float32-ring`` / ``int8-ring``; compressed payloads that must be
  decoded before adding get ``allgather``.
* **Communication**: every row's transfers timed by ONE function,
  `switchsim.study.collective_time.communication_seconds`, on the same links at
  that row's worker count (all-gathers of the message packed into bytes, the mean
  exact bit count over steps and workers).
* **Paper-sized models** (``paper_models``): ResNet-18 / ResNet-50 as lists of
  tensor shapes (`switchsim.study.paper_models`); every per-layer quantity
  (PowerSGD's P and Q, per-layer scales, MAX all-reduces, top-k's k and index
  width) is computed on those shapes (`shape_transfers`); QSGD's bits per element,
  which depend on the data, are the MLP runs' measured mean.
* **Compression overhead**: measured on this machine at the row's worker count
  (`measure_compression`) as CPU time of the process (`time.process_time`: the machine's cores are
  shared, and time other processes hold them is not the method's), on one thread (numba's parallel kernels
  limited to one thread: a worker's cores are busy with its own training), best of
  `MEASURE_REPEATS`, on a synthetic float32 gradient of ``measure_elements``:
  one worker's share of ``prepare`` (its local max, exponents), its encode, what
  it does after the collective (`finish` on the sum for switch and ring methods;
  the decode of all n messages for all-gathers; PowerSGD's whole step / n) and
  its state update (`observe`: IntSGD's alpha), in seconds per element, times
  the model's elements.
* **Compute**: the measured seconds per iteration of one worker's gradient on
  the digits model (the same for every method); for paper-sized rows
  ``model_compute_s`` (default `PAPER_COMPUTE_S`, ResNet-18 in the paper).
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
from switchsim.study.paper_models import PAPER_MODELS, layer_bounds
from switchsim.study.train import TrainingConfig, TrainingResult, train
from workers.quantizers.compressors import COMPRESSORS, IntSGDRandom, PowerSGD, TernGrad, Transfer
from workers.quantizers.compressors.base import Compressor, packed
from workers.quantizers.compressors.natural import BITS_PER_ELEMENT as NATURAL_BITS
from workers.quantizers.compressors.powersgd import powersgd_transfers
from workers.quantizers.compressors.topk import index_bits

#: Elements of the synthetic gradient on which compression time is measured (4 MiB of float32).
MEASURE_ELEMENTS = 1 << 20
#: Repetitions of the compression measurement; the best is kept.
MEASURE_REPEATS = 7
#: The paper's compute per iteration (ResNet-18): SGD (all-reduce) total 74.32 ms minus its communication 18.48 ms.
PAPER_COMPUTE_S = 74.32e-3 - 18.48e-3
#: Learning rates every method is trained at; each is reported at its best.
LEARNING_RATES = (0.05, 0.1, 0.2)
#: Row collectives: the deployed switch, the narrow-element extension, the rings and the all-gather.
ROW_COLLECTIVES = ("switch-int32", "switch-int8", "float32-ring", "int8-ring", "allgather")

CSV_COLUMNS = ("model", "method", "collective", "switch_summable", "workers", "elements", "seeds", "steps",
               "learning_rate", "accuracy_mean", "accuracy_std", "bits_per_element", "wire_bytes",
               "compression_ns_per_element", "compression_s", "communication_s", "compute_s", "total_s",
               "target_accuracy", "steps_to_target", "time_to_target_s")


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
        learning_rates: eta values every method is trained at (1..5 values); each method reports its best.
        eval_every: steps between test evaluations.
        target: test accuracy (0..1) for time to target.
        paper_models: also time every method on these models' real shapes ("resnet18", "resnet50").
        model_workers: n for the paper-sized rows (the paper's 16).
        model_compute_s: compute seconds per iteration for the paper-sized rows.
        measure_elements: elements of the synthetic gradient the compression time is measured on.
        per_layer: IntSGD (and the int8 ring) with one alpha per tensor instead of one for the model.
    """

    models: tuple[str, ...] = ("softmax", "mlp")
    methods: tuple[str, ...] = tuple(COMPRESSORS)
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    workers: int = 8
    steps: int = 100
    batch: int = 16
    learning_rates: tuple[float, ...] = LEARNING_RATES
    eval_every: int = 10
    target: float = 0.9
    paper_models: tuple[str, ...] = ()
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
        if not 1 <= len(self.learning_rates) <= 5 or not all(0 < r <= 10 for r in self.learning_rates):
            raise ValueError(
                f"CompareConfig.learning_rates must be 1..5 values in (0, 10], got {self.learning_rates!r}"
            )
        if not 0 < self.target <= 1:
            raise ValueError(f"CompareConfig.target must be in (0, 1], got {self.target!r}")
        if not 4096 <= self.measure_elements <= 1 << 24:
            raise ValueError(
                f"CompareConfig.measure_elements must be in 4096..{1 << 24}, got {self.measure_elements!r}"
            )
        bad = [m for m in self.paper_models if m not in PAPER_MODELS]
        if bad:
            raise ValueError(f"CompareConfig.paper_models must be from {tuple(PAPER_MODELS)}, got {bad!r}")


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


def row_collectives(name: str) -> tuple[str, ...]:
    """The rows of method ``name``: both switches for a switch-summable method, else its own collective.

    Block exponent fills int32 by design, so it has the deployed switch only; TernGrad also runs as its
    paper sends it, on an all-gather.

    Example:
        >>> row_collectives("intsgd-random"), row_collectives("block-exponent"), row_collectives("qsgd")
        (('switch-int32', 'switch-int8'), ('switch-int32',), ('allgather',))
    """
    cls = COMPRESSORS[name]
    if cls.collective == "switch":
        rows = ("switch-int32",) if cls.wire_bits == 32 else ("switch-int32", "switch-int8")
        return rows + (("allgather",) if cls is TernGrad else ())
    if cls.collective == "ring":
        return ("int8-ring",) if issubclass(cls, IntSGDRandom) else ("float32-ring",)
    return ("allgather",)


def row_transfers(collective: str, transfers: list[Transfer], message_bits: float) -> list[Transfer]:
    """The transfers of one row: the method's own ``transfers`` carried on ``collective``.

    ``switch-int32`` carries every model-sized switch transfer in int32 elements (official SwitchML;
    the MAX all-reduces are float32 already); ``switch-int8`` keeps the 8-bit elements (the extension);
    an ``allgather`` row of a switch method sends each worker's message (``message_bits``) instead.

    Example:
        >>> row_transfers("switch-int32", [Transfer("switch", 1, 32, False), Transfer("switch", 640, 8)], 5120)
        [Transfer(collective='switch', elements=1, element_bits=32, per_model=False), \
Transfer(collective='switch', elements=640, element_bits=32, per_model=True)]
    """
    if collective == "switch-int32":
        return [replace(t, element_bits=32) if t.collective == "switch" and t.per_model else t for t in transfers]
    if collective == "allgather" and any(t.collective == "switch" for t in transfers):
        return [packed(math.ceil(message_bits))]
    return list(transfers)


def shape_transfers(name: str, shapes: list[tuple[int, ...]], workers: int,
                    qsgd_bits_per_element: float) -> tuple[list[Transfer], float]:
    """Method ``name``'s transfers of one step on a model of these tensor ``shapes``, and its message bits.

    Computed from the shapes, with no gradient (`shape_transfers` needs no memory of the model's size):
    switch and ring methods from their own `transfers` (d elements, MAX all-reduces of 1 or L floats);
    PowerSGD from `powersgd_transfers` (rank 2 on each matrix); all-gathers from each message's exact
    size: signSGD d + 32 L, natural 9 d, top-k k (ceil(log2 d) + 32), QSGD its measured bits per element.
    """
    bounds = layer_bounds(shapes)
    dim, layers = bounds[-1], len(shapes)
    cls = COMPRESSORS[name]
    if cls is PowerSGD:
        transfers = powersgd_transfers(shapes, 2)
        return transfers, float(sum(t.bits for t in transfers))
    if cls.collective in ("switch", "ring"):
        compressor = make_compressor(name, None, workers, 0, (0, dim), None)  # no per-worker state of size d
        compressor.layer_bounds = bounds
        bits = 2 * dim + 32 * layers if cls is TernGrad else None
        transfers = compressor.prepare_transfers() + compressor.transfers([])
        return transfers, float(bits if bits is not None else sum(t.bits for t in transfers if t.per_model))
    bits = {"signsgd": dim + 32 * layers, "natural": NATURAL_BITS * dim,
            "topk": max(1, round(0.01 * dim)) * (index_bits(dim) + 32),
            "qsgd": qsgd_bits_per_element * dim}[name]
    return [packed(math.ceil(bits))], float(bits)


#: The phases of one worker's compression work (`compression_phases`).
PHASES = ("prepare", "encode", "decode", "observe")


def compression_phases(compressor: Compressor, gradients: np.ndarray, step: int = 1) -> dict[str, float]:
    """CPU seconds one worker spends in each phase (`PHASES`) compressing and decompressing ``gradients`` (n, d) once.

    ``prepare`` is divided by n (each worker computes its own share: its max, its exponents; the MAX across
    workers is the collective's); encode is averaged over the n workers; decode is what one worker does
    after the collective: `finish` on the collective's sum (switch and ring methods), the decode of all n
    messages (all-gather methods), or for PowerSGD its whole step divided by n (each worker computes its own
    products, the orthogonalisation and its residual; reported under encode); ``observe`` (IntSGD's alpha
    update) is counted whole.
    """
    clock = time.process_time  # CPU seconds of this process: time other processes hold the cores is not counted
    n = len(gradients)
    delta = -0.1 * gradients[0]
    phases = dict.fromkeys(PHASES, 0.0)
    if isinstance(compressor, PowerSGD):
        started = clock()
        compressor.reduce(gradients, step)
        phases["encode"] = (clock() - started) / n
        return phases
    started = clock()
    shared = compressor.prepare(gradients)
    phases["prepare"] = (clock() - started) / n
    started = clock()
    messages = [compressor.encode(gradients[w], w, step, shared) for w in range(n)]
    phases["encode"] = (clock() - started) / n
    if hasattr(compressor, "finish"):
        total = compressor.sum_messages(messages)
        started = clock()
        compressor.finish(total, shared)
    else:
        started = clock()
        compressor.decode(messages, step, shared)
    phases["decode"] = clock() - started
    started = clock()
    compressor.observe(delta, 0.1)
    phases["observe"] = clock() - started
    return phases


def compression_seconds(compressor: Compressor, gradients: np.ndarray, step: int = 1) -> float:
    """Seconds one worker spends compressing and decompressing ``gradients`` (n, d) once: the sum of
    `compression_phases`."""
    return sum(compression_phases(compressor, gradients, step).values())


def measure_compression(methods: tuple[str, ...], workers: int, elements: int = MEASURE_ELEMENTS,
                        seed: int = 0) -> dict[str, float]:
    """Seconds per element of compression + decompression for each method at ``workers`` workers, on one thread.

    Best of `MEASURE_REPEATS` after a warm-up, the methods measured in turn within each repetition (round
    robin), so that load from other processes on the machine spreads over all of them. The gradient is
    Gaussian float32 (n, elements); PowerSGD sees it as one square-ish matrix.
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
    compressors = {}
    for name in methods:
        make_compressor(name, None, workers, seed, (0, 4096), [(64, 64)]).reduce(small, 0)  # warm-up (numba)
        compressors[name] = make_compressor(name, None, workers, seed, (0, elements), shape)
        compressors[name].reduce(gradients, 0)  # a first step sets state (IntSGD's alpha, PowerSGD's Q)
    best = dict.fromkeys(methods, math.inf)
    for step in range(1, 1 + MEASURE_REPEATS):  # round robin: a busy spell of the machine hits every method
        for name in methods:
            best[name] = min(best[name], compression_seconds(compressors[name], gradients, step))
    return {name: seconds / elements for name, seconds in best.items()}


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
    """One method on one digits model at one learning rate: the seeds' results."""

    model: str
    method: str
    results: list[TrainingResult] = field(default_factory=list)
    learning_rate: float = 0.1

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


def train_all(config: CompareConfig, progress: Callable[[int, int], None] | None = None) -> list[MethodRuns]:
    """Train every (model, method, learning rate, seed); ``progress(run, runs)`` after each."""
    table = [MethodRuns(m, name, learning_rate=rate) for m in config.models for name in config.methods
             for rate in config.learning_rates]
    total = len(table) * len(config.seeds)
    done = 0
    for seed in config.seeds:
        data = load_digits_split(seed)
        for runs in table:
            training = TrainingConfig(model=runs.model, method="float32", workers=config.workers, batch=config.batch,
                                      steps=config.steps, learning_rate=runs.learning_rate,
                                      eval_every=config.eval_every, seed=seed)
            compressor = make_compressor(runs.method, runs.model, config.workers, seed, per_layer=config.per_layer)
            runs.results.append(train(training, data=data, reducer=compressor))
            done += 1
            if progress:
                progress(done, total)
    return table


def best_runs(table: list[MethodRuns]) -> list[MethodRuns]:
    """Per (model, method), the learning rate with the highest seed-mean final accuracy (ties: the first).

    Example:
        >>> from types import SimpleNamespace as R
        >>> runs = [MethodRuns("m", "x", [R(final_accuracy=a)], learning_rate=r) for a, r in ((0.8, 0.05), (0.9, 0.1))]
        >>> [r.learning_rate for r in best_runs(runs)]
        [0.1]
    """
    best: dict[tuple[str, str], MethodRuns] = {}
    for runs in table:
        key = (runs.model, runs.method)
        if key not in best or runs.accuracies.mean() > best[key].accuracies.mean():
            best[key] = runs
    return list(best.values())


def steps_to_target(steps: np.ndarray, accuracy: np.ndarray, target: float) -> int | None:
    """First evaluated step whose accuracy reaches ``target``; None if none does.

    Example:
        >>> steps_to_target(np.array([10, 20, 30]), np.array([0.5, 0.91, 0.95]), 0.9)
        20
    """
    reached = np.flatnonzero(np.asarray(accuracy) >= target)
    return int(steps[reached[0]]) if reached.size else None


def _row(model: str, method: str, collective: str, workers: int, elements: int, transfers: list[Transfer],
         bits_per_element: float, seconds_per_element: float, compute_s: float) -> dict:
    per_model_bits = sum(t.bits for t in transfers if t.per_model)
    return {"model": model, "method": method, "collective": collective,
            "switch_summable": COMPRESSORS[method].switch_summable, "workers": workers, "elements": elements,
            "seeds": None, "steps": None, "learning_rate": None, "accuracy_mean": None, "accuracy_std": None,
            "bits_per_element": bits_per_element if collective == "allgather" else per_model_bits / elements,
            "wire_bytes": sum(t.bits for t in transfers) / 8,
            "compression_ns_per_element": seconds_per_element * 1e9,
            "compression_s": seconds_per_element * elements, "communication_s": None, "compute_s": compute_s,
            "total_s": None, "target_accuracy": None, "steps_to_target": None, "time_to_target_s": None,
            "transfers": transfers}


def table_rows(config: CompareConfig, table: list[MethodRuns], compression: dict[int, dict[str, float]]) -> list[dict]:
    """One dict per (model, method, row collective) with `CSV_COLUMNS` and its ``transfers``.

    ``table`` holds the best learning rate's runs (`best_runs`); ``compression`` maps worker count ->
    method -> seconds per element (`measure_compression` at that count). Communication and totals are
    filled in by `add_communication`.
    """
    rows = []
    compute = {model: float(np.mean([r.gradient_s for runs in table if runs.model == model for r in runs.results]))
               / (config.steps * config.workers) for model in config.models}
    for runs in table:
        dim = runs.results[0].dim
        steps, curve = runs.mean_curve()
        reached = steps_to_target(steps, curve, config.target)
        message_bits = float(np.mean([r.bits_per_worker for r in runs.results]))
        for collective in row_collectives(runs.method):
            transfers = row_transfers(collective, main_transfers(runs), message_bits)
            row = _row(runs.model, runs.method, collective, config.workers, dim, transfers, runs.bits_per_element,
                       compression[config.workers][runs.method], compute[runs.model])
            row.update({"seeds": len(runs.results), "steps": config.steps, "learning_rate": runs.learning_rate,
                        "accuracy_mean": float(runs.accuracies.mean()),
                        "accuracy_std": float(runs.accuracies.std(ddof=1)) if len(runs.results) > 1 else 0.0,
                        "target_accuracy": config.target, "steps_to_target": reached})
            rows.append(row)
    qsgd = [r.bits_per_element for r in table if r.method == "qsgd" and r.model == config.models[-1]]
    for name in config.paper_models:
        shapes = PAPER_MODELS[name]()
        elements = layer_bounds(shapes)[-1]
        for method in config.methods:
            transfers, message_bits = shape_transfers(method, shapes, config.model_workers, qsgd[0] if qsgd else 0.0)
            for collective in row_collectives(method):
                rows.append(_row(name, method, collective, config.model_workers, elements,
                                 row_transfers(collective, transfers, message_bits), message_bits / elements,
                                 compression[config.model_workers][method], config.model_compute_s))
    return rows


def add_communication(rows: list[dict], base, progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """Fill each row's communication, total and time to target from the simulator's collectives.

    Every row's communication is `switchsim.study.collective_time.communication_seconds` of its transfers on
    ``base``'s links with the row's worker count; each distinct (workers, transfer) is simulated once.
    """
    from switchsim.study.collective_time import communication_seconds, transfers_seconds, with_workers

    cache: dict[int, dict[Transfer, float]] = {}
    for workers in dict.fromkeys(r["workers"] for r in rows):
        scenario = with_workers(base, workers)
        cache[workers] = transfers_seconds(scenario, [t for r in rows if r["workers"] == workers
                                                      for t in r["transfers"]], progress)
    for row in rows:
        row["communication_s"] = communication_seconds(with_workers(base, row["workers"]), row["transfers"],
                                                       cache[row["workers"]])
        row["total_s"] = row["compute_s"] + row["compression_s"] + row["communication_s"]
        reached = row["steps_to_target"]
        row["time_to_target_s"] = None if reached is None else reached * row["total_s"]
    return rows


def write_csv(rows: list[dict], path: str | Path) -> Path:
    """``compare.csv``: `CSV_COLUMNS`, seconds and bits as floats; empty = not applicable or never reached."""
    return write_rows(path, CSV_COLUMNS, ([f"{row[c]:.6g}" if isinstance(row[c], float) else row[c]
                                            for c in CSV_COLUMNS] for row in rows))
