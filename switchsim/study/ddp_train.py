"""``switchsim train``: a small CNN on the digits, trained with DDP through switchsim's hook, per method and seed.

N gloo ranks on 127.0.0.1 (spawned by the command, or started by ``torchrun``)
train `switchsim.torch.models.DigitsCNN` on scikit-learn's digits as 1x8x8
images. Every rank trains on its own shard (`switchsim.study.digits.shards`),
minibatches of ``batch`` drawn from (seed, rank, step); SGD with Nesterov
momentum 0.9 and weight decay 1e-4, learning rate ``lr``. Each run is one
(method, bits, aggregation, seed), on a fresh model (initialised from the seed)
and a fresh hook with ``check=True``: every bucket's integer sum is checked
against the exact int64 sum.

Runs are given as ``METHOD[:BITS][@AGGREGATION]`` (``intsgd-random:8@switch``).
The default set: ``float32``, ``intsgd-random:8``, ``intsgd-random:4``,
``intsgd-deterministic:8`` over the seeds, and ``intsgd-random:8@switch`` (the
real UDP switch) on the first seed.

Outputs (``--out``, default ``out/train``):

* ``training.csv``: run (method, bits, aggregation, seed), step, train_loss (the
  mean of rank 0's last ``eval_every`` minibatch losses, nats), test_loss (nats),
  test_accuracy (fraction), per evaluation;
* ``runs.csv``: per run final test accuracy, overflowed and clipped elements,
  seconds per step (wall, forward + backward with communication + optimizer);
* ``accuracy.png``, ``loss.png``: curves, the mean over seeds per run label;
* ``traces/LABEL-seedS.json``: each run's trace (docs/pytorch.md);
* the printed table: method, bits, aggregation, final accuracy mean ± sample
  standard deviation over seeds, overflow count, ms per step.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Default runs: (spec, seeds: "all" or "first").
DEFAULT_RUNS: tuple[tuple[str, str], ...] = (("float32", "all"), ("intsgd-random:8", "all"),
                                            ("intsgd-random:4", "all"), ("intsgd-deterministic:8", "all"),
                                            ("intsgd-random:8@switch", "first"))


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One training configuration: method, bits, aggregation."""

    method: str
    bits: int
    aggregation: str

    @property
    def label(self) -> str:
        """``method:bits@aggregation`` (bits only for methods that take them)."""
        from switchsim.torch.methods import BITS_METHODS

        bits = f":{self.bits}" if self.method in BITS_METHODS else ""
        where = "" if self.aggregation == "process-group" else f"@{self.aggregation}"
        return f"{self.method}{bits}{where}"


def parse_run(text: str) -> RunSpec:
    """``METHOD[:BITS][@AGGREGATION]`` -> `RunSpec`; ValueError naming the part that is wrong.

    Example:
        >>> parse_run("intsgd-random:4@switch")
        RunSpec(method='intsgd-random', bits=4, aggregation='switch')
    """
    rest, _, aggregation = text.partition("@")
    method, _, bits = rest.partition(":")
    from switchsim.torch.methods import AGGREGATIONS, METHODS

    if method not in METHODS:
        raise ValueError(f"--runs: method {method!r} must be one of {METHODS}")
    if bits and not (bits.isdigit() and 2 <= int(bits) <= 32):
        raise ValueError(f"--runs: bits {bits!r} in {text!r} must be an integer in 2..32")
    aggregation = aggregation or "process-group"
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"--runs: aggregation {aggregation!r} in {text!r} must be one of {AGGREGATIONS}")
    return RunSpec(method, int(bits) if bits else 8, aggregation)


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """What `train_rank` does on every rank (picklable)."""

    runs: tuple[tuple[RunSpec, int], ...]
    steps: int = 100
    batch: int = 32
    lr: float = 0.05
    eval_every: int = 20
    out: str = "out/train"


def _batches(x: np.ndarray, y: np.ndarray, shard: np.ndarray, seed: int, rank: int, step: int, batch: int):
    rng = np.random.default_rng([seed, rank, step, 0x7EA1])
    chosen = shard[rng.integers(0, len(shard), batch)]
    return x[chosen], y[chosen]


def train_rank(rank: int, world_size: int, config: TrainConfig) -> list[dict]:
    """Every run of ``config`` on this rank (the process group is initialised); rank 0's records are returned."""
    import torch
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel

    import switchsim.torch
    from switchsim.study.digits import load_digits_split, shards
    from switchsim.torch.models import DigitsCNN

    records = []
    for spec, seed in config.runs:
        data = load_digits_split(seed)
        x_train = torch.from_numpy(data.x_train.reshape(-1, 1, 8, 8))
        y_train = torch.from_numpy(data.y_train)
        x_test = torch.from_numpy(data.x_test.reshape(-1, 1, 8, 8))
        y_test = torch.from_numpy(data.y_test)
        shard = shards(len(data.y_train), world_size)[rank]
        torch.manual_seed(seed)
        model = DigitsCNN()
        ddp = DistributedDataParallel(model, bucket_cap_mb=0.05)
        optimizer = torch.optim.SGD(ddp.parameters(), lr=config.lr, momentum=0.9, nesterov=True, weight_decay=1e-4)
        name = spec.label.replace("@", "-at-").replace(":", "-")
        trace = str(Path(config.out) / "traces" / f"{name}-seed{seed}.json")
        state = switchsim.torch.register(ddp, method=spec.method, bits=spec.bits, aggregation=spec.aggregation,
                                         check=True, seed=seed, trace=trace, optimizer=optimizer,
                                         trace_info={"model": "digits-cnn", "seed": seed})
        curve, losses, step_s = [], [], 0.0
        try:
            for step in range(1, config.steps + 1):
                xb, yb = _batches(x_train, y_train, shard, seed, rank, step, config.batch)
                started = time.perf_counter()
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(ddp(xb), yb)
                loss.backward()
                optimizer.step()
                step_s += time.perf_counter() - started
                losses.append(float(loss.item()))
                if step % config.eval_every == 0 or step == config.steps:
                    with torch.no_grad():
                        logits = model(x_test)
                        test_loss = float(nn.functional.cross_entropy(logits, y_test).item())
                        accuracy = float((logits.argmax(1) == y_test).float().mean().item())
                    curve.append({"step": step, "train_loss": float(np.mean(losses[-config.eval_every:])),
                                  "test_loss": test_loss, "test_accuracy": accuracy})
            report = state.report()
        finally:
            state.close()
        records.append({"label": spec.label, "method": spec.method, "bits": spec.bits,
                        "aggregation": spec.aggregation, "seed": seed, "curve": curve,
                        "final_accuracy": curve[-1]["test_accuracy"], "overflow": report["overflow"],
                        "clipped": report["clipped"], "step_s": step_s / config.steps, "trace": trace})
    return records if rank == 0 else []


def summarise(records: list[dict]) -> list[dict]:
    """Per run label: bits, aggregation, seeds, accuracy mean and sample std, overflow, ms per step."""
    rows = []
    for label in dict.fromkeys(r["label"] for r in records):
        group = [r for r in records if r["label"] == label]
        accuracy = np.array([r["final_accuracy"] for r in group])
        rows.append({"label": label, "method": group[0]["method"], "bits": group[0]["bits"],
                     "aggregation": group[0]["aggregation"], "seeds": len(group), "accuracy_mean": accuracy.mean(),
                     "accuracy_std": accuracy.std(ddof=1) if len(group) > 1 else None,
                     "overflow": sum(r["overflow"] for r in group), "clipped": sum(r["clipped"] for r in group),
                     "step_ms": 1e3 * float(np.mean([r["step_s"] for r in group]))})
    return rows


def format_table(rows: list[dict], world_size: int, steps: int) -> str:
    """The printed table (accuracy in %)."""
    from switchsim.torch.methods import BITS_METHODS

    lines = [f"digits CNN, {world_size} ranks (gloo), {steps} steps: final test accuracy over seeds",
             f"{'method':<22} {'bits':>4} {'aggregation':<14} {'seeds':>5} {'accuracy %':>15} {'overflow':>8} "
             f"{'ms/step':>8}"]
    for r in rows:
        spread = f"± {100 * r['accuracy_std']:.2f}" if r["accuracy_std"] is not None else "(1 seed)"
        bits = str(r["bits"]) if r["method"] in BITS_METHODS else "32"
        lines.append(f"{r['method']:<22} {bits:>4} {r['aggregation']:<14} {r['seeds']:>5} "
                     f"{100 * r['accuracy_mean']:>6.2f} {spread:>8} {r['overflow']:>8,d} {r['step_ms']:>8.2f}")
    return "\n".join(lines)


def write_outputs(records: list[dict], out: Path) -> list[Path]:
    """training.csv, runs.csv, accuracy.png, loss.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from switchsim.study.csv_file import write_rows

    written = [write_rows(out / "training.csv",
                          ["label", "method", "bits", "aggregation", "seed", "step", "train_loss", "test_loss",
                           "test_accuracy"],
                          [[r["label"], r["method"], r["bits"], r["aggregation"], r["seed"], c["step"],
                            c["train_loss"], c["test_loss"], c["test_accuracy"]] for r in records for c in r["curve"]]),
               write_rows(out / "runs.csv",
                          ["label", "method", "bits", "aggregation", "seed", "final_accuracy", "overflow", "clipped",
                           "step_s", "trace"],
                          [[r["label"], r["method"], r["bits"], r["aggregation"], r["seed"], r["final_accuracy"],
                            r["overflow"], r["clipped"], r["step_s"], r["trace"]] for r in records])]
    for metric, name, ylabel in (("test_accuracy", "accuracy.png", "test accuracy"),
                                 ("test_loss", "loss.png", "test loss (nats)")):
        figure, axes = plt.subplots(figsize=(7, 4.5))
        for label in dict.fromkeys(r["label"] for r in records):
            group = [r for r in records if r["label"] == label]
            steps = [c["step"] for c in group[0]["curve"]]
            values = np.mean([[c[metric] for c in r["curve"]] for r in group], axis=0)
            axes.plot(steps, values, marker="o", markersize=3, alpha=0.8, label=f"{label} ({len(group)} seeds)")
        axes.set_xlabel("step")
        axes.set_ylabel(ylabel)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
        figure.tight_layout()
        figure.savefig(out / name, dpi=110)
        plt.close(figure)
        written.append(out / name)
    return written


def add_train_parser(subparsers) -> argparse.ArgumentParser:
    """The ``switchsim train`` subcommand's parser (no torch needed to build it)."""
    parser = subparsers.add_parser(
        "train", help="train a digits CNN with DDP through switchsim's hook (needs the torch extra)",
        description="Train a small CNN on scikit-learn's digits with PyTorch DDP on N gloo ranks on 127.0.0.1, "
                    "each gradient bucket through switchsim's communication hook, per method, bit-width and seed. "
                    "Runs under torchrun too (it then uses torchrun's ranks). Needs: pip install 'switchsim[torch]'.")
    parser.add_argument("--workers", type=int, default=2, help="ranks (gloo processes), 1..32 (default 2)")
    parser.add_argument("--runs", default=None,
                        help="comma-separated METHOD[:BITS][@AGGREGATION], e.g. float32,intsgd-random:8,"
                             "intsgd-random:8@switch (default: float32, intsgd-random:8, intsgd-random:4, "
                             "intsgd-deterministic:8 over the seeds and intsgd-random:8@switch on the first seed)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--steps", type=int, default=100, help="steps per run, 1..100000 (default 100)")
    parser.add_argument("--batch", type=int, default=32, help="minibatch per rank, 1..1024 (default 32)")
    parser.add_argument("--lr", type=float, default=0.05, help="learning rate, > 0 (default 0.05)")
    parser.add_argument("--eval-every", type=int, default=20, help="evaluate every this many steps (default 20)")
    parser.add_argument("--out", default="out/train", help="output folder (default out/train)")
    parser.add_argument("--timeout", type=float, default=900.0, help="bound on the whole job, seconds (default 900)")
    return parser


def _config(args: argparse.Namespace) -> TrainConfig:
    try:
        seeds = tuple(int(s) for s in args.seeds.split(","))
    except ValueError:
        raise ValueError(f"--seeds must be comma-separated integers, got {args.seeds!r}") from None
    if not seeds or any(s < 0 or s >= 2**31 for s in seeds):
        raise ValueError(f"--seeds must be integers in 0..2**31-1, got {args.seeds!r}")
    if args.runs:
        runs = tuple((parse_run(text.strip()), seed) for text in args.runs.split(",") for seed in seeds)
    else:
        runs = tuple((parse_run(text), seed) for text, which in DEFAULT_RUNS
                     for seed in (seeds if which == "all" else seeds[:1]))
    for name, value, low, high in (("--steps", args.steps, 1, 100_000), ("--batch", args.batch, 1, 1024),
                                   ("--eval-every", args.eval_every, 1, 100_000), ("--workers", args.workers, 1, 32)):
        if not low <= value <= high:
            raise ValueError(f"{name} must be an integer in {low}..{high}, got {value}")
    if not args.lr > 0:
        raise ValueError(f"--lr must be > 0, got {args.lr}")
    return TrainConfig(runs, args.steps, args.batch, args.lr, args.eval_every, args.out)


def run_command(args: argparse.Namespace) -> int:
    """``switchsim train``: exit 0 when every run finished with exact sums, 1 on a wrong sum, 2 bad input,
    4 when the ranks failed for another reason (a crash, a timeout)."""
    import sys

    try:
        config = _config(args)
    except ValueError as error:
        print(f"switchsim train: {error}", file=sys.stderr)
        return 2
    try:
        import torch  # noqa: F401
    except ImportError:
        print("switchsim train: needs torch: pip install 'switchsim[torch]' (the CPU build, torch==2.13.0+cpu)",
              file=sys.stderr)
        return 2
    from switchsim.torch.launch import RankError, run_ranks

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    under_torchrun = "TORCHELASTIC_RUN_ID" in os.environ or ("RANK" in os.environ and "WORLD_SIZE" in os.environ)
    if os.environ.get("RANK", "0") == "0":
        print(f"switchsim train: {len(config.runs)} runs x {config.steps} steps, "
              f"{os.environ.get('WORLD_SIZE', args.workers)} ranks{' (torchrun)' if under_torchrun else ''}, "
              f"out {out}", flush=True)
    try:
        if under_torchrun:
            import torch.distributed as dist

            dist.init_process_group("gloo")
            try:
                world_size = dist.get_world_size()
                records = train_rank(dist.get_rank(), world_size, config)
                rank = dist.get_rank()
            finally:
                dist.destroy_process_group()
            if rank != 0:
                return 0
        else:
            world_size = args.workers
            records = run_ranks(train_rank, world_size, (config,), timeout_s=args.timeout)[0]
    except RankError as error:
        text = str(error)
        print(f"switchsim train: {text.strip().splitlines()[-1]}", file=sys.stderr)
        return 1 if "ExactnessError" in text else 4
    rows = summarise(records)
    table = format_table(rows, world_size, config.steps)
    print(table)
    (out / "table.txt").write_text(table + "\n")
    written = write_outputs(records, out)
    print(f"wrote {', '.join(str(p) for p in written)}, {out / 'table.txt'} and {len(records)} traces in "
          f"{out / 'traces'} (total {time.perf_counter() - started:.1f} s)")
    return 0
