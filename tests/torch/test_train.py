"""``switchsim train``: the digits CNN through the hook on 2 gloo ranks; IntSGD at 8 bits against float32."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from switchsim.study.ddp_train import parse_run


def test_parse_run_reads_method_bits_and_aggregation():
    assert parse_run("float32") == parse_run("float32@process-group")
    run = parse_run("intsgd-random:4@switch")
    assert (run.method, run.bits, run.aggregation, run.label) == ("intsgd-random", 4, "switch",
                                                                  "intsgd-random:4@switch")


@pytest.mark.parametrize(("text", "message"), [
    ("sgd", "--runs: method 'sgd' must be one of"),
    ("intsgd-random:40", "--runs: bits '40' in 'intsgd-random:40' must be an integer in 2..32"),
    ("intsgd-random:8@nccl", "--runs: aggregation 'nccl' in 'intsgd-random:8@nccl' must be one of"),
])
def test_parse_run_names_the_bad_part(text, message):
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        parse_run(text)


def test_train_rejects_bad_flags_with_exit_2(capsys):
    from switchsim.cli import main

    assert main(["train", "--steps", "0"]) == 2
    assert "--steps must be an integer in 1..100000, got 0" in capsys.readouterr().err


def test_intsgd_8_bits_reaches_float32_accuracy_within_the_spread_of_3_seeds(tmp_path, capsys):
    pytest.importorskip("torch", reason="torch is not installed (pip install 'switchsim[torch]': the CPU build "
                                        "torch==2.13.0+cpu)")
    from switchsim.cli import main
    from switchsim.study.compare import exceeds_spread

    out = tmp_path / "train"
    status = main(["train", "--runs", "float32,intsgd-random:8", "--seeds", "0,1,2", "--steps", "80",
                   "--eval-every", "40", "--out", str(out), "--timeout", "400"])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert "intsgd-random" in printed and "±" in printed
    with (out / "runs.csv").open() as handle:
        runs = list(csv.DictReader(handle))
    accuracy = {label: [float(r["final_accuracy"]) for r in runs if r["label"] == label]
                for label in ("float32", "intsgd-random:8")}
    assert [len(v) for v in accuracy.values()] == [3, 3]
    assert np.mean(accuracy["float32"]) > 0.85  # it learns
    assert all(int(r["overflow"]) == 0 for r in runs)  # every sum checked exactly, none overflowed
    integer, floating = accuracy["intsgd-random:8"], accuracy["float32"]
    assert np.mean(integer) >= np.mean(floating) or not exceeds_spread(integer, floating)
    for name in ("training.csv", "accuracy.png", "loss.png", "table.txt"):
        assert (out / name).stat().st_size > 0
    assert len(list((out / "traces").glob("*.json"))) == 6


@pytest.mark.parametrize("signum", ["SIGTERM", "SIGINT"])
def test_a_signal_stops_train_and_its_ranks_within_2_s_in_one_line(tmp_path, signum):
    """SIGTERM to `switchsim train` (a scheduler's stop), or SIGINT to it alone: one line, exit 143 / 130,
    every rank process gone at once (the launcher joined each rank for 5 s first: 7.7 s with 2 ranks)."""
    pytest.importorskip("torch", reason="torch is not installed (pip install 'switchsim[torch]': the CPU build "
                                        "torch==2.13.0+cpu)")
    import signal
    import subprocess
    import sys
    import time

    from tests.emu.processes import alive, descendants, killed_at_exit, stop_with, wait_until

    number = getattr(signal, signum)
    train = subprocess.Popen([sys.executable, "-m", "switchsim.cli", "train", "--workers", "2", "--steps", "100000",
                              "--runs", "float32", "--seeds", "0", "--out", str(tmp_path / "out")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with killed_at_exit(train):
        assert train.stdout.readline().startswith("switchsim train: 1 runs x 100000 steps, 2 ranks")
        ranks = wait_until(lambda: [p for p in descendants(train.pid) if alive(p)] if len(
            descendants(train.pid)) >= 3 else None, 60)  # two ranks and multiprocessing's resource tracker
        assert ranks, "the ranks did not start"
        time.sleep(3.0)  # training
        err, took = stop_with(train, number)
    said = "stopped (train stopped by SIGTERM)" if signum == "SIGTERM" else "interrupted (train stopped by Ctrl-C)"
    assert err.strip().splitlines() == [f"switchsim: {said}"], err
    assert train.returncode == 128 + number
    assert took < 2.0, took
    assert wait_until(lambda: not any(alive(pid) for pid in ranks), 5), "a rank process was left running"
