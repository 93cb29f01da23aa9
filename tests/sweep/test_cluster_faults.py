"""A failed cluster is an outcome, not a crash: exit status 4, the runs kept, and the --resume command.

Real Dask schedulers and workers in their own processes (``dask scheduler`` /
``dask worker``), the sweep in a subprocess as a user runs it; a malformed
``sweep.json`` is refused with exit status 2. Each test is bounded in time.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from switchsim.cli import main
from switchsim.outcome import EXIT_INFRASTRUCTURE
from tests.sweep.test_sweep_command import SMALL

#: Runs of the sweep whose scheduler is killed: enough that it is still running when the kill comes.
RUNS = 200
SWEEP = [sys.executable, "-c", "import sys; from switchsim.cli import main; sys.exit(main(sys.argv[1:]))", "sweep"]


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(SMALL)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


@pytest.fixture
def scheduler():
    """A Dask scheduler on loopback without a dashboard: ``(address, process)``."""
    port = _free_port()
    process = _start([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
                      str(port), "--no-dashboard"])
    address = f"tcp://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        _stop(process)
        pytest.fail("the Dask scheduler did not start")
    yield address, process
    _stop(process)


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_an_unreachable_scheduler_is_exit_4_after_the_short_wait(tiny, tmp_path):
    address = f"tcp://127.0.0.1:{_free_port()}"  # nobody listens
    started = time.monotonic()
    result = subprocess.run([*SWEEP, str(tiny), "--param", "link.loss", "--values", "0,0.01", "--scheduler", address,
                             "--scheduler-timeout", "1", "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=120)
    took = time.monotonic() - started
    assert result.returncode == EXIT_INFRASTRUCTURE, result.stdout + result.stderr
    line = _one_line(result.stderr)
    assert line.startswith(f"switchsim sweep: Dask scheduler {address}: did not answer within 1 s")
    assert "0 of 2 runs kept" in line and line.endswith("--resume")
    assert took < 20, f"{took:.1f} s"


def test_a_scheduler_without_workers_is_exit_4(tiny, tmp_path, scheduler):
    address, _ = scheduler
    result = subprocess.run([*SWEEP, str(tiny), "--param", "link.loss", "--values", "0,0.01", "--scheduler", address,
                             "--scheduler-timeout", "2", "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == EXIT_INFRASTRUCTURE, result.stdout + result.stderr
    line = _one_line(result.stderr)
    assert f"Dask scheduler {address}: has no workers (waited 2 s)" in line and "0 of 2 runs kept" in line


def _runs_done(client) -> int:
    """Runs whose records the scheduler holds (asked over a client of the test's own)."""
    return client.run_on_scheduler(
        lambda dask_scheduler: sum(1 for task in dask_scheduler.tasks.values()
                                   if task.state == "memory" and str(task.key).startswith("run_point")))


def _without_wall_time(document: dict) -> list:
    return [{**run, "results": [{k: v for k, v in r.items() if k != "wall_time_s"} for r in run["results"]]}
            for run in document["runs"]]


def test_a_scheduler_killed_mid_sweep_is_exit_4_and_resume_finishes_identically(tiny, tmp_path, scheduler):
    address, scheduler_process = scheduler
    worker = _start([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                     "--nworkers", "1", "--no-dashboard", "--death-timeout", "5"])
    try:
        from dask.distributed import Client

        out = tmp_path / "out"
        grid = [str(tiny), "--param", "link.loss", "--values", "0,0.01", "--seeds", f"0..{RUNS // 2 - 1}"]
        sweep = subprocess.Popen([*SWEEP, *grid, "--scheduler", address, "--out", str(out)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with Client(address, timeout="10s") as watcher:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and sweep.poll() is None and _runs_done(watcher) < 3:
                time.sleep(0.02)
        assert sweep.poll() is None, "the sweep ended before the scheduler was killed"
        scheduler_process.kill()
        killed = time.monotonic()
        _, err = sweep.communicate(timeout=120)
        took = time.monotonic() - killed
    finally:
        _stop(worker)
    assert sweep.returncode == EXIT_INFRASTRUCTURE, err
    line = _one_line(err)
    assert f"Dask scheduler {address}: lost during the sweep" in line
    kept = int(re.search(rf"; (\d+) of {RUNS} runs kept in ", line).group(1))
    assert 1 <= kept < RUNS
    assert len(json.loads((out / "sweep.json").read_text())["runs"]) == kept
    resume = line.split("to finish: ", 1)[1]
    assert resume.startswith("switchsim sweep ") and resume.endswith(f"--out {out} --resume")
    print(f"scheduler killed: the sweep ended {took:.1f} s later with {kept} runs kept")

    # --resume (here without the dead scheduler: serially) runs only the missing ones ...
    assert main(["sweep", *grid, "--jobs", "1", "--out", str(out), "--resume"]) == 0
    resumed = json.loads((out / "sweep.json").read_text())
    # ... and ends with the document an uninterrupted sweep writes.
    assert main(["sweep", *grid, "--jobs", "1", "--out", str(tmp_path / "whole")]) == 0
    whole = json.loads((tmp_path / "whole" / "sweep.json").read_text())
    assert _without_wall_time(resumed) == _without_wall_time(whole)
    assert [(p["params"], p["method"], p["completed"], p["correct"], p["wrong"]) for p in resumed["points"]] == [
        (p["params"], p["method"], p["completed"], p["correct"], p["wrong"]) for p in whole["points"]]


def test_a_cluster_that_loses_all_its_workers_is_exit_4_not_a_wait_forever(tiny, tmp_path, scheduler):
    from dask.distributed import Client

    address, _ = scheduler
    worker = _start([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                     "--nworkers", "1", "--no-dashboard"])
    try:
        sweep = subprocess.Popen([*SWEEP, str(tiny), "--param", "link.loss", "--values", "0,0.01", "--seeds",
                                  f"0..{RUNS // 2 - 1}", "--scheduler", address, "--scheduler-timeout", "2",
                                  "--out", str(tmp_path / "out")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        with Client(address, timeout="10s") as watcher:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and sweep.poll() is None and _runs_done(watcher) < 3:
                time.sleep(0.02)
        assert sweep.poll() is None, "the sweep ended before its worker was killed"
    finally:
        _stop(worker)  # the worker, its nanny and the command: the cluster has no worker left
    _, err = sweep.communicate(timeout=120)
    assert sweep.returncode == EXIT_INFRASTRUCTURE, err
    line = _one_line(err)
    assert f"Dask scheduler {address}: lost all its workers (none for 2 s); " in line
    kept = int(re.search(rf"; (\d+) of {RUNS} runs kept in ", line).group(1))
    assert len(json.loads((tmp_path / "out" / "sweep.json").read_text())["runs"]) == kept


@pytest.mark.parametrize(
    ("runs", "message"),
    [
        (["not a run"], "runs[0] is str, not an object"),
        ([{"params": {"link.loss": 0.0}, "seed": 0}], "runs[0] has no 'results' list"),
        ([{"params": {"link.loss": 0.0}, "seed": "0", "results": []}], "runs[0] has no 'seed' int"),
        ([{"params": {"link.loss": 0.0}, "seed": 0, "results": [7]}],
         "runs[0].results[0] is not a result object (method, completed, correct)"),
    ],
)
def test_a_malformed_sweep_document_is_refused_with_exit_2(tiny, tmp_path, capsys, runs, message):
    out = tmp_path / "out"
    out.mkdir()
    text = json.dumps({"scenario": "tiny", "runs": runs})
    (out / "sweep.json").write_text(text)
    assert main(["sweep", str(tiny), "--param", "link.loss", "--values", "0", "--jobs", "1", "--out", str(out),
                 "--resume"]) == 2
    error = capsys.readouterr().err
    assert f"sweep.json: not a sweep document ({message})" in error and "Traceback" not in error
    assert (out / "sweep.json").read_text() == text  # left as it was


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl-C", "SIGTERM"])
def test_ctrl_c_or_sigterm_on_a_local_cluster_sweep_is_one_line_and_keeps_the_runs(tiny, tmp_path, signum):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it): the Dask workers ignore it (no
    worker tracebacks, no "still alive after 4.0 seconds"), the sweep keeps its runs, exit 130. SIGTERM to the
    sweep alone (`kill`): the same stop in order, exit 143 (it died silently, with a "leaked semaphore"
    warning). Either way no worker process is left."""
    from tests.emu.processes import alive, descendants, ignores_sigint, wait_until

    out = tmp_path / "out"
    # 20,000 runs: more than a loaded 2-core machine finishes in the time the cluster takes to start
    sweep = subprocess.Popen([*SWEEP, str(tiny), "--param", "link.loss", "--values", "0,0.01", "--seeds", "0..9999",
                              "--jobs", "2", "--out", str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        # The cluster has started (its processes exist, and the sweep no longer ignores SIGINT, as it does
        # while it starts them so that they inherit "ignore"); then its workers run for a while.
        assert wait_until(lambda: sweep.poll() is not None or (
            len(descendants(sweep.pid)) >= 2 and not ignores_sigint(sweep.pid)), 120)
        time.sleep(3.0)
        assert sweep.poll() is None, sweep.communicate()[1]
        workers = descendants(sweep.pid)
        sent = time.monotonic()
        if signum == signal.SIGINT:
            os.killpg(sweep.pid, signal.SIGINT)
        else:
            sweep.send_signal(signal.SIGTERM)
        _, err = sweep.communicate(timeout=120)
        took = time.monotonic() - sent
        assert sweep.returncode == 128 + signum, err
        line = _one_line(err)
        said = "interrupted" if signum == signal.SIGINT else "stopped by SIGTERM"
        kept = int(re.search(rf"^{said}: (\d+) of 20000 runs kept in ", line).group(1))
        assert len(json.loads((out / "sweep.json").read_text())["runs"]) == kept
        assert wait_until(lambda: not any(alive(pid) for pid in workers), 10), "a worker process was left running"
    finally:
        _stop(sweep)  # never left running after a failure
    print(f"{signal.Signals(signum).name}: the sweep ended {took:.1f} s later with {kept} runs kept")


def test_a_local_cluster_sweep_prints_nothing_of_dask_when_port_8787_is_taken(tiny, tmp_path):
    """The local cluster's scheduler opened its HTTP endpoint on Dask's dashboard port 8787 even with no
    dashboard, so a second sweep at once (or anything on 8787) printed "UserWarning: Port 8787 is already in
    use" in the sweep's output. It now listens on a free port of loopback."""
    with socket.socket() as taken:
        try:
            taken.bind(("127.0.0.1", 8787))
            taken.listen()
        except OSError:
            pass  # already taken by another process: the condition under test holds anyway
        sweep = subprocess.run([*SWEEP, str(tiny), "--param", "link.loss", "--values", "0,0.01", "--jobs", "2", "--out",
                                str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert sweep.returncode == 0, sweep.stderr
    assert "8787" not in sweep.stderr and "Warning" not in sweep.stderr, sweep.stderr
