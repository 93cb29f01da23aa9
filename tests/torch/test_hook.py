"""The DDP communication hook on real gloo process groups (2 ranks on 127.0.0.1, a free port per run).

Every run goes through `switchsim.torch.launch.run_ranks` with a deadline; the rank bodies are in
rank_jobs.py. Runs are shared by the tests of this module (module-scoped fixtures) to bound the time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'switchsim[torch]': the CPU build "
                                            "torch==2.13.0+cpu)")

from switchsim.torch.hook import ExactnessError, HookState, _check_exact, _Plan  # noqa: E402
from switchsim.torch.launch import run_ranks  # noqa: E402

JOBS = str(Path(__file__).with_name("rank_jobs.py"))
WORKERS = 2


def _wrap8(values: np.ndarray) -> np.ndarray:
    return ((values.astype(np.int64) + 128) % 256 - 128).astype(np.int32)


@pytest.fixture(scope="module")
def process_group_run():
    return run_ranks(f"{JOBS}:sums_job", WORKERS, ("intsgd-random", "process-group", 3), timeout_s=180)


@pytest.fixture(scope="module")
def switch_run():
    return run_ranks(f"{JOBS}:sums_job", WORKERS, ("intsgd-random", "switch", 3), timeout_s=180)


def test_hooked_gradient_is_the_decoded_exact_integer_sum(process_group_run):
    for rank in process_group_run:
        assert len(rank["buckets"]) >= 5  # one bucket on the first step, two after DDP rebuilds them
        for bucket in rank["buckets"]:
            exact = bucket["every"].sum(axis=0)  # every rank's integers, summed in int64
            assert np.array_equal(bucket["sum"], _wrap8(exact))  # the 8-bit accumulator's sum ...
            assert np.array_equal(bucket["sum"], exact)  # ... which the clip keeps from overflowing
            (alpha,) = bucket["alphas"]
            decoded = (exact.astype(np.int32) / alpha).astype(np.float32) / np.float32(WORKERS)
            assert np.array_equal(bucket["mean"], decoded)
            assert np.array_equal(bucket["grad"], decoded)  # what DDP put in the parameters' .grad
        assert rank["report"]["overflow"] == 0


def test_alpha_adapts_from_the_decoded_gradient_identically_on_every_rank(process_group_run):
    alphas = [[b["alphas"] for b in rank["buckets"]] for rank in process_group_run]
    assert alphas[0] == alphas[1]
    assert alphas[0][0] == (100.0,)  # the authors' initial alpha, first step
    assert alphas[0][-1] != (100.0,)  # then from the decoded averaged gradients


def test_float_result_is_within_intsgds_bound_of_the_plain_all_reduce(process_group_run):
    checked = 0
    for bucket in process_group_run[0]["buckets"]:
        if bucket["clipped"]:
            continue
        (alpha,) = bucket["alphas"]
        # randomized rounding: |Int(t) - t| < 1 per rank, so the mean is off by < 1 / alpha (+ float32 rounding)
        error = np.abs(bucket["grad"].astype(np.float64) - bucket["float_mean"]).max()
        assert error < 1 / alpha + 1e-6
        assert error > 0  # integers, not floats, crossed the wire
        checked += 1
    assert checked >= 3


def test_every_rank_ends_with_the_same_model(process_group_run):
    assert np.array_equal(process_group_run[0]["weights"], process_group_run[1]["weights"])


@pytest.mark.network
def test_switch_aggregation_gives_the_same_sums_as_the_process_group(process_group_run, switch_run):
    for by_group, by_switch in zip(process_group_run, switch_run, strict=True):
        assert len(by_group["buckets"]) == len(by_switch["buckets"])
        for a, b in zip(by_group["buckets"], by_switch["buckets"], strict=True):
            assert np.array_equal(a["every"], b["every"])
            assert np.array_equal(a["sum"], b["sum"])
            assert np.array_equal(a["grad"], b["grad"])
        assert np.array_equal(by_group["weights"], by_switch["weights"])


def _free_udp_ports(count: int) -> int:
    """A base port b with b .. b + count - 1 free for UDP on 127.0.0.1 right now."""
    import random
    import socket

    for _ in range(100):
        base = random.randint(20000, 60000)
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free UDP ports")


@pytest.mark.network
def test_a_switch_started_by_switchsim_serve_gives_the_same_sums(process_group_run):
    import json
    import re
    import signal
    import subprocess
    import sys

    base = _free_udp_ports(WORKERS)
    server = subprocess.Popen([sys.executable, "-m", "switchsim.cli", "serve", "--workers", str(WORKERS),
                               "--worker-port-base", str(base)], stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        address = re.match(r"switchsim serve: switch at (\S+) for 2 workers at 127.0.0.1:(\d+)", line)
        assert address and int(address.group(2)) == base, line
        by_serve = run_ranks(f"{JOBS}:sums_job", WORKERS, ("intsgd-random", "switch", 3, 8, "global",
                                                           address.group(1), {"worker_port_base": base}),
                             timeout_s=180)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            output = server.communicate(timeout=30)[0]
        finally:
            if server.poll() is None:  # never left serving after the test
                server.kill()
                server.wait()
    report = json.loads(output.strip().splitlines()[-1])
    assert report["processed"] > 0 and sum(report["drops"].values()) == 0  # every datagram from a registered rank
    for by_group, by_switch in zip(process_group_run, by_serve, strict=True):
        for a, b in zip(by_group["buckets"], by_switch["buckets"], strict=True):
            assert np.array_equal(a["sum"], b["sum"])
        assert np.array_equal(by_group["weights"], by_switch["weights"])


@pytest.mark.bmv2
def test_bmv2_aggregation_gives_the_same_sums_as_the_process_group(process_group_run):
    from switchsim.p4gen import bmv2_runner

    reason = bmv2_runner.can_run_bmv2()
    if reason:
        pytest.skip(f"cannot run simple_switch here: {reason}")
    bmv2_run = run_ranks(f"{JOBS}:sums_job", WORKERS, ("intsgd-random", "bmv2", 3), timeout_s=600)
    for by_group, by_bmv2 in zip(process_group_run, bmv2_run, strict=True):
        assert len(by_group["buckets"]) == len(by_bmv2["buckets"])
        for a, b in zip(by_group["buckets"], by_bmv2["buckets"], strict=True):
            assert np.array_equal(a["sum"], b["sum"])
            assert np.array_equal(a["grad"], b["grad"])
        assert np.array_equal(by_group["weights"], by_bmv2["weights"])


def test_training_is_deterministic_and_resumes_identically_from_a_checkpoint(tmp_path):
    plain = run_ranks(f"{JOBS}:train_job", WORKERS, ("intsgd-random", "process-group", 5, None, None),
                      timeout_s=180)
    resumed = run_ranks(f"{JOBS}:train_job", WORKERS,
                        ("intsgd-random", "process-group", 5, 2, str(tmp_path / "checkpoint.pt")), timeout_s=180)
    # a second process group, a fresh model with other weights restored at step 2: bit for bit the same
    for a, b in zip(plain, resumed, strict=True):
        assert np.array_equal(a["weights"], b["weights"])
        assert a["mean_sq"] == b["mean_sq"] and a["iteration"] == b["iteration"] == 4


METHODS = ["float32", "intsgd-random/layer", "heuristic", "block-exponent", "terngrad", "int8-ring",
           "intsgd-deterministic", "topk", "qsgd", "signsgd", "natural", "powersgd"]


@pytest.fixture(scope="module")
def methods_run():
    return run_ranks(f"{JOBS}:methods_job", WORKERS, (METHODS, 3), timeout_s=240)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_gives_every_rank_the_same_gradient(methods_run, method):
    a, b = methods_run[0][method], methods_run[1][method]
    assert np.array_equal(a["grad"], b["grad"])
    assert np.all(np.isfinite(a["grad"]))
    relative = np.linalg.norm(a["grad"] - a["float_mean"]) / np.linalg.norm(a["float_mean"])
    if method == "float32":
        assert relative < 1e-6
    else:
        assert relative > 0  # compressed: not the float mean ...
        assert np.dot(a["grad"], a["float_mean"]) > 0  # ... but a descent direction for it


def test_intsgd_alpha_per_layer_differs_between_tensors_and_agrees_between_ranks(methods_run):
    per_layer = methods_run[0]["intsgd-random/layer"]["alphas"]
    assert per_layer == methods_run[1]["intsgd-random/layer"]["alphas"]
    assert len(per_layer) == 6 and len(set(per_layer.values())) == 6  # one alpha per parameter tensor
    state = methods_run[0]["intsgd-random/layer"]["state"]
    assert set(state["mean_sq"]) == set(per_layer) and state["iteration"] == 2


def test_error_feedback_memory_is_in_the_checkpoint(methods_run):
    for method in ("topk", "powersgd"):
        residuals = methods_run[0][method]["state"]["residuals"]
        assert residuals and any(np.any(v != 0) for v in residuals.values())
    assert methods_run[0]["powersgd"]["state"]["powersgd_q"]


def test_register_names_the_bad_argument(methods_run):
    errors = methods_run[0]["errors"]
    assert len(errors) == 4
    assert errors[0].startswith("method must be one of")
    assert errors[1] == "bits must be an integer in 2..32, got 40"
    assert errors[2].startswith("aggregation must be 'process-group' for method 'topk'")
    assert errors[3].startswith("alpha_scope must be one of ('global', 'layer')")


def _state() -> HookState:
    return HookState("intsgd-random", 8, "process-group", "global", True, 0, 2, 0)


def test_check_raises_on_a_wrong_sum_naming_bucket_element_and_values():
    plan = _Plan(3, ("w",), (0, 4), ((4,),), None, 0)
    sent = np.array([1, 2, 3, 4], np.int32)
    exact = np.array([2, 4, 6, 8], np.int64)
    with pytest.raises(ExactnessError, match=r"bucket 3: wrong integer sum at element 2 of 4 \(1 elements wrong\): "
                                             r"got 7, exact 6 \(this rank sent 3\)"):
        _check_exact(_state(), plan, sent, np.array([2, 4, 7, 8], np.int32), exact, 8)


def test_check_raises_on_an_overflowed_sum_and_counts_it():
    state = _state()
    plan = _Plan(1, ("w",), (0, 3), ((3,),), None, 0)
    exact = np.array([100, 130, -129], np.int64)
    with pytest.raises(ExactnessError, match=r"bucket 1: integer sum overflowed the 8-bit accumulator at element 1 "
                                             r"of 3 \(2 elements\): exact sum 130, allowed -128..127"):
        _check_exact(state, plan, np.array([50, 65, -64], np.int32), exact.astype(np.int32), exact, 8)
    assert state.overflow == {1: 2}
    _check_exact(state, plan, np.array([1, 1, 1], np.int32), np.array([2, 2, 2], np.int32),
                 np.array([2, 2, 2], np.int64), 8)  # exact and in range: no error
    assert state.overflow == {1: 2}


def test_gloo_int32_sum_wraps_around_as_the_switch(methods_run):
    from switchsim.pipeline.state import wrapped_sum
    from tests.torch.rank_jobs import WRAP_VALUES

    expected = np.asarray(wrapped_sum(WRAP_VALUES))
    assert expected.tolist() == [-2, 0, 10]
    for rank in methods_run:
        assert np.array_equal(rank["int32_sum"], expected)
