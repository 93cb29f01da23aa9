"""The supervisor: deaths noticed and named, signals turned into one orderly stop, children stopped together."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time

import pytest

from switchsim.emu.supervisor import (
    ChildDiedError,
    StoppedError,
    Supervisor,
    command_age_s,
    describe_exit,
    ignore_interrupts,
    started_as_command,
)

CONTEXT = multiprocessing.get_context("spawn")


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _stubborn(ready, seconds: float) -> None:
    """Ignores SIGTERM: only SIGKILL stops it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ready.release()
    time.sleep(seconds)


def _start(target, *args) -> multiprocessing.process.BaseProcess:
    process = CONTEXT.Process(target=target, args=args, daemon=True)
    process.start()
    return process


def test_a_killed_child_is_noticed_at_once_and_named():
    with Supervisor() as supervisor:
        child = _start(_sleep, 30)
        supervisor.watch("worker 3", child)
        receiver, _sender = CONTEXT.Pipe(duplex=False)
        killed = time.monotonic()
        os.kill(child.pid, signal.SIGKILL)
        with pytest.raises(ChildDiedError, match=r"^worker 3 died \(killed by SIGKILL\)$") as died:
            supervisor.wait([receiver], timeout_s=10.0)
        assert time.monotonic() - killed < 1.0
        assert (died.value.name, died.value.how) == ("worker 3", "killed by SIGKILL")


def test_a_dead_popen_child_is_noticed_through_its_pidfd():
    with Supervisor() as supervisor:
        child = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(7)"])
        supervisor.watch("simple_switch", child)
        with pytest.raises(ChildDiedError, match=r"simple_switch died \(exit status 7\)"):
            supervisor.wait([], timeout_s=10.0)


def test_a_finished_child_may_exit_and_ready_connections_come_first():
    with Supervisor() as supervisor:
        child = _start(_sleep, 0)
        supervisor.watch("worker 0", child)
        supervisor.finished(child)
        child.join(10)
        assert supervisor.wait([], timeout_s=0.2) == []
        receiver, sender = CONTEXT.Pipe(duplex=False)
        sender.send("done")
        assert supervisor.wait([receiver], timeout_s=1.0) == [receiver]


def test_shutdown_stops_every_child_in_parallel_within_one_grace():
    """8 children that ignore SIGTERM: one shared grace, then SIGKILL (not a wait per child in turn)."""
    with Supervisor(grace_s=0.5) as supervisor:
        ready = CONTEXT.Semaphore(0)
        children = [_start(_stubborn, ready, 60) for _ in range(8)]
        for _ in children:
            assert ready.acquire(timeout=60)  # each has installed its handler
        for number, child in enumerate(children):
            supervisor.watch(f"worker {number}", child)
        started = time.monotonic()
        supervisor.shutdown()
        took = time.monotonic() - started
        assert supervisor.remaining_children() == []
        assert took < 2.0, f"{took:.1f} s"
    assert all(child.exitcode == -signal.SIGKILL for child in children)


def _supervise_until_sigterm(order: list) -> None:
    with Supervisor() as supervisor:
        supervisor.callback(order.append, "first registered")
        supervisor.callback(order.append, "last registered")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # interrupted by the handler


def test_a_signal_raises_stopped_and_the_cleanups_run_in_reverse_order():
    order = []
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(StoppedError) as stopped:
        _supervise_until_sigterm(order)
    assert (stopped.value.name, stopped.value.exit_status) == ("SIGTERM", 143)
    assert order == ["last registered", "first registered"]
    assert signal.getsignal(signal.SIGTERM) == previous  # restored


def test_a_process_started_for_a_command_counts_its_age_a_caller_does_not():
    assert started_as_command() is False  # pytest calls commands in its own process
    probe = "import sys; sys.argv = ['switchsim']; from switchsim.emu.supervisor import started_as_command; print(started_as_command())"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "True"


def test_describe_exit_and_command_age():
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(1) == "exit status 1"
    assert describe_exit(None) == "still running"
    first = command_age_s()
    time.sleep(0.05)
    assert 0 <= first < command_age_s()


def test_ignore_interrupts_keeps_sigterm_deadly():
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        ignore_interrupts()
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def test_stopping_signal_reads_a_stopped_error_and_takes_sigint_for_python_s_own_interrupt():
    from switchsim.emu.supervisor import stopping_signal

    assert stopping_signal(StoppedError(signal.SIGTERM)) == signal.SIGTERM
    assert stopping_signal(StoppedError(signal.SIGINT)) == signal.SIGINT
    assert stopping_signal(KeyboardInterrupt()) == signal.SIGINT


def test_stop_signals_raises_on_every_signal_not_only_the_first():
    """A first StoppedError lost in a callback that swallows exceptions (a sweep's Dask garbage-collection
    timer) left the command deaf to the next Ctrl-C under a latching handler: the CI sweep ran on."""
    from switchsim.emu.supervisor import stop_signals

    before = signal.getsignal(signal.SIGINT)
    with stop_signals():
        for _ in range(2):
            with pytest.raises(StoppedError):
                signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) == before
