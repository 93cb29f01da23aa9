"""``emulate --target bmv2`` ends cleanly: a signal or a dead simple_switch leaves no namespace, veth pair,
simple_switch or temporary folder behind (root and the bmv2 toolchain; skipped elsewhere).

SIGTERM used to kill Python outright: the namespace, three veth pairs, a running
simple_switch (reparented to PID 1) and two temporary folders stayed. A killed
simple_switch made the run wait out a silently raised --max-wall (about 295 s)
and end with a Thrift traceback and exit 2.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from switchsim.conformance import vectors
from tests.emu.processes import alive, descendants, forked_workers, wait_until

pytestmark = [pytest.mark.p4c, pytest.mark.bmv2]


def _namespace_pids(namespace: str) -> list[int]:
    listed = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True, check=False)
    return [int(word) for word in listed.stdout.split() if word.isdigit()]


def _command_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:  # a short-lived process already gone
        return ""


@pytest.fixture
def short_tmp():
    """The run's TMPDIR, checked empty at the end: short, as Unix sockets live there (107-byte paths at most)."""
    folder = Path(tempfile.mkdtemp(prefix="sw-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _start(program, folder: Path) -> tuple[subprocess.Popen, str, str]:
    """A bmv2 run long enough to be stopped mid-way; returns (process, namespace, tag) once its workers run."""
    process = subprocess.Popen(
        [sys.executable, "-m", "switchsim.emu", "--target", "bmv2", "--workers", "3", "--elements", "600000",
         "--window", str(vectors.SLOTS), "--program", str(program), "--max-wall", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(folder)},
        start_new_session=True)
    tag = f"{process.pid % 0xFFFF:04x}"
    namespace = f"switchsim-bmv2-{tag}"
    started = wait_until(lambda: process.poll() is not None or (
        _namespace_pids(namespace) and forked_workers(process.pid) >= 3), 60)  # simple_switch and the 3 workers
    if not started or process.poll() is not None:
        out, err = process.communicate()
        pytest.fail(f"the bmv2 run did not start: {out}{err}")
    time.sleep(1.0)  # the workers are sending
    return process, namespace, tag


def _assert_nothing_left(namespace: str, tag: str, children: set[int], folder: Path) -> None:
    assert namespace not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f"sml{tag}" not in links, links
    assert wait_until(lambda: not any(alive(pid) for pid in children), 2.0), "a process outlived the run"
    assert list(folder.iterdir()) == []  # no build folder, no switch folder, no log, no forkserver socket


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_removes_the_namespace_the_switch_and_the_folders(bmv2_programs, bmv2_can_run, short_tmp, signum):
    process, namespace, tag = _start(bmv2_programs[False], short_tmp)
    children = descendants(process.pid)
    sent = time.monotonic()
    if signum == signal.SIGINT:
        os.killpg(process.pid, signum)  # as a terminal's Ctrl-C: every process of the group gets it
    else:
        process.send_signal(signum)  # as `kill PID`
    out, err = process.communicate(timeout=60)
    took = time.monotonic() - sent
    assert process.returncode == 128 + signum, out + err
    assert err.strip() == (f"switchsim emulate: stopped by {signal.Signals(signum).name}: every worker and switch "
                           "process stopped, nothing left running")
    _assert_nothing_left(namespace, tag, children, short_tmp)
    assert took < 5.0, f"{took:.1f} s"


def test_a_killed_simple_switch_ends_the_run_within_2_s_with_its_reason(bmv2_programs, bmv2_can_run, short_tmp):
    process, namespace, tag = _start(bmv2_programs[False], short_tmp)
    children = descendants(process.pid)
    (switch,) = [pid for pid in _namespace_pids(namespace) if _command_name(pid) == "simple_switch"]
    killed = time.monotonic()
    os.kill(switch, signal.SIGKILL)
    out, err = process.communicate(timeout=60)
    took = time.monotonic() - killed
    assert process.returncode == 3, out + err
    assert "bmv2    : " in out and "did not finish (error: simple_switch died (killed by SIGKILL)" in out
    assert "emulator: not run (bmv2 did not finish)" in out
    assert "Traceback" not in out + err
    _assert_nothing_left(namespace, tag, children, short_tmp)
    assert took < 2.0, f"{took:.1f} s"
