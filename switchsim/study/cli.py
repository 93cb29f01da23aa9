"""``switchsim study overflow``, ``training`` and ``compare``: argument parsing and reports."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from switchsim.arguments import ranged
from switchsim.paths import output_dir
from switchsim.progress import StatusLine


def _comma_list(kind, allowed=None, name="value"):
    """argparse type: comma-separated values of ``kind``, each in ``allowed`` (a container) when given."""

    def parse(text: str) -> tuple:
        try:
            values = tuple(kind(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated {kind.__name__} values") from None
        bad = [v for v in values if allowed is not None and v not in allowed]
        if not values or bad:
            # a range's ends, not min()/max(): those walk every value of range(2**31)
            if allowed is None:
                shown = f"one or more {kind.__name__} values"
            elif isinstance(allowed, range):
                shown = f"{allowed.start}..{allowed.stop - 1}"
            else:
                shown = ", ".join(map(str, allowed))
            raise argparse.ArgumentTypeError(f"{name}: {bad or text!r} not allowed; choose from {shown}")
        return values

    return parse


def _float_in(low: float, high: float):
    """argparse type: a number in ``low..high`` (the message gives the range)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number in {low:g}..{high:g}, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be a number in {low:g}..{high:g}, got {value:g}")
        return value

    return parse


def _overflow(args: argparse.Namespace) -> int:
    from switchsim.study.overflow import OverflowStudy, plot_study, run_study, write_csv

    study = OverflowStudy(dim=args.dim, seed=args.seed)
    out = Path(args.out or "out/study-overflow")
    status = StatusLine()
    started = time.perf_counter()
    try:
        rows = run_study(study, status.counter("setting"))
    finally:
        status.close()
    table = write_csv(rows, out / "overflow.csv")
    pictures = [p for n in (8, 32) if n in study.workers for a in ("fill", "adaptive")
                for p in plot_study(rows, out, n, a)]
    print(f"switchsim study overflow: {len(rows)} settings, d = {study.dim} (digits-mlp: 2410), seed {study.seed}, "
          f"{time.perf_counter() - started:.1f} s")
    print(f"{'gradients':11} {'b':>3} {'a':>3} {'n':>3} {'clip':7} {'alpha':9} {'overflow':>9} {'rel. error':>10}")
    for r in rows:
        if r["workers"] == 8 and r["bits"] in (4, 8, 16) and r["distribution"] in ("gaussian", "digits-mlp"):
            print(f"{r['distribution']:11} {r['bits']:3d} {r['accumulator_bits']:3d} {r['workers']:3d} "
                  f"{r['policy']:7} {r['alpha_policy']:9} {r['overflow_rate']:9.4f} {r['relative_error']:10.4f}")
    print(f"wrote {table} and {len(pictures)} plots in {out}")
    return 0


def _training(args: argparse.Namespace) -> int:
    from switchsim.config import find_scenario, load_scenario, with_override
    from switchsim.study import time_to_accuracy as timing
    from switchsim.study.train import (
        TrainingConfig,
        bit_width_table,
        grid,
        result_record,
        run_grid,
        write_training_csv,
    )
    from switchsim.study.training_plots import plot_time_to_accuracy, plot_training

    out = output_dir(args.out or "out/study-training", "--out")
    # the timing scenario is read before any training, so a bad --timing fails at once
    scenario_path = find_scenario(args.timing)
    base = with_override(load_scenario(scenario_path), "topology.workers", args.workers)
    models = ("softmax", "mlp") if args.model == "both" else (args.model,)
    configs = [c for model in models for seed in args.seeds for c in grid(
        TrainingConfig(model=model, workers=args.workers, batch=args.batch, steps=args.steps,
                       learning_rate=args.lr, eval_every=args.eval_every, per_layer=args.per_layer,
                       through_pipeline=args.through_pipeline, seed=seed), args.methods, args.bits)]
    print(f"switchsim study training: digits, {len(configs)} runs ({', '.join(models)}; methods "
          f"{', '.join(args.methods)}; wire bits {', '.join(map(str, args.bits))}; seeds "
          f"{', '.join(map(str, args.seeds))}), {args.workers} workers x batch {args.batch}, {args.steps} steps")
    status = StatusLine()
    started = time.perf_counter()
    try:
        results = run_grid(configs, status.counter("training run"))
    finally:
        status.close()
    train_s = time.perf_counter() - started
    first_seed = [r for r in results if r.config.seed == args.seeds[0]]
    table = bit_width_table(first_seed)
    if len(args.seeds) > 1:
        table += "\n" + _seed_table(results)
    print(table)
    written = [write_training_csv(results, out / "training.csv")]
    (out / "bit-width-table.txt").write_text(table + "\n")
    written.append(out / "bit-width-table.txt")
    written += plot_training(first_seed, out)

    curves = []
    status = StatusLine()
    try:
        for model in models:
            runs = [r for r in first_seed if r.config.model == model]
            elements = args.model_elements or runs[0].dim
            keys = sorted({(r.config.method, r.config.wire_bits) for r in runs})
            seconds = timing.iteration_seconds(base, keys, elements, status.counter(f"{model}: simulated all-reduce"))
            curves += timing.curves_for(runs, seconds, args.compute_s, args.target)
    finally:
        status.close()
    timing.write_time_csv(curves, out / "time_to_accuracy.csv")
    written.append(out / "time_to_accuracy.csv")
    written += plot_time_to_accuracy(curves, out, args.target)
    (out / "training.json").write_text(json.dumps({"results": [result_record(r) for r in results],
                                                   "time_to_accuracy": curves}, indent=1))
    written.append(out / "training.json")
    print(f"time to {100 * args.target:.0f} % test accuracy on {scenario_path} ({args.workers} workers), "
          f"compute {args.compute_s * 1e6:.0f} µs/iteration:")
    print(f"{'model':8} {'run':26} {'wire':>5} {'µs/iter':>9} {'steps':>6} {'time (ms)':>10}")
    for c in curves:
        reached = "never" if c["time_to_target_s"] is None else f"{c['time_to_target_s'] * 1e3:.3f}"
        steps = "-" if c["steps_to_target"] is None else str(c["steps_to_target"])
        wire = "ring32" if c["method"] == "float32" else f"int{c['element_bits']}"
        print(f"{c['model']:8} {c['label']:26} {wire:>5} {c['iteration_s'] * 1e6:9.1f} {steps:>6} {reached:>10}")
    print(f"training {train_s:.1f} s, total {time.perf_counter() - started:.1f} s; wrote {len(written)} files in {out}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from switchsim.config import find_scenario, load_scenario
    from switchsim.study.compare import (
        CompareConfig,
        add_communication,
        best_runs,
        measure_compression,
        table_rows,
        train_all,
        write_csv,
    )
    from switchsim.study.compare_plots import plot_compare
    from switchsim.study.compare_report import markdown_table, write_markdown

    config = CompareConfig(models=("softmax", "mlp") if args.model == "both" else (args.model,),
                           methods=args.methods, seeds=args.seeds, workers=args.workers, steps=args.steps,
                           learning_rates=args.lr, target=args.target, paper_models=args.paper_models,
                           model_workers=args.model_workers, measure_elements=args.measure_elements,
                           per_layer=args.per_layer,
                           **({} if args.compute_s is None else {"model_compute_s": args.compute_s}))
    out = Path(args.out or "out/study-compare")
    scenario_path = find_scenario(args.timing)
    base = load_scenario(scenario_path)  # before any training: a bad --timing fails at once
    runs = len(config.models) * len(config.methods) * len(config.seeds) * len(config.learning_rates)
    print(f"switchsim study compare: {len(config.methods)} methods x {', '.join(config.models)} x learning rates "
          f"{', '.join(map(str, config.learning_rates))} x seeds {', '.join(map(str, config.seeds))} = {runs} "
          f"training runs of {config.steps} steps, {config.workers} workers; links of {scenario_path}")
    started = time.perf_counter()
    status = StatusLine()
    try:
        compression = {}
        for workers in dict.fromkeys((config.workers,) + ((config.model_workers,) if config.paper_models else ())):
            status.update(f"measuring compression speed at {workers} workers", force=True)
            compression[workers] = measure_compression(config.methods, workers, config.measure_elements)
        swept = train_all(config, status.counter("training run"))
        table = best_runs(swept)
        rows = add_communication(table_rows(config, table, compression), base,
                                 status.counter("simulated collective"))
    finally:
        status.close()
    written = [write_csv(rows, out / "compare.csv")]
    wall_s = time.perf_counter() - started
    written.append(write_markdown(config, rows, table, compression, wall_s, out / "compare.md", swept))
    written += plot_compare(table, rows, out)
    print(markdown_table(rows, config.target))
    print(f"wall time {wall_s:.1f} s; wrote {len(written)} files in {out}: " + ", ".join(p.name for p in written))
    return 0


def _seed_table(results) -> str:
    """Final accuracy mean ± standard deviation over seeds, per model, method and bits."""
    import numpy as np

    groups: dict[tuple, list[float]] = {}
    for r in results:
        groups.setdefault((r.config.model, r.config.label), []).append(r.final_accuracy)
    lines = [f"over {len({r.config.seed for r in results})} seeds: final test accuracy % (mean ± std)"]
    lines += [f"{model:8} {label:26} {100 * np.mean(v):6.2f} ± {100 * np.std(v):5.2f}"
              for (model, label), v in groups.items()]
    return "\n".join(lines)


def add_study_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``study overflow`` and ``study training`` to the ``switchsim`` subcommands."""
    from switchsim.study.aggregation import METHODS

    study = sub.add_parser(
        "study",
        help="IntSGD studies: 'overflow' (bits vs overflow and error) and 'training' (digits, time to accuracy)",
        description="Quantization studies. 'overflow' sweeps wire bits, accumulator bits, workers, clip and alpha "
        "policy over synthetic and real gradients; 'training' trains on the digits with the all-reduce through "
        "integers per bit-width and combines it with simulated all-reduce times.",
    )
    kinds = study.add_subparsers(dest="study", required=True, metavar="{overflow,training,compare}")
    overflow = kinds.add_parser(
        "overflow",
        help="IntSGD integers summed in an a-bit register: overflow rate and error vs wire bits",
        description="IntSGD-encode gradients from n workers (synthetic Gaussian, Student-t, sparse; and real "
        "digits-MLP gradients captured from training), sum them as an a-bit switch register (wrap-around) and "
        "decode; sweep wire bits b, accumulator bits a, n, clip policy (safe/unsafe) and alpha policy "
        "(adaptive/fill). Writes DIR/overflow.csv (columns documented in switchsim/study/overflow.py) and plots.",
    )
    overflow.add_argument("--out", help="output folder (default: out/study-overflow)")
    overflow.add_argument("--dim", type=ranged(1, 1 << 26), default=1 << 16,
                          help="synthetic gradient elements per worker (default 65536)")
    overflow.add_argument("--seed", type=ranged(0, 2**63 - 1), default=0, help="seed (default 0)")
    overflow.set_defaults(handler=_overflow)

    training = kinds.add_parser(
        "training",
        help="data-parallel training on the digits per wire bit-width; accuracy and time to accuracy",
        description="Train softmax regression and a small MLP on scikit-learn's bundled digits with n simulated "
        "workers (each on its own shard). The gradient all-reduce is float32 (reference), IntSGD with randomized "
        "or deterministic rounding, or the SwitchML-style heuristic, as integers of --bits wire bits summed by the "
        "switch's accumulator. Then the simulator times one all-reduce per wire width on --timing's links "
        "(float32 = ring all-reduce; integers = SwitchML in int8/int16/int32 elements) to draw accuracy against "
        "simulated time. Writes training.csv, bit-width-table.txt, time_to_accuracy.csv, training.json and plots.",
        epilog="example: switchsim study training --model mlp --bits 2,4,8,32 --seeds 0,1,2 --compute-s 1e-4",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    training.add_argument("--out", help="output folder (default: out/study-training)")
    training.add_argument("--model", choices=("softmax", "mlp", "both"), default="both",
                          help="softmax (650 parameters), mlp (2,410) or both (default)")
    training.add_argument("--methods", type=_comma_list(str, METHODS, "--methods"), default=METHODS,
                          help=f"comma-separated, from {', '.join(METHODS)} (default: all)")
    training.add_argument("--bits", type=_comma_list(int, range(2, 33), "--bits"), default=(2, 3, 4, 6, 8, 16, 32),
                          help="wire bits b, comma-separated, each 2..32 (default 2,3,4,6,8,16,32)")
    training.add_argument("--seeds", type=_comma_list(int, range(0, 2**31), "--seeds"), default=(0,),
                          help="seeds, comma-separated (default 0); several add a mean ± std table")
    training.add_argument("--workers", type=ranged(1, 32), default=8, help="n workers (default 8)")
    training.add_argument("--batch", type=ranged(1, 256), default=16, help="samples per worker per step (default 16)")
    training.add_argument("--steps", type=ranged(1, 100_000), default=300, help="SGD steps (default 300)")
    training.add_argument("--lr", type=float, default=0.1, help="learning rate (default 0.1)")
    training.add_argument("--eval-every", type=ranged(1, 100_000), default=10, help="steps between evaluations")
    training.add_argument("--per-layer", action="store_true", help="IntSGD alpha per tensor instead of global")
    training.add_argument("--through-pipeline", action="store_true",
                          help="also all-reduce every step through the SwitchML protocol + switch pipeline model "
                          "and check it equals the accumulator (slow)")
    training.add_argument("--timing", metavar="SCENARIO", help="scenario whose links time the all-reduce "
                          "(default: scenarios/quickstart.toml, 10 Gb/s); its worker count is set to --workers")
    training.add_argument("--compute-s", type=float, default=0.0,
                          help="compute seconds per iteration added to every method (default 0: communication only)")
    training.add_argument("--model-elements", type=ranged(1, 1 << 26), default=None,
                          help="what-if: time an all-reduce of this many elements per iteration instead of the "
                          "model's own d (convergence still from the digits model)")
    training.add_argument("--target", type=float, default=0.9, help="test accuracy for time to accuracy (default 0.9)")
    training.set_defaults(handler=_training)

    from workers.quantizers.compressors import COMPRESSORS

    names = tuple(COMPRESSORS)
    compare = kinds.add_parser(
        "compare",
        help="every compressor (IntSGD and the field) trained on the digits and timed on the collective it needs",
        description="Train the digits models with each compressor (" + ", ".join(names) + ") over several seeds "
        "and learning rates (each method reported at its best), momentum placed as each method's paper does, "
        "measure each method's compression + decompression time on this machine at each row's worker count, "
        "simulate its communication on --timing's links with the collectives it needs (switch-int32: official "
        "SwitchML; switch-int8: switchsim's narrow-element extension; ring at its element width; all-gather), "
        "and write DIR/compare.csv, DIR/compare.md and plots of accuracy vs time and vs bits per element. "
        "See docs/quantizers.md.",
        epilog="example: switchsim study compare --seeds 0,1,2,3,4 --paper-models resnet18,resnet50",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compare.add_argument("--out", help="output folder (default: out/study-compare)")
    compare.add_argument("--seeds", type=_comma_list(int, range(0, 2**31), "--seeds"), default=(0, 1, 2, 3, 4),
                         help="seeds, comma-separated, each 0..2147483647 (default 0,1,2,3,4)")
    compare.add_argument("--model", choices=("softmax", "mlp", "both"), default="both",
                         help="digits model(s) to train (default both)")
    compare.add_argument("--methods", type=_comma_list(str, names, "--methods"), default=names,
                         help=f"comma-separated, from {', '.join(names)} (default: all)")
    compare.add_argument("--steps", type=ranged(1, 100_000), default=100, help="SGD steps per run (default 100)")
    compare.add_argument("--workers", type=ranged(1, 32), default=8, help="n workers of the digits runs (default 8)")
    compare.add_argument("--lr", type=_comma_list(float, None, "--lr"), default=(0.05, 0.1, 0.2),
                         help="learning rates swept for every method, comma-separated, 1..5 values in (0, 10] "
                         "(default 0.05,0.1,0.2); each method is reported at its best")
    compare.add_argument("--target", type=_float_in(0.01, 1.0), default=0.9,
                         help="test accuracy for time to target, 0.01..1 (default 0.9)")
    compare.add_argument("--timing", metavar="SCENARIO", help="scenario whose links time the collectives "
                         "(default: scenarios/quickstart.toml, 10 Gb/s); its worker count is set per row")
    compare.add_argument("--paper-models", type=_comma_list(str, ("resnet18", "resnet50"), "--paper-models"),
                         default=(), help="also time every method on these models' real tensor shapes, "
                         "comma-separated from resnet18, resnet50 (default: none)")
    compare.add_argument("--model-workers", type=ranged(1, 32), default=16,
                         help="n for the --paper-models rows (default 16, the paper's)")
    compare.add_argument("--compute-s", type=_float_in(0.0, 100.0), default=None,
                         help="compute seconds per iteration of the --paper-models rows (default 0.05584: the "
                         "paper's ResNet-18 SGD total 74.32 ms minus its communication 18.48 ms)")
    compare.add_argument("--per-layer", action="store_true",
                         help="IntSGD (and the int8 ring) with one alpha per tensor instead of one for the model")
    compare.add_argument("--measure-elements", type=ranged(4096, 1 << 24), default=1 << 20,
                         help="elements of the synthetic gradient on which compression time is measured "
                         "(default 1048576)")
    compare.set_defaults(handler=_compare)
