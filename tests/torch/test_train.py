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
