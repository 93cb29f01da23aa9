"""Issue 20, item 6: Ctrl-C on `switchsim run` of a large scenario stops the compiled engine's thread too:
exit 130 within 2 s, one line, no traceback. SIGTERM stops every command the same way (exit 143), and a
command started as a script's background job (SIGINT ignored, inherited) still stops on SIGINT."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from switchsim.resources import scenarios_dir
from tests.emu.processes import killed_at_exit, stop_with


def _background_like_a_shell() -> None:
    """In the child before exec: SIGINT ignored, as a non-interactive shell starts a job with ``&``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def interrupt_run(tmp_path, wait_s: float, env: dict | None = None, signum: int = signal.SIGINT,
                  background: bool = False) -> tuple[int, str, float]:
    """Start `switchsim run scale-256`, send ``signum`` ``wait_s`` after its header; (exit status, stderr,
    seconds from the signal to exit). ``background``: started with SIGINT ignored. The process is killed if it
    outlives the test."""
    process = subprocess.Popen(
        [sys.executable, "-m", "switchsim.cli", "run", str(scenarios_dir() / "scale-256.toml"), "--out",
         str(tmp_path / "out")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=_background_like_a_shell if background else None)
    with killed_at_exit(process):
        header = process.stdout.readline()  # printed once the scenario is read, before the engines start
        assert header.startswith("switchsim run: scale-256"), header
        time.sleep(wait_s)
        assert process.poll() is None, "the run ended before it could be interrupted"
        err, took = stop_with(process, signum)
    print(f"exit {process.returncode} {took:.2f} s after {signal.Signals(signum).name}")
    return process.returncode, err, took


def test_ctrl_c_on_run_exits_130_within_2_s_with_one_line(tmp_path):
    status, err, took = interrupt_run(tmp_path, 6.0)  # the engine thread is in its compiled loop by now
    assert status == 130
    assert err.strip().splitlines() == ["switchsim: interrupted (run stopped by Ctrl-C)"], err
    assert took < 2.0


def test_ctrl_c_while_the_engines_compile_exits_130_within_2_s(tmp_path):
    """A fresh install's first run compiles the engines for minutes (an empty numba cache here): Ctrl-C then
    must not wait for the SwitchML thread to finish compiling (it waited: more than 30 s)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    status, err, took = interrupt_run(tmp_path, 3.0, env)  # both threads are compiling
    assert status == 130
    assert err.strip().splitlines() == ["switchsim: interrupted (run stopped by Ctrl-C)"], err
    assert took < 2.0


def test_sigterm_on_run_exits_143_within_2_s_with_one_line(tmp_path):
    """SIGTERM (a scheduler's or `kill`'s stop) is a stop in order too, not a silent death."""
    status, err, took = interrupt_run(tmp_path, 6.0, signum=signal.SIGTERM)
    assert status == 143
    assert err.strip().splitlines() == ["switchsim: stopped (run stopped by SIGTERM)"], err
    assert took < 2.0


def test_a_run_started_in_the_background_still_stops_on_sigint(tmp_path):
    """`switchsim run ... &` in a script inherits "ignore SIGINT"; `kill -INT` must still stop it."""
    status, err, took = interrupt_run(tmp_path, 6.0, background=True)
    assert status == 130
    assert err.strip().splitlines() == ["switchsim: interrupted (run stopped by Ctrl-C)"], err
    assert took < 2.0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_started_in_the_background_stops_on_a_signal_and_prints_its_counters(signum):
    """`switchsim serve &` (SIGINT ignored, inherited) ignored `kill -INT` and served on: the torch serve test
    left it running for 20 minutes. Both signals stop it: its counters as JSON, exit 0."""
    process = subprocess.Popen([sys.executable, "-m", "switchsim.cli", "serve", "--workers", "2",
                                "--worker-port-base", "40000"],  # addresses it sends to; it binds none
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=_background_like_a_shell)
    with killed_at_exit(process):
        assert process.stdout.readline().startswith("switchsim serve: switch at "), process.stderr.read()
        sent = time.monotonic()
        process.send_signal(signum)
        out, err = process.communicate(timeout=10)
        assert time.monotonic() - sent < 10
    assert process.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["workers"] == 2 and report["processed"] == 0
