"""Faults end cleanly: a dead switch is noticed at once, a signal stops everything, --max-wall is a hard bound.

Real processes and sockets: ``python -m switchsim.emu`` in a subprocess, the
switch found as the owner of its UDP port, every descendant process found in
/proc. Each test is bounded in time.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.emu.processes import alive, descendants, udp_owner, wait_until

pytestmark = [pytest.mark.network, pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")]


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(port: int, *extra: str) -> subprocess.Popen:
    """A long emulate run (8 workers x 2 M elements) with its switch on ``port``; returns once the switch is bound."""
    process = subprocess.Popen(
        [sys.executable, "-m", "switchsim.emu", "--workers", "8", "--elements", "2000000", "--port", str(port),
         "--max-wall", "60", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    if not wait_until(lambda: udp_owner(port) or process.poll() is not None, 60) or process.poll() is not None:
        out, err = process.communicate()
        pytest.fail(f"emulate did not start its switch: {out}{err}")
    time.sleep(0.5)  # the workers have been told to go
    return process


def test_a_killed_switch_ends_the_run_within_3_s_naming_it():
    port = _free_udp_port()
    process = _start(port)
    switch = udp_owner(port)
    children = descendants(process.pid)
    assert switch in children
    killed = time.monotonic()
    os.kill(switch, signal.SIGKILL)
    out, err = process.communicate(timeout=30)
    took = time.monotonic() - killed
    assert took < 3.0, f"{took:.1f} s"
    assert process.returncode == 3, out + err
    assert "verdict: did not finish (error: the switch died (killed by SIGKILL))" in out
    assert "Traceback" not in err
    assert wait_until(lambda: not any(alive(pid) for pid in children), 2.0), "a process outlived the run"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_every_process_and_frees_the_port(signum):
    port = _free_udp_port()
    process = _start(port)
    children = descendants(process.pid)
    assert len(children) >= 9  # 8 workers and the switch (and the forkserver)
    sent = time.monotonic()
    if signum == signal.SIGINT:
        os.killpg(process.pid, signum)  # as a terminal's Ctrl-C: every process of the group gets it
    else:
        process.send_signal(signum)  # as `kill PID`
    out, err = process.communicate(timeout=30)
    took = time.monotonic() - sent
    assert process.returncode == 128 + signum, out + err
    name = signal.Signals(signum).name
    assert err.strip() == (f"switchsim emulate: stopped by {name}: every worker and switch process stopped, "
                           "nothing left running")
    assert took < 3.0, f"{took:.1f} s"
    assert wait_until(lambda: not any(alive(pid) for pid in children), 2.0), "a process outlived the run"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", port))  # at once: nobody holds it


def test_max_wall_bounds_the_whole_command_with_16_workers():
    """--max-wall 5 with 16 workers ends within 7 s (it took 0.5 s more per worker: 32 at 20 s took 37.5 s).

    90 % loss and a 1 s timeout: the all-reduce cannot finish in 5 s, whatever the machine.
    """
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "switchsim.emu", "--workers", "16", "--elements", "4096", "--loss", "0.9",
         "--timeout", "1", "--max-wall", "5"], capture_output=True, text=True, timeout=60)
    took = time.monotonic() - started
    assert result.returncode == 3, result.stdout + result.stderr
    assert "verdict: did not finish (max_wall 5 s wall clock" in result.stdout
    assert took < 7.0, f"{took:.1f} s"
