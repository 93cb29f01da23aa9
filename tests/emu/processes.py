"""Helpers of the fault tests: the real processes of a run, found in /proc (Linux), and the owner of a UDP port."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path


def _parents() -> dict[int, int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` now (children, their children, ...)."""
    parents = _parents()
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    """``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def udp_owner(port: int) -> int | None:
    """The pid of a process holding a UDP socket bound to ``port`` on IPv4, or None."""
    inodes = set()
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port:
            inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(entry.name)
        except OSError:
            continue
    return None


def wait_until(condition: Callable[[], object], timeout_s: float, step_s: float = 0.05):
    """``condition()``'s first truthy value within ``timeout_s``, else None."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step_s)
    return None


def ignores_sigint(pid: int) -> bool:
    """``pid`` ignores SIGINT now (its SigIgn mask in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & (1 << (2 - 1)))
    return False


def forked_workers(pid: int) -> int:
    """Processes below ``pid`` forked by a multiprocessing forkserver (the worker processes of a run)."""
    parents = _parents()
    servers = set()
    for child in descendants(pid):
        try:
            if b"multiprocessing.forkserver" in Path(f"/proc/{child}/cmdline").read_bytes():
                servers.add(child)
        except OSError:
            continue
    return sum(1 for parent in parents.values() if parent in servers)


@contextlib.contextmanager
def killed_at_exit(process: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """``process`` for the block; killed (and reaped) at its end if still running, so a failing test
    leaves nothing behind."""
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def stop_with(process: subprocess.Popen, signum: int, timeout_s: float = 60.0) -> tuple[str, float]:
    """Send ``signum`` to ``process`` and wait for it to exit: (its stderr, seconds from the signal to exit)."""
    sent = time.monotonic()
    process.send_signal(signum)
    _, err = process.communicate(timeout=timeout_s)
    return err, time.monotonic() - sent
