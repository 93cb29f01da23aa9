"""Issue 20, item 6: Ctrl-C on `switchsim run` of a large scenario stops the compiled engine's thread too:
exit 130 within 2 s, one line, no traceback."""

import os
import signal
import subprocess
import sys
import time

from switchsim.resources import scenarios_dir


def interrupt_run(tmp_path, wait_s: float, env: dict | None = None) -> tuple[int, str, float]:
    """Start `switchsim run scale-256`, send SIGINT ``wait_s`` after its header; (exit status, stderr, seconds
    from SIGINT to exit). The process is killed if it outlives the test."""
    process = subprocess.Popen(
        [sys.executable, "-m", "switchsim.cli", "run", str(scenarios_dir() / "scale-256.toml"), "--out",
         str(tmp_path / "out")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        header = process.stdout.readline()  # printed once the scenario is read, before the engines start
        assert header.startswith("switchsim run: scale-256"), header
        time.sleep(wait_s)
        assert process.poll() is None, "the run ended before it could be interrupted"
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    print(f"exit {process.returncode} {took:.2f} s after SIGINT")
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
