"""Issue 20, item 6: Ctrl-C on `switchsim run` of a large scenario stops the compiled engine's thread too:
exit 130 within 2 s, one line, no traceback."""

import signal
import subprocess
import sys
import time

from switchsim.resources import scenarios_dir


def test_ctrl_c_on_run_exits_130_within_2_s_with_one_line(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "switchsim.cli", "run", str(scenarios_dir() / "scale-256.toml"), "--out",
         str(tmp_path / "out")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        header = process.stdout.readline()  # printed once the scenario is read, before the engines start
        assert header.startswith("switchsim run: scale-256"), header
        time.sleep(min(6.0, deadline - time.monotonic()))  # the engine thread is in its compiled loop by now
        assert process.poll() is None, "the run ended before it could be interrupted"
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    print(f"exit {process.returncode} {took:.2f} s after SIGINT")
    assert process.returncode == 130
    assert err.strip().splitlines() == ["switchsim: interrupted (run stopped by Ctrl-C)"], err
    assert took < 2.0


def test_ctrl_c_while_the_engines_compile_exits_130_within_2_s(tmp_path):
    """A fresh install's first run compiles the engines for minutes (an empty numba cache here): Ctrl-C then
    must not wait for the SwitchML thread to finish compiling (it waited: more than 30 s)."""
    import os

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    process = subprocess.Popen(
        [sys.executable, "-m", "switchsim.cli", "run", str(scenarios_dir() / "scale-256.toml"), "--out",
         str(tmp_path / "out")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        header = process.stdout.readline()
        assert header.startswith("switchsim run: scale-256"), header
        time.sleep(3.0)  # both threads are compiling (a cold compile takes minutes)
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
    assert process.returncode == 130
    assert err.strip().splitlines() == ["switchsim: interrupted (run stopped by Ctrl-C)"], err
    assert took < 2.0
