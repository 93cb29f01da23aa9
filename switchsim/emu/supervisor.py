"""One supervisor for every multi-process command: watch each child, stop them all together, leave nothing.

`Supervisor` is what ``emulate`` (both targets) and the bmv2 ``serve`` command
run their children under:

* **Watching.** Each child (a ``multiprocessing`` process, or a
  ``subprocess.Popen`` such as ``simple_switch``) is registered under a name
  ("the switch", "worker 3", "simple_switch"). `Supervisor.wait` waits on
  pipes *and* on every child's exit at once (a process sentinel, or a Linux
  pidfd for a ``Popen``), so a child that dies is noticed at once (within
  `POLL_S` where no pidfd exists) and `ChildDiedError` names it and how it
  died.
* **Signals.** Inside ``with Supervisor():`` SIGINT and SIGTERM raise
  `StoppedError` in the main thread, wherever it is, so both take the same
  orderly path through every ``finally`` (a second signal during the shutdown
  is ignored, so the cleanup itself is never cut short). The command prints
  one line and exits ``128 + signal`` (130, 143).
* **Shutdown.** `Supervisor.shutdown` terminates every live child at once and
  waits for all of them against one deadline, then kills what is left: the
  whole shutdown takes at most ``grace_s`` plus a moment, whatever the number
  of children (not a wait per child in turn).
* **Cleanup.** `Supervisor.callback` registers cleanups (delete a network
  namespace, a temporary folder) run last-in first-out on every exit path.

Children should ignore SIGINT (`ignore_interrupts`): a terminal's Ctrl-C
reaches the whole process group, and the parent alone decides how to stop
them (otherwise each child prints its own ``KeyboardInterrupt`` traceback).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import wait as wait_any
from types import FrameType, TracebackType

#: Longest sleep between checks of a child that offers no waitable handle (seconds).
POLL_S = 0.2
#: What a stopping signal maps to, for the one-line message.
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StoppedError(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; the supervised command stops in order (a KeyboardInterrupt, so callers
    that handle Ctrl-C handle both).

    Attributes:
        signal_number: the signal.
    """

    def __init__(self, signal_number: int) -> None:
        super().__init__(signal.Signals(signal_number).name)
        self.signal_number = signal_number

    @property
    def name(self) -> str:
        """``"SIGINT"`` or ``"SIGTERM"``."""
        return signal.Signals(self.signal_number).name

    @property
    def exit_status(self) -> int:
        """The shell's convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signal_number


def stopping_signal(stop: KeyboardInterrupt) -> int:
    """The signal behind ``stop``: a `StoppedError`'s, else SIGINT (Python's own KeyboardInterrupt)."""
    return stop.signal_number if isinstance(stop, StoppedError) else signal.SIGINT


class ChildDiedError(RuntimeError):
    """A supervised child exited while it was still needed.

    Attributes:
        name: the component ("the switch", "worker 2", "simple_switch").
        how: how it ended ("killed by SIGKILL", "exit status 1").
    """

    def __init__(self, name: str, how: str) -> None:
        super().__init__(f"{name} died ({how})")
        self.name = name
        self.how = how


def describe_exit(code: int | None) -> str:
    """``"killed by SIGKILL"`` for -9 (multiprocessing) or 137 / -9 (subprocess), ``"exit status 1"`` otherwise."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def command_age_s() -> float:
    """Seconds since this process started (Linux: from /proc; elsewhere 0), so that a command's wall-clock
    limit also covers the time spent starting Python and importing, not only the run."""
    try:
        with open("/proc/self/stat") as stat:
            started_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


def started_as_command() -> bool:
    """True when this process was started to run a switchsim command (the ``switchsim`` script, or
    ``python -m switchsim...``), False when a caller (a test, a notebook) runs one in a process of its own:
    only then is the process's age part of the command's time (`command_age_s`)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if (getattr(spec, "name", None) or "").startswith("switchsim"):
        return True
    return bool(sys.argv) and os.path.basename(sys.argv[0]) == "switchsim"


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """SIGINT ignored in this process for the block (main thread only; elsewhere nothing changes).

    A process started in the block inherits "ignore" through ``exec``, and Python then installs no
    KeyboardInterrupt handler in it: from its first instruction a terminal's Ctrl-C cannot print a
    traceback there. Keep the block short: a Ctrl-C that arrives during it is lost.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class StopSignals:
    """The signal that stopped the command, kept where `stop_signals`'s handler received it.

    The handler also raises `StoppedError`, but Python runs a handler wherever the main thread is, and
    there the exception can be lost: inside a callback that swallows exceptions (Dask's garbage-collection
    timer prints "Exception ignored in" and goes on). A loop that waits calls `check` between steps, so a
    single Ctrl-C stops it anyway.

    Attributes:
        received: the last signal received (SIGINT or SIGTERM), or None.
    """

    def __init__(self) -> None:
        self.received: int | None = None

    def check(self) -> None:
        """Raise `StoppedError` if a signal was received (again, if its first raise was lost)."""
        if self.received is not None:
            raise StoppedError(self.received)


def _in_garbage_collection_callback(frame: FrameType | None) -> bool:
    """True when ``frame`` runs inside one of ``gc.callbacks`` (Dask's garbage-collection timer is one):
    Python prints an exception raised there ("Exception ignored in ...") and goes on."""
    import gc

    codes = {getattr(getattr(callback, "__func__", callback), "__code__", None) for callback in gc.callbacks}
    while frame is not None:
        if frame.f_code in codes:
            return True
        frame = frame.f_back
    return False


@contextlib.contextmanager
def stop_signals() -> Iterator[StopSignals]:
    """SIGINT and SIGTERM raise `StoppedError` in this process for the block, whatever was inherited (a
    script's ``cmd &`` starts with SIGINT ignored); main thread only, the handlers restored after.

    Unlike `Supervisor`'s, every signal raises (none is latched), and each is also kept in the
    `StopSignals` yielded, for loops that must not miss one whose raise was lost. Inside a
    garbage-collection callback, which would print the exception and drop it, the signal is only kept.
    """
    signals = StopSignals()
    if threading.current_thread() is not threading.main_thread():
        yield signals
        return

    def on_signal(signal_number: int, frame: FrameType | None) -> None:
        signals.received = signal_number
        if not _in_garbage_collection_callback(frame):  # there the raise would be printed and lost
            raise StoppedError(signal_number)

    previous = {sig: signal.signal(sig, on_signal) for sig in _SIGNALS}
    try:
        yield signals
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]


def ignore_interrupts() -> None:
    """In a child: ignore SIGINT (the supervising parent stops it), keep SIGTERM's default (die at once)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class _Child:
    """One watched child: its name, its process, and a handle `wait` can select on (or None)."""

    def __init__(self, name: str, process) -> None:
        self.name = name
        self.process = process
        self.expected_exit = False
        self._pidfd: int | None = None
        if isinstance(process, subprocess.Popen):
            try:
                self._pidfd = os.pidfd_open(process.pid)
            except (AttributeError, OSError):  # not Linux >= 5.3, or already reaped
                self._pidfd = None
            self.handle = self._pidfd
        else:
            self.handle = process.sentinel

    def exit_code(self) -> int | None:
        if isinstance(self.process, subprocess.Popen):
            return self.process.poll()
        return self.process.exitcode

    def alive(self) -> bool:
        if isinstance(self.process, subprocess.Popen):
            return self.process.poll() is None
        return self.process.is_alive()

    def terminate(self) -> None:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            if self.alive():
                self.process.terminate()

    def kill(self) -> None:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            if self.alive():
                self.process.kill()

    def reap(self, timeout_s: float) -> None:
        with contextlib.suppress(OSError, ValueError, AttributeError, subprocess.TimeoutExpired):
            if isinstance(self.process, subprocess.Popen):
                self.process.wait(max(timeout_s, 0.0))
            else:
                self.process.join(max(timeout_s, 0.0))

    def close(self) -> None:
        if self._pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(self._pidfd)
            self._pidfd = None


class Supervisor:
    """Watch children, turn SIGINT/SIGTERM into `StoppedError`, shut everything down in parallel (module doc).

    Use as a context manager; on exit (any path) it shuts every child down and
    runs the registered cleanups. Signal handlers are installed only in the
    main thread (elsewhere Python forbids them; the caller's own handling applies).

    Example::

        with Supervisor() as supervisor:
            supervisor.watch("the switch", switch_process)
            ready = supervisor.wait([pipe], timeout_s=5.0)   # raises ChildDiedError if the switch dies
    """

    def __init__(self, grace_s: float = 1.0, handle_signals: bool = True) -> None:
        self.grace_s = grace_s
        self._children: list[_Child] = []
        self._cleanups = contextlib.ExitStack()
        self._handle_signals = handle_signals and threading.current_thread() is threading.main_thread()
        self._previous: dict[int, object] = {}
        self._stopping = False
        self.stopped_by: int | None = None  #: the signal that stopped the command, if one did

    # -- signals ---------------------------------------------------------------------------------
    def _on_signal(self, signal_number: int, frame: FrameType | None) -> None:
        if self._stopping:  # already shutting down: let the cleanup finish
            return
        self._stopping = True
        self.stopped_by = signal_number
        raise StoppedError(signal_number)

    def __enter__(self) -> Supervisor:
        if self._handle_signals:
            # Installed whatever was inherited: a shell starts a background job with SIGINT ignored.
            self._previous = {sig: signal.signal(sig, self._on_signal) for sig in _SIGNALS}
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stopping = True  # from here on a signal cannot interrupt the cleanup
        try:
            self.shutdown()
            self._cleanups.close()
        finally:
            for child in self._children:
                child.close()
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)  # type: ignore[arg-type]
            self._previous = {}

    # -- children --------------------------------------------------------------------------------
    def watch(self, name: str, process) -> None:
        """Watch ``process`` (started) as ``name``: its death ends `wait` with `ChildDiedError`."""
        self._children.append(_Child(name, process))

    def finished(self, process) -> None:
        """``process`` may exit now (e.g. a worker that sent its result): its exit is no longer a failure."""
        for child in self._children:
            if child.process is process:
                child.expected_exit = True

    def callback(self, function: Callable, *args, **kwargs) -> None:
        """Run ``function(*args, **kwargs)`` at shutdown, after the children are stopped (last in, first out)."""
        self._cleanups.callback(function, *args, **kwargs)

    def check(self) -> None:
        """Raise `ChildDiedError` for the first watched child that exited unexpectedly."""
        for child in self._children:
            if not child.expected_exit and not child.alive():
                child.expected_exit = True
                raise ChildDiedError(child.name, describe_exit(child.exit_code()))

    def wait(self, connections: Iterable, timeout_s: float) -> list:
        """The ``connections`` ready within ``timeout_s`` (possibly none), while watching every child.

        Raises:
            ChildDiedError: a watched child exited (and had not been marked `finished`); checked
                after the ready connections are known, so a child's last message is never lost:
                a connection with data is returned first and the death is reported on the next call.
        """
        connections = list(connections)
        deadline = time.monotonic() + max(timeout_s, 0.0)
        while True:
            watched = [c for c in self._children if not c.expected_exit]
            handles = [c.handle for c in watched if c.handle is not None]
            unwatchable = any(c.handle is None for c in watched)
            left = max(0.0, deadline - time.monotonic())
            ready = wait_any(connections + handles, timeout=min(left, POLL_S) if unwatchable else left)
            ready_connections = [r for r in ready if any(r is c for c in connections)]
            if ready_connections:
                return ready_connections
            self.check()
            if time.monotonic() >= deadline:
                return []

    def shutdown(self, grace_s: float | None = None, processes: Iterable | None = None) -> None:
        """Stop every live child (or those of ``processes``): SIGTERM to all at once, one shared ``grace_s``
        wait, then SIGKILL the rest."""
        grace_s = self.grace_s if grace_s is None else grace_s
        chosen = self._children if processes is None else [c for c in self._children
                                                           if any(c.process is p for p in processes)]
        for child in chosen:
            child.expected_exit = True
        alive = [c for c in chosen if c.alive()]
        for child in alive:
            child.terminate()
        deadline = time.monotonic() + grace_s
        for child in alive:
            child.reap(deadline - time.monotonic())
        for child in alive:
            if child.alive():
                child.kill()
        for child in alive:
            child.reap(2.0)

    def remaining_children(self) -> list[str]:
        """Names of watched children still running (empty after `shutdown`)."""
        return [c.name for c in self._children if c.alive()]
